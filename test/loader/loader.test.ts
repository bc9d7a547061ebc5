/**
 * The DataLoader on real LanceDB-written datasets with real worker threads: coverage and order of
 * epochs, determinism across worker counts, resume, sharding, equality with `dataset.take`, and failure
 * behaviour (corrupt pages, dead workers, closing).
 */
import { cpSync, mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CorruptFileError, openDataset, type Dataset } from '../../index.js';
import { createLoader, type DataLoader } from '../../loader/loader.js';
import type { Batch } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let path: string;
let dataset: Dataset;

beforeAll(async () => {
  path = await ensureDataset(specByName('deletions_arrow'), '2.1');
  dataset = await openDataset(path);
});

afterAll(async () => {
  await dataset.close();
});

async function collect(
  loader: DataLoader,
  epoch: number,
  keep = false,
): Promise<{ rows: number[][]; batches: Batch[] }> {
  const rows: number[][] = [];
  const batches: Batch[] = [];
  for await (const batch of loader.epoch(epoch)) {
    rows.push(Array.from(batch.rowOffsets));
    if (keep) batches.push(batch);
    else batch.release();
  }
  return { rows, batches };
}

async function withLoader<T>(
  options: Parameters<typeof createLoader>[1],
  fn: (loader: DataLoader) => Promise<T>,
): Promise<T> {
  const loader = await createLoader(dataset, options);
  try {
    return await fn(loader);
  } finally {
    await loader.close();
  }
}

describe('an epoch', () => {
  it.each([
    { workers: 1, prefetch: 1 },
    { workers: 2, prefetch: 3 },
    { workers: 3, prefetch: 8 },
  ])('yields every row exactly once with $workers workers and prefetch $prefetch', async ({ workers, prefetch }) => {
    await withLoader({ batchSize: 500, workers, prefetch, seed: 3 }, async (loader) => {
      const { rows } = await collect(loader, 0);
      const all = rows.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: dataset.numRows }, (_, i) => i));
      expect(rows.length).toBe(loader.numBatches);
    });
  });

  it('is the same for the same seed whatever the worker count', async () => {
    const a = await withLoader({ batchSize: 700, workers: 1, prefetch: 1, seed: 11 }, (l) => collect(l, 2));
    const b = await withLoader({ batchSize: 700, workers: 3, prefetch: 6, seed: 11 }, (l) => collect(l, 2));
    expect(b.rows).toEqual(a.rows);
  });

  it('differs from the previous epoch', async () => {
    await withLoader({ batchSize: 700, workers: 2, seed: 11 }, async (loader) => {
      const e0 = await collect(loader, 0);
      const e1 = await collect(loader, 1);
      expect(e1.rows).not.toEqual(e0.rows);
    });
  });

  it('is in file order without shuffle', async () => {
    await withLoader({ batchSize: 1000, shuffle: false, workers: 2 }, async (loader) => {
      const { rows } = await collect(loader, 0);
      expect(rows.flat()).toEqual(Array.from({ length: dataset.numRows }, (_, i) => i));
    });
  });
});

describe('a batch', () => {
  it('reads fewer bytes when small columns are kept decoded', async () => {
    const bytesRead = (cacheBytes: number) =>
      withLoader({ batchSize: 256, workers: 1, seed: 5, io: { cacheBytes } }, async (loader) => {
        await collect(loader, 0);
        return loader.metrics().bytesRead;
      });
    const none = await bytesRead(0);
    const kept = await bytesRead(16 * 1024 * 1024);
    expect(kept).toBeLessThan(none / 2);
  });

  it('holds the same values as dataset.take of its row offsets', async () => {
    await withLoader({ batchSize: 333, workers: 2, prefetch: 2, seed: 5 }, async (loader) => {
      let checked = 0;
      for await (const batch of loader.epoch(0)) {
        const table = await dataset.take(batch.rowOffsets);
        for (const field of table.schema.fields) {
          const column = batch.columns[field.name];
          expect(column, field.name).toBeDefined();
          const vector = table.getChild(field.name) as arrow.Vector;
          for (let i = 0; i < batch.numRows; i += 37) {
            const expected = vector.get(i);
            const valid = column?.validity ? column.validity[i] === 1 : true;
            if (expected === null) {
              expect(valid, `${field.name} row ${i} is null`).toBe(false);
              continue;
            }
            expect(valid).toBe(true);
            if (column?.offsets) {
              const bytes = (column.values as Uint8Array).subarray(column.offsets[i], column.offsets[i + 1]);
              expect(new TextDecoder().decode(bytes)).toBe(expected);
            } else {
              const perRow = column?.shape.slice(1).reduce((a, b) => a * b, 1) ?? 1;
              const got = Array.from((column?.values as ArrayLike<number | bigint>) ?? []).slice(
                i * perRow,
                (i + 1) * perRow,
              );
              const want = perRow === 1 ? [expected] : Array.from(expected as ArrayLike<number>);
              expect(got).toEqual(want);
            }
          }
        }
        batch.release();
        checked++;
      }
      expect(checked).toBe(loader.numBatches);
    });
  });

  it('reshapes a fixed-size list column with the shapes option', async () => {
    await withLoader(
      { batchSize: 10, columns: ['vec_f32_8'], shapes: { vec_f32_8: [2, 4] }, workers: 1 },
      async (loader) => {
        const first = await loader.epoch(0).next();
        const batch = first.value as Batch;
        expect(batch.columns['vec_f32_8']?.shape).toEqual([10, 2, 4]);
        batch.release();
      },
    );
  });
});

describe('direct I/O', () => {
  it('gives the same bytes as buffered reads, with and without the native read addon', async () => {
    const digest = (direct: boolean, bytesInFlight?: number) =>
      withLoader({ batchSize: 512, workers: 2, seed: 21, io: { direct, bytesInFlight } }, async (loader) => {
        const parts: string[] = [];
        for await (const batch of loader.epoch(0)) {
          for (const [name, column] of Object.entries(batch.columns)) {
            const bytes = new Uint8Array(column.values.buffer, column.values.byteOffset, column.values.byteLength);
            parts.push(
              `${name}:${Buffer.from(bytes).toString('base64')}:${column.validity ? Buffer.from(column.validity).toString('base64') : ''}`,
            );
          }
          batch.release();
        }
        return parts;
      });
    const direct = await digest(true);
    expect(await digest(false)).toEqual(direct);
    expect(await digest(true, 1)).toEqual(direct); // one read in flight at a time per worker
    vi.stubEnv('LANCE_LOADER_NATIVE', '0'); // workers copy the environment: fs reads instead of the addon
    expect(await digest(true)).toEqual(direct);
    expect(await digest(false)).toEqual(direct);
  });

  it('rejects a negative io.bytesInFlight with InvalidArgumentError', async () => {
    await expect(createLoader(dataset, { batchSize: 64, io: { bytesInFlight: -1 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('io.bytesInFlight'),
    });
  });
});

describe('resume', () => {
  it('continues with exactly the remaining batches from any step', async () => {
    const options = { batchSize: 1500, workers: 2, seed: 9 };
    const full = await withLoader(options, (l) => collect(l, 1));
    for (const stop of [0, 1, 3, full.rows.length - 1]) {
      const state = await withLoader(options, async (loader) => {
        const iterator = loader.epoch(1);
        for (let i = 0; i < stop; i++) ((await iterator.next()).value as Batch).release();
        const saved = JSON.parse(JSON.stringify(loader.state()));
        await iterator.return(undefined);
        return saved;
      });
      const rest = await withLoader({ ...options, resume: state }, (l) => collect(l, 1));
      expect(rest.rows).toEqual(full.rows.slice(stop));
    }
  });
});

describe('ranks', () => {
  it('partition the rows with equal batch counts', async () => {
    const per = await Promise.all(
      [0, 1, 2].map((rank) =>
        withLoader({ batchSize: 400, workers: 1, seed: 4, rank, worldSize: 3, dropLast: true }, (l) => collect(l, 0)),
      ),
    );
    const counts = per.map((p) => p.rows.length);
    expect(new Set(counts).size).toBe(1);
    const all = per.flatMap((p) => p.rows.flat());
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('failures', () => {
  it('reject a memory budget that leaves the workers no read memory, naming the caches and the bytes needed', async () => {
    await expect(
      createLoader(dataset, { batchSize: 64, workers: 2, memoryBytes: 8 << 20, io: { cacheBytes: 4 << 20 } }),
    ).rejects.toThrow(
      expect.objectContaining({
        code: 'MEMORY_BUDGET',
        message: expect.stringMatching(/needs at least \d+ bytes .*io\.cacheBytes/),
      }),
    );
  });

  it('reject the epoch with a typed error naming the file, column and rows when a page is corrupt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llcorrupt-'));
    cpSync(path, join(dir, 't.lance'), { recursive: true });
    const dataDir = join(dir, 't.lance', 'data');
    const file = join(dataDir, readdirSync(dataDir)[0] as string);
    const bytes = readFileSync(file);
    // Overwrite the first 4 KiB of page data (chunk headers and values) with 0xFF.
    bytes.fill(0xff, 0, 4096);
    writeFileSync(file, bytes);
    const broken = await openDataset(join(dir, 't.lance'));
    const loader = await createLoader(broken, { batchSize: 256, workers: 2, prefetch: 4, shuffle: false });
    try {
      const error = await collect(loader, 0).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toMatch(/column \d+ \("\w+"\)/);
      expect((error as Error).message).toMatch(/while loading epoch 0 batch \d+, rows/);
    } finally {
      await loader.close();
      await broken.close();
    }
    expect(loader.decodePool.threads.length).toBe(0);
  });

  it('cap the young generation of their V8 heaps, so worker RSS does not creep over the first epochs', async () => {
    await withLoader({ batchSize: 200, workers: 2, seed: 1 }, async (loader) => {
      ((await loader.epoch(0).next()).value as Batch).release();
      for (const thread of loader.decodePool.threads) expect(thread.resourceLimits?.maxYoungGenerationSizeMb).toBe(8);
    });
  });

  it('retry a batch whose worker was killed, on a replacement worker', async () => {
    await withLoader({ batchSize: 200, workers: 2, prefetch: 2, seed: 1 }, async (loader) => {
      const iterator = loader.epoch(0);
      ((await iterator.next()).value as Batch).release();
      const victims = [...loader.decodePool.threads];
      await Promise.all(victims.map((thread) => thread.terminate()));
      const rows: number[] = [];
      for await (const batch of { [Symbol.asyncIterator]: () => iterator }) {
        rows.push(...batch.rowOffsets);
        batch.release();
      }
      expect(rows.length).toBe(dataset.numRows - 200);
    });
  });

  it('refuse to wait forever when the consumer holds every slot', async () => {
    await withLoader({ batchSize: 100, workers: 1, prefetch: 1 }, async (loader) => {
      const held: Batch[] = [];
      const run = async () => {
        for await (const batch of loader.epoch(0)) held.push(batch);
      };
      await expect(run()).rejects.toThrow(
        expect.objectContaining({
          code: 'SLOTS_EXHAUSTED',
          message: expect.stringContaining('batch slots (prefetch 1 + 2) are held by the consumer'),
        }),
      );
      expect(held.length).toBe(3);
    });
  });
});

/**
 * The DataLoader over blob columns (LanceDB-written `blob` in 2.0/2.1: bytes in the data file; `blob_v2`
 * in 2.2: inline, packed-sidecar and dedicated-sidecar values). A blob column is batched as binary values
 * (offsets + bytes, validity for null blobs), value for value as the fixture wrote them, with real
 * worker threads, in the same order for 1 and 2 workers, and across a resume; external values (absolute
 * and base-relative, written by lance-loader's writer) read from under `externalRoots`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { IoError, UnsupportedError, openDataset, writeDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';
import { withDataset } from './fixture-dataset.js';
import { BLOB_CASES, writtenBlobs } from '../dataset/blob-fixtures.js';
import type { Comparable } from '../fixtures/compare.js';
import { expectedComparable } from '../fixtures/plan.js';
import { startStaticServer } from '../io/remote/servers.js';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of a fixture dataset that a test may damage. */
async function copyOf(spec: string, version: StorageVersion): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llblob-loader-'));
  temps.push(dir);
  const target = path.join(dir, `${spec}.lance`);
  fs.cpSync(await ensureDataset(specByName(spec), version), target, { recursive: true });
  return target;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

const BLOB_V2 = new Map([['ARROW:extension:name', 'lance.blob.v2']]);
const blobType = new arrow.Struct([
  new arrow.Field('data', new arrow.LargeBinary(), true),
  new arrow.Field('uri', new arrow.Utf8(), true),
]);

/** An epoch's rows in batch order: each row's offset and its `image` value as hex (null for a null blob). */
async function epochValues(
  dataset: Dataset,
  options: Omit<LoaderOptions, 'batchSize'> & { batchSize?: number },
  epoch = 0,
  stopAfter = Infinity,
): Promise<{
  rows: number[];
  values: (string | null)[];
  /** The epoch's values of the other (fixed-width) columns asked for, as numbers in batch order. */
  columns: Record<string, number[]>;
  state: ReturnType<Awaited<ReturnType<typeof createLoader>>['state']>;
}> {
  const loader = await createLoader(dataset, { columns: ['image'], batchSize: 32, ...options });
  const rows: number[] = [];
  const values: (string | null)[] = [];
  const columns: Record<string, number[]> = {};
  try {
    let batches = 0;
    for await (const batch of loader.epoch(epoch)) {
      const image = batch.columns['image'] as BatchColumn;
      expect(image.dtype).toBe('binary');
      const offsets = image.offsets as ArrayLike<number>;
      batch.rowOffsets.forEach((row, r) => {
        rows.push(row);
        values.push(
          image.validity?.[r] === 0
            ? null
            : hex((image.values as Uint8Array).subarray(offsets[r] as number, offsets[r + 1] as number)),
        );
      });
      for (const [name, column] of Object.entries(batch.columns)) {
        if (name === 'image') continue;
        const taken = Array.from(column.values as ArrayLike<number | bigint>, Number);
        (columns[name] ??= []).push(...taken.slice(0, batch.rowOffsets.length));
      }
      batch.release();
      if (++batches === stopAfter) break;
    }
    return { rows, values, columns, state: loader.state() };
  } finally {
    await loader.close();
  }
}

/**
 * The bytes the fixture wrote for `rows` (visible offsets), as hex: null for a null blob, which 2.0 keeps
 * as an empty (position 1, size 0) descriptor, like LanceDB's scan of it.
 */
function writtenValues(spec: string, version: StorageVersion, rows: number[]): (string | null)[] {
  const written = writtenBlobs(spec);
  return rows.map((row) => written[row] ?? (version === '2.0' ? '' : null));
}

describe.each(BLOB_CASES)('a loader over the blob column of $spec written as $version', ({ spec, version }) => {
  it('batches every row of a shuffled epoch as the bytes the fixture wrote, null blobs as validity 0', async () => {
    await withDataset(spec, version, async (dataset) => {
      const { rows, values } = await epochValues(dataset, { workers: 2, seed: 5 });
      expect([...rows].sort((a, b) => a - b)).toEqual(Array.from({ length: dataset.numRows }, (_, i) => i));
      expect(values).toEqual(writtenValues(spec, version, rows));
      if (version !== '2.0') expect(values).toContain(null);
    });
  });

  it('batches the blob column beside a fixed-width column, each row with its own idx', async () => {
    await withDataset(spec, version, async (dataset) => {
      const expected = expectedComparable(specByName(spec));
      const idx = expected.columns[expected.fields.findIndex((f) => f.name === 'idx')] as Comparable[];
      const { rows, values, columns } = await epochValues(dataset, { workers: 2, seed: 3, columns: ['idx', 'image'] });
      expect(values).toEqual(writtenValues(spec, version, rows));
      expect(columns['idx']).toEqual(rows.map((row) => Number(idx[row])));
    });
  });
});

describe('a loader over a blob column, in any worker count and across a resume', () => {
  for (const { spec, version } of BLOB_CASES.filter((c) => c.version !== '2.0')) {
    it(`gives the same rows and values in the same order with 1 and 2 workers (${spec} ${version})`, async () => {
      await withDataset(spec, version, async (dataset) => {
        const one = await epochValues(dataset, { workers: 1, seed: 9 }, 1);
        const two = await epochValues(dataset, { workers: 2, seed: 9 }, 1);
        expect(two.rows).toEqual(one.rows);
        expect(two.values).toEqual(one.values);
      });
    });

    it(`continues a saved state with the batches that were left (${spec} ${version})`, async () => {
      await withDataset(spec, version, async (dataset) => {
        const whole = await epochValues(dataset, { workers: 2, seed: 4 });
        const first = await epochValues(dataset, { workers: 2, seed: 4 }, 0, 2);
        const rest = await epochValues(dataset, { workers: 1, seed: 4, resume: first.state });
        expect([...first.rows, ...rest.rows]).toEqual(whole.rows);
        expect([...first.values, ...rest.values]).toEqual(whole.values);
      });
    });
  }
});

describe("a loader's metrics over a blob column", () => {
  it('count the bytes of the blob values read, at least the bytes delivered', async () => {
    await withDataset('blob_v2', '2.2', async (dataset) => {
      const loader = await createLoader(dataset, { columns: ['image'], batchSize: 32, workers: 1 });
      try {
        for await (const batch of loader.epoch(0)) batch.release();
        const { bytesRead, bytesDelivered } = loader.metrics();
        // The fixture holds two 5 MB values: an epoch delivers them, and must have read them.
        expect(bytesDelivered).toBeGreaterThan(10_000_000);
        expect(bytesRead).toBeGreaterThanOrEqual(bytesDelivered);
      } finally {
        await loader.close();
      }
    });
  });
});

describe('a loader over a remote dataset with blob columns', () => {
  for (const { spec, version } of BLOB_CASES.filter((c) => c.version !== '2.0')) {
    it(`batches over http the bytes takeBlobs reads from the local copy (${spec} ${version})`, async () => {
      const local = await ensureDataset(specByName(spec), version);
      const server = await startStaticServer(path.dirname(local));
      try {
        const latest = await openDataset(local);
        const dataset = await openDataset(`${server.url}/${path.basename(local)}`, { version: latest.version });
        try {
          const { rows, values } = await epochValues(dataset, { workers: 2, seed: 6 });
          expect(rows).toHaveLength(latest.numRows);
          expect(values).toEqual(writtenValues(spec, version, rows));
        } finally {
          await Promise.all([dataset.close(), latest.close()]);
        }
      } finally {
        await server.close();
      }
    });
  }
});

describe('a loader over damaged or out-of-reach blobs', () => {
  it('rejects the epoch with a CorruptFileError naming the sidecar, column and row when a value lies past its end', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const sidecars = fs
      .readdirSync(path.join(root, 'data'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.blob'))
      .map((e) => path.join(e.parentPath, e.name));
    // The largest sidecar holds one 5 MB value (rows 11 and 111 of the fixture).
    const largest = sidecars.reduce((a, b) => (fs.statSync(a).size >= fs.statSync(b).size ? a : b));
    fs.truncateSync(largest, 1000);
    const dataset = await openDataset(root);
    try {
      const row = writtenBlobs('blob_v2').findIndex((v) => v !== null && v.length / 2 === 5_000_000);
      const error = await epochValues(dataset, { workers: 1, shuffle: false, batchSize: 64 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CORRUPT_FILE' });
      expect((error as Error).message).toMatch(
        new RegExp(
          `column 1 \\("image"\\): row ${row} \\(blob in sidecar ${largest}\\): the descriptor points at bytes \\d+\\.\\.\\d+, past the end of ${largest} \\(1000 bytes\\)`,
        ),
      );
    } finally {
      await dataset.close();
    }
  });

  it('rejects the epoch with an UnsupportedError naming column and row for an external blob it may not read', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const dataset = await openDataset(root);
    let file: string;
    let descriptor: { position: bigint; size: bigint };
    try {
      file = path.join(root, 'data', dataset.fragments[0]?.files[0]?.path as string);
      descriptor = (await dataset.take([3], { columns: ['image'] })).getChild('image')?.get(0) as typeof descriptor;
    } finally {
      await dataset.close();
    }
    // Row 3's inline descriptor (kind | position | size | blob_id | uri length) made external (kind 3).
    const u64 = (value: bigint) => Buffer.from(BigUint64Array.of(value).buffer);
    const rest = Buffer.concat([u64(descriptor.position), u64(descriptor.size), Buffer.alloc(8)]);
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(Buffer.concat([Buffer.of(0), rest]));
    expect(at).toBeGreaterThanOrEqual(0);
    bytes[at] = 3;
    fs.writeFileSync(file, bytes);
    const patched = await openDataset(root);
    try {
      const error = await epochValues(patched, { workers: 1, shuffle: false, externalRoots: [os.tmpdir()] }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'UNSUPPORTED' });
      expect((error as Error).message).toMatch(
        /column 1 \("image"\): row 3: external blob "" is not a local file: URI/,
      );
    } finally {
      await patched.close();
    }
  });

  it("never holds more blob bytes than the worker's decode scratch while both lanes read batches of 5 MB values", async () => {
    await withDataset('blob_v2', '2.2', async (dataset) => {
      // 160 MiB: read memory for two lanes, and each slot a batch with a 5 MB value and average ones.
      const loader = await createLoader(dataset, {
        columns: ['image'],
        batchSize: 64,
        workers: 1,
        prefetch: 4,
        shuffle: false,
        memoryBytes: 160 << 20,
      });
      try {
        for await (const batch of loader.epoch(0)) batch.release();
        const scratch = loader.metrics().memory.parts.decodeScratch;
        expect(scratch.peakBytes).toBeGreaterThan(5_000_000);
        expect(scratch.peakBytes).toBeLessThanOrEqual(scratch.plannedBytes);
      } finally {
        await loader.close();
      }
    });
  });

  it('holds every batch in the least budget it takes: each of its rows is sampled, the 5 MB values too', async () => {
    await withDataset('blob_v2', '2.2', async (dataset) => {
      const options = { workers: 1, shuffle: false, batchSize: 64 };
      const refusal = await createLoader(dataset, { ...options, columns: ['image'], memoryBytes: 24 << 20 }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string; details: { neededBytes: number } },
      );
      expect(refusal).toMatchObject({ code: 'MEMORY_BUDGET' });
      expect(refusal?.message).toMatch(/"image" \d+ bytes \(largest 5000000, mean \d+ a row\)/);
      const memoryBytes = refusal?.details.neededBytes;
      const { rows, values } = await epochValues(dataset, { ...options, memoryBytes });
      expect(values).toEqual(writtenValues('blob_v2', '2.2', rows));
    });
  });
});

/**
 * A blob v2 dataset whose `image` rows cycle through inline bytes, files under an external base `media/`
 * (stored relative to it) and files in `other/`, outside every base (stored as absolute file: URIs).
 * Each test writes its own, in its own directory.
 */
describe('a loader over a blob v2 column with external blobs', () => {
  const rowCount = 60;
  const bytesOf = (row: number) => Uint8Array.from({ length: (row * 37) % 900 }, (_, j) => (row * 11 + j) & 0xff);

  async function writeExternal(): Promise<{
    dataset: Dataset;
    root: string;
    media: string;
    fileOf: (row: number) => string | undefined;
  }> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'llblob-external-'));
    temps.push(root);
    const [media, other] = [path.join(root, 'media'), path.join(root, 'other')];
    fs.mkdirSync(media);
    fs.mkdirSync(other);
    /** Row r's external file, or undefined for an inline row. */
    const fileOf = (row: number): string | undefined =>
      row % 3 === 0 ? undefined : path.join(row % 3 === 1 ? media : other, `${row}.bin`);
    const image = arrow.makeBuilder({ type: blobType, nullValues: [null, undefined] });
    for (let row = 0; row < rowCount; row++) {
      const file = fileOf(row);
      if (file !== undefined) fs.writeFileSync(file, bytesOf(row));
      image.append({ data: file === undefined ? bytesOf(row) : null, uri: file ?? null } as never);
    }
    const schema = new arrow.Schema([new arrow.Field('image', blobType, true, BLOB_V2)]);
    const data = arrow.makeData({
      type: new arrow.Struct(schema.fields),
      length: rowCount,
      children: [image.finish().flush()],
    });
    const target = path.join(root, 'external.lance');
    await writeDataset(target, new arrow.Table(schema, [new arrow.RecordBatch(schema, data)]), {
      externalBases: [media],
      allowExternalBlobOutsideBases: true,
    });
    return { dataset: await openDataset(target), root, media, fileOf };
  }

  it('batches every row of a shuffled epoch as the bytes takeBlobs and the files hold', async () => {
    const { dataset, root, fileOf } = await writeExternal();
    try {
      const { rows, values } = await epochValues(dataset, { workers: 2, seed: 3, batchSize: 8, externalRoots: [root] });
      expect([...rows].sort((a, b) => a - b)).toEqual(Array.from({ length: rowCount }, (_, i) => i));
      expect(rows).not.toEqual([...rows].sort((a, b) => a - b));
      const handles = await dataset.takeBlobs(rows, 'image', { externalRoots: [root] });
      const taken = await Promise.all(
        handles.map(async (h) => (h === null ? null : hex(new Uint8Array(await h.arrayBuffer())))),
      );
      expect(values).toEqual(taken);
      const file = (row: number) => fileOf(row) as string;
      expect(values).toEqual(rows.map((row) => hex(fileOf(row) ? fs.readFileSync(file(row)) : bytesOf(row))));
    } finally {
      await dataset.close();
    }
  });

  it('budgets external values of unrecorded size by their files, read under externalRoots', async () => {
    const { dataset, root, fileOf } = await writeExternal();
    try {
      // The writer records size 0 (the whole file) for an external value, as LanceDB does.
      const sizes = Array.from({ length: rowCount }, (_, row) => (fileOf(row) ? bytesOf(row).length : 0));
      const largest = Math.max(...sizes);
      const mean = sizes.reduce((sum, size) => sum + size, 0) / rowCount;
      const options = { columns: ['image'], batchSize: 8, memoryBytes: 1 << 20 };
      await expect(createLoader(dataset, { ...options, externalRoots: [root] })).rejects.toMatchObject({
        code: 'MEMORY_BUDGET',
        message: expect.stringContaining(
          `"image" ${Math.ceil(largest + 7 * mean)} bytes (largest ${largest}, mean ${Math.round(mean)} a row)`,
        ),
      });
      // Files it may not read are left to the epoch, which names the row.
      const refusal = await createLoader(dataset, options).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(refusal).toMatchObject({ code: 'MEMORY_BUDGET' });
      expect(refusal?.message).not.toContain('external files');
    } finally {
      await dataset.close();
    }
  });

  it('rejects the epoch without externalRoots with an UnsupportedError naming the column, the row and the root to add', async () => {
    const { dataset, media } = await writeExternal();
    try {
      const error = await epochValues(dataset, { workers: 1, shuffle: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsupportedError);
      expect((error as Error).message).toContain(
        `column 0 ("image"): row 1: external blob ${path.join(media, '1.bin')} is outside options.externalRoots (none given); ` +
          `to read it, add a directory holding it, e.g. externalRoots: [${JSON.stringify(media)}]`,
      );
    } finally {
      await dataset.close();
    }
  });

  for (const [kind, row] of [
    ['base-relative', 4],
    ['absolute', 5],
  ] as const) {
    it(`rejects the epoch with an IoError naming the row and the path of a removed ${kind} external file`, async () => {
      const { dataset, root, fileOf } = await writeExternal();
      const gone = fileOf(row) as string;
      fs.rmSync(gone);
      try {
        const error = await epochValues(dataset, { workers: 2, seed: 1, batchSize: 8, externalRoots: [root] }).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(IoError);
        expect(error).toMatchObject({ details: { row, path: gone } });
        expect((error as Error).message).toMatch(new RegExp(`row ${row}: external blob "[^"]+" cannot be read`));
        expect((error as Error).message).toContain(`cannot open external blob file ${gone}: ENOENT`);
      } finally {
        await dataset.close();
      }
    });
  }
});

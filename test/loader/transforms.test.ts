import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLoader,
  decodeImage,
  flipHorizontal,
  normalize,
  randomResizedCrop,
  centerCrop,
  resize,
  InvalidArgumentError,
  TransformError,
  type BatchColumn,
  type LoaderOptions,
  type LoaderState,
  type TransformStep,
} from '../../index.js';
import { batchToTensors, loadTf } from '../../tfjs.js';
import { mixedJpegs, writeImageTable } from '../decode-workers/transforms/image-fixtures.js';

const ROWS = 30;
/** Rows whose image is broken in the `broken` table: truncated, not an image, null. */
const BROKEN: Record<number, 'truncated' | 'text' | 'null'> = { 4: 'truncated', 11: 'text', 17: 'null' };

let good: string;
let broken: string;

beforeAll(async () => {
  const jpegs = await mixedJpegs(ROWS);
  good = await writeImageTable(jpegs);
  broken = await writeImageTable(
    jpegs.map((jpeg, row) => {
      const kind = BROKEN[row];
      if (kind === 'truncated') return jpeg.subarray(0, jpeg.length >> 1);
      if (kind === 'text') return new TextEncoder().encode('this is no image');
      return kind === 'null' ? null : jpeg;
    }),
  );
}, 60_000);

afterAll(() => {
  for (const path of [good, broken]) if (path) rmSync(dirname(path), { recursive: true, force: true });
});

const augment = (onError: 'raise' | 'skip' = 'raise'): LoaderOptions['transforms'] => ({
  image: { steps: [decodeImage(), randomResizedCrop(24), flipHorizontal(), normalize(0.5, 0.25)], onError },
});

/** Each row's transformed image in epoch `epoch`, by dataset row, with the labels. */
async function imagesByRow(
  path: string,
  options: Partial<LoaderOptions>,
  epoch: number,
): Promise<Map<number, { image: number[]; label: number }>> {
  const loader = await createLoader(path, { batchSize: 7, seed: 3, transforms: augment(), ...options });
  const rows = new Map<number, { image: number[]; label: number }>();
  try {
    for await (const batch of loader.epoch(epoch)) {
      const image = batch.columns.image as BatchColumn;
      const label = batch.columns.label as BatchColumn;
      const per = image.values.length / batch.numRows;
      batch.rowOffsets.forEach((row, i) =>
        rows.set(row, {
          image: Array.from(image.values.subarray(i * per, (i + 1) * per) as Float32Array),
          label: Number(label.values[i]),
        }),
      );
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return rows;
}

/** A batch-level user step of test/decode-workers/transforms/user-batch-transforms.mjs. */
const batchStep = (name: string, shape: number[], dtype: 'uint8' | 'float32'): TransformStep => ({
  op: 'user',
  module: fileURLToPath(new URL('../decode-workers/transforms/user-batch-transforms.mjs', import.meta.url)),
  export: name,
  level: 'batch',
  output: { shape, dtype },
});

const batchMeans: LoaderOptions['transforms'] = {
  image: { steps: [decodeImage(), randomResizedCrop(12), flipHorizontal(), batchStep('batchMeans', [3], 'float32')] },
};

/** Each batch's rows and its batchMeans output (per row: mean, batch mean, batch draw), in epoch `epoch`. */
async function batchMeansByBatch(options: Partial<LoaderOptions>, epoch: number): Promise<string[]> {
  const loader = await createLoader(good, { batchSize: 7, seed: 3, transforms: batchMeans, ...options });
  const batches: string[] = [];
  try {
    for await (const batch of loader.epoch(epoch)) {
      expect(batch.columns.image?.shape).toEqual([batch.numRows, 3]);
      batches.push(`${batch.rowOffsets.join()}: ${Array.from(batch.columns.image?.values as Float32Array).join()}`);
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return batches;
}

/** The state of a loader of `good` after it delivered two batches of `epoch`. */
async function stateAfterTwoBatches(options: LoaderOptions, epoch: number): Promise<LoaderState> {
  const loader = await createLoader(good, options);
  try {
    const it = loader.epoch(epoch);
    for (let i = 0; i < 2; i++) (await it.next()).value.release();
    const state = loader.state();
    await it.return(undefined);
    return state;
  } finally {
    await loader.close();
  }
}

describe('transforms in the loader', () => {
  it('delivers float32 [batch, 24, 24, 3] images beside the other columns', async () => {
    const loader = await createLoader(good, { batchSize: 8, workers: 1, transforms: augment() });
    try {
      const first = (await loader.epoch(0).next()).value;
      expect(first.columns.image.dtype).toBe('float32');
      expect(first.columns.image.shape).toEqual([8, 24, 24, 3]);
      expect(first.columns.image.values).toBeInstanceOf(Float32Array);
      expect(Array.from(first.columns.label?.values as Int32Array)).toEqual(
        Array.from(first.rowOffsets, (r: number) => r % 10),
      );
      first.release();
      await loader.endEpoch();
    } finally {
      await loader.close();
    }
  });

  it('gives each row the same crop and flip with 1 and 3 workers, and another in the next epoch', async () => {
    const one = await imagesByRow(good, { workers: 1 }, 1);
    const three = await imagesByRow(good, { workers: 3 }, 1);
    expect(one.size).toBe(ROWS);
    expect(three).toEqual(one);
    const next = await imagesByRow(good, { workers: 2 }, 2);
    expect(
      [...next.keys()].filter((row) => next.get(row)?.image.join() !== one.get(row)?.image.join()).length,
    ).toBeGreaterThan(ROWS / 2);
  });

  it('gives the rows after a resume the crops they had without it', async () => {
    const whole = await imagesByRow(good, { workers: 2 }, 1);
    const state = await stateAfterTwoBatches({ batchSize: 7, seed: 3, workers: 2, transforms: augment() }, 1);
    const rest = await imagesByRow(good, { workers: 3, resume: state }, 1);
    expect(rest.size).toBe(ROWS - 14);
    for (const [row, value] of rest) expect(value).toEqual(whole.get(row));
  });

  it('rejects the epoch on a bad image by default, naming the row', async () => {
    const loader = await createLoader(broken, { batchSize: 10, workers: 2, shuffle: false, transforms: augment() });
    try {
      const error = await (async () => {
        try {
          for await (const batch of loader.epoch(0)) batch.release();
        } catch (e) {
          return e;
        }
        throw new Error('expected an error');
      })();
      expect(error).toBeInstanceOf(TransformError);
      expect((error as TransformError).code).toBe('IMAGE_DECODE');
      expect((error as Error).message).toMatch(/^column "image", row 4: decodeImage: .*while loading epoch 0 batch 0/);
    } finally {
      await loader.close();
    }
  });

  it("replaces bad rows with the next good row of the batch under onError 'skip', counts and names them", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'LANCE_LOADER_SKIPPED_ROWS') warnings.push(w.message);
    };
    process.on('warning', onWarning);
    const loader = await createLoader(broken, {
      batchSize: 10,
      workers: 2,
      shuffle: false,
      columns: ['image', 'label'],
      transforms: augment('skip'),
    });
    try {
      const seen: number[] = [];
      for await (const batch of loader.epoch(0)) {
        expect(batch.columns.image?.shape).toEqual([10, 24, 24, 3]);
        seen.push(...batch.rowOffsets);
        // Labels moved with their images: the label of row r is r % 10.
        expect(Array.from(batch.columns.label?.values as Int32Array)).toEqual(
          Array.from(batch.rowOffsets, (r) => r % 10),
        );
        batch.release();
      }
      expect(seen.filter((r) => r in BROKEN)).toEqual([]);
      expect(seen.filter((_, i) => i === 4 || i === 11 || i === 17)).toEqual([5, 12, 18]);
      expect(loader.metrics().skippedRows).toBe(3);
      await new Promise((resolve) => setImmediate(resolve));
      const all = warnings.join('\n');
      for (const row of Object.keys(BROKEN)) expect(all).toContain(`row ${row}: `);
      expect(all).toContain('the value is null (replaced by row 18)');
    } finally {
      process.off('warning', onWarning);
      await loader.close();
    }
  });

  it("moves a string column's values with the rows onError 'skip' replaces", async () => {
    const loader = await createLoader(broken, {
      batchSize: 10,
      workers: 2,
      shuffle: false,
      columns: ['image', 'name', 'label'],
      transforms: augment('skip'),
    });
    try {
      const seen: number[] = [];
      for await (const batch of loader.epoch(0)) {
        const name = batch.columns.name as BatchColumn;
        const offsets = name.offsets as Int32Array;
        const names = Array.from(batch.rowOffsets, (_, i) =>
          new TextDecoder().decode(name.values.subarray(offsets[i], offsets[i + 1]) as Uint8Array),
        );
        expect(names).toEqual(Array.from(batch.rowOffsets, (r) => `image-${r}`));
        seen.push(...batch.rowOffsets);
        batch.release();
      }
      expect(seen.filter((_, i) => i === 4 || i === 11 || i === 17)).toEqual([5, 12, 18]);
    } finally {
      await loader.close();
    }
  });

  it("moves a list column's values, padded or ragged, with the rows onError 'skip' replaces", async () => {
    const jpegs = await mixedJpegs(12);
    const path = await writeImageTable(
      jpegs.map((jpeg, r) => (r === 3 || r === 8 ? null : jpeg)),
      undefined,
      { tokens: true },
    );
    const expected = (r: number) => Array.from({ length: r % 5 }, (_, k) => r + k);
    try {
      for (const pad of [{ tokens: { length: 3, value: -1 } }, undefined]) {
        const loader = await createLoader(path, {
          batchSize: 6,
          workers: 1,
          shuffle: false,
          columns: ['image', 'tokens'],
          transforms: augment('skip'),
          ...(pad && { pad }),
        });
        try {
          for await (const batch of loader.epoch(0)) {
            const tokens = batch.columns.tokens as BatchColumn;
            batch.rowOffsets.forEach((r, i) => {
              const items = pad
                ? Array.from(tokens.values.subarray(i * 3, i * 3 + (tokens.lengths?.[i] ?? 0)) as Int32Array)
                : Array.from(tokens.values.subarray(tokens.offsets?.[i], tokens.offsets?.[i + 1]) as Int32Array);
              expect(items, `row ${r}`).toEqual(pad ? expected(r).slice(0, 3) : expected(r));
            });
            expect(Array.from(batch.rowOffsets).filter((r) => r === 3 || r === 8)).toEqual([]);
            batch.release();
          }
        } finally {
          await loader.close();
        }
      }
    } finally {
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });

  it('runs a batch-level user step on whole batches, the same with 1 and 3 workers and after a resume', async () => {
    const one = await batchMeansByBatch({ workers: 1 }, 1);
    expect(one.length).toBe(Math.ceil(ROWS / 7));
    expect(await batchMeansByBatch({ workers: 3 }, 1)).toEqual(one);
    const state = await stateAfterTwoBatches({ batchSize: 7, seed: 3, workers: 2, transforms: batchMeans }, 1);
    expect(await batchMeansByBatch({ workers: 2, resume: state }, 1)).toEqual(one.slice(2));
  });

  it('rejects the epoch when a batch-level user step throws, naming the rows, column and module', async () => {
    const loader = await createLoader(good, {
      batchSize: 4,
      workers: 1,
      shuffle: false,
      transforms: { image: { steps: [batchStep('batchThrows', [1], 'uint8')], onError: 'skip' } },
    });
    try {
      const error = await loader
        .epoch(0)
        .next()
        .then(() => null)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransformError);
      expect((error as Error).message).toMatch(
        /^column "image", rows 0, 1, 2, 3: steps\[0\] user file:.*user-batch-transforms\.mjs#batchThrows \(batch\) threw: no batch of 4 rows/,
      );
    } finally {
      await loader.close();
    }
  });

  it('refuses a transform of a column that is not binary', async () => {
    const error = await createLoader(good, {
      batchSize: 4,
      workers: 1,
      transforms: { label: { steps: [decodeImage(), centerCrop(8)] } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      'options.transforms.label: column "label" is Int32; transforms take binary or string columns (encoded images)',
    );
  });

  it('plans transform scratch in the budget and holds none of it between epochs', async () => {
    const loader = await createLoader(good, {
      batchSize: 8,
      workers: 2,
      transforms: { image: { steps: [decodeImage({ maxPixels: 1 << 20 }), resize(32), centerCrop(32)] } },
    });
    try {
      for (let epoch = 0; epoch < 4; epoch++) {
        for await (const batch of loader.epoch(epoch)) batch.release();
        const part = loader.metrics().memory.parts.transformScratch;
        expect(part.plannedBytes).toBeGreaterThanOrEqual(2 * 3 * (1 << 20));
        expect([part.allocatedBytes, part.inUseBytes]).toEqual([0, 0]);
        expect(part.peakBytes).toBeGreaterThan(0);
        expect(part.peakBytes).toBeLessThanOrEqual(part.plannedBytes);
      }
    } finally {
      await loader.close();
    }
  });

  it('hands the transformed images to tfjs as they are', async () => {
    const tf = await loadTf('cpu');
    const loader = await createLoader(good, { batchSize: 8, workers: 1, transforms: augment() });
    try {
      const batch = (await loader.epoch(0).next()).value;
      const before = tf.memory().numTensors;
      const tensor = batchToTensors(tf, batch, { column: 'image' });
      expect(tensor.shape).toEqual([8, 24, 24, 3]);
      expect(tensor.dtype).toBe('float32');
      expect(Array.from(tensor.dataSync())).toEqual(Array.from(batch.columns.image?.values as Float32Array));
      tensor.dispose();
      expect(tf.memory().numTensors).toBe(before);
      batch.release();
      await loader.endEpoch();
    } finally {
      await loader.close();
    }
  });
});

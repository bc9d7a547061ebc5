import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLoader, decodeImage, InvalidArgumentError, resize, type TransformStep } from '../../index.js';
import { mixedJpegs, writeImageTable } from '../decode-workers/transforms/image-fixtures.js';

const ROWS = 20;
/** The table's labels: not the default row % 10, so that a label is not an id in disguise. */
const LABELS = Array.from({ length: ROWS }, (_, row) => (row * 7) % 5);
let path: string;
let jpegs: Buffer[];

beforeAll(async () => {
  jpegs = await mixedJpegs(ROWS);
  path = await writeImageTable(jpegs, LABELS);
}, 60_000);

afterAll(() => {
  if (path) rmSync(dirname(path), { recursive: true, force: true });
});

const step = (name: string, shape: number[], inputs: string[], level?: 'batch'): TransformStep => ({
  op: 'user',
  module: fileURLToPath(new URL('../decode-workers/transforms/user-column-transforms.mjs', import.meta.url)),
  export: name,
  output: { shape, dtype: 'float32' },
  inputs,
  ...(level && { level }),
});

describe('user transforms with inputs', () => {
  it("gives a row-level step in the workers each row's values of the columns it names", async () => {
    const loader = await createLoader(path, {
      batchSize: 6,
      workers: 2,
      seed: 1,
      transforms: { image: { steps: [step('withColumns', [5], ['id', 'label', 'name'])] } },
    });
    const seen = new Set<number>();
    try {
      for await (const batch of loader.epoch(0)) {
        const image = batch.columns.image?.values as Float32Array;
        for (const [r, row] of batch.rowOffsets.entries()) {
          const name = new TextEncoder().encode(`image-${row}`);
          expect(Array.from(image.subarray(r * 5, r * 5 + 5))).toEqual([
            row,
            LABELS[row],
            name[0],
            name[name.length - 1],
            jpegs[row]?.length,
          ]);
          seen.add(row);
        }
        batch.release();
      }
    } finally {
      await loader.close();
    }
    expect(seen.size).toBe(ROWS);
  });

  it("gives a batch-level step the batch's values of the columns it names, in batch order", async () => {
    const loader = await createLoader(path, {
      batchSize: 8,
      workers: 2,
      seed: 2,
      transforms: {
        image: { steps: [decodeImage(), resize([8, 8]), step('batchLabels', [3], ['label'], 'batch')] },
      },
    });
    try {
      for await (const batch of loader.epoch(1)) {
        const image = batch.columns.image?.values as Float32Array;
        const labels = Array.from(batch.rowOffsets, (row) => LABELS[row] as number);
        const sum = labels.reduce((a, b) => a + b, 0);
        expect(Array.from(image)).toEqual(labels.flatMap((label) => [label, sum, batch.numRows]));
        batch.release();
      }
    } finally {
      await loader.close();
    }
  });

  it('refuses inputs that name a column the loader does not load', async () => {
    const error = await createLoader(path, {
      batchSize: 4,
      workers: 1,
      columns: ['id', 'image'],
      transforms: { image: { steps: [step('withColumns', [5], ['id', 'label'])] } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      'options.transforms.image.steps[0].inputs: column "label" is not loaded (add it to options.columns)',
    );
  });

  it('refuses inputs that name a list of strings, whose rows a step would get without item boundaries', async () => {
    const tagged = await writeImageTable(jpegs.slice(0, 4), LABELS.slice(0, 4), { tags: true });
    try {
      const error = await createLoader(tagged, {
        batchSize: 2,
        workers: 1,
        columns: ['image', 'tags'],
        transforms: { image: { steps: [step('withColumns', [5], ['tags'])] } },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toBe(
        'options.transforms.image.steps[0].inputs: column "tags" is a list; user steps take fixed-width, string and binary columns',
      );
    } finally {
      rmSync(dirname(tagged), { recursive: true, force: true });
    }
  });
});

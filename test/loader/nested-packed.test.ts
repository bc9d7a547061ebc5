/**
 * The DataLoader over packed structs of fixed-width fields (LanceDB-written `packed_struct`,
 * `packed_struct_nulls`; packed structs with strings: packed-strings.test.ts; blob columns:
 * blob-columns.test.ts). A packed struct of fixed-width fields (stored as one column of whole rows) is
 * batched like a plain struct: each field a column of its own named by its path, null where the struct
 * is, value for value as `dataset.take` reads the rows, with real worker threads, over fragments and
 * deletions in file versions 2.0, 2.1 and 2.2.
 */
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import { withDataset } from './fixture-dataset.js';

type Row = { x: number; y: number; cls: number } | null;

/** Every batch of an epoch of `xyc`: its rows rebuilt from the field columns, and as dataset.take reads them. */
async function epochRows(dataset: Dataset, options: LoaderOptions): Promise<{ given: Row[]; taken: Row[] }[]> {
  const loader = await createLoader(dataset, options);
  const out: { given: Row[]; taken: Row[] }[] = [];
  try {
    for await (const batch of loader.epoch(0)) {
      expect(Object.keys(batch.columns)).toEqual(['xyc.x', 'xyc.y', 'xyc.cls']);
      const [x, y, cls] = ['xyc.x', 'xyc.y', 'xyc.cls'].map((name) => batch.columns[name] as BatchColumn) as [
        BatchColumn,
        BatchColumn,
        BatchColumn,
      ];
      expect([x.values, y.values, cls.values].map((v) => v.constructor)).toEqual([
        Float32Array,
        Float32Array,
        Int32Array,
      ]);
      const given = Array.from(batch.rowOffsets, (_, r) =>
        x.validity?.[r] === 0
          ? null
          : { x: x.values[r] as number, y: y.values[r] as number, cls: cls.values[r] as number },
      );
      const vector = (await dataset.take(Array.from(batch.rowOffsets), { columns: ['xyc'] })).getChild('xyc');
      const taken = Array.from(batch.rowOffsets, (_, r) => {
        const row = vector?.get(r)?.toJSON() as { x: number; y: number; cls: number } | undefined;
        return row ? { x: Math.fround(row.x), y: Math.fround(row.y), cls: row.cls } : null;
      });
      out.push({ given, taken });
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return out;
}

describe('a loader over a packed struct', () => {
  for (const version of ['2.0', '2.1', '2.2'] as const) {
    it(`gives each field as a column of its own by path, as dataset.take reads the rows (${version})`, async () => {
      await withDataset('packed_struct', version, async (dataset) => {
        const batches = await epochRows(dataset, { columns: ['xyc'], batchSize: 100, workers: 2, seed: 3 });
        expect(batches.reduce((n, b) => n + b.given.length, 0)).toBe(dataset.numRows);
        for (const { given, taken } of batches) expect(given).toEqual(taken);
      });
    });
  }

  for (const version of ['2.1', '2.2'] as const) {
    it(`marks the rows where the packed struct is null in each field's validity (${version})`, async () => {
      await withDataset('packed_struct_nulls', version, async (dataset) => {
        const batches = await epochRows(dataset, { columns: ['xyc'], batchSize: 250, workers: 2, seed: 1 });
        expect(batches.some((b) => b.taken.includes(null))).toBe(true);
        for (const { given, taken } of batches) expect(given).toEqual(taken);
      });
    });
  }

  it('refuses a field selected by path, naming the packed struct to select', async () => {
    await withDataset('packed_struct', '2.2', async (dataset) => {
      await expect(createLoader(dataset, { columns: ['xyc.x'], batchSize: 8, workers: 1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('"xyc" is a packed struct'),
      });
    });
  });
});

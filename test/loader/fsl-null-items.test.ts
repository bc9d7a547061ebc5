/**
 * The DataLoader over fixed_size_list columns whose items are null (LanceDB-written `fsl_null_items`, file
 * version 2.2: mini-block with a validity buffer, full-zip with a bitmap before each value): a batch with a
 * null item gives it as 0 and marks it in `itemValidity` (one byte per item), as `dataset.take` reads the
 * rows, with real worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let dataset: Dataset;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('fsl_null_items'), '2.2'));
});

afterAll(async () => {
  await dataset?.close();
});

interface Rows {
  values: number[];
  items: number[] | undefined;
  validity: number[] | undefined;
}

/** The first two batches of `column`: as the loader gives them, and as dataset.take reads their rows. */
async function batchesOf(column: string): Promise<{ given: Rows; taken: Rows }[]> {
  const loader = await createLoader(dataset, { columns: [column], batchSize: 64, workers: 2, seed: 5 });
  const out: { given: Rows; taken: Rows }[] = [];
  try {
    for await (const batch of loader.epoch(0)) {
      const col = batch.columns[column] as BatchColumn;
      const given = {
        values: Array.from(col.values as Float32Array),
        items: col.itemValidity && Array.from(col.itemValidity),
        validity: col.validity && Array.from(col.validity),
      };
      const vector = (await dataset.take(Array.from(batch.rowOffsets), { columns: [column] })).getChild(column);
      const rows = Array.from(vector ?? [], (row) =>
        row === null ? null : Array.from(row as Iterable<number | null>),
      );
      const dim = given.values.length / batch.numRows;
      const taken = {
        // A null row's items are whatever the writer left; the loader's validity says the row is null.
        values: rows.flatMap((row, r) =>
          row === null ? given.values.slice(r * dim, (r + 1) * dim) : row.map((x) => x ?? 0),
        ),
        items: rows.flatMap((row, r) =>
          row === null ? (given.items?.slice(r * dim, (r + 1) * dim) ?? []) : row.map((x) => (x === null ? 0 : 1)),
        ),
        validity: given.validity && rows.map((row) => (row === null ? 0 : 1)),
      };
      out.push({ given, taken });
      batch.release();
      if (out.length === 2) break;
    }
  } finally {
    await loader.close();
  }
  return out;
}

describe('a loader over fixed_size_list columns with null items', () => {
  it.each(['fsl', 'fsl_null', 'vec128'])(
    'gives the null items of %s as 0 marked in itemValidity, as dataset.take reads them',
    async (column) => {
      for (const { given, taken } of await batchesOf(column)) {
        expect(given.items).toBeDefined();
        expect(given.items).toEqual(taken.items);
        expect(given.values).toEqual(taken.values);
        expect(given.validity).toEqual(taken.validity);
      }
    },
  );
});

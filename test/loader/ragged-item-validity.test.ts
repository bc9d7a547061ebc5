/**
 * Null items inside ragged list batches (no options.pad), on a LanceDB-written fixture with real workers: a
 * batch with a null item marks it in `itemValidity` (one byte per item of `values`), as `dataset.take` reads
 * the rows; a batch without one has no `itemValidity`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let nested: Dataset;

beforeAll(async () => {
  nested = await openDataset(await ensureDataset(specByName('nested'), '2.2'));
});

afterAll(async () => {
  await nested?.close();
});

interface BatchItems {
  /** The batch's itemValidity, or undefined when it has none. */
  given: number[] | undefined;
  /** 1 per item of the batch's rows that dataset.take reads as valid, 0 per null item. */
  taken: number[];
}

/** The item validity of the first `count` batches of 4 rows of `column`, as given and as taken. */
async function batchItems(column: string, count: number): Promise<BatchItems[]> {
  const loader = await createLoader(nested, { columns: [column], batchSize: 4, workers: 2, seed: 3 });
  const out: BatchItems[] = [];
  try {
    for await (const batch of loader.epoch(0)) {
      const col = batch.columns[column] as BatchColumn;
      const table = await nested.take(Array.from(batch.rowOffsets), { columns: [column] });
      const lists = Array.from(table.getChild(column) ?? [], (list) => Array.from((list ?? []) as Iterable<unknown>));
      out.push({
        given: col.itemValidity && Array.from(col.itemValidity),
        taken: lists.flat().map((x) => (x === null ? 0 : 1)),
      });
      batch.release();
      if (out.length === count) break;
    }
  } finally {
    await loader.close();
  }
  return out;
}

describe('a loader over ragged list columns', () => {
  it('marks the null items of a batch in itemValidity, as dataset.take reads them', async () => {
    const batches = await batchItems('list_int32_null', 40);
    const withNulls = batches.filter((b) => b.taken.includes(0));
    expect(withNulls.length).toBeGreaterThan(0);
    for (const b of withNulls) expect(b.given).toEqual(b.taken);
  });

  it('gives no itemValidity for a batch without a null item', async () => {
    const batches = await batchItems('list_int32_null', 40);
    const without = batches.filter((b) => !b.taken.includes(0));
    expect(without.length).toBeGreaterThan(0);
    for (const b of without) expect(b.given).toBeUndefined();
  });
});

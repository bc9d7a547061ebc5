/**
 * The DataLoader over a map column (LanceDB-written `map`, map<utf8, int32> in file version 2.2: null maps,
 * empty maps, null values): a map is a list of (key, value) entries, so selecting it gives its two leaves
 * `map.key` (ragged strings) and `map.value` (ragged ints with itemValidity) sharing the map's row offsets,
 * each entry for entry as `dataset.take` reads the rows, with real worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch, BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let dataset: Dataset;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('map'), '2.2'));
});

afterAll(async () => {
  await dataset?.close();
});

type Entries = [string, number | null][] | null;

/** The map rows of `rows` as dataset.take reads them: entries in order, null for a null map. */
async function taken(rows: Uint32Array): Promise<Entries[]> {
  const vector = (await dataset.take(Array.from(rows), { columns: ['map'] })).getChild('map');
  return Array.from({ length: rows.length }, (_, r) => {
    const row = vector?.get(r) as Iterable<[string, number | null]> | null;
    return row === null ? null : Array.from(row, ([k, v]) => [k, v] as [string, number | null]);
  });
}

const text = new TextDecoder();

/** A batch's map rows rebuilt from its two leaves. */
function entriesOf(batch: Batch): Entries[] {
  const keys = batch.columns['map.key'] as BatchColumn;
  const values = batch.columns['map.value'] as BatchColumn;
  const offsets = keys.offsets as Int32Array;
  return Array.from({ length: batch.numRows }, (_, r) => {
    if (keys.validity?.[r] === 0) return null;
    const entries: [string, number | null][] = [];
    for (let k = offsets[r] as number; k < (offsets[r + 1] as number); k++) {
      const key = text.decode((keys.values as Uint8Array).subarray(keys.itemOffsets?.[k], keys.itemOffsets?.[k + 1]));
      entries.push([key, values.itemValidity?.[k] === 0 ? null : ((values.values as Int32Array)[k] as number)]);
    }
    return entries;
  });
}

async function eachBatch(options: LoaderOptions, check: (batch: Batch) => Promise<void>): Promise<number> {
  const loader = await createLoader(dataset, options);
  let batches = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      await check(batch);
      batches++;
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return batches;
}

describe('a loader over a map column', () => {
  it('gives its keys and values as two ragged leaves with the same row offsets', async () => {
    let nullValues = 0;
    const batches = await eachBatch({ columns: ['map'], batchSize: 300, workers: 2, seed: 12 }, async (batch) => {
      expect(Object.keys(batch.columns)).toEqual(['map.key', 'map.value']);
      const keys = batch.columns['map.key'] as BatchColumn;
      const values = batch.columns['map.value'] as BatchColumn;
      expect(keys.dtype).toBe('utf8');
      expect(values.dtype).toBe('int32');
      expect(Array.from(values.offsets ?? [])).toEqual(Array.from(keys.offsets ?? []));
      expect(Array.from(values.validity ?? [])).toEqual(Array.from(keys.validity ?? []));
      nullValues += values.itemValidity?.filter((v) => v === 0).length ?? 0;
      const expected = await taken(batch.rowOffsets);
      expect(expected.some((row) => row === null)).toBe(true);
      expect(expected.some((row) => row?.length === 0)).toBe(true);
      expect(entriesOf(batch)).toEqual(expected);
    });
    expect(batches).toBe(Math.ceil(dataset.numRows / 300));
    expect(nullValues).toBeGreaterThan(0);
  });

  it('selects one leaf of a map by its path', async () => {
    await eachBatch({ columns: ['map.value'], batchSize: 500, workers: 1 }, async (batch) => {
      expect(Object.keys(batch.columns)).toEqual(['map.value']);
      const values = batch.columns['map.value'] as BatchColumn;
      const expected = await taken(batch.rowOffsets);
      const offsets = values.offsets as Int32Array;
      expect(
        expected.map((row, r) =>
          values.validity?.[r] === 0
            ? null
            : Array.from((values.values as Int32Array).subarray(offsets[r], offsets[r + 1]), (v, k) =>
                values.itemValidity?.[(offsets[r] as number) + k] === 0 ? null : v,
              ),
        ),
      ).toEqual(expected.map((row) => row && row.map(([, v]) => v)));
    });
  });

  it("pads a map's values with options.pad", async () => {
    await eachBatch(
      { columns: ['map.value'], batchSize: 500, workers: 1, pad: { 'map.value': { length: 2, value: -7 } } },
      async (batch) => {
        const values = batch.columns['map.value'] as BatchColumn;
        expect(values.shape).toEqual([batch.numRows, 2]);
        const expected = await taken(batch.rowOffsets);
        expected.forEach((row, r) => {
          const kept = (row ?? []).slice(0, 2).map(([, v]) => v ?? -7);
          expect(Array.from((values.values as Int32Array).subarray(r * 2, r * 2 + 2))).toEqual([
            ...kept,
            ...Array(2 - kept.length).fill(-7),
          ]);
          expect(values.lengths?.[r]).toBe(kept.length);
        });
      },
    );
  });
});

/**
 * The DataLoader over list and struct columns of LanceDB-written datasets (test/fixtures/matrix.ts
 * `nested`, `nested_long`): padded lists and struct children by path hold, row for row, what
 * `dataset.take` of the batch's rows gives, with real worker threads; random truncation and batch order
 * do not depend on the worker count, and a resumed loader continues with the same batches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader, type DataLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch, BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let nested: Dataset;
let long: Dataset;

beforeAll(async () => {
  const [a, b] = await Promise.all([
    ensureDataset(specByName('nested'), '2.1'),
    ensureDataset(specByName('nested_long'), '2.2'),
  ]);
  [nested, long] = await Promise.all([openDataset(a), openDataset(b)]);
});

afterAll(async () => {
  await Promise.all([nested?.close(), long?.close()]);
});

/** A column copied out of the batch: values per row, lengths and validity. */
interface Copied {
  rows: number[][];
  lengths?: number[];
  validity?: number[];
}

function copyColumn(column: BatchColumn, numRows: number): Copied {
  const perRow = column.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = Array.from({ length: numRows }, (_, r) =>
    Array.from(column.values.subarray(r * perRow, (r + 1) * perRow) as ArrayLike<number>, Number),
  );
  return {
    rows,
    ...(column.lengths && { lengths: Array.from(column.lengths) }),
    ...(column.validity && { validity: Array.from(column.validity) }),
  };
}

interface CopiedBatch {
  rowOffsets: number[];
  columns: Record<string, Copied>;
}

function copyBatch(batch: Batch): CopiedBatch {
  const columns: Record<string, Copied> = {};
  for (const [name, column] of Object.entries(batch.columns)) columns[name] = copyColumn(column, batch.numRows);
  return { rowOffsets: Array.from(batch.rowOffsets), columns };
}

async function batchesOf(dataset: Dataset, options: LoaderOptions, count = Infinity): Promise<CopiedBatch[]> {
  const loader = await createLoader(dataset, options);
  try {
    return await take(loader, 0, count);
  } finally {
    await loader.close();
  }
}

async function take(loader: DataLoader, epoch: number, count: number): Promise<CopiedBatch[]> {
  const out: CopiedBatch[] = [];
  for await (const batch of loader.epoch(epoch)) {
    out.push(copyBatch(batch));
    batch.release();
    if (out.length >= count) break;
  }
  return out;
}

/** The values of `column` of `rows` as dataset.take gives them (lists as arrays, nulls as null). */
async function taken(dataset: Dataset, rows: number[], column: string): Promise<unknown[]> {
  const table = await dataset.take(rows, { columns: [column] });
  // Iterating a vector gives its nulls (toArray gives the stored values under them).
  return Array.from((table.getChild(column) ?? []) as Iterable<unknown>, (value) => {
    if (value === null || value === undefined) return null;
    return typeof value === 'object'
      ? Array.from(value as Iterable<unknown>, (x) => (x === null ? null : Number(x)))
      : Number(value);
  });
}

describe('a loader over list columns padded with options.pad', () => {
  it("puts each row's items first, then the pad value, with the row's length, as dataset.take reads them", async () => {
    const batches = await batchesOf(nested, {
      columns: ['list_int32_null'],
      batchSize: 64,
      workers: 2,
      seed: 3,
      pad: { list_int32_null: { length: 4, value: -1 } },
    });
    for (const batch of batches.slice(0, 3)) {
      const expected = await taken(nested, batch.rowOffsets, 'list_int32_null');
      const column = batch.columns.list_int32_null as Copied;
      expected.forEach((list, r) => {
        const items = (list as (number | null)[] | null) ?? [];
        const kept = items.slice(0, 4).map((x) => x ?? -1);
        expect(column.rows[r]).toEqual([...kept, ...Array(4 - kept.length).fill(-1)]);
        expect(column.lengths?.[r]).toBe(kept.length);
        expect(column.validity?.[r]).toBe(list === null ? 0 : 1);
      });
    }
  });

  it('keeps the last items of long rows with truncate start', async () => {
    const [batch] = await batchesOf(
      long,
      {
        columns: ['list_long'],
        batchSize: 16,
        workers: 1,
        pad: { list_long: { length: 100, truncate: 'start' } },
      },
      1,
    );
    const expected = await taken(long, (batch as CopiedBatch).rowOffsets, 'list_long');
    expected.forEach((list, r) => {
      const items = ((list as number[] | null) ?? []).map((x) => x ?? 0);
      expect((batch as CopiedBatch).columns.list_long?.rows[r]).toEqual(
        items.length >= 100 ? items.slice(-100) : [...items, ...Array(100 - items.length).fill(0)],
      );
    });
  });

  it('keeps a contiguous window of each long row with truncate random, the same with 1 and 3 workers', async () => {
    const options = (workers: number): LoaderOptions => ({
      columns: ['list_long'],
      batchSize: 32,
      workers,
      seed: 5,
      pad: { list_long: { length: 50, truncate: 'random' } },
    });
    const [one, three] = [await batchesOf(long, options(1)), await batchesOf(long, options(3))];
    expect(three).toEqual(one);
    const batch = one[0] as CopiedBatch;
    const expected = await taken(long, batch.rowOffsets, 'list_long');
    let moved = 0;
    expected.forEach((list, r) => {
      const items = ((list as number[] | null) ?? []).map((x) => x ?? 0);
      const row = batch.columns.list_long?.rows[r] as number[];
      if (items.length < 50) return;
      const start = items.findIndex((_, i) => items.slice(i, i + 50).every((x, k) => x === row[k]));
      expect(start).toBeGreaterThanOrEqual(0);
      if (start > 0) moved++;
    });
    expect(moved).toBeGreaterThan(0);
  });

  it('draws other random windows in another epoch', async () => {
    const loader = await createLoader(long, {
      columns: ['list_long'],
      batchSize: 400,
      workers: 1,
      shuffle: false,
      pad: { list_long: { length: 50, truncate: 'random' } },
    });
    try {
      const [first] = await take(loader, 0, 1);
      const [second] = await take(loader, 1, 1);
      expect(second?.columns.list_long?.rows).not.toEqual(first?.columns.list_long?.rows);
    } finally {
      await loader.close();
    }
  });

  it('continues a resumed epoch with the same padded batches', async () => {
    const options: LoaderOptions = {
      columns: ['list_long'],
      batchSize: 32,
      workers: 2,
      seed: 8,
      pad: { list_long: { length: 20, truncate: 'random' } },
    };
    const all = await batchesOf(long, options);
    const loader = await createLoader(long, options);
    let state;
    try {
      await take(loader, 0, 4);
      state = loader.state();
    } finally {
      await loader.close();
    }
    const rest = await batchesOf(long, { ...options, resume: state });
    expect(rest).toEqual(all.slice(4));
  });

  it('batches every list column of a dataset when no columns are named', async () => {
    const lists = await openDataset(await ensureDataset(specByName('nested_lists'), '2.1'));
    try {
      const [batch] = await batchesOf(lists, { batchSize: 8, workers: 1 }, 1);
      expect(Object.keys(batch?.columns ?? {})).toEqual(['idx', 'list_list', 'list_fsl', 'list_text']);
    } finally {
      await lists.close();
    }
  });

  it('refuses options.pad for a column that is not a list', async () => {
    await expect(
      createLoader(nested, { columns: ['idx'], batchSize: 8, workers: 1, pad: { idx: { length: 4 } } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('options.pad.idx') });
  });
});

describe('a loader over list columns without options.pad', () => {
  it('gives each batch ragged values, item offsets and validity, as dataset.take reads them', async () => {
    const loader = await createLoader(nested, { columns: ['list_int32_null'], batchSize: 64, workers: 2, seed: 1 });
    try {
      let seen = 0;
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_int32_null as BatchColumn;
        const expected = await taken(nested, Array.from(batch.rowOffsets), 'list_int32_null');
        expect(column.values).toBeInstanceOf(Int32Array);
        expected.forEach((list, r) => {
          // A null item reads as 0.
          const [start, end] = [column.offsets?.[r] as number, column.offsets?.[r + 1] as number];
          expect(column.validity?.[r]).toBe(list === null ? 0 : 1);
          const items = ((list as (number | null)[] | null) ?? []).map((x) => x ?? 0);
          expect(Array.from(column.values.subarray(start, end) as Int32Array)).toEqual(items);
        });
        batch.release();
        if (++seen === 3) break;
      }
    } finally {
      await loader.close();
    }
  });
});

describe("a loader's list scratch", () => {
  it('is charged to the memory budget: planned for a list column and held by the workers within that plan', async () => {
    const loader = await createLoader(long, {
      columns: ['list_long'],
      batchSize: 64,
      workers: 2,
      pad: { list_long: { length: 100 } },
    });
    try {
      for await (const batch of loader.epoch(0)) batch.release();
      const { listScratch } = loader.metrics().memory.parts;
      expect(listScratch.plannedBytes).toBeGreaterThan(0);
      expect(listScratch.allocatedBytes).toBeGreaterThan(0);
      expect(listScratch.peakBytes).toBeLessThanOrEqual(listScratch.plannedBytes);
    } finally {
      await loader.close();
    }
  });
});

describe('a loader over struct columns', () => {
  it('gives a struct child selected by path as a column holding what dataset.take reads', async () => {
    const [batch] = await batchesOf(nested, { columns: ['struct_ab.a'], batchSize: 100, workers: 1 }, 1);
    const expected = await taken(nested, (batch as CopiedBatch).rowOffsets, 'struct_ab.a');
    const column = (batch as CopiedBatch).columns['struct_ab.a'] as Copied;
    expected.forEach((value, r) => {
      expect(column.validity ? column.validity[r] : 1).toBe(value === null ? 0 : 1);
      if (value !== null) expect(column.rows[r]).toEqual([value]);
    });
  });

  it('gives every leaf of a selected struct as a column of its own', async () => {
    const loader = await createLoader(nested, { columns: ['struct_ab'], batchSize: 10, workers: 1 });
    try {
      for await (const batch of loader.epoch(0)) {
        expect(Object.keys(batch.columns)).toEqual(['struct_ab.a', 'struct_ab.b']);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

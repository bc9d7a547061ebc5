/**
 * The DataLoader's ragged nested columns over LanceDB-written datasets (test/fixtures/matrix.ts
 * `nested_types`, `nested_lists`, `nested_boxes`): lists of strings, lists of lists, the leaves of lists of
 * structs and padded lists with null items, row for row as `dataset.take` of the batch's rows gives them
 * (the reader is compared value for value with LanceDB in the matrix tests), with real worker threads; the
 * same batches with 1 and 2 workers and after a resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { decodeImage, openDataset, resize, type Dataset } from '../../index.js';
import { mixedJpegs } from '../decode-workers/transforms/image-fixtures.js';
import { createLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch, BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

const datasets: Record<string, Dataset> = {};

beforeAll(async () => {
  const paths = await Promise.all([
    ensureDataset(specByName('nested_types'), '2.2'),
    ensureDataset(specByName('nested_types'), '2.1'),
    ensureDataset(specByName('nested_lists'), '2.0'),
    ensureDataset(specByName('nested_boxes'), '2.2'),
    ensureDataset(specByName('nested'), '2.1'),
  ]);
  const names = ['types22', 'types21', 'lists20', 'boxes', 'nested'];
  const opened = await Promise.all(paths.map((p) => openDataset(p)));
  opened.forEach((d, i) => (datasets[names[i] as string] = d));
}, 240_000);

afterAll(async () => {
  await Promise.all(Object.values(datasets).map((d) => d.close()));
});

const text = new TextDecoder();

/** An Arrow value from dataset.take as plain JS: lists as arrays, structs as objects, nulls as null. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value !== 'object') return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function' && !(Symbol.iterator in value)) {
    return Object.fromEntries(Object.entries((value as { toJSON(): object }).toJSON()).map(([k, v]) => [k, plain(v)]));
  }
  if (Symbol.iterator in value) {
    const items = Array.from(value as Iterable<unknown>, plain);
    // A struct row iterates as [key, value] pairs.
    if (value.constructor.name === 'StructRow') return Object.fromEntries(items as [string, unknown][]);
    return items;
  }
  return value;
}

async function taken(dataset: Dataset, rows: ArrayLike<number>, column: string): Promise<unknown[]> {
  const table = await dataset.take(Array.from(rows), { columns: [column] });
  return Array.from((table.getChild(column) ?? []) as Iterable<unknown>, plain);
}

/** One item of a ragged column (k-th of values) as plain JS (a fixed-size list item is null where all its values are). */
function itemOf(column: BatchColumn, k: number): unknown {
  const per = (column.itemShape ?? []).reduce((a, b) => a * b, 1);
  if (column.itemValidity?.subarray(k * per, (k + 1) * per).every((v) => v === 0)) return null;
  if (column.itemOffsets) {
    const bytes = (column.values as Uint8Array).subarray(column.itemOffsets[k], column.itemOffsets[k + 1]);
    return column.dtype === 'utf8' ? text.decode(bytes) : Array.from(bytes);
  }
  const values = Array.from(column.values.subarray(k * per, (k + 1) * per) as ArrayLike<number>, Number);
  return column.itemShape ? values : values[0];
}

/** Row `r` of a ragged column as plain JS, through every list level. */
function rowOf(column: BatchColumn, r: number): unknown {
  if (column.validity?.[r] === 0) return null;
  const levels = [column.offsets as Int32Array, ...(column.innerOffsets ?? [])];
  const down = (level: number, k: number): unknown => {
    if (level === levels.length) return itemOf(column, k);
    if (level > 0 && column.innerValidity?.[level - 1]?.[k] === 0) return null;
    const offsets = levels[level] as Int32Array;
    const out: unknown[] = [];
    for (let j = offsets[k] as number; j < (offsets[k + 1] as number); j++) out.push(down(level + 1, j));
    return out;
  };
  return down(0, r);
}

/** Each row of each ragged column of a batch as plain JS. */
function rowsOf(batch: Batch): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [name, column] of Object.entries(batch.columns))
    if (column.offsets) out[name] = Array.from({ length: batch.numRows }, (_, r) => rowOf(column, r));
  return out;
}

async function batchesOf(
  dataset: Dataset,
  options: LoaderOptions,
  count = Infinity,
): Promise<{ rows: number[]; columns: Record<string, unknown[]> }[]> {
  const loader = await createLoader(dataset, options);
  const out: { rows: number[]; columns: Record<string, unknown[]> }[] = [];
  try {
    for await (const batch of loader.epoch(0)) {
      out.push({ rows: Array.from(batch.rowOffsets), columns: rowsOf(batch) });
      batch.release();
      if (out.length >= count) break;
    }
  } finally {
    await loader.close();
  }
  return out;
}

/** `leaf` of each struct in a list of structs, nulls kept. */
function leafOfRows(rows: unknown[], leaf: string): unknown[] {
  return rows.map((row) =>
    row === null ? null : (row as (Record<string, unknown> | null)[]).map((s) => (s === null ? null : s[leaf])),
  );
}

describe('a loader over lists of strings', () => {
  for (const [name, key] of [
    ['2.2', 'types22'],
    ['2.1', 'types21'],
    ['2.0', 'lists20'],
  ] as const) {
    it(`gives each row's strings as bytes with item and row offsets, as dataset.take reads them (${name})`, async () => {
      const dataset = datasets[key] as Dataset;
      const batches = await batchesOf(dataset, { columns: ['list_text'], batchSize: 200, workers: 2, seed: 4 }, 3);
      for (const batch of batches)
        expect(batch.columns.list_text).toEqual(await taken(dataset, batch.rows, 'list_text'));
    });
  }

  it('gives a list of strings inside a struct by its path', async () => {
    const dataset = datasets.types22 as Dataset;
    const [batch] = await batchesOf(dataset, { columns: ['struct_list.tags'], batchSize: 300, workers: 1 }, 1);
    expect(batch?.columns['struct_list.tags']).toEqual(await taken(dataset, batch?.rows ?? [], 'struct_list.tags'));
  });

  it('gives every leaf of every column when no columns are named, lists inside structs as lists', async () => {
    const dataset = datasets.types22 as Dataset;
    const [batch] = await batchesOf(dataset, { batchSize: 100, workers: 1 }, 1);
    // The ragged ones (rowsOf leaves out idx, struct_list.score and struct_nested's leaves).
    expect(Object.keys(batch?.columns ?? {})).toEqual([
      'list_list',
      'list_struct.k',
      'list_struct.v',
      'struct_list.tags',
      'list_fsl',
      'list_text',
      'list_vec',
    ]);
    expect(batch?.columns['struct_list.tags']).toEqual(await taken(dataset, batch?.rows ?? [], 'struct_list.tags'));
  });

  it('marks null strings in itemValidity and leaves them empty', async () => {
    const loader = await createLoader(datasets.nested as Dataset, {
      columns: ['list_utf8'],
      batchSize: 5000,
      workers: 1,
    });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_utf8 as BatchColumn;
        const expected = await taken(datasets.nested as Dataset, batch.rowOffsets, 'list_utf8');
        expect(expected.flat().some((x) => x === null)).toBe(true);
        expect(column.itemOffsets?.length).toBe((column.offsets?.[batch.numRows] as number) + 1);
        expect(rowsOf(batch).list_utf8).toEqual(expected);
        batch.release();
      }
    } finally {
      await loader.close();
    }
  });
});

describe('a loader over lists of lists', () => {
  for (const [name, key] of [
    ['2.2', 'types22'],
    ['2.0', 'lists20'],
  ] as const) {
    it(`gives rows, inner lists and items as two levels of offsets, as dataset.take reads them (${name})`, async () => {
      const dataset = datasets[key] as Dataset;
      const batches = await batchesOf(dataset, { columns: ['list_list'], batchSize: 250, workers: 2, seed: 6 }, 3);
      for (const batch of batches)
        expect(batch.columns.list_list).toEqual(await taken(dataset, batch.rows, 'list_list'));
    });
  }

  it('refuses options.pad for a list of lists, naming the option', async () => {
    await expect(
      createLoader(datasets.types22 as Dataset, {
        columns: ['list_list'],
        batchSize: 8,
        workers: 1,
        pad: { list_list: { length: 4 } },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('options.pad.list_list') });
  });
});

describe('a loader over lists of structs', () => {
  it("gives each leaf by path with the list's row offsets, as dataset.take reads them", async () => {
    const dataset = datasets.types22 as Dataset;
    const batches = await batchesOf(dataset, { columns: ['list_struct'], batchSize: 300, workers: 2, seed: 2 }, 2);
    for (const batch of batches) {
      expect(Object.keys(batch.columns)).toEqual(['list_struct.k', 'list_struct.v']);
      const expected = await taken(dataset, batch.rows, 'list_struct');
      expect(batch.columns['list_struct.k']).toEqual(leafOfRows(expected, 'k'));
      expect(batch.columns['list_struct.v']).toEqual(leafOfRows(expected, 'v'));
    }
  });

  it('selects one leaf of a list of structs by its path', async () => {
    const dataset = datasets.types21 as Dataset;
    const [batch] = await batchesOf(dataset, { columns: ['list_struct.v'], batchSize: 300, workers: 1 }, 1);
    expect(Object.keys(batch?.columns ?? {})).toEqual(['list_struct.v']);
    expect(batch?.columns['list_struct.v']).toEqual(
      leafOfRows(await taken(dataset, batch?.rows ?? [], 'list_struct'), 'v'),
    );
  });

  it('gives detection boxes (fixed-size lists of 4 floats) and their classes with shared row offsets', async () => {
    const dataset = datasets.boxes as Dataset;
    const loader = await createLoader(dataset, { columns: ['boxes'], batchSize: 100, workers: 2, seed: 9 });
    try {
      let seen = 0;
      for await (const batch of loader.epoch(0)) {
        const xyxy = batch.columns['boxes.xyxy'] as BatchColumn;
        const cls = batch.columns['boxes.cls'] as BatchColumn;
        expect(xyxy.values).toBeInstanceOf(Float32Array);
        expect(xyxy.itemShape).toEqual([4]);
        expect(Array.from(xyxy.offsets ?? [])).toEqual(Array.from(cls.offsets ?? []));
        const expected = await taken(dataset, batch.rowOffsets, 'boxes');
        const rows = rowsOf(batch);
        expect(rows['boxes.cls']).toEqual(leafOfRows(expected, 'cls'));
        const boxes = leafOfRows(expected, 'xyxy') as ((number[] | null)[] | null)[];
        expect(rows['boxes.xyxy']).toEqual(
          boxes.map((row) => row && row.map((b) => b && b.map((x) => Math.fround(x)))),
        );
        batch.release();
        if (++seen === 3) break;
      }
    } finally {
      await loader.close();
    }
  });

  it("pads a list of structs' leaf with options.pad", async () => {
    const dataset = datasets.boxes as Dataset;
    const loader = await createLoader(dataset, {
      columns: ['boxes.cls'],
      batchSize: 100,
      workers: 1,
      pad: { 'boxes.cls': { length: 3, value: -1 } },
    });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns['boxes.cls'] as BatchColumn;
        const expected = leafOfRows(await taken(dataset, batch.rowOffsets, 'boxes'), 'cls');
        expected.forEach((row, r) => {
          const items = ((row as (number | null)[] | null) ?? []).slice(0, 3);
          expect(Array.from(column.values.subarray(r * 3, r * 3 + 3) as Int32Array)).toEqual([
            ...items.map((x) => x ?? -1),
            ...Array(3 - items.length).fill(-1),
          ]);
          expect(column.lengths?.[r]).toBe(items.length);
        });
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

describe('ragged nested batches', () => {
  const options: LoaderOptions = {
    columns: ['list_list', 'list_struct', 'list_text', 'list_fsl'],
    batchSize: 400,
    seed: 11,
  };

  it('are the same with 1 and 2 workers', async () => {
    const dataset = datasets.types22 as Dataset;
    const [one, two] = [
      await batchesOf(dataset, { ...options, workers: 1 }),
      await batchesOf(dataset, { ...options, workers: 2 }),
    ];
    expect(two).toEqual(one);
  });

  it('continue a resumed epoch with the same batches', async () => {
    const dataset = datasets.types22 as Dataset;
    const all = await batchesOf(dataset, { ...options, workers: 2 });
    const loader = await createLoader(dataset, { ...options, workers: 2 });
    let state;
    try {
      for await (const batch of loader.epoch(0)) {
        batch.release();
        break;
      }
      state = loader.state();
    } finally {
      await loader.close();
    }
    expect(await batchesOf(dataset, { ...options, workers: 2, resume: state })).toEqual(all.slice(1));
  });
});

describe('a loader over padded lists with null items', () => {
  it('gives itemValidity of [rows × length] bytes, 0 at null items and padding', async () => {
    const dataset = datasets.nested as Dataset;
    const loader = await createLoader(dataset, {
      columns: ['list_int32_null'],
      batchSize: 500,
      workers: 1,
      pad: { list_int32_null: { length: 4, value: -1 } },
    });
    try {
      let checked = 0;
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_int32_null as BatchColumn;
        const expected = (await taken(dataset, batch.rowOffsets, 'list_int32_null')) as ((number | null)[] | null)[];
        if (!expected.some((row) => row?.slice(0, 4).includes(null))) {
          expect(column.itemValidity).toBeUndefined();
        } else {
          checked++;
          expected.forEach((row, r) => {
            const places = Array.from({ length: 4 }, (_, k) => (row && k < row.length && row[k] !== null ? 1 : 0));
            expect(Array.from(column.itemValidity?.subarray(r * 4, r * 4 + 4) ?? [])).toEqual(places);
          });
        }
        batch.release();
      }
      expect(checked).toBeGreaterThan(0);
    } finally {
      await loader.close();
    }
  });
});

describe("rows replaced under onError 'skip'", () => {
  it("take the next good row's strings and inner lists in ragged nested columns", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lance-loader-nested-skip-'));
    try {
      const jpegs = await mixedJpegs(10);
      const bad = new Set([2, 7]);
      const tags = (r: number) => Array.from({ length: r % 4 }, (_, k) => `t${r}-${k}`);
      const lists = (r: number) =>
        Array.from({ length: r % 3 }, (_, k) => Array.from({ length: k + 1 }, (_, j) => r * 10 + j));
      const table = new arrow.Table({
        image: arrow.vectorFromArray(
          jpegs.map((j, r) => (bad.has(r) ? new Uint8Array([1, 2, 3]) : j)),
          new arrow.Binary(),
        ),
        tags: arrow.vectorFromArray(
          jpegs.map((_, r) => tags(r)),
          new arrow.List(new arrow.Field('item', new arrow.Utf8(), true)),
        ),
        lists: arrow.vectorFromArray(
          jpegs.map((_, r) => lists(r)),
          new arrow.List(
            new arrow.Field('item', new arrow.List(new arrow.Field('item', new arrow.Int32(), true)), true),
          ),
        ),
      });
      const db = await lancedb.connect(dir);
      (await db.createTable('t', table)).close();
      db.close();
      const loader = await createLoader(join(dir, 't.lance'), {
        batchSize: 5,
        workers: 1,
        shuffle: false,
        columns: ['image', 'tags', 'lists'],
        transforms: { image: { steps: [decodeImage(), resize([8, 8])], onError: 'skip' } },
      });
      try {
        for await (const batch of loader.epoch(0)) {
          const rows = rowsOf(batch);
          batch.rowOffsets.forEach((r, i) => {
            expect(bad.has(r)).toBe(false);
            expect(rows.tags?.[i]).toEqual(tags(r));
            expect(rows.lists?.[i]).toEqual(lists(r));
          });
          batch.release();
        }
        expect(loader.metrics().skippedRows).toBe(2);
      } finally {
        await loader.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

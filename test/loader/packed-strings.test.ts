/**
 * The DataLoader over packed structs with string and binary fields (2.2 VariablePackedStruct, written
 * by LanceDB: the `packed_struct_var` fixture, FSST-compressed names, with and without null structs, and
 * a table with a binary field). Each field is a batch column of its own named by its path, selected with
 * the struct or alone, value for value as `dataset.take` reads the rows, with real worker threads; a
 * field named twice, or with its struct, is one column, as for a plain struct.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { withDataset } from './fixture-dataset.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Value = number | string | null;

/** A batch column's value at row `r`: a number, a string (utf8) or hex (binary); null where invalid. */
function valueAt(column: BatchColumn, r: number): Value {
  if (column.validity?.[r] === 0) return null;
  if (column.dtype !== 'utf8' && column.dtype !== 'binary') return Number(column.values[r]);
  const offsets = column.offsets as ArrayLike<number>;
  const bytes = (column.values as Uint8Array).subarray(offsets[r] as number, offsets[r + 1] as number);
  return column.dtype === 'utf8' ? new TextDecoder().decode(bytes) : Buffer.from(bytes).toString('hex');
}

/** A field of a row of dataset.take's struct vector, as valueAt gives it. */
function takenValue(row: Record<string, unknown> | null, field: string): Value {
  if (row === null) return null;
  const value = row[field];
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return typeof value === 'bigint' ? Number(value) : (value as number | string);
}

/** For every batch of an epoch: its columns' values by name, and the same rows' fields as dataset.take reads them. */
async function compareEpoch(
  dataset: Dataset,
  struct: string,
  names: string[],
  options: Omit<LoaderOptions, 'batchSize'>,
): Promise<number> {
  const loader = await createLoader(dataset, { batchSize: 64, ...options });
  let rows = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      expect(Object.keys(batch.columns)).toEqual(names);
      const vector = (await dataset.take(Array.from(batch.rowOffsets), { columns: [struct] })).getChild(struct);
      for (const name of names) {
        const field = name.slice(struct.length + 1);
        const column = batch.columns[name] as BatchColumn;
        const given = Array.from(batch.rowOffsets, (_, r) => valueAt(column, r));
        const taken = Array.from(batch.rowOffsets, (_, r) =>
          takenValue((vector?.get(r)?.toJSON() as Record<string, unknown> | undefined) ?? null, field),
        );
        expect(given, name).toEqual(taken);
      }
      rows += batch.numRows;
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return rows;
}

const withFixture = <T>(use: (dataset: Dataset) => Promise<T>) => withDataset('packed_struct_var', '2.2', use);

describe('a loader over a packed struct with a string field', () => {
  it('gives each field as a column of its own by path, as dataset.take reads the rows', async () => {
    await withFixture(async (dataset) => {
      const rows = await compareEpoch(dataset, 'item', ['item.id', 'item.name'], {
        columns: ['item'],
        workers: 2,
        seed: 3,
      });
      expect(rows).toBe(dataset.numRows);
    });
  });

  it('marks the rows where the packed struct is null in each field', async () => {
    await withFixture(async (dataset) => {
      const loader = await createLoader(dataset, { columns: ['item_null'], batchSize: 4096, workers: 1 });
      try {
        const batch = (await loader.epoch(0).next()).value;
        expect(batch.columns['item_null.name']?.validity).toContain(0);
        batch.release();
        await loader.endEpoch();
      } finally {
        await loader.close();
      }
      await compareEpoch(dataset, 'item_null', ['item_null.id', 'item_null.name'], {
        columns: ['item_null'],
        workers: 2,
        seed: 8,
      });
    });
  });

  it('selects one field by its path', async () => {
    await withFixture(async (dataset) => {
      await compareEpoch(dataset, 'item_null', ['item_null.name'], {
        columns: ['item_null.name'],
        workers: 1,
        seed: 1,
      });
    });
  });

  it('gives a field named with its struct, or twice, as one column of its values', async () => {
    await withFixture(async (dataset) => {
      const options = { workers: 2, seed: 5 };
      const names = ['item.id', 'item.name'];
      expect(await compareEpoch(dataset, 'item', names, { ...options, columns: ['item', 'item.name'] })).toBe(
        dataset.numRows,
      );
      // Each where first named: the struct's rows are read by its second field.
      await compareEpoch(dataset, 'item', ['item.name', 'item.id'], {
        ...options,
        columns: ['item.name', 'item', 'item.id'],
      });
      await compareEpoch(dataset, 'item', ['item.name'], { ...options, columns: ['item.name', 'item.name'] });
    });
  });

  it('selects a column named twice as a plain struct and a flat column are selected', async () => {
    const epochOf = (dataset: Dataset, columns: string[]) => epochColumns(dataset, { columns, workers: 1, seed: 6 });
    await withDataset('nested', '2.2', async (plain) => {
      const once = await epochOf(plain, ['idx', 'struct_ab']);
      expect(Object.keys(once)).toEqual(['idx', 'struct_ab.a', 'struct_ab.b']);
      expect(await epochOf(plain, ['idx', 'struct_ab', 'struct_ab.b', 'idx'])).toEqual(once);
      expect(await epochOf(plain, ['struct_ab.b', 'struct_ab.b'])).toEqual({ 'struct_ab.b': once['struct_ab.b'] });
    });
    await withFixture(async (packed) => {
      const once = await epochOf(packed, ['idx', 'item']);
      expect(Object.keys(once)).toEqual(['idx', 'item.id', 'item.name']);
      expect(await epochOf(packed, ['idx', 'item', 'item.name', 'idx'])).toEqual(once);
      expect(await epochOf(packed, ['item.name', 'item.name'])).toEqual({ 'item.name': once['item.name'] });
    });
  });
});

/** An epoch's values per batch column, in batch order, the columns in the batch's order. */
async function epochColumns(
  dataset: Dataset,
  options: Omit<LoaderOptions, 'batchSize'>,
): Promise<Record<string, Value[]>> {
  const loader = await createLoader(dataset, { batchSize: 64, ...options });
  const values: Record<string, Value[]> = {};
  try {
    for await (const batch of loader.epoch(0)) {
      for (const [name, column] of Object.entries(batch.columns))
        (values[name] ??= []).push(...Array.from(batch.rowOffsets, (_, r) => valueAt(column, r)));
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return values;
}

/** A LanceDB-written 2.2 table of `n` rows with packed struct `rec: struct<id: int64, payload: binary, score: float32>`. */
async function writePackedBinary(n: number): Promise<Dataset> {
  const dir = mkdtempSync(join(tmpdir(), 'lance-loader-packed-'));
  dirs.push(dir);
  const type = new arrow.Struct([
    new arrow.Field('id', new arrow.Int64(), false),
    new arrow.Field('payload', new arrow.Binary(), false),
    new arrow.Field('score', new arrow.Float32(), false),
  ]);
  const values = arrow.vectorFromArray(
    Array.from({ length: n }, (_, i) => ({
      id: BigInt(i * 1000),
      payload: Uint8Array.from({ length: i % 17 }, (_, k) => (i * 7 + k) & 0xff),
      score: i / 8,
    })),
    type,
  );
  const schema = new arrow.Schema([new arrow.Field('rec', type, false, new Map([['lance-encoding:packed', 'true']]))]);
  const batch = new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children: [values.data[0] as arrow.Data] }),
  );
  const db = await lancedb.connect(dir);
  const table = await db.createTable('packed', toLanceDbArrow(new arrow.Table([batch])), {
    storageOptions: { new_table_data_storage_version: '2.2' },
  });
  table.close();
  db.close();
  return openDataset(join(dir, 'packed.lance'));
}

/** The byte ranges a loader's epoch asked for, reading `columns`. */
async function rangesOfEpoch(dataset: Dataset, columns: string[]): Promise<number> {
  const loader = await createLoader(dataset, { columns, batchSize: 50, workers: 1, seed: 4 });
  try {
    for await (const batch of loader.epoch(0)) batch.release();
    return loader.metrics().rangesRequested;
  } finally {
    await loader.close();
  }
}

describe('a loader over a packed struct with a binary field', () => {
  it('gives the binary field as binary values, as dataset.take reads them', async () => {
    const dataset = await writePackedBinary(300);
    try {
      const rows = await compareEpoch(dataset, 'rec', ['rec.id', 'rec.payload', 'rec.score'], {
        columns: ['rec'],
        workers: 2,
        seed: 2,
      });
      expect(rows).toBe(300);
    } finally {
      await dataset.close();
    }
  });

  it("reads the struct's rows once for all its selected fields", async () => {
    const dataset = await writePackedBinary(300);
    try {
      const one = await rangesOfEpoch(dataset, ['rec.payload']);
      expect(one).toBeGreaterThan(0);
      expect(await rangesOfEpoch(dataset, ['rec'])).toBe(one);
    } finally {
      await dataset.close();
    }
  });
});

/**
 * Fixed-size lists whose items may be null (vectors with null floats), flat and under a list, narrow
 * (mini-block: an item bitmap per chunk) and wide (full-zip: a bitmap before each value), nullable
 * rows or not, written by lance-loader in file versions 2.1 and 2.2: read back by LanceDB and by
 * lance-loader value for value, their layouts against LanceDB's for the same table, and an append to a
 * LanceDB-written table.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { layouts, scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-fsl-null-items-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 3000;
/** A deterministic number in [0, 1) for (i, k). */
const unit = (i: number, k = 0): number => (Math.imul(i * 131 + k + 1, 2654435761) >>> 0) / 2 ** 32;
const fsl = (dim: number): arrow.FixedSizeList =>
  new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true));
const list = (item: arrow.DataType): arrow.List => new arrow.List(new arrow.Field('item', item, true));

/** A vector of `dim` floats for row i, each null 1 time in 10. */
const vector = (i: number, dim: number): (number | null)[] =>
  Array.from({ length: dim }, (_, k) => (unit(i, k) < 0.1 ? null : i + k / 4));

const column = (type: arrow.DataType, row: (i: number) => unknown): arrow.Vector =>
  arrow.vectorFromArray(
    Array.from({ length: N }, (_, i) => row(i)),
    type,
  );

function nullItemsTable(): arrow.Table {
  return new arrow.Table({
    idx: arrow.makeVector(Int32Array.from({ length: N }, (_, i) => i)),
    fsl: column(fsl(4), (i) => vector(i, 4)),
    fsl_null: column(fsl(4), (i) => (i % 7 === 2 ? null : vector(i, 4))),
    fsl3: column(fsl(3), (i) => vector(i, 3)),
    list_fsl: column(list(fsl(4)), (i) =>
      i % 10 === 0 ? null : Array.from({ length: i % 4 }, (_, k) => (k === 1 ? null : vector(i * 5 + k, 4))),
    ),
    vec128: column(fsl(128), (i) => (i % 11 === 5 ? null : vector(i, 128))),
    list_vec: column(list(fsl(100)), (i) => Array.from({ length: i % 3 }, (_, k) => vector(i * 3 + k, 100))),
  });
}

const COLUMNS = nullItemsTable()
  .schema.fields.map((f) => f.name)
  .filter((name) => name !== 'idx');

describe.each(['2.1', '2.2'] as const)('fixed-size lists with null items written as file version %s', (fileVersion) => {
  const table = nullItemsTable();
  const ours = join(root, `ours-${fileVersion}.lance`);
  let readByUs: arrow.Table;
  let readByLanceDb: arrow.Table;

  beforeAll(async () => {
    await writeDataset(ours, table, { fileVersion });
    [readByUs, readByLanceDb] = [await scanOurs(ours), await oracleScan(ours)];
    const db = await lancedb.connect(root);
    (
      await db.createTable(`theirs-${fileVersion}`, toLanceDbArrow(table), {
        storageOptions: { new_table_data_storage_version: fileVersion },
      })
    ).close();
    db.close();
  });

  it.each(COLUMNS)('%s is read by LanceDB value for value', (name) => {
    expectTablesEqual(readByLanceDb.select([name]), table.select([name]), { label: `${name} via LanceDB` });
  });

  it.each(COLUMNS)('%s is read by lance-loader value for value', (name) => {
    expectTablesEqual(readByUs.select([name]), table.select([name]), { label: `${name} via lance-loader` });
  });

  it.each([
    ['fsl', 'MiniBlock{values=FixedSizeList(4,Flat(32b))}'],
    ['fsl_null', 'MiniBlock{values=FixedSizeList(4,Flat(32b)); def='],
    ['fsl3', 'MiniBlock{values=FixedSizeList(3,Flat(32b))}'],
    ['list_fsl.item', 'MiniBlock{values=FixedSizeList(4,Flat(32b)); def='],
    ['vec128', 'FullZip{values=FixedSizeList(128,Flat(32b)); value=4224b; bits_rep=0; bits_def=1}'],
    ['list_vec.item', 'FullZip{values=FixedSizeList(100,Flat(32b)); value=3304b; bits_rep=1; bits_def=1}'],
  ])('gives %s the layout LanceDB gives it, byte for byte in size (%s)', async (leaf, layout) => {
    const [mine, lance] = [await layouts(ours), await layouts(join(root, `theirs-${fileVersion}.lance`))];
    expect(mine[leaf]?.layout).toContain(layout);
    expect(mine[leaf]).toEqual(lance[leaf]);
  });
});

it('appends vectors with null items to a LanceDB-written table that LanceDB then reads whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const table = nullItemsTable();
  const db = await lancedb.connect(dir);
  (await db.createTable('t', toLanceDbArrow(table.slice(0, 1000)))).close();
  db.close();
  const path = join(dir, 't.lance');
  expect((await writeDataset(path, table.slice(1000), { mode: 'append' })).version).toBe(2);
  expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), table, { label: 'lance-loader' });
});

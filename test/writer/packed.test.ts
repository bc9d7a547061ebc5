/**
 * Packed structs (`lance-encoding:packed`) of fixed-width children written by lance-loader in file
 * versions 2.1 and 2.2: read by LanceDB and lance-loader value for value, the layout LanceDB writes for
 * the same table, an append to a LanceDB-written packed table, and what cannot be packed refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { layouts, scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-packed-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 3000;
const PACKED = new Map([['lance-encoding:packed', 'true']]);
const xyc = new arrow.Struct([
  new arrow.Field('x', new arrow.Float32(), false),
  new arrow.Field('y', new arrow.Float64(), false),
  new arrow.Field('cls', new arrow.Int16(), false),
]);

/**
 * Struct data for `rows`, null where `isNull` says: the children hold no nulls of their own (LanceDB
 * refuses a packed struct whose children have nulls, even under null rows).
 */
function xycData(rows: number[], shift: number, isNull: (i: number) => boolean): arrow.Data {
  const n = rows.length;
  const nullBitmap = new Uint8Array(Math.ceil(n / 8));
  rows.forEach((i, k) => !isNull(i) && (nullBitmap[k >> 3] = (nullBitmap[k >> 3] as number) | (1 << (k & 7))));
  const nullCount = rows.filter(isNull).length;
  return arrow.makeData({
    type: xyc,
    length: n,
    nullCount,
    nullBitmap: nullCount > 0 ? nullBitmap : undefined,
    children: [
      arrow.makeData({ type: new arrow.Float32(), length: n, data: Float32Array.from(rows, (i) => (i + shift) / 4) }),
      arrow.makeData({
        type: new arrow.Float64(),
        length: n,
        data: Float64Array.from(rows, (i) => -(i + shift) * 1.5),
      }),
      arrow.makeData({ type: new arrow.Int16(), length: n, data: Int16Array.from(rows, (i) => (i + shift) % 10) }),
    ],
  });
}

/** `{ idx, xyc (packed, no nulls), xyc_null (packed, a null row in 7) }` for rows [from, to). */
function packedTable(from = 0, to = N): arrow.Table {
  const rows = Array.from({ length: to - from }, (_, k) => from + k);
  const schema = new arrow.Schema([
    new arrow.Field('idx', new arrow.Int32(), false),
    new arrow.Field('xyc', xyc, false, PACKED),
    new arrow.Field('xyc_null', xyc, true, PACKED),
  ]);
  const children = [
    arrow.makeData({ type: new arrow.Int32(), length: rows.length, data: Int32Array.from(rows) }),
    xycData(rows, 0, () => false),
    xycData(rows, 1, (i) => i % 7 === 3),
  ];
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows.length, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

describe.each(['2.1', '2.2'] as const)('packed structs written as file version %s', (fileVersion) => {
  const ours = join(root, `ours-${fileVersion}.lance`);
  const theirs = join(root, `theirs-${fileVersion}.lance`);
  const table = packedTable();

  beforeAll(async () => {
    await writeDataset(ours, table, { fileVersion });
    const db = await lancedb.connect(root);
    (
      await db.createTable(`theirs-${fileVersion}`, toLanceDbArrow(table), {
        storageOptions: { new_table_data_storage_version: fileVersion },
      })
    ).close();
    db.close();
  });

  it('are read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(ours), table, { label: 'LanceDB' });
  });

  it('are read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(ours), table, { label: 'lance-loader' });
  });

  it.each([
    ['xyc', 'MiniBlock{values=PackedStruct(Flat(112b))}'],
    ['xyc_null', 'MiniBlock{values=PackedStruct(Flat(112b)); def='],
  ])('give %s the layout LanceDB gives it, byte for byte in size (%s)', async (column, layout) => {
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine[column]?.layout).toContain(layout);
    expect(mine[column]).toEqual(lance[column]);
  });
});

it('appends packed rows to a LanceDB-written packed table that LanceDB and lance-loader then read whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const db = await lancedb.connect(dir);
  (await db.createTable('t', toLanceDbArrow(packedTable(0, 1000)))).close();
  db.close();
  const path = join(dir, 't.lance');
  await writeDataset(path, packedTable(1000, 2500), { mode: 'append' });
  expectTablesEqual(await oracleScan(path), packedTable(0, 2500), { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), packedTable(0, 2500), { label: 'lance-loader' });
});

it('refuses a packed struct with a list child, naming the column', async () => {
  const list = new arrow.List(new arrow.Field('item', new arrow.Int32()));
  const type = new arrow.Struct([new arrow.Field('id', new arrow.Int32()), new arrow.Field('name', list)]);
  const schema = new arrow.Schema([new arrow.Field('item', type, true, PACKED)]);
  const error = await rejection(writeDataset(join(root, 'var.lance'), [{ item: { id: 1, name: [1] } }], { schema }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'item' } });
  expect(error.message).toContain('column "item" is a packed struct (lance-encoding:packed) of Arrow type');
});

it('refuses a null child inside a valid packed row, naming the column and child', async () => {
  const type = new arrow.Struct([new arrow.Field('x', new arrow.Float32(), true)]);
  const schema = new arrow.Schema([new arrow.Field('p', type, true, PACKED)]);
  const path = join(root, 'child-null.lance');
  const error = await rejection(writeDataset(path, [{ p: { x: 1 } }, { p: { x: null } }], { schema }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'p', row: 1 } });
  expect(error.message).toContain('column "p": packed struct child "x" is null in a valid row');
  expect(fs.existsSync(join(path, '_versions'))).toBe(false);
});

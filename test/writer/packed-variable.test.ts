/**
 * Packed structs (`lance-encoding:packed`) with string and binary children, written by lance-loader in
 * file version 2.2 as LanceDB writes them (a full-zip VariablePackedStruct, FSST on a child with enough
 * text): read by LanceDB and lance-loader value for value, the same layout and size as LanceDB's, an
 * append to a LanceDB-written table, and file version 2.1 refused as LanceDB refuses it.
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

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-packed-variable-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const PACKED = new Map([['lance-encoding:packed', 'true']]);
const encoder = new TextEncoder();

function stringData(type: arrow.Utf8 | arrow.Binary | arrow.LargeUtf8, values: string[]): arrow.Data {
  const bytes = values.map((v) => encoder.encode(v));
  const large = type instanceof arrow.LargeUtf8;
  const offsets = large ? new BigInt64Array(values.length + 1) : new Int32Array(values.length + 1);
  let total = 0;
  bytes.forEach((b, i) => {
    total += b.length;
    offsets[i + 1] = large ? BigInt(total) : total;
  });
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of bytes) {
    data.set(b, at);
    at += b.length;
  }
  return arrow.makeData({ type, length: values.length, valueOffsets: offsets as Int32Array, data } as never);
}

const item = new arrow.Struct([
  new arrow.Field('id', new arrow.Int32(), false),
  new arrow.Field('name', new arrow.Utf8(), false),
  new arrow.Field('code', new arrow.Binary(), false),
  new arrow.Field('note', new arrow.LargeUtf8(), false),
]);

/**
 * `{ idx, item (packed, no nulls), item_null (packed, a null row in 7) }` for rows [from, to): names
 * long enough in all for FSST, short binary codes that stay plain, and large_utf8 notes.
 */
function packedTable(from: number, to: number): arrow.Table {
  const rows = Array.from({ length: to - from }, (_, k) => from + k);
  const n = rows.length;
  const itemData = (shift: number, isNull: (i: number) => boolean): arrow.Data => {
    const nullCount = rows.filter(isNull).length;
    const nullBitmap = new Uint8Array(Math.ceil(n / 8));
    rows.forEach((i, k) => !isNull(i) && (nullBitmap[k >> 3] = (nullBitmap[k >> 3] as number) | (1 << (k & 7))));
    return arrow.makeData({
      type: item,
      length: n,
      nullCount,
      nullBitmap: nullCount > 0 ? nullBitmap : undefined,
      children: [
        arrow.makeData({ type: new arrow.Int32(), length: n, data: Int32Array.from(rows, (i) => i * 3 + shift) }),
        stringData(
          new arrow.Utf8(),
          rows.map((i) => `item-${i + shift}-${'abcdefgh'.slice(0, i % 9)}`),
        ),
        stringData(
          new arrow.Binary(),
          rows.map((i) => String.fromCharCode(65 + (i % 4))),
        ),
        stringData(
          new arrow.LargeUtf8(),
          rows.map((i) => (i % 5 === 0 ? '' : `note ${i}`)),
        ),
      ],
    });
  };
  const schema = new arrow.Schema([
    new arrow.Field('idx', new arrow.Int32(), false),
    new arrow.Field('item', item, false, PACKED),
    new arrow.Field('item_null', item, true, PACKED),
  ]);
  const children = [
    arrow.makeData({ type: new arrow.Int32(), length: n, data: Int32Array.from(rows) }),
    itemData(0, () => false),
    itemData(1, (i) => i % 7 === 3),
  ];
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

async function lanceDbTable(dir: string, name: string, table: arrow.Table): Promise<string> {
  const db = await lancedb.connect(dir);
  (
    await db.createTable(name, toLanceDbArrow(table), { storageOptions: { new_table_data_storage_version: '2.2' } })
  ).close();
  db.close();
  return join(dir, `${name}.lance`);
}

describe('packed structs with string children written as file version 2.2', () => {
  const ours = join(root, 'ours.lance');
  let theirs = '';
  const table = packedTable(0, 3000);

  beforeAll(async () => {
    await writeDataset(ours, table, { fileVersion: '2.2' });
    theirs = await lanceDbTable(root, 'theirs', table);
  });

  it('are read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(ours), table, { label: 'LanceDB' });
  });

  it('are read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(ours), table, { label: 'lance-loader' });
  });

  it.each([
    ['item', 'FullZip{values=VariablePackedStruct(Flat(32b);Fsst(Variable(Flat(32b)));Variable(Flat(32b));'],
    ['item_null', 'bits_def=1'],
  ])('give %s the layout LanceDB gives it (%s)', async (column, layout) => {
    // Sizes differ by the FSST symbol tables, which LanceDB trains on a random sample.
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine[column]?.layout).toContain(layout);
    expect(mine[column]?.layout).toBe(lance[column]?.layout);
  });
});

it('leaves a packed string child plain when it holds under 32 KiB, as LanceDB does', async () => {
  const table = packedTable(0, 200);
  const path = join(root, 'small.lance');
  await writeDataset(path, table, { fileVersion: '2.2' });
  const theirs = await lanceDbTable(root, 'small-theirs', table);
  const [mine, lance] = [await layouts(path), await layouts(theirs)];
  expect(mine['item']?.layout).toContain(
    'VariablePackedStruct(Flat(32b);Variable(Flat(32b));Variable(Flat(32b));Variable(Flat(64b)))',
  );
  expect(mine['item']).toEqual(lance['item']);
});

it('appends packed string rows to a LanceDB-written table that LanceDB and lance-loader then read whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const path = await lanceDbTable(dir, 't', packedTable(0, 1000));
  await writeDataset(path, packedTable(1000, 2500), { mode: 'append' });
  expectTablesEqual(await oracleScan(path), packedTable(0, 2500), { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), packedTable(0, 2500), { label: 'lance-loader' });
});

it('refuses to append packed rows to a struct the dataset does not pack, naming the column', async () => {
  const dir = fs.mkdtempSync(join(root, 'unpacked-'));
  const plain = packedTable(0, 100);
  const unpacked = new arrow.Schema(plain.schema.fields.map((f) => new arrow.Field(f.name, f.type, f.nullable)));
  const path = await lanceDbTable(
    dir,
    't',
    new arrow.Table(
      unpacked,
      plain.batches.map((b) => new arrow.RecordBatch(unpacked, b.data)),
    ),
  );
  const error = await rejection(writeDataset(path, packedTable(100, 200), { mode: 'append' }));
  expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'item' } });
  expect(error.message).toContain(
    'column "item": struct "item" is not packed (lance-encoding:packed) in the dataset, and is in the data',
  );
});

it('refuses a packed struct with a string child in file version 2.1, as LanceDB does', async () => {
  const path = join(root, 'v21.lance');
  const error = await rejection(writeDataset(path, packedTable(0, 10), { fileVersion: '2.1' }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'item', fileVersion: '2.1' } });
  expect(error.message).toContain(
    'column "item" is a packed struct (lance-encoding:packed) with variable-width children, which file version 2.1 does not have',
  );
  expect(fs.existsSync(join(path, '_versions'))).toBe(false);
});

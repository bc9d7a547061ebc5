/**
 * Nested columns written by lance-loader (lists, lists of lists, structs, struct<list>, list<struct>,
 * list<fixed_size_list>, with nulls at every level and empty lists), in file versions 2.1 and 2.2: read
 * back by LanceDB and by lance-loader value for value, their layouts against LanceDB's, appends to a
 * LanceDB-written nested dataset, and row objects with a nested schema.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { protoSources } from '../../format/proto/definitions.js';
import { openDataset, writeDataset } from '../../index.js';
import { readLatestVersion } from '../../writer/commit.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan, oracleTake, oracleVersions } from '../fixtures/oracle.js';
import { layouts, scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-nested-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 3000;
/** A deterministic number in [0, 1) for row i. */
const unit = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 0) / 2 ** 32;
const list = (item: arrow.DataType): arrow.List => new arrow.List(new arrow.Field('item', item, true));
const struct = (fields: [string, arrow.DataType][]): arrow.Struct =>
  new arrow.Struct(fields.map(([name, type]) => new arrow.Field(name, type, true)));
const fsl = (dim: number): arrow.FixedSizeList =>
  new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true));

/** A list for row i: null (1 in 10), empty (1 in 10), or 1–5 items made by `item`. */
function maybeList<T>(i: number, item: (k: number) => T): T[] | null {
  const x = unit(i);
  if (x < 0.1) return null;
  if (x < 0.2) return [];
  return Array.from({ length: 1 + (i % 5) }, (_, k) => item(k));
}

const column = (type: arrow.DataType, row: (i: number) => unknown): arrow.Vector =>
  arrow.vectorFromArray(
    Array.from({ length: N }, (_, i) => row(i)),
    type,
  );

/**
 * The nested columns. `nullVectors: false` leaves null vectors out of the fixed-size-list columns:
 * apache-arrow marks a null vector's items null too, and LanceDB then stores item validity there.
 */
function nestedTable({ nullVectors = true } = {}): arrow.Table {
  const vectorNull = (k: number): boolean => nullVectors && k === 1;
  return new arrow.Table({
    idx: arrow.makeVector(Int32Array.from({ length: N }, (_, i) => i)),
    list_int32: column(list(new arrow.Int32()), (i) => maybeList(i, (k) => (k === 2 ? null : i * 10 + k))),
    list_utf8: column(list(new arrow.Utf8()), (i) => maybeList(i + 1, (k) => (k === 1 ? null : `s${i}-${k}`))),
    list_bool: column(list(new arrow.Bool()), (i) => maybeList(i + 2, (k) => (k === 3 ? null : (i + k) % 3 === 0))),
    list_list: column(list(list(new arrow.Int32())), (i) => maybeList(i + 3, (k) => maybeList(i * 7 + k, (j) => j))),
    struct_nested: column(
      struct([
        ['a', new arrow.Int32()],
        ['b', new arrow.Utf8()],
        [
          'inner',
          struct([
            ['x', new arrow.Float64()],
            ['same', new arrow.Float32()],
          ]),
        ],
      ]),
      (i) =>
        unit(i + 4) < 0.1
          ? null
          : {
              a: i % 3 ? i : null,
              b: `b${i}`,
              inner: i % 7 === 0 ? null : { x: i * 0.5, same: unit(i) < 0.5 ? null : 1 },
            },
    ),
    struct_list: column(
      struct([
        ['tags', list(new arrow.Utf8())],
        ['n', new arrow.Int32()],
      ]),
      (i) => (unit(i + 5) < 0.1 ? null : { tags: maybeList(i + 6, (k) => `t${k}`), n: i }),
    ),
    list_struct: column(
      list(
        struct([
          ['k', new arrow.Utf8()],
          ['v', new arrow.Float64()],
        ]),
      ),
      (i) => maybeList(i + 7, (k) => (k === 3 ? null : { k: `k${k}`, v: k * 1.5 })),
    ),
    list_fsl: column(list(fsl(4)), (i) => maybeList(i + 8, (k) => (vectorNull(k) ? null : [k, i, 1, 2]))),
    list_long_utf8: column(list(new arrow.Utf8()), (i) =>
      maybeList(i + 9, (k) => (k === 1 ? null : `${'x'.repeat(200 + (i % 300))}${i}.${k}`)),
    ),
    list_vec: column(list(fsl(128)), (i) =>
      maybeList(i + 10, (k) => (vectorNull(k) ? null : Array.from({ length: 128 }, (_, j) => j + k + i))),
    ),
    list_long: column(list(new arrow.Int32()), (i) =>
      i % 500 === 0 ? Array.from({ length: 5000 }, (_, k) => k * 3 + i) : [i],
    ),
    list_constant: column(list(new arrow.Int32()), (i) => maybeList(i + 11, () => 7)),
    list_all_null: column(list(new arrow.Int32()), (i) => (i % 2 ? null : [])),
  });
}

const COLUMNS = nestedTable()
  .schema.fields.map((f) => f.name)
  .filter((name) => name !== 'idx');

describe.each(['2.1', '2.2'] as const)('nested columns written as file version %s', (fileVersion) => {
  const path = join(root, `nested-${fileVersion}.lance`);
  const table = nestedTable();
  let ours: arrow.Table;
  let theirs: arrow.Table;

  beforeAll(async () => {
    await writeDataset(path, table, { fileVersion });
    [ours, theirs] = [await scanOurs(path), await oracleScan(path)];
  });

  it.each(COLUMNS)('%s is read by LanceDB value for value', (name) => {
    expectTablesEqual(theirs.select([name]), table.select([name]), { label: `${name} via LanceDB` });
  });

  it.each(COLUMNS)('%s is read by lance-loader value for value', (name) => {
    expectTablesEqual(ours.select([name]), table.select([name]), { label: `${name} via lance-loader` });
  });

  it('takes rows whose lists span mini-block chunks as LanceDB does', async () => {
    const rows = [500, 0, 2999, 1000, 1, 2500];
    const ds = await openDataset(path);
    const taken = await ds.take(rows, { columns: ['list_long', 'list_list'] });
    await ds.close();
    expectTablesEqual(taken, await oracleTake(path, rows, ['list_long', 'list_list']));
  });
});

describe('nested layouts in file version 2.2', () => {
  const ours = join(root, 'layout-ours.lance');
  const theirs = join(root, 'layout-theirs.lance');

  beforeAll(async () => {
    await writeDataset(ours, nestedTable({ nullVectors: false }));
    const db = await lancedb.connect(root);
    (
      await db.createTable('layout-theirs', toLanceDbArrow(nestedTable({ nullVectors: false })), {
        storageOptions: { new_table_data_storage_version: '2.2' },
      })
    ).close();
    db.close();
  });

  it.each([
    ['list_int32.item', 'rep=OutOfLineBitpacking(u16,Flat(1b))} layers=[NULLABLE_ITEM, NULL_AND_EMPTY_LIST]'],
    ['list_list.item.item', 'layers=[ALL_VALID_ITEM, NULL_AND_EMPTY_LIST, NULL_AND_EMPTY_LIST]'],
    ['struct_nested.inner.x', 'layers=[NULLABLE_ITEM, NULLABLE_ITEM, NULLABLE_ITEM]'],
    ['struct_nested.inner.same', 'Constant{inline=4b; def=u16}'],
    ['list_fsl.item', 'MiniBlock{values=FixedSizeList(4,Flat(32b))'],
    ['list_vec.item', 'FullZip{values=FixedSizeList(128,Flat(32b)); value=4096b; bits_rep=1; bits_def=2}'],
    ['list_long.item', 'rep=Rle(Flat(16b),Flat(8b))'],
    ['list_all_null.item', 'AllNull{rep/def}'],
  ])('gives %s the layout LanceDB gives it, byte for byte in size (%s)', async (leaf, layout) => {
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine[leaf]?.layout).toContain(layout);
    expect(mine[leaf]).toEqual(lance[leaf]);
  });
});

describe('nested pages whose levels outgrow a mini-block chunk', () => {
  it('are written full-zip and read by LanceDB and lance-loader value for value', async () => {
    const path = join(root, 'sparse.lance');
    // 100,000 levels for 1,000 values: one chunk's values would carry more levels than a chunk can say.
    const sparse = arrow.vectorFromArray(
      Array.from({ length: 100_000 }, (_, i) => (i % 100 === 0 ? [i] : [])),
      list(new arrow.Int32()),
    );
    const written = new arrow.Table({ sparse });
    await writeDataset(path, written);
    expect((await layouts(path))['sparse.item']?.layout).toContain('FullZip{values=Flat(32b)');
    expectTablesEqual(await oracleScan(path), written, { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), written, { label: 'lance-loader' });
  });
});

describe('nested inputs and appends', () => {
  it('takes row objects with a nested schema', async () => {
    const path = join(root, 'rows.lance');
    const schema = new arrow.Schema([
      new arrow.Field('id', new arrow.Int32(), false),
      new arrow.Field('tags', list(new arrow.Utf8()), true),
      new arrow.Field('point', struct([['xy', list(new arrow.Float64())]]), true),
      new arrow.Field('ids', list(new arrow.Int64()), true),
    ]);
    const rows = Array.from({ length: 40 }, (_, i) => ({
      id: i,
      tags: i % 4 === 0 ? null : Array.from({ length: i % 3 }, (_, k) => `tag${k}`),
      point: i % 5 === 0 ? null : { xy: [i, -i] },
      ids: [i, 2 ** 40 + i],
    }));
    await writeDataset(path, rows, { schema, rowsPerBatch: 16 });
    const read = await oracleScan(path);
    expect(read.getChild('tags')?.get(5)?.toArray()).toEqual(['tag0', 'tag1']);
    expect(read.getChild('tags')?.get(4)).toBeNull();
    expect(Array.from(read.getChild('point')?.get(3)?.toJSON().xy.toArray())).toEqual([3, -3]);
    expect(Array.from(read.getChild('ids')?.get(7)?.toArray())).toEqual([7n, 2n ** 40n + 7n]);
    expectTablesEqual(await scanOurs(path), read);
  });

  it('appends nested rows to a LanceDB-written 2.2 dataset that LanceDB then reads whole', async () => {
    const dir = fs.mkdtempSync(join(root, 'lancedb-'));
    const table = nestedTable().select(['idx', 'list_int32', 'struct_list', 'list_struct']);
    const db = await lancedb.connect(dir);
    (
      await db.createTable('t', toLanceDbArrow(table.slice(0, 2000)), {
        storageOptions: { new_table_data_storage_version: '2.2' },
      })
    ).close();
    db.close();
    const path = join(dir, 't.lance');
    expect((await writeDataset(path, table.slice(2000), { mode: 'append' })).version).toBe(2);
    expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), table, { label: 'lance-loader' });
  });

  it("records nested writes' transactions with every nested field and the manifest's leaf ids, and a stale LanceDB handle appends after them", async () => {
    const path = join(root, 'transactions.lance');
    const table = nestedTable().select(['idx', 'list_list', 'struct_list', 'list_struct']);
    await writeDataset(path, table.slice(0, 1000));
    const db = await lancedb.connect(root);
    const stale = await db.openTable('transactions');
    await writeDataset(path, table.slice(1000, 2000), { mode: 'append' });
    const ours = readLatestVersion(path)?.manifest;
    const leafIds = ours?.fragments[0]?.files[0]?.fields;
    expect(leafIds?.length).toBeGreaterThan(4);
    const protos = new protobuf.Root();
    for (const source of protoSources) protobuf.parse(source, protos, { keepCase: true });
    const Transaction = protos.resolveAll().lookupType('lance.table.Transaction');
    const [create, append] = fs
      .readdirSync(join(path, '_transactions'))
      .map((name) => Transaction.toObject(Transaction.decode(fs.readFileSync(join(path, '_transactions', name)))))
      .sort((a, b) => Number(a.read_version) - Number(b.read_version));
    expect(create?.overwrite.schema.map((f: { id: number }) => f.id)).toEqual(ours?.fields.map((f) => f.id));
    expect(create?.overwrite.fragments[0].files[0].fields).toEqual(leafIds);
    expect(append?.append.fragments[0].files[0].fields).toEqual(leafIds);
    await stale.add(toLanceDbArrow(table.slice(2000)));
    stale.close();
    db.close();
    expect(await oracleVersions(path)).toEqual([1, 2, 3]);
    expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
  });

  it('refuses an append whose nested column has another shape, naming both', async () => {
    const path = join(root, 'shape.lance');
    await writeDataset(path, nestedTable().select(['idx', 'list_int32']));
    const other = new arrow.Table({
      idx: arrow.makeVector(Int32Array.from([1])),
      list_int32: arrow.vectorFromArray([['a']], list(new arrow.Utf8())),
    });
    const error = await rejection(writeDataset(path, other, { mode: 'append' }));
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { column: 'list_int32', expected: 'list<int32>', actual: 'list<string>' },
    });
    expect(error.message).toContain('column "list_int32" is list<string> in the data and list<int32> in the dataset');
  });
});

describe.each(['2.1', '2.2'] as const)('lists of fixed-width items without nulls in file version %s', (fileVersion) => {
  it('are read by LanceDB and lance-loader value for value, null and empty lists included', async () => {
    const path = join(root, `simple-lists-${fileVersion}.lance`);
    const items = new arrow.Field('item', new arrow.Int64(), false);
    const table = new arrow.Table({
      tokens: column(new arrow.List(items), (i) => maybeList(i, (k) => BigInt(i * 10 + k))),
      dense: column(new arrow.List(new arrow.Field('item', new arrow.Int32(), false)), (i) => [i, -i]),
    });
    // Batches of 700 rows: pages gather several sliced chunks.
    await writeDataset(
      path,
      new arrow.Table(table.batches.flatMap((b) => [0, 700, 1400, 2100, 2800].map((s) => b.slice(s, s + 700)))),
      { fileVersion },
    );
    expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), table, { label: 'lance-loader' });
  });
});

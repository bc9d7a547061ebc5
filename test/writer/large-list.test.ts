/**
 * large_list columns. Appending to a LanceDB-written table with one (made with SQL: apache-arrow 18 has
 * no LargeList type, so JavaScript data brings it as a list): the column keeps its type, LanceDB reads
 * the old and the new rows (cast to a list in SQL, since its JS client cannot decode a large_list
 * either), and so does lance-loader. Creating them with writeDataset's `largeLists`: LanceDB names,
 * reads and appends to them as to its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { openInput } from '../../writer/input.js';
import { writeDataset } from '../../index.js';
import { readLatestVersion } from '../../writer/commit.js';
import { scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-large-list-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const path = join(root, 't.lance');

const tagsOf = (i: number): number[] | null =>
  i % 7 === 3 ? null : Array.from({ length: i % 5 }, (_, k) => i + k / 4);
const listType = new arrow.List(new arrow.Field('item', new arrow.Float64(), true));
const schema = new arrow.Schema([
  new arrow.Field('idx', new arrow.Float64(), true),
  new arrow.Field('tags', listType, true),
  new arrow.Field('big', listType, true),
]);
const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => ({ idx: from + k, tags: tagsOf(from + k), big: tagsOf(from + k) }));

beforeAll(async () => {
  const db = await lancedb.connect(root);
  const table = await db.createTable(
    't',
    rows(0, 300).map(({ idx, tags }) => ({ idx, tags })),
    {
      schema: new arrow.Schema(schema.fields.slice(0, 2)),
      storageOptions: { new_table_data_storage_version: '2.2' },
    } as never,
  );
  await table.addColumns([{ name: 'big', valueSql: "arrow_cast(tags, 'LargeList(Float64)')" }]);
  table.close();
  db.close();
  await writeDataset(path, rows(300, 700), { schema, mode: 'append' });
});

it('keeps the large_list type of the column it appends to', () => {
  const manifest = readLatestVersion(path)?.manifest;
  expect(manifest?.fields.find((f) => f.name === 'big')?.logical_type).toBe('large_list');
  expect(manifest?.fragments).toHaveLength(2);
});

it('appends rows that LanceDB reads with the old ones, value for value', async () => {
  const db = await lancedb.connect(root);
  const table = await db.openTable('t');
  try {
    const got = await table.query().select({ idx: 'idx', big: "arrow_cast(big, 'List(Float64)')" }).toArray();
    const want = rows(0, 700).map(({ idx, big }) => ({ idx, big }));
    expect(got.map((r) => ({ idx: r.idx as number, big: r.big ? [...(r.big as arrow.Vector)] : null }))).toEqual(want);
  } finally {
    table.close();
    db.close();
  }
});

it('appends rows that lance-loader reads with the old ones, value for value', async () => {
  const got = (await scanOurs(path)).toArray().map((r) => ({ idx: r.idx as number, big: r.big ? [...r.big] : null }));
  expect(got).toEqual(rows(0, 700).map(({ idx, big }) => ({ idx, big })));
});

it('still refuses list data whose items differ from the large_list column, naming both types', async () => {
  const other = new arrow.Schema([
    schema.fields[0] as arrow.Field,
    schema.fields[1] as arrow.Field,
    new arrow.Field('big', new arrow.List(new arrow.Field('item', new arrow.Int32(), true)), true),
  ]);
  const error = await rejection(
    writeDataset(path, [{ idx: 1, tags: [1], big: [1] }], { schema: other, mode: 'append' }),
  );
  expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'big' } });
  expect(error.message).toContain('column "big" is list<int32> in the data and large_list<double> in the dataset');
});

/** Rows with large lists at every depth: of doubles, of structs, of large lists, inside a struct. */
const F = (name: string, type: arrow.DataType) => new arrow.Field(name, type, true);
const boxType = new arrow.Struct([F('k', new arrow.Utf8()), F('v', new arrow.Float64())]);
const nestedSchema = new arrow.Schema([
  F('idx', new arrow.Float64()),
  F('tags', new arrow.List(F('item', new arrow.Float64()))),
  F('boxes', new arrow.List(F('item', boxType))),
  F('nested', new arrow.List(F('item', new arrow.List(F('item', new arrow.Int32()))))),
  F('meta', new arrow.Struct([F('a', new arrow.List(F('item', new arrow.Float64())))])),
]);
const LARGE = ['tags', 'boxes', 'nested', 'nested.item', 'meta.a'];
const nestedRows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => {
    const i = from + k;
    return {
      idx: i,
      tags: tagsOf(i),
      boxes:
        i % 6 === 1 ? null : Array.from({ length: i % 3 }, (_, j) => ({ k: `b${i}-${j}`, v: j % 2 ? null : i + j })),
      nested: i % 5 === 2 ? null : [[i, i + 1], [], ...(i % 2 ? [[i % 7]] : [])],
      meta: { a: i % 4 === 0 ? null : [i / 2] },
    };
  });
/** The rows as LanceDB returns them cast to lists, and as lance-loader's scan gives them. */
const LIST_SELECT = {
  idx: 'idx',
  tags: "arrow_cast(tags, 'List(Float64)')",
  boxes: `arrow_cast(boxes, 'List(Struct("k": Utf8, "v": Float64))')`,
  nested: "arrow_cast(nested, 'List(List(Int32))')",
  meta_a: "arrow_cast(meta.a, 'List(Float64)')",
};
/** An Arrow value as plain JS: vectors as arrays, struct rows as objects. */
const asPlain = (value: unknown): unknown => {
  if (value === null || typeof value !== 'object') return value;
  if (Symbol.iterator in value) return Array.from(value as Iterable<unknown>, asPlain);
  const object = 'toJSON' in value ? (value as { toJSON(): object }).toJSON() : value;
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, asPlain(v)]));
};
const wanted = (rows: ReturnType<typeof nestedRows>) =>
  rows.map(({ idx, tags, boxes, nested, meta }) => ({ idx, tags, boxes, nested, meta_a: meta.a }));

describe.each(['2.1', '2.2'] as const)(
  'large_list columns created by lance-loader (file version %s)',
  (fileVersion) => {
    const dir = join(root, `created-${fileVersion}`);
    const created = join(dir, 't.lance');

    beforeAll(async () => {
      await writeDataset(created, nestedRows(0, 300), { schema: nestedSchema, fileVersion, largeLists: LARGE });
      // LanceDB's JS add reads the table's schema into apache-arrow first, which cannot hold a LargeList:
      // its native add is handed the Arrow IPC file of list data directly, as add hands it its own.
      const { batches } = await openInput(nestedRows(300, 400), { schema: nestedSchema });
      const table: arrow.RecordBatch[] = [];
      for await (const batch of batches) table.push(batch);
      const db = await lancedb.connect(dir);
      const lance = await db.openTable('t');
      const inner = (lance as unknown as { inner: { add(buffer: Buffer, mode: string): Promise<unknown> } }).inner;
      await inner.add(Buffer.from(arrow.tableToIPC(new arrow.Table(table), 'file')), 'append');
      lance.close();
      db.close();
      await writeDataset(created, nestedRows(400, 500), { schema: nestedSchema, mode: 'append' });
    });

    it('names them large_list and large_list.struct in the manifest, nested ones too, as LanceDB does', () => {
      const fields = readLatestVersion(created)?.manifest.fields.map((f) => `${f.name}:${f.logical_type}`);
      expect(fields).toEqual([
        'idx:double',
        'tags:large_list',
        'item:double',
        'boxes:large_list.struct',
        'item:struct',
        'k:string',
        'v:double',
        'nested:large_list',
        'item:large_list',
        'item:int32',
        'meta:struct',
        'a:large_list',
        'item:double',
      ]);
    });

    it('are LargeList columns to LanceDB', async () => {
      const db = await lancedb.connect(dir);
      const table = await db.openTable('t');
      try {
        const [types] = await table
          .query()
          .select({
            tags: 'arrow_typeof(tags)',
            boxes: 'arrow_typeof(boxes)',
            nested: 'arrow_typeof(nested)',
            meta: 'arrow_typeof(meta)',
          })
          .limit(1)
          .toArray();
        expect({ ...types }).toEqual({
          tags: 'LargeList(Float64)',
          boxes: 'LargeList(Struct("k": Utf8, "v": Float64))',
          nested: 'LargeList(LargeList(Int32))',
          meta: 'Struct("a": LargeList(Float64))',
        });
      } finally {
        table.close();
        db.close();
      }
    });

    it("are read by LanceDB value for value, with LanceDB's append and lance-loader's", async () => {
      const db = await lancedb.connect(dir);
      const table = await db.openTable('t');
      try {
        const got = (await table.query().select(LIST_SELECT).toArray()).map((row) => asPlain(row.toJSON()));
        expect(got).toEqual(wanted(nestedRows(0, 500)));
        expect(await table.version()).toBe(3);
      } finally {
        table.close();
        db.close();
      }
    });

    it('are read by lance-loader value for value', async () => {
      const got = (await scanOurs(created)).toArray().map((row) => {
        const { meta, ...rest } = asPlain(row.toJSON()) as { meta: { a: unknown } };
        return { ...rest, meta_a: meta.a };
      });
      expect(got).toEqual(wanted(nestedRows(0, 500)));
    });
  },
);

describe('bad largeLists', () => {
  it('refuses a path that names no field, naming it and the list fields there are', async () => {
    const error = await rejection(
      writeDataset(join(root, 'bad1.lance'), nestedRows(0, 3), {
        schema: nestedSchema,
        largeLists: ['tags', 'meta.b'],
      }),
    );
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { option: 'options.largeLists[1]', path: 'meta.b' },
    });
    expect(error.message).toBe(
      'options.largeLists[1] is "meta.b", which names no field of the data; accepted: the dotted path of a list field (the data\'s: tags, boxes, nested, nested.item, meta.a)',
    );
  });

  it('refuses a field that is not a list, naming its type', async () => {
    const error = await rejection(
      writeDataset(join(root, 'bad2.lance'), nestedRows(0, 3), { schema: nestedSchema, largeLists: ['boxes.item'] }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'options.largeLists[0]' } });
    expect(error.message).toBe(
      'options.largeLists[0] is "boxes.item", a field of logical type struct, not a list; only list fields can be stored as large_list',
    );
  });

  it('refuses something other than an array of strings', async () => {
    const error = await rejection(
      writeDataset(join(root, 'bad3.lance'), nestedRows(0, 3), { schema: nestedSchema, largeLists: 'tags' as never }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'largeLists' } });
  });

  it('refuses, on append, a large_list the dataset stores as a list, and commits nothing', async () => {
    const error = await rejection(writeDataset(path, rows(700, 710), { schema, mode: 'append', largeLists: ['tags'] }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'tags', option: 'largeLists' } });
    expect(error.message).toContain('options.largeLists names field "tags", which the dataset stores as list');
    expect(readLatestVersion(path)?.version).toBe(3);
  });
});

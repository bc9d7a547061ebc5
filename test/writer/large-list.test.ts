/**
 * Appending to a LanceDB-written table with a large_list column (made with SQL: apache-arrow 18 has no
 * LargeList type, so JavaScript data brings it as a list): the column keeps its type, LanceDB reads the
 * old and the new rows (cast to a list in SQL, since its JS client cannot decode a large_list either),
 * and so does lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rejection } from '../caught.js';
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

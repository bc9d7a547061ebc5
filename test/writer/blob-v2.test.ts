/**
 * Blob v2 columns (`lance.blob.v2` on struct<data: large_binary, uri: utf8>, file version 2.2) written by
 * lance-loader as LanceDB 0.39 writes them: inline values in the data file, 64 KiB–4 MiB values in the
 * packed sidecar, larger ones in sidecars of their own. LanceDB's `fetchBlobs` and lance-loader's
 * `takeBlobs` return every value (nulls and empty values included), the descriptors and the data
 * file's layout are LanceDB's, an append to a LanceDB-written blob v2 table is read whole by both, and
 * what cannot be written is refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { readLatestVersion } from '../../writer/commit.js';
import { hex, ourBlobs, scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-blob-v2-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const BLOB_V2 = new Map([['ARROW:extension:name', 'lance.blob.v2']]);
const blobType = new arrow.Struct([
  new arrow.Field('data', new arrow.LargeBinary(), true),
  new arrow.Field('uri', new arrow.Utf8(), true),
]);

/** Row i's size: null 1 in 13, empty 1 in 11, 5 MB at rows 7 and 60, 100 KB every 20th row, else 0–300 B. */
function sizeOf(i: number): number | undefined {
  if (i % 13 === 4) return undefined;
  if (i % 11 === 2) return 0;
  if (i === 7 || i === 60) return 5_000_000;
  if (i % 20 === 5) return 100_000;
  return (i * 37) % 301;
}

function blobOf(i: number): Uint8Array | undefined {
  const size = sizeOf(i);
  return size === undefined
    ? undefined
    : Uint8Array.from({ length: size }, (_, j) => (i * 7 + j * 31 + (j >> 8)) & 0xff);
}

/** `{ idx: int32, image: blob v2 }` for rows [from, to); `metadata` on the image field. */
function blobTable(from: number, to: number, metadata = BLOB_V2): arrow.Table {
  const n = to - from;
  const values = Array.from({ length: n }, (_, k) => blobOf(from + k));
  const offsets = new BigInt64Array(n + 1);
  values.forEach((v, k) => (offsets[k + 1] = offsets[k]! + BigInt(v?.length ?? 0)));
  const bytes = new Uint8Array(Number(offsets[n]));
  values.forEach((v, k) => v && bytes.set(v, Number(offsets[k])));
  const nullBitmap = new Uint8Array(Math.ceil(n / 8));
  values.forEach((v, k) => v && (nullBitmap[k >> 3] = (nullBitmap[k >> 3] as number) | (1 << (k & 7))));
  const nullCount = values.filter((v) => !v).length;
  const image = arrow.makeData({
    type: blobType,
    length: n,
    nullCount,
    nullBitmap,
    children: [
      arrow.makeData({
        type: new arrow.LargeBinary(),
        length: n,
        nullCount,
        nullBitmap,
        valueOffsets: offsets,
        data: bytes,
      }),
      arrow.makeData({
        type: new arrow.Utf8(),
        length: n,
        nullCount: n,
        nullBitmap: new Uint8Array(Math.ceil(n / 8)),
        valueOffsets: new Int32Array(n + 1),
        data: new Uint8Array(0),
      }),
    ],
  });
  const schema = new arrow.Schema([
    new arrow.Field('idx', new arrow.Int32(), false),
    new arrow.Field('image', blobType, true, metadata),
  ]);
  const idx = arrow.makeData({
    type: new arrow.Int32(),
    length: n,
    data: Int32Array.from({ length: n }, (_, k) => from + k),
  });
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children: [idx, image] });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

const expected = (from: number, to: number): (string | null)[] =>
  Array.from({ length: to - from }, (_, k) => hex(blobOf(from + k)));

/** Every row's blob as LanceDB's `fetchBlobs` returns it. */
async function lanceDbBlobs(path: string): Promise<(string | null)[]> {
  const db = await lancedb.connect(dirname(path));
  const table = await db.openTable(basename(path, '.lance'));
  try {
    const rows = await table.query().select(['idx']).withRowId().toArray();
    const blobs = await table.fetchBlobs(
      'image',
      rows.map((row) => row._rowid as bigint),
    );
    return blobs.map((b) => hex(b));
  } finally {
    table.close();
    db.close();
  }
}

async function lanceDbTable(dir: string, name: string, table: arrow.Table): Promise<string> {
  const db = await lancedb.connect(dir);
  (
    await db.createTable(name, toLanceDbArrow(table), { storageOptions: { new_table_data_storage_version: '2.2' } })
  ).close();
  db.close();
  return join(dir, `${name}.lance`);
}

/** The sidecars of the dataset's one data file, as `name: bytes` (names by blob id). */
function sidecars(path: string): Record<string, number> {
  const data = join(path, 'data');
  const out: Record<string, number> = {};
  for (const entry of fs.readdirSync(data, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const blob of fs.readdirSync(join(data, entry.name)))
      out[blob] = fs.statSync(join(data, entry.name, blob)).size;
  }
  return out;
}

describe('a blob v2 column written as file version 2.2', () => {
  const ours = join(root, 'ours.lance');
  let theirs = '';

  beforeAll(async () => {
    await writeDataset(ours, blobTable(0, 120), { fileVersion: '2.2' });
    theirs = await lanceDbTable(root, 'theirs', blobTable(0, 120));
  });

  it("has every value's bytes fetched by LanceDB", async () => {
    expect(await lanceDbBlobs(ours)).toEqual(expected(0, 120));
  });

  it("has every value's bytes taken by lance-loader", async () => {
    expect(await ourBlobs(ours)).toEqual(expected(0, 120));
  });

  it('gives LanceDB the descriptors LanceDB writes for the same values', async () => {
    const [mine, lance] = [await oracleScan(ours), await oracleScan(theirs)];
    expectTablesEqual(mine, lance, { label: 'descriptors' });
  });

  it('reads back through lance-loader as the descriptors LanceDB reads', async () => {
    expectTablesEqual(await scanOurs(ours), await oracleScan(ours), { label: 'lance-loader' });
  });

  it('writes the sidecars LanceDB writes, file for file in size', () => {
    const [mine, lance] = [sidecars(ours), sidecars(theirs)];
    expect(Object.keys(mine).sort()).toEqual([
      '01000000000000000000000000000000.blob',
      '10000000000000000000000000000000.blob',
      '11000000000000000000000000000000.blob',
    ]);
    expect(mine).toEqual(lance);
  });
});

it("follows the field's blob thresholds as LanceDB does: inline, packed, pack-file and dedicated sizes", async () => {
  const metadata = new Map([
    ...BLOB_V2,
    ['lance-encoding:blob-inline-size-threshold', '200'],
    ['lance-encoding:blob-dedicated-size-threshold', '150000'],
    ['lance-encoding:blob-pack-file-size-threshold', '250000'],
  ]);
  const dir = fs.mkdtempSync(join(root, 'thresholds-'));
  const ours = join(dir, 'ours.lance');
  await writeDataset(ours, blobTable(0, 120, metadata), { fileVersion: '2.2' });
  const theirs = await lanceDbTable(dir, 'theirs', blobTable(0, 120, metadata));
  expectTablesEqual(await oracleScan(ours), await oracleScan(theirs), { label: 'descriptors' });
  expect(sidecars(ours)).toEqual(sidecars(theirs));
  expect(await ourBlobs(ours)).toEqual(expected(0, 120));
});

it('refuses a blob threshold that is not a byte count, naming the column and key', async () => {
  const metadata = new Map([...BLOB_V2, ['lance-encoding:blob-dedicated-size-threshold', '0']]);
  const path = join(root, 'bad-threshold.lance');
  const error = await rejection(writeDataset(path, blobTable(0, 10, metadata), { fileVersion: '2.2' }));
  expect(error).toMatchObject({
    code: 'INVALID_ARGUMENT',
    details: { column: 'image', option: 'lance-encoding:blob-dedicated-size-threshold' },
  });
  expect(error.message).toContain(
    'lance-encoding:blob-dedicated-size-threshold is "0"; accepted: an integer of at least 1',
  );
  expect(fs.existsSync(path)).toBe(false);
});

it('appends blobs to a LanceDB-written blob v2 table that LanceDB and lance-loader then read whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const path = await lanceDbTable(dir, 't', blobTable(0, 50));
  await writeDataset(path, blobTable(50, 120), { mode: 'append' });
  expect(readLatestVersion(path)?.manifest.fragments).toHaveLength(2);
  expect(await lanceDbBlobs(path)).toEqual(expected(0, 120));
  expect(await ourBlobs(path)).toEqual(expected(0, 120));
});

it('refuses a blob v2 column in file version 2.1, naming the column and the version', async () => {
  const path = join(root, 'v21.lance');
  const error = await rejection(writeDataset(path, blobTable(0, 10), { fileVersion: '2.1' }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'image', fileVersion: '2.1' } });
  expect(error.message).toContain(
    'column "image" is a blob v2 column (lance.blob.v2), which file version 2.1 does not have',
  );
  expect(fs.existsSync(join(path, '_versions'))).toBe(false);
});

it('refuses an external blob (a uri instead of bytes) under no external base, naming the column and row, and leaves no sidecar behind', async () => {
  const path = join(root, 'external.lance');
  const schema = new arrow.Schema([new arrow.Field('image', blobType, true, BLOB_V2)]);
  const rows = [{ image: { data: new Uint8Array(200_000), uri: null } }, { image: { data: null, uri: 'file:///x' } }];
  const error = await rejection(writeDataset(path, rows, { schema, fileVersion: '2.2' }));
  expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'image', row: 1 } });
  expect(error.message).toContain(
    'column "image": row 1 is an external blob whose uri "file:///x" lies outside every external base',
  );
  expect(fs.existsSync(join(path, '_versions'))).toBe(false);
  expect(fs.existsSync(join(path, 'data')) ? fs.readdirSync(join(path, 'data')) : []).toEqual([]);
});

it('refuses a blob v2 column of another struct shape, naming what it takes', async () => {
  const type = new arrow.Struct([new arrow.Field('data', new arrow.Binary(), true)]);
  const schema = new arrow.Schema([new arrow.Field('image', type, true, BLOB_V2)]);
  const error = await rejection(writeDataset(join(root, 'shape.lance'), [{ image: { data: null } }], { schema }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'image' } });
  expect(error.message).toContain('blob v2 columns are struct<data: large_binary, uri: utf8>');
});

/**
 * Blob columns (`lance-encoding:blob` on large_binary, file version 2.1) written by lance-loader: every
 * value's bytes lie where LanceDB's descriptors say (LanceDB's JS `fetchBlobs` serves blob v2 columns
 * only) and lance-loader's `takeBlobs` returns them, nulls and empty values included, the descriptor page's layout is LanceDB's, and an append to a
 * LanceDB-written blob table is read whole by both. File version 2.2 refuses such columns, as LanceDB does.
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
import { hex, layouts, ourBlobs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-blob-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const BLOB = new Map([['lance-encoding:blob', 'true']]);

/** Row i's blob: null 1 in 9, empty 1 in 11, 1 MB every 40th row, otherwise 0–300 bytes; undefined = null. */
function blobOf(i: number): Uint8Array | undefined {
  if (i % 9 === 4) return undefined;
  const size = i % 11 === 6 ? 0 : i % 40 === 7 ? 1_000_000 + i : (i * 37) % 301;
  return Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) & 0xff);
}

/** `{ idx: int32, image: large_binary (blob) }` for rows [from, to). */
function blobTable(from: number, to: number): arrow.Table {
  const n = to - from;
  const values = Array.from({ length: n }, (_, k) => blobOf(from + k));
  const offsets = new BigInt64Array(n + 1);
  values.forEach((v, k) => (offsets[k + 1] = (offsets[k] as bigint) + BigInt(v?.length ?? 0)));
  const bytes = new Uint8Array(Number(offsets[n]));
  values.forEach((v, k) => v && bytes.set(v, Number(offsets[k])));
  const nullBitmap = new Uint8Array(Math.ceil(n / 8));
  values.forEach((v, k) => v && (nullBitmap[k >> 3] = (nullBitmap[k >> 3] as number) | (1 << (k & 7))));
  const image = arrow.makeData({
    type: new arrow.LargeBinary(),
    length: n,
    nullCount: values.filter((v) => !v).length,
    nullBitmap,
    valueOffsets: offsets,
    data: bytes,
  });
  const idx = arrow.makeData({
    type: new arrow.Int32(),
    length: n,
    data: Int32Array.from({ length: n }, (_, k) => from + k),
  });
  const schema = new arrow.Schema([
    new arrow.Field('idx', new arrow.Int32(), false),
    new arrow.Field('image', new arrow.LargeBinary(), true, BLOB),
  ]);
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children: [idx, image] });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

/**
 * Every row's blob where LanceDB's scan says it is: LanceDB's JS client fetches bytes of blob v2 columns
 * only, so each (position, size) descriptor it returns is read from its fragment's data file.
 */
async function lanceDbBlobs(path: string): Promise<(string | null)[]> {
  const db = await lancedb.connect(dirname(path));
  const table = await db.openTable(basename(path, '.lance'));
  const files = new Map(
    (readLatestVersion(path)?.manifest.fragments ?? []).map((f) => [
      BigInt(f.id),
      join(path, 'data', f.files[0]?.path ?? ''),
    ]),
  );
  try {
    const rows = await table.query().select(['image']).withRowId().toArray();
    return rows.map((row) => {
      const descriptor = row.image as { position: bigint; size: bigint } | null;
      if (descriptor === null) return null;
      const bytes = Buffer.alloc(Number(descriptor.size));
      const fd = fs.openSync(files.get((row._rowid as bigint) >> 32n) as string, 'r');
      fs.readSync(fd, bytes, 0, bytes.length, Number(descriptor.position));
      fs.closeSync(fd);
      return bytes.toString('hex');
    });
  } finally {
    table.close();
    db.close();
  }
}

const expected = (from: number, to: number): (string | null)[] =>
  Array.from({ length: to - from }, (_, k) => hex(blobOf(from + k)));

describe('a blob column written as file version 2.1', () => {
  const path = join(root, 'ours.lance');
  const theirs = join(root, 'theirs.lance');

  beforeAll(async () => {
    await writeDataset(path, blobTable(0, 300), { fileVersion: '2.1', maxRowsPerFile: 150 });
    const db = await lancedb.connect(root);
    (
      await db.createTable('theirs', toLanceDbArrow(blobTable(0, 300)), {
        storageOptions: { new_table_data_storage_version: '2.1' },
      })
    ).close();
    db.close();
  });

  it("has every value's bytes where LanceDB's descriptors say they are", async () => {
    expect(await lanceDbBlobs(path)).toEqual(expected(0, 300));
  });

  it("has every value's bytes taken by lance-loader", async () => {
    expect(await ourBlobs(path)).toEqual(expected(0, 300));
  });

  it('keeps the columns beside it readable by LanceDB', async () => {
    expectTablesEqual(await oracleScan(path, ['idx']), blobTable(0, 300).select(['idx']));
  });

  it('writes the descriptor page LanceDB writes, byte for byte in size', async () => {
    const single = join(root, 'single.lance');
    await writeDataset(single, blobTable(0, 300), { fileVersion: '2.1' });
    const [mine, lance] = [await layouts(single), await layouts(theirs)];
    expect(mine['image']?.layout).toBe('Blob{MiniBlock{values=PackedStruct(Flat(128b))}} layers=[NULLABLE_ITEM]');
    expect(mine['image']).toEqual(lance['image']);
  });
});

it('appends blobs to a LanceDB-written blob table that LanceDB and lance-loader then locate whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const db = await lancedb.connect(dir);
  (
    await db.createTable('t', toLanceDbArrow(blobTable(0, 100)), {
      storageOptions: { new_table_data_storage_version: '2.1' },
    })
  ).close();
  db.close();
  const path = join(dir, 't.lance');
  await writeDataset(path, blobTable(100, 250), { mode: 'append' });
  expect(await lanceDbBlobs(path)).toEqual(expected(0, 250));
  expect(await ourBlobs(path)).toEqual(expected(0, 250));
});

it('refuses a blob column in file version 2.2, naming the column and the version, as LanceDB does', async () => {
  const path = join(root, 'v22.lance');
  const error = await rejection(writeDataset(path, blobTable(0, 10), { fileVersion: '2.2' }));
  expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'image', fileVersion: '2.2' } });
  expect(error.message).toContain(
    `column "image" is a blob column (lance-encoding:blob), which file version 2.2 does not have`,
  );
  expect(fs.existsSync(join(path, '_versions'))).toBe(false);
});

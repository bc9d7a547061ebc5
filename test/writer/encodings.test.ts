/**
 * The layouts and encodings the writer picks, page by page, against the ones LanceDB 0.39 picks for the
 * same table (both written as file version 2.1, then 2.2, and described by `openFile().metadata()`).
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { layouts } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-encodings-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 3000;
const f32 = (dim: number): arrow.FixedSizeList =>
  new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true));

function table(): arrow.Table {
  return new arrow.Table({
    idx: arrow.makeVector(BigInt64Array.from({ length: N }, (_, i) => BigInt(i))),
    category: arrow.makeVector(Int32Array.from({ length: N }, (_, i) => (i * 7) % 100)),
    hashed: arrow.makeVector(Int32Array.from({ length: N }, (_, i) => Math.imul(i + 1, 2654435761))),
    ts: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => 1_700_000_000_000 + i * 997),
      new arrow.TimestampMillisecond(),
    ),
    maybe: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => (i % 10 === 3 ? null : Math.imul(i, 2246822519))),
      new arrow.Int32(),
    ),
    flag: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => i % 3 === 0),
      new arrow.Bool(),
    ),
    word: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => `w${(i * 7919) % 1000}`.slice(0, 4)),
      new arrow.Utf8(),
    ),
    vec8: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => Array.from({ length: 8 }, (_, j) => Math.sin(i * 8 + j))),
      f32(8),
    ),
    vec128: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => Array.from({ length: 128 }, (_, j) => Math.cos(i * 128 + j))),
      f32(128),
    ),
    blob: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) =>
        Uint8Array.from({ length: 300 + (i % 50) }, (_, j) => (i * 31 + j * 17) & 255),
      ),
      new arrow.Binary(),
    ),
    none: arrow.vectorFromArray(
      Array.from({ length: N }, () => null),
      new arrow.Float64(),
    ),
  });
}

describe('the writer picks the layouts LanceDB picks', () => {
  const ours = join(root, 'ours.lance');
  const theirs = join(root, 'theirs.lance');

  it('writes a table LanceDB reads value for value', async () => {
    await writeDataset(ours, table(), { fileVersion: '2.1' });
    const db = await lancedb.connect(root);
    (
      await db.createTable('theirs', toLanceDbArrow(table()), {
        storageOptions: { new_table_data_storage_version: '2.1' },
      })
    ).close();
    db.close();
    expectTablesEqual(await oracleScan(ours), table());
  });

  it.each([
    ['idx', 'InlineBitpacking(u64)'],
    ['category', 'InlineBitpacking(u32)'],
    ['hashed', 'Flat(32b)'],
    ['ts', 'InlineBitpacking(u64)'],
    ['flag', 'Flat(1b)'],
    ['vec8', 'FixedSizeList(8,Flat(32b))'],
    ['vec128', 'FullZip{values=FixedSizeList(128,Flat(32b))'],
    ['blob', 'FullZip{values=Variable(Flat(32b))'],
    ['maybe', 'MiniBlock{values=Flat(32b); def=OutOfLineBitpacking(u16,Flat(1b))}'],
    ['none', 'AllNull'],
  ])('gives column %s the layout LanceDB gives it, byte for byte in size (%s)', async (column, encoding) => {
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine[column]?.layout).toContain(encoding);
    expect(mine[column]).toEqual(lance[column]);
  });

  it('gives short strings the layout LanceDB gives them, cut into chunks a little differently', async () => {
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine.word?.layout).toBe('MiniBlock{values=Variable(Flat(32b))}');
    expect(mine.word?.layout).toBe(lance.word?.layout);
  });
});

/** Columns whose 2.2 layouts differ from 2.1's: constant pages and run-length definition levels. */
function table22(): arrow.Table {
  const scrambled = (i: number): number => Math.imul(i + 1, 2654435761) | 0;
  const withNulls = (isNull: (i: number) => boolean): arrow.Vector =>
    arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => (isNull(i) ? null : scrambled(i))),
      new arrow.Int32(),
    );
  return new arrow.Table({
    hashed: arrow.makeVector(Int32Array.from({ length: N }, (_, i) => scrambled(i))),
    constant_f64: arrow.makeVector(new Float64Array(N).fill(2.5)),
    constant_str: arrow.vectorFromArray(
      Array.from({ length: N }, () => 'same'),
      new arrow.Utf8(),
    ),
    constant_large_str: arrow.vectorFromArray(
      Array.from({ length: N }, () => 'abc'),
      new arrow.LargeUtf8(),
    ),
    constant_bool: arrow.vectorFromArray(
      Array.from({ length: N }, () => true),
      new arrow.Bool(),
    ),
    constant_with_nulls: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => (i % 5 === 0 ? null : 7)),
      new arrow.Int32(),
    ),
    nulls_first_tenth: withNulls((i) => i < N / 10),
    nulls_every_100: withNulls((i) => i % 100 === 0),
    nulls_every_7: withNulls((i) => i % 7 === 0),
    nulls_last: withNulls((i) => i === N - 1),
    vec128: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => Array.from({ length: 128 }, (_, j) => Math.cos(i * 128 + j))),
      f32(128),
    ),
    none: arrow.vectorFromArray(
      Array.from({ length: N }, () => null),
      new arrow.Float64(),
    ),
  });
}

describe('in file version 2.2 the writer picks the layouts LanceDB picks', () => {
  const ours = join(root, 'ours22.lance');
  const theirs = join(root, 'theirs22.lance');

  it('writes a table LanceDB reads value for value', async () => {
    await writeDataset(ours, table22(), { fileVersion: '2.2' });
    const db = await lancedb.connect(root);
    (
      await db.createTable('theirs22', toLanceDbArrow(table22()), {
        storageOptions: { new_table_data_storage_version: '2.2' },
      })
    ).close();
    db.close();
    expectTablesEqual(await oracleScan(ours), table22());
  });

  it.each([
    ['hashed', 'MiniBlock{values=Flat(32b)}'],
    ['constant_f64', 'Constant{inline=8b}'],
    ['constant_str', 'Constant{value=buffer}'],
    ['constant_large_str', 'Constant{value=buffer}'],
    ['constant_bool', 'Constant{inline=1b}'],
    ['constant_with_nulls', 'Constant{inline=4b; def=u16}'],
    ['nulls_first_tenth', 'def=Rle(Flat(16b),Flat(8b))'],
    ['nulls_every_100', 'def=Rle(Flat(16b),Flat(8b))'],
    ['nulls_every_7', 'def=OutOfLineBitpacking(u16,Flat(1b))'],
    ['nulls_last', 'def=Rle(Flat(16b),Flat(8b))'],
    ['vec128', 'FullZip{values=FixedSizeList(128,Flat(32b))'],
    ['none', 'AllNull'],
  ])('gives column %s the layout LanceDB gives it, byte for byte in size (%s)', async (column, encoding) => {
    const [mine, lance] = [await layouts(ours), await layouts(theirs)];
    expect(mine[column]?.layout).toContain(encoding);
    expect(mine[column]).toEqual(lance[column]);
  });
});

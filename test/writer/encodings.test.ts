/**
 * The layouts and encodings the writer picks, page by page, against the ones LanceDB 0.39 picks for the
 * same table (both written as file version 2.1 and described by `openFile().metadata()`).
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
import { columnLayouts } from './layouts.js';

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
    await writeDataset(ours, table());
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
    const [mine, lance] = [await columnLayouts(ours), await columnLayouts(theirs)];
    expect(mine[column]?.layout).toContain(encoding);
    expect(mine[column]).toEqual(lance[column]);
  });

  it('gives short strings the layout LanceDB gives them, cut into chunks a little differently', async () => {
    const [mine, lance] = [await columnLayouts(ours), await columnLayouts(theirs)];
    expect(mine.word?.layout).toBe('MiniBlock{values=Variable(Flat(32b))}');
    expect(mine.word?.layout).toBe(lance.word?.layout);
  });
});

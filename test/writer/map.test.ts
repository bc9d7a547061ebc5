/**
 * Map columns (map<utf8, int32>, as a list of key/value entries) written by lance-loader in file version
 * 2.2, where LanceDB 0.39 writes them, and 2.1, which it reads: read back value for value by LanceDB and
 * lance-loader, with LanceDB's layouts, null and empty maps and null values included, and appended to a
 * LanceDB-written map table.
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

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-map-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const entries = new arrow.Struct([
  new arrow.Field('key', new arrow.Utf8(), false),
  new arrow.Field('value', new arrow.Int32(), true),
]);
const mapType = new arrow.Map_(new arrow.Field('entries', entries, false));

/** Rows [from, to): a null map 1 in 10, else 0–3 entries, the second one's value null. */
function mapTable(from = 0, to = 3000): arrow.Table {
  const rows = Array.from({ length: to - from }, (_, k) => from + k);
  return new arrow.Table({
    idx: arrow.makeVector(Int32Array.from(rows)),
    m: arrow.vectorFromArray(
      rows.map((i) =>
        i % 10 === 0
          ? null
          : new Map(
              Array.from({ length: i % 4 }, (_, k): [string, number | null] => [`k${k}`, k === 1 ? null : i * k]),
            ),
      ),
      mapType,
    ),
  });
}

describe('a map column written as file version 2.2', () => {
  const ours = join(root, 'ours.lance');
  const table = mapTable();

  beforeAll(async () => {
    await writeDataset(ours, table);
    const db = await lancedb.connect(root);
    (
      await db.createTable('theirs', toLanceDbArrow(table), {
        storageOptions: { new_table_data_storage_version: '2.2' },
      })
    ).close();
    db.close();
  });

  it('is read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(ours), table, { label: 'LanceDB' });
  });

  it('is read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(ours), table, { label: 'lance-loader' });
  });

  // Run-length chunks are cut a little differently from LanceDB's (a few percent more bytes), as for lists.
  it.each(['m.entries.key', 'm.entries.value'])(
    'gives %s the layout LanceDB gives it in at most 1.1 × its bytes',
    async (leaf) => {
      const [mine, lance] = [await layouts(ours), await layouts(join(root, 'theirs.lance'))];
      expect(mine[leaf]?.layout).toContain('layers=[');
      expect(mine[leaf]?.layout).toBe(lance[leaf]?.layout);
      expect(mine[leaf]?.bytes).toBeLessThanOrEqual(1.1 * (lance[leaf]?.bytes ?? 0));
    },
  );
});

it('writes maps in file version 2.1 too, which LanceDB reads value for value (it writes maps only in 2.2)', async () => {
  const path = join(root, 'v21.lance');
  await writeDataset(path, mapTable(), { fileVersion: '2.1' });
  expectTablesEqual(await oracleScan(path), mapTable(), { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), mapTable(), { label: 'lance-loader' });
});

it('appends maps to a LanceDB-written map table that LanceDB and lance-loader then read whole', async () => {
  const dir = fs.mkdtempSync(join(root, 'lancedb-'));
  const db = await lancedb.connect(dir);
  (
    await db.createTable('t', toLanceDbArrow(mapTable(0, 1000)), {
      storageOptions: { new_table_data_storage_version: '2.2' },
    })
  ).close();
  db.close();
  const path = join(dir, 't.lance');
  await writeDataset(path, mapTable(1000, 2500), { mode: 'append' });
  expectTablesEqual(await oracleScan(path), mapTable(0, 2500), { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), mapTable(0, 2500), { label: 'lance-loader' });
});

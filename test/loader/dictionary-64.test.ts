/**
 * The DataLoader over 64-bit columns that LanceDB 0.39 writes in file version 2.2 as dictionaries of
 * bit-packed items (narrow ints, dates and timestamps of few distinct values: InlineBitpacking up to 1024
 * items, OutOfLineBitpacking above), with nulls, with real worker threads: every row's values as written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import type { BatchColumn } from '../../loader/batch.js';
import { createLoader } from '../../loader/loader.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { layouts } from '../writer/read-back.js';

const ROWS = 6000;
const dir = mkdtempSync(join(tmpdir(), 'loader-dictionary-64-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Row i's item among `distinct`, scattered so that every item appears. */
const itemOf = (i: number, distinct: number): number => (i * 7919 + 13) % distinct;

/** Each column's values by row (null for a null row), as bigints. */
const EXPECTED: Record<string, (bigint | null)[]> = {
  code: Array.from({ length: ROWS }, (_, i) => BigInt(itemOf(i, 500) * 7)),
  wide: Array.from({ length: ROWS }, (_, i) => BigInt(itemOf(i, 1500)) * 100_003n),
  stamp: Array.from({ length: ROWS }, (_, i) => 1_700_000_000_000_000n + BigInt(itemOf(i, 1100)) * 60_000_000n),
  sparse: Array.from({ length: ROWS }, (_, i) => (i % 5 === 2 ? null : BigInt(itemOf(i, 1600)))),
};

let dataset: Dataset;

beforeAll(async () => {
  const table = new arrow.Table(
    Object.fromEntries(
      Object.entries(EXPECTED).map(([name, values]) => [name, arrow.vectorFromArray(values, new arrow.Int64())]),
    ),
  );
  const db = await lancedb.connect(dir);
  try {
    const options = { storageOptions: { new_table_data_storage_version: '2.2' } };
    (await db.createTable('codes', toLanceDbArrow(table), options)).close();
  } finally {
    db.close();
  }
  dataset = await openDataset(join(dir, 'codes.lance'));
});

afterAll(async () => {
  await dataset?.close();
});

/** A batch column's value at row `r`, null where invalid. */
const valueAt = (column: BatchColumn, r: number): bigint | null =>
  column.validity?.[r] === 0 ? null : BigInt(column.values[r] as bigint);

describe('a loader over 64-bit columns LanceDB wrote with bit-packed dictionaries', () => {
  it('reads a table whose dictionaries LanceDB bit-packed inline and out of line', async () => {
    const dictionaries = Object.values(await layouts(join(dir, 'codes.lance'))).map(
      (c) => /dict=\w+/.exec(c.layout)?.[0],
    );
    expect(dictionaries).toEqual([
      'dict=InlineBitpacking',
      'dict=OutOfLineBitpacking',
      'dict=OutOfLineBitpacking',
      'dict=OutOfLineBitpacking',
    ]);
  });

  it('yields every row once with the values it was written with', async () => {
    const loader = await createLoader(dataset, { batchSize: 256, workers: 2, prefetch: 2, seed: 5 });
    const seen = new Set<number>();
    try {
      for await (const batch of loader.epoch(0)) {
        for (const [name, expected] of Object.entries(EXPECTED)) {
          const column = batch.columns[name] as BatchColumn;
          const given = Array.from(batch.rowOffsets, (_, r) => valueAt(column, r));
          expect(given, name).toEqual(Array.from(batch.rowOffsets, (row) => expected[row]));
        }
        for (const row of batch.rowOffsets) seen.add(row);
        batch.release();
      }
    } finally {
      await loader.close();
    }
    expect(seen.size).toBe(ROWS);
  });
});

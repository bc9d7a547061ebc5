/**
 * The DataLoader over LanceDB-written blob v2 columns whose every value is a dedicated sidecar (a file of
 * its own), as LanceDB 0.39 writes values above the field's dedicated threshold:
 * - the worker keeps at most 128 idle blob files open (dataset/open-files.ts), so an epoch over many more
 *   sidecars than that holds a bounded number of descriptors, with every value right, and closing the
 *   loader closes them all;
 * - the memory budget counts the sidecars' bytes, which the data files' sizes leave out: createLoader
 *   refuses a memoryBytes that cannot hold a batch of average ones with the largest it samples, and a
 *   budget it accepts holds them; a value larger than any sampled makes its batch refuse with MEMORY_BUDGET.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { fdsUnder } from '../fixtures/fds.js';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

/** How many idle blob files a dataset keeps open (dataset/blobs.ts MAX_OPEN_BLOB_FILES). */
const MAX_OPEN_BLOB_FILES = 128;

const ROWS = 400;
const MiB = 1024 * 1024;

/** Row `i`'s value of `size` bytes, different per row. */
function valueOf(i: number, size = 40 + (i % 60)): Uint8Array {
  return Uint8Array.from({ length: size }, (_, k) => (i * 13 + k * 7) & 0xff);
}

/**
 * A LanceDB-written 2.2 table of `values` whose blob v2 column `image` puts every value above
 * `dedicatedAbove` bytes (default 16) in a sidecar of its own, and those of 9 bytes up to it in one
 * packed sidecar.
 */
async function writeSidecars(values: Uint8Array[], dedicatedAbove = 16): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llblob-sidecars-'));
  temps.push(dir);
  const ROWS = values.length;
  const offsets = new BigInt64Array(ROWS + 1);
  values.forEach((v, i) => (offsets[i + 1] = (offsets[i] as bigint) + BigInt(v.length)));
  const bytes = new Uint8Array(Number(offsets[ROWS]));
  values.forEach((v, i) => bytes.set(v, Number(offsets[i])));
  const type = new arrow.Struct([
    new arrow.Field('data', new arrow.LargeBinary(), true),
    new arrow.Field('uri', new arrow.Utf8(), true),
  ]);
  const data = arrow.makeData({
    type,
    length: ROWS,
    children: [
      arrow.makeData({ type: new arrow.LargeBinary(), length: ROWS, valueOffsets: offsets, data: bytes }),
      arrow.vectorFromArray(
        values.map(() => null),
        new arrow.Utf8(),
      ).data[0] as arrow.Data,
    ],
  });
  const field = new arrow.Field(
    'image',
    type,
    false,
    new Map([
      ['ARROW:extension:name', 'lance.blob.v2'],
      ['lance-encoding:blob-inline-size-threshold', '8'],
      ['lance-encoding:blob-dedicated-size-threshold', String(dedicatedAbove)],
    ]),
  );
  const schema = new arrow.Schema([field]);
  const batch = new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(schema.fields), length: ROWS, children: [data] }),
  );
  const db = await lancedb.connect(dir);
  const table = await db.createTable('images', toLanceDbArrow(new arrow.Table([batch])), {
    storageOptions: { new_table_data_storage_version: '2.2' },
  });
  table.close();
  db.close();
  return path.join(dir, 'images.lance');
}

/** The sidecar files under `dir`, recursively. */
function sidecarsUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.blob'));
}

it('keeps the open blob files bounded over an epoch of many more sidecars than it keeps, values right', async () => {
  const dataset = await writeSidecars(Array.from({ length: ROWS }, (_, i) => valueOf(i)));
  const dataDir = path.join(dataset, 'data');
  expect(sidecarsUnder(dataDir).length).toBe(ROWS);
  const openSidecars = () => fdsUnder(dataDir).filter((target) => target.endsWith('.blob')).length;
  const loader = await createLoader(dataset, { columns: ['image'], batchSize: 16, workers: 1, seed: 5 });
  let most = 0;
  const seen = new Set<number>();
  try {
    for await (const batch of loader.epoch(0)) {
      most = Math.max(most, openSidecars());
      const { values, offsets } = batch.columns['image'] as BatchColumn;
      const at = offsets as ArrayLike<number>;
      batch.rowOffsets.forEach((row, r) => {
        expect((values as Uint8Array).subarray(at[r] as number, at[r + 1] as number), `row ${row}`).toEqual(
          valueOf(row),
        );
        seen.add(row);
      });
      batch.release();
    }
  } finally {
    await loader.close();
  }
  expect(seen.size).toBe(ROWS);
  // Past the limit the worker closes an idle file as it opens the next: closes still in flight add a batch's worth.
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(MAX_OPEN_BLOB_FILES + 2 * 16);
  expect(openSidecars()).toBe(0);
});

/** Checks every value of an epoch against `expected` (by row); resolves to the rows seen. */
async function checkEpoch(
  dataset: string,
  options: Parameters<typeof createLoader>[1],
  expected: (row: number) => Uint8Array,
): Promise<number> {
  const loader = await createLoader(dataset, options);
  let rows = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      const { values, offsets } = batch.columns['image'] as BatchColumn;
      const at = offsets as ArrayLike<number>;
      batch.rowOffsets.forEach((row, r) => {
        const value = (values as Uint8Array).subarray(at[r] as number, at[r + 1] as number);
        expect(Buffer.compare(value, expected(row)), `row ${row}`).toBe(0);
      });
      rows += batch.numRows;
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return rows;
}

/** The bytes the least budget createLoader takes for `options` needs, from its refusal of 1 MiB. */
async function leastBudget(dataset: string, options: Parameters<typeof createLoader>[1]): Promise<number> {
  const refusal = await createLoader(dataset, { ...options, memoryBytes: MiB }).catch(
    (error: { code: string; details: { neededBytes: number } }) => error,
  );
  expect(refusal).toMatchObject({ code: 'MEMORY_BUDGET' });
  return (refusal as { details: { neededBytes: number } }).details.neededBytes;
}

describe('the memory budget of a loader over sidecar blobs', () => {
  const SIZE = 300_000;
  const options = { columns: ['image'], batchSize: 8, workers: 1, prefetch: 4, seed: 2 };
  let dataset = '';
  beforeAll(async () => {
    dataset = await writeSidecars(Array.from({ length: 48 }, (_, i) => valueOf(i, SIZE)));
  });

  it('refuses a memoryBytes that cannot hold an average batch of sidecar values, naming their bytes', async () => {
    const refused = createLoader(dataset, { ...options, memoryBytes: 32 * MiB });
    await expect(refused).rejects.toMatchObject({
      code: 'MEMORY_BUDGET',
      message: expect.stringContaining(`"image" ${8 * SIZE} bytes (largest ${SIZE}, mean ${SIZE} a row)`),
    });
  });

  it('holds every batch of sidecar values in a budget it accepts, values right', async () => {
    const memoryBytes = await leastBudget(dataset, options);
    expect(await checkEpoch(dataset, { ...options, memoryBytes }, (row) => valueOf(row, SIZE))).toBe(48);
  });

  it('holds every batch in the least budget it accepts when one sampled value is far larger than the mean', async () => {
    const sizeOf = (row: number) => (row === 7 ? 3 * MiB : 1000);
    const skewed = await writeSidecars(Array.from({ length: 48 }, (_, i) => valueOf(i, sizeOf(i))));
    const memoryBytes = await leastBudget(skewed, options);
    expect(await checkEpoch(skewed, { ...options, memoryBytes }, (row) => valueOf(row, sizeOf(row)))).toBe(48);
  });

  it('refuses the batch of a value larger than any sampled, naming the column and the bytes', async () => {
    // 2,048 rows, of which the budget samples the even ones: odd row 1001's value is 100 times the others'.
    const sizeOf = (row: number) => (row === 1001 ? 100_000 : 1000);
    const unsampled = await writeSidecars(
      Array.from({ length: 2048 }, (_, i) => valueOf(i, sizeOf(i))),
      4 * MiB,
    );
    const inOrder = { ...options, shuffle: false };
    const memoryBytes = await leastBudget(unsampled, inOrder);
    const error = await checkEpoch(unsampled, { ...inOrder, memoryBytes }, (row) => valueOf(row, sizeOf(row))).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'MEMORY_BUDGET' });
    // Row 1001 and the 7 other rows of its batch, against the slot's bytes.
    expect((error as Error).message).toMatch(
      new RegExp(`need \\d+ bytes \\("image" ${100_000 + 7 * 1000}\\), more than a batch slot's \\d+ bytes`),
    );
  });
});

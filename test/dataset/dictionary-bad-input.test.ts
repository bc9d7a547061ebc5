/**
 * A damaged bit-packed dictionary: LanceDB 0.39 writes a 2.2 int64 column of few distinct narrow values
 * as a dictionary packed with InlineBitpacking (`u64 bit width | 1024 values of that width`); a copy
 * whose width word says more bits than the values have is a CorruptFileError naming the data file, the
 * column and the page, read in this thread and by the loader's workers.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CorruptFileError, openDataset } from '../../index.js';
import { fetchFileMetadata } from '../../io/open-file.js';
import { FileSource } from '../../io/source.js';
import { createLoader } from '../../loader/loader.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { layouts } from '../writer/read-back.js';
import { expectFailure, patchFile, removeTempDirs, tempDir, u64Bytes } from './bad-input-helpers.js';

const ROWS = 3000;
let pristine: string;

beforeAll(async () => {
  // 500 distinct multiples of 7 below 3500: 12-bit items, one InlineBitpacking block.
  const code = BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(((i * 7919 + 13) % 500) * 7));
  const id = Int32Array.from({ length: ROWS }, (_, i) => i);
  const dir = tempDir();
  const db = await lancedb.connect(dir);
  try {
    const table = new arrow.Table({ id: arrow.makeVector(id), code: arrow.makeVector(code) });
    const options = { storageOptions: { new_table_data_storage_version: '2.2' } };
    (await db.createTable('codes', toLanceDbArrow(table), options)).close();
  } finally {
    db.close();
  }
  pristine = path.join(dir, 'codes.lance');
});

afterAll(() => removeTempDirs());

/** A copy of the dataset whose code column's dictionary says its items are 200 bits wide, and its data file. */
async function damagedCopy(): Promise<{ root: string; file: string }> {
  const root = path.join(tempDir(), 'codes.lance');
  fs.cpSync(pristine, root, { recursive: true });
  const [name] = fs.readdirSync(path.join(root, 'data'));
  const file = path.join(root, 'data', name as string);
  expect((await layouts(root)).code?.layout).toContain('dict=InlineBitpacking(u64)');
  const source = await FileSource.open(file);
  try {
    const meta = await fetchFileMetadata(source);
    // Column 1 (code), page 0; a mini-block page's buffer 2 is its dictionary.
    const dictionary = meta.columns[1]?.pages[0]?.buffers[2];
    if (!dictionary) throw new Error(`${file}: column 1 page 0 has no buffer 2`);
    patchFile(file, dictionary.offset, u64Bytes(200n));
  } finally {
    await source.close();
  }
  return { root, file };
}

it("reads a bit-packed dictionary's impossible bit width as a CorruptFileError naming the file, column and page", async () => {
  const { root, file } = await damagedCopy();
  const ds = await openDataset(root);
  try {
    await expectFailure(
      () => ds.take([5, 0], { columns: ['code'] }),
      CorruptFileError,
      'CORRUPT_FILE',
      `${file} column 1 ("code") page 0 dictionary: `,
      'has bit width 200, more than the 64-bit values it packs',
    );
  } finally {
    await ds.close();
  }
});

it("gives the loader's workers' CorruptFileError for that dictionary with the file, column and page", async () => {
  const { root, file } = await damagedCopy();
  const ds = await openDataset(root);
  try {
    const loader = await createLoader(ds, { batchSize: 256, workers: 2, prefetch: 1, seed: 1 });
    const drain = async () => {
      for await (const batch of loader.epoch(0)) void batch;
    };
    try {
      await expectFailure(drain, CorruptFileError, 'CORRUPT_FILE', `${file} column 1 ("code") page 0 dictionary: `);
    } finally {
      await loader.close();
    }
  } finally {
    await ds.close();
  }
});

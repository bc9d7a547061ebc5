/**
 * The NPY code of the random-access example (examples/npy.ts): the header bytes it writes, the headers it
 * refuses, and a tiny batch-file store read by id next to lance-loader's `take` on the same rows written
 * by LanceDB.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import {
  encodeNpyHeader,
  fetchNpyFile,
  openNpyBatchStore,
  parseNpyHeader,
  writeNpyBatchFiles,
  writeNpyFile,
  type NpyBatchStore,
} from '../../examples/npy.js';

const ROWS = 30;
const DIM = 64;
const ROWS_PER_FILE = 10;
/** Header bytes of every shape used here (as numpy writes them: the dict needs more than 54 bytes). */
const HEADER = 128;

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lance-loader-npy-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('NPY files', () => {
  it('writes a version 1.0 header whose dict is padded with spaces and a newline to 64 bytes', () => {
    const header = encodeNpyHeader([100, 105600]);
    const text = Buffer.from(header.subarray(10)).toString('latin1');
    expect(Array.from(header.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    expect(header.length % 64).toBe(0);
    expect(new DataView(header.buffer).getUint16(8, true)).toBe(header.length - 10);
    expect(text).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(100, 105600\), \} *\n$/);
  });

  it('round-trips values and shape through a file', async () => {
    const path = join(dir, 'round-trip.npy');
    const values = Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1);
    await writeNpyFile(path, values, [3, 4]);
    const read = await fetchNpyFile(path);
    expect(read.header).toEqual({ descr: '<f4', shape: [3, 4], dataOffset: HEADER });
    expect(read.values).toEqual(values);
    expect(read.fileBytes).toBe(HEADER + 48);
  });

  it('writes a one-dimensional shape as a one-element tuple', () => {
    const text = Buffer.from(encodeNpyHeader([7])).toString('latin1');
    expect(text).toContain("'shape': (7,), }");
    expect(parseNpyHeader(encodeNpyHeader([7]), HEADER + 28).shape).toEqual([7]);
  });

  it('refuses a file without the NPY magic', () => {
    expect(() => parseNpyHeader(new Uint8Array(64), 64, 'x.npy')).toThrow('x.npy: not an NPY file (bad magic)');
  });

  it('refuses a dtype other than <f4', () => {
    const header = encodeNpyHeader([2]);
    header[23] = 0x38; // bytes 10.. hold "{'descr': '<f4'": byte 23 is the '4', now '8'
    expect(() => parseNpyHeader(header, HEADER + 8, 'f8.npy')).toThrow(
      'f8.npy: NPY dtype <f8 is not supported (only <f4)',
    );
  });

  it('refuses a file whose data does not fill the shape', () => {
    expect(() => parseNpyHeader(encodeNpyHeader([3, 4]), HEADER + 40, 'short.npy')).toThrow(
      'short.npy: NPY shape (3, 4) needs 48 data bytes after offset 128, file has 40',
    );
  });

  it('refuses a header length that runs past the file', () => {
    const header = encodeNpyHeader([3]);
    new DataView(header.buffer).setUint16(8, 1000, true);
    expect(() => parseNpyHeader(header, 64, 'long.npy')).toThrow(
      'long.npy: NPY header length 1000 runs past the 64 bytes available',
    );
  });
});

describe('NPY batch-file store', () => {
  const ids = BigInt64Array.from({ length: ROWS }, (_, i) => 9_000_000_000n + BigInt((i * 17) % ROWS) * 101n);
  const values = Float32Array.from({ length: ROWS * DIM }, (_, i) => Math.sin(i) * 1000);
  let dataset: Dataset;
  let store: NpyBatchStore;

  beforeAll(async () => {
    const tensor = arrow.makeVector(
      arrow.makeData({
        type: new arrow.FixedSizeList(DIM, new arrow.Field('item', new arrow.Float32(), true)),
        length: ROWS,
        nullCount: 0,
        child: arrow.makeData({ type: new arrow.Float32(), length: ROWS * DIM, data: values }),
      }),
    );
    const db = await lancedb.connect(dir);
    const table = await db.createTable('results', new arrow.Table({ id: arrow.makeVector(ids), tensor }), {
      mode: 'overwrite',
      storageOptions: { new_table_data_storage_version: '2.1' },
    });
    table.close();
    db.close();
    await writeNpyBatchFiles(join(dir, 'npy'), ids, values, DIM, ROWS_PER_FILE);
    dataset = await openDataset(join(dir, 'results.lance'));
    store = await openNpyBatchStore(join(dir, 'npy'));
  });

  afterAll(async () => {
    await dataset?.close();
  });

  it('writes files of rowsPerFile rows and an index of id → (file, row)', () => {
    expect(store.index.files).toEqual(['batch-00000.npy', 'batch-00001.npy', 'batch-00002.npy']);
    expect(store.index.rows[String(ids[13])]).toEqual([1, 3]);
    expect(Object.keys(store.index.rows)).toHaveLength(ROWS);
  });

  it('returns by id the same values as lance-loader take, in the order asked, duplicates included', async () => {
    const order = [29, 0, 13, 7, 21, 13, 10, 9, 19, 20];
    const rows = await store.fetchRows(order.map((o) => ids[o] as bigint));
    const table = await dataset.take(order, { columns: ['id', 'tensor'] });
    const tensor = table.getChild('tensor');
    order.forEach((offset, i) => {
      expect(table.getChild('id')?.get(i)).toBe(ids[offset]);
      expect(rows[i]).toEqual(tensor?.get(i)?.toArray());
    });
  });

  it('loads the whole file for every id and keeps nothing between ids', async () => {
    const before = { ...store.stats };
    await store.fetchRows([ids[0] as bigint, ids[1] as bigint]);
    expect(store.stats.filesLoaded - before.filesLoaded).toBe(2);
    expect(store.stats.bytesRead - before.bytesRead).toBe(2 * (HEADER + ROWS_PER_FILE * DIM * 4));
  });

  it('rejects an id that is not in the index', async () => {
    await expect(store.fetchRows([1n])).rejects.toThrow(`${join(dir, 'npy')}: no row with id 1`);
  });

  it('refuses an index.json that is not a version 1 index', async () => {
    const other = join(dir, 'not-an-index');
    await writeNpyBatchFiles(other, ids.subarray(0, 2), values.subarray(0, 2 * DIM), DIM, 10);
    writeFileSync(
      join(other, 'index.json'),
      JSON.stringify({ ...JSON.parse(readFileSync(join(other, 'index.json'), 'utf8')), version: 2 }),
    );
    await expect(openNpyBatchStore(other)).rejects.toThrow(
      `${join(other, 'index.json')}: not an NPY batch-file index (version 1)`,
    );
  });
});

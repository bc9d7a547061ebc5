/**
 * writeDataset's modes, inputs and refusals, on real directories, read back by LanceDB and by
 * lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { openDataset, openFile, writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleCountRows, oracleScan, oracleVersion, oracleVersions } from '../fixtures/oracle.js';
import { scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-dataset-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;

const freshPath = (): string => join(root, `t${counter++}.lance`);

function makeTable(from: number, count: number): arrow.Table {
  const ids = BigInt64Array.from({ length: count }, (_, i) => BigInt(from + i));
  const names = Array.from({ length: count }, (_, i) => ((from + i) % 4 === 0 ? null : `row ${from + i}`));
  const vectors = Array.from({ length: count }, (_, i) => [from + i, -(from + i), 0.5]);
  return new arrow.Table({
    id: arrow.makeVector(ids),
    name: arrow.vectorFromArray(names, new arrow.Utf8()),
    vec: arrow.vectorFromArray(vectors, new arrow.FixedSizeList(3, new arrow.Field('item', new arrow.Float32(), true))),
  });
}

function concat(...tables: arrow.Table[]): arrow.Table {
  return new arrow.Table(tables.flatMap((t) => t.batches));
}

describe('writeDataset modes', () => {
  it('appends to its own dataset as a new version whose rows follow the old ones', async () => {
    const path = freshPath();
    const first = makeTable(0, 1000);
    const second = makeTable(1000, 500);
    expect(await writeDataset(path, first)).toEqual({ version: 1, rows: 1000, files: 1 });
    expect(await writeDataset(path, second, { mode: 'append' })).toEqual({ version: 2, rows: 500, files: 1 });
    expectTablesEqual(await oracleScan(path), concat(first, second), { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), concat(first, second), { label: 'lance-loader' });
    expectTablesEqual(await oracleVersion(path, 1), first, { label: 'version 1' });
  });

  it('overwrites with a new schema while older versions stay readable', async () => {
    const path = freshPath();
    const first = makeTable(0, 100);
    await writeDataset(path, first);
    const replacement = new arrow.Table({ score: arrow.makeVector(Float64Array.from([1.5, 2.5])) });
    expect((await writeDataset(path, replacement, { mode: 'overwrite' })).version).toBe(2);
    expectTablesEqual(await oracleScan(path), replacement);
    expectTablesEqual(await oracleVersion(path, 1), first);
    expect(await oracleVersions(path)).toEqual([1, 2]);
  });

  it('creates a dataset when overwrite finds none', async () => {
    const path = freshPath();
    expect((await writeDataset(path, makeTable(0, 10), { mode: 'overwrite' })).version).toBe(1);
    expect(await oracleCountRows(path)).toBe(10);
  });

  it('appends to a LanceDB-written dataset and keeps its deletions', async () => {
    const dir = fs.mkdtempSync(join(root, 'lancedb-'));
    const first = makeTable(0, 3000);
    const db = await lancedb.connect(dir);
    const table = await db.createTable('t', toLanceDbArrow(first), {
      storageOptions: { new_table_data_storage_version: '2.1' },
    });
    await table.delete('id % 3 = 0');
    table.close();
    db.close();
    const path = join(dir, 't.lance');
    const before = await oracleScan(path);
    const more = makeTable(3000, 700);
    expect((await writeDataset(path, more, { mode: 'append' })).version).toBe(3);
    expect(await oracleCountRows(path)).toBe(2000 + 700);
    expectTablesEqual(await oracleScan(path), concat(before, more), { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), concat(before, more), { label: 'lance-loader' });
  });

  it('writes file version 2.2 by default, as LanceDB 0.39 does', async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 10));
    const ds = await openDataset(path);
    const [file] = ds.fragments[0]?.files ?? [];
    await ds.close();
    const data = await openFile(join(path, 'data', file?.path ?? ''));
    expect(data.metadata().version).toBe('2.2');
    await data.close();
  });

  it('appends file version 2.2 to a LanceDB-written 2.2 dataset that LanceDB then reads whole', async () => {
    const dir = fs.mkdtempSync(join(root, 'lancedb-'));
    const first = makeTable(0, 2000);
    const db = await lancedb.connect(dir);
    const table = await db.createTable('t', toLanceDbArrow(first), {
      storageOptions: { new_table_data_storage_version: '2.2' },
    });
    await table.delete('id % 5 = 0');
    table.close();
    db.close();
    const path = join(dir, 't.lance');
    const before = await oracleScan(path);
    const more = makeTable(2000, 900);
    expect((await writeDataset(path, more, { mode: 'append' })).version).toBe(3);
    expectTablesEqual(await oracleScan(path), concat(before, more), { label: 'LanceDB' });
    expectTablesEqual(await scanOurs(path), concat(before, more), { label: 'lance-loader' });
  });

  it('lets LanceDB append after it', async () => {
    const path = freshPath();
    const first = makeTable(0, 300);
    await writeDataset(path, first);
    const db = await lancedb.connect(root);
    const table = await db.openTable(path.slice(root.length + 1, -'.lance'.length));
    const more = makeTable(300, 200);
    await table.add(toLanceDbArrow(more));
    table.close();
    db.close();
    expectTablesEqual(await scanOurs(path), concat(first, more));
  });

  it('records each commit in _transactions/ so that a LanceDB handle opened before its append still appends', async () => {
    const path = freshPath();
    const first = makeTable(0, 100);
    await writeDataset(path, first);
    const db = await lancedb.connect(root);
    const table = await db.openTable(path.slice(root.length + 1, -'.lance'.length));
    const second = makeTable(100, 50);
    await writeDataset(path, second, { mode: 'append' });
    // The handle still reads version 1: LanceDB commits version 3 after checking our version 2's transaction.
    const third = makeTable(150, 20);
    await table.add(toLanceDbArrow(third));
    expect(await table.version()).toBe(3);
    table.close();
    db.close();
    // Named by the version each write read: ours 0 and 1, LanceDB's 1 too.
    const names = fs.readdirSync(join(path, '_transactions'));
    expect(names.every((name) => /^\d+-[0-9a-f-]{36}\.txn$/.test(name))).toBe(true);
    expect(names.map((name) => name.split('-')[0]).sort()).toEqual(['0', '1', '1']);
    expectTablesEqual(await oracleScan(path), concat(first, second, third));
  });

  it('lets LanceDB list its versions and check each one out', async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 30));
    await writeDataset(path, makeTable(30, 20), { mode: 'append' });
    await writeDataset(path, makeTable(0, 5), { mode: 'overwrite' });
    expect(await oracleVersions(path)).toEqual([1, 2, 3]);
    expect([await oracleCountRows(path, 1), await oracleCountRows(path, 2), await oracleCountRows(path, 3)]).toEqual([
      30, 50, 5,
    ]);
  });

  it('cuts a data file, and so a fragment, every maxRowsPerFile rows', async () => {
    const path = freshPath();
    const table = makeTable(0, 2500);
    expect((await writeDataset(path, table, { maxRowsPerFile: 1000 })).files).toBe(3);
    const ds = await openDataset(path);
    expect(ds.fragments.map((f) => f.physicalRows)).toEqual([1000, 1000, 500]);
    await ds.close();
    expectTablesEqual(await oracleScan(path), table);
  });

  it('accepts a file: URL as the path', async () => {
    const path = freshPath();
    await writeDataset(pathToFileURL(path), makeTable(0, 5));
    expect(await oracleCountRows(path)).toBe(5);
  });
});

describe('writeDataset inputs', () => {
  it('takes an async iterable of record batches', async () => {
    const path = freshPath();
    const table = makeTable(0, 900);
    async function* batches(): AsyncGenerator<arrow.RecordBatch> {
      for (let start = 0; start < 900; start += 300) yield* table.slice(start, start + 300).batches;
    }
    await writeDataset(path, batches());
    expectTablesEqual(await oracleScan(path), table);
  });

  it('takes row objects with a schema', async () => {
    const path = freshPath();
    const schema = new arrow.Schema([
      new arrow.Field('label', new arrow.Int32(), false),
      new arrow.Field('text', new arrow.Utf8(), true),
      new arrow.Field('image', new arrow.Binary(), true),
    ]);
    const rows = Array.from({ length: 50 }, (_, i) => ({
      label: i,
      text: i % 2 ? `t${i}` : null,
      image: Uint8Array.from({ length: 300 + i }, (_, j) => (i + j) & 255),
    }));
    await writeDataset(path, rows, { schema, rowsPerBatch: 16 });
    const read = await oracleScan(path);
    expect(read.numRows).toBe(50);
    expect(read.get(7)?.toJSON()).toMatchObject({ label: 7, text: 't7' });
    expect(Array.from(read.get(49)?.image as Uint8Array)).toEqual(Array.from(rows[49]?.image as Uint8Array));
  });

  it('lets a producer reuse the memory of batches it is told are released, without changing what was written', async () => {
    const path = freshPath();
    const dim = 65_536;
    const rowsPerBatch = 4;
    const batchCount = 48; // 48 MiB of vectors: more than the writer ever holds at once
    const type = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true));
    const schema = new arrow.Schema([new arrow.Field('vec', type, false)]);
    const free: ArrayBuffer[] = [];
    let allocated = 0;
    async function* batches(): AsyncGenerator<arrow.RecordBatch> {
      for (let b = 0; b < batchCount; b++) {
        const buffer = free.pop() ?? (allocated++, new ArrayBuffer(rowsPerBatch * dim * 4));
        const values = new Float32Array(buffer);
        for (let r = 0; r < rowsPerBatch; r++) values.fill(b * rowsPerBatch + r, r * dim, (r + 1) * dim);
        const child = arrow.makeData({ type: new arrow.Float32(), length: values.length, data: values });
        const vec = arrow.makeData({ type, length: rowsPerBatch, nullCount: 0, child });
        yield new arrow.RecordBatch(
          schema,
          arrow.makeData({ type: new arrow.Struct(schema.fields), length: rowsPerBatch, children: [vec] }),
        );
      }
    }
    // Released memory is scribbled over at once: a release that came early would show in the file.
    const releaseBuffer = (buffer: ArrayBufferLike): void => {
      if (buffer.byteLength !== rowsPerBatch * dim * 4) return; // not one of ours
      new Float32Array(buffer).fill(Number.NaN);
      free.push(buffer as ArrayBuffer);
    };
    // 50 rows per file: a batch's memory is shared by two data files at each cut.
    await writeDataset(path, batches(), { releaseBuffer, maxRowsPerFile: 50 });
    expect(allocated).toBeLessThan(batchCount);
    const vectors = (await scanOurs(path)).getChild('vec')?.data ?? [];
    let row = 0;
    for (const data of vectors) {
      const values = data.children[0]?.values as Float32Array;
      for (let r = 0; r < data.length; r++, row++) {
        const wrong = values.subarray(r * dim, (r + 1) * dim).findIndex((v) => v !== row);
        expect(wrong, `row ${row}`).toBe(-1);
      }
    }
    expect(row).toBe(batchCount * rowsPerBatch);
  });

  it('writes dictionary-encoded strings as their values', async () => {
    const path = freshPath();
    const table = arrow.tableFromArrays({ kind: ['cat', 'dog', 'cat', 'bird'] });
    await writeDataset(path, table);
    const read = await oracleScan(path);
    expect(String(read.schema.fields[0]?.type)).toBe('Utf8');
    expect(read.getChild('kind')?.toArray()).toEqual(['cat', 'dog', 'cat', 'bird']);
  });
});

describe('writeDataset refusals', () => {
  it('refuses to create where a dataset exists', async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 5));
    const error = await rejection(writeDataset(path, makeTable(0, 5)));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toContain(
      "a dataset already exists here (version 1); pass mode 'append' or 'overwrite'",
    );
  });

  it('refuses to append where there is no dataset', async () => {
    const error = await rejection(writeDataset(freshPath(), makeTable(0, 5), { mode: 'append' }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toContain("there is no dataset to append to; pass mode 'create'");
  });

  it('refuses an append whose column types differ and leaves the dataset at its version', async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 5));
    const wrong = new arrow.Table({
      id: arrow.makeVector(Int32Array.from([1])),
      name: arrow.vectorFromArray(['x'], new arrow.Utf8()),
      vec: arrow.vectorFromArray([[1, 2, 3]], new arrow.FixedSizeList(3, new arrow.Field('item', new arrow.Float32()))),
    });
    const error = await rejection(writeDataset(path, wrong, { mode: 'append' }));
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { column: 'id', expected: 'int64', actual: 'int32' },
    });
    expect((error as Error).message).toContain('column "id" is int32 in the data and int64 in the dataset');
    expect(await oracleVersions(path)).toEqual([1]);
    expect(fs.readdirSync(join(path, 'data'))).toHaveLength(1);
  });

  it('refuses an append that lacks a column of the dataset', async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 5));
    const error = await rejection(writeDataset(path, makeTable(5, 5).select(['id', 'name']), { mode: 'append' }));
    expect((error as Error).message).toContain('column "vec" (fixed_size_list:float:3) is missing');
  });

  it("refuses an append whose fileVersion differs from the dataset's", async () => {
    const path = freshPath();
    await writeDataset(path, makeTable(0, 5), { fileVersion: '2.1' });
    const error = await rejection(writeDataset(path, makeTable(5, 5), { mode: 'append', fileVersion: '2.2' }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'fileVersion', fileVersion: '2.1' } });
    expect(error.message).toContain('options.fileVersion is "2.2" but the dataset stores file version 2.1');
  });

  it('refuses to append to a dataset of file version 2.0', async () => {
    const dir = fs.mkdtempSync(join(root, 'lancedb-'));
    const db = await lancedb.connect(dir);
    (
      await db.createTable('t', toLanceDbArrow(makeTable(0, 10)), {
        storageOptions: { new_table_data_storage_version: '2.0' },
      })
    ).close();
    db.close();
    const error = await rejection(writeDataset(join(dir, 't.lance'), makeTable(10, 10), { mode: 'append' }));
    expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { fileVersion: '2.0' } });
    expect(error.message).toContain(
      'the dataset stores file version 2.0; lance-loader appends to file versions 2.1 and 2.2',
    );
  });

  it('refuses a column type it cannot write, naming the column by its path', async () => {
    const table = new arrow.Table({
      tags: arrow.vectorFromArray([[null]], new arrow.List(new arrow.Field('item', new arrow.Null(), true))),
    });
    const error = await rejection(writeDataset(freshPath(), table));
    expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'tags.item' } });
    expect((error as Error).message).toContain('column "tags.item" has Arrow type Null');
  });

  it('refuses nulls in a non-nullable column and removes the files it wrote', async () => {
    const path = freshPath();
    const schema = new arrow.Schema([new arrow.Field('x', new arrow.Int32(), false)]);
    async function* batches(): AsyncGenerator<arrow.RecordBatch> {
      yield new arrow.Table(schema, { x: arrow.makeVector(Int32Array.from([1, 2])) } as never)
        .batches[0] as arrow.RecordBatch;
      yield new arrow.RecordBatch(
        schema,
        arrow.makeData({
          type: new arrow.Struct(schema.fields),
          length: 2,
          children: [arrow.vectorFromArray([3, null], new arrow.Int32()).data[0] as arrow.Data],
        }),
      );
    }
    const error = await rejection(writeDataset(path, batches()));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'x', row: 2 } });
    expect((error as Error).message).toContain('column "x" is not nullable but has 1 null(s) in rows 2..3');
    expect(fs.readdirSync(join(path, 'data'))).toEqual([]);
    expect(fs.existsSync(join(path, '_versions'))).toBe(false);
  });

  it('refuses an encodeInWorkers that is not a boolean, naming the option', async () => {
    const error = await rejection(writeDataset(freshPath(), makeTable(0, 5), { encodeInWorkers: 'yes' as never }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'encodeInWorkers' } });
    expect(error.message).toContain('options.encodeInWorkers must be true or false; got "yes"');
  });

  it('refuses a releaseBuffer that is not a function, naming the option', async () => {
    const error = await rejection(writeDataset(freshPath(), makeTable(0, 5), { releaseBuffer: 1 as never }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'releaseBuffer' } });
    expect(error.message).toContain('options.releaseBuffer must be a function; got number');
  });

  it('refuses row objects without a schema', async () => {
    const error = await rejection(writeDataset(freshPath(), [{ a: 1 }]));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toContain('pass options.schema');
  });

  it('refuses a file version it cannot write', async () => {
    const error = await rejection(writeDataset(freshPath(), makeTable(0, 1), { fileVersion: '2.0' as '2.1' }));
    expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { option: 'fileVersion' } });
    expect(error.message).toContain('options.fileVersion "2.0" cannot be written');
  });
});

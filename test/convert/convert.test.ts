/**
 * The converters on generated inputs, well-formed and malformed, read back by LanceDB; and the
 * `lance-loader convert` command.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type * as arrow from 'apache-arrow';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { main } from '../../cli.js';
import { writeNpyBatchFiles } from '../../examples/npy.js';
import { convertToLance } from '../../index.js';
import { oracleScan, oracleSchema } from '../fixtures/oracle.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'convert-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string): string => join(root, `${counter++}-${name}`);

/** An NPY 1.0 file of `values` with `descr` and `shape`. */
function npy(descr: string, shape: number[], values: ArrayBufferView): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const header = dict + ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

describe('convertToLance npy', () => {
  it('turns a directory of batch files into fixed-size-list rows, one per first axis', async () => {
    const dir = fresh('batches');
    fs.mkdirSync(dir);
    for (let b = 0; b < 3; b++) {
      const values = Float32Array.from({ length: 4 * 6 }, (_, i) => b * 100 + i);
      fs.writeFileSync(join(dir, `batch-${b}.npy`), npy('<f4', [4, 2, 3], values));
    }
    const out = fresh('batches.lance');
    expect(await convertToLance('npy', [dir], out, { column: 'tensor' })).toMatchObject({ rows: 12, files: 1 });
    const table = await oracleScan(out);
    expect(String(table.schema.fields[0]?.type)).toBe('FixedSizeList[6]<Float32>');
    expect(table.schema.fields[0]?.metadata.get('lance-loader:shape')).toBe('[2,3]');
    expect(Array.from(table.getChild('tensor')?.get(5) as Iterable<number>)).toEqual([106, 107, 108, 109, 110, 111]);
  });

  it('turns each array of an .npz into a column', async () => {
    const path = fresh('arrays.npz');
    const ids = BigInt64Array.from([7n, 8n, 9n]);
    const x = Float64Array.from([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    fs.writeFileSync(path, zipSync({ 'id.npy': npy('<i8', [3], ids), 'x.npy': npy('<f8', [3, 2], x) }));
    const out = fresh('arrays.lance');
    await convertToLance('npy', [path], out);
    const rows = (await oracleScan(out)).toArray().map((r) => ({ id: r.id, x: Array.from(r.x as Iterable<number>) }));
    expect(rows).toEqual([
      { id: 7n, x: [0.5, 1.5] },
      { id: 8n, x: [2.5, 3.5] },
      { id: 9n, x: [4.5, 5.5] },
    ]);
  });

  it('keeps the ids of an indexed batch-file directory as an id column', async () => {
    const dir = fresh('store');
    const ids = BigInt64Array.from([50n, 10n, 40n, 20n, 30n, 60n, 70n]);
    const values = Float32Array.from({ length: 7 * 4 }, (_, i) => i);
    await writeNpyBatchFiles(dir, ids, values, 4, 3);
    const out = fresh('store.lance');
    expect(await convertToLance('npy', [dir], out, { column: 'tensor' })).toMatchObject({ rows: 7, files: 1 });
    const table = await oracleScan(out);
    expect(table.schema.fields.map((f) => `${f.name}: ${String(f.type)}`)).toEqual([
      'id: Int64',
      'tensor: FixedSizeList[4]<Float32>',
    ]);
    const byId = new Map(table.toArray().map((r) => [r.id as bigint, Array.from(r.tensor as Iterable<number>)]));
    ids.forEach((id, i) => expect(byId.get(id)).toEqual(Array.from(values.subarray(i * 4, i * 4 + 4))));
  });

  it('keeps every file of a directory larger than the memory it is read into', async () => {
    const dir = fresh('large');
    const dim = 131_072;
    const rows = 120; // 63 MB of files, read into memory the writer gives back as it writes
    const values = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) values.fill(r, r * dim, (r + 1) * dim);
    await writeNpyBatchFiles(
      dir,
      BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)),
      values,
      dim,
      1,
    );
    const out = fresh('large.lance');
    await convertToLance('npy', [dir], out, { column: 'tensor', progress: false });
    const table = await oracleScan(out);
    expect(table.numRows).toBe(rows);
    for (let r = 0; r < rows; r++) {
      const row = table.get(r)?.toJSON() as { id: bigint; tensor: arrow.Vector };
      const tensor = row.tensor.toArray() as Float32Array;
      expect(
        tensor.findIndex((v) => v !== Number(row.id)),
        `row ${r} (id ${row.id})`,
      ).toBe(-1);
    }
  });

  it('refuses a truncated .npy, naming the file', async () => {
    const path = fresh('short.npy');
    fs.writeFileSync(path, npy('<f4', [10, 4], new Float32Array(40)).subarray(0, 150));
    const error = await rejection(convertToLance('npy', [path], fresh('short.lance')));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(error.message).toContain(`${path}: holds 22 data bytes, its shape needs 160`);
  });

  it('refuses an input it cannot read with an IoError naming it, writing nothing', async () => {
    const dir = fresh('unreadable');
    fs.mkdirSync(join(dir, 'b.npy'), { recursive: true });
    fs.writeFileSync(join(dir, 'a.npy'), npy('<f4', [2], Float32Array.from([1, 2])));
    const out = fresh('unreadable.lance');
    const error = await rejection(convertToLance('npy', [dir], out, { progress: false }));
    expect(error).toMatchObject({ code: 'IO_ERROR', details: { path: join(dir, 'b.npy'), code: 'EISDIR' } });
    expect(error.message).toContain('reading the input file failed');
    expect(fs.existsSync(join(out, '_versions'))).toBe(false);
  });

  it('refuses files whose arrays differ from the first', async () => {
    const dir = fresh('mixed');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'a.npy'), npy('<f4', [2, 3], new Float32Array(6)));
    fs.writeFileSync(join(dir, 'b.npy'), npy('<f4', [2, 4], new Float32Array(8)));
    const error = await rejection(convertToLance('npy', [dir], fresh('mixed.lance')));
    expect(error.message).toContain('b.npy: its arrays (a: FixedSizeList[4]<Float32>) differ from the first file');
  });
});

describe('convertToLance jsonl and csv', () => {
  const jsonl = [
    '{"id": 1, "score": 0.5, "ok": true, "name": "a", "emb": [1, 2]}',
    '{"id": 2, "score": 1, "ok": false, "name": null, "emb": [3, 4]}',
    'not json',
    '{"id": "three", "score": 2, "ok": true, "name": "c", "emb": [5, 6]}',
    '',
    '{"id": 4, "score": 2.5, "ok": true, "name": "d", "emb": [7, 8]}',
  ].join('\n');

  it('infers the schema and skips bad lines, reporting their numbers', async () => {
    const path = fresh('rows.jsonl');
    fs.writeFileSync(path, jsonl);
    const out = fresh('rows.lance');
    const result = await convertToLance('jsonl', [path], out, { onError: 'skip' });
    expect(result.skipped).toEqual([
      { line: 3, reason: 'not JSON: Unexpected token \'o\', "not json" is not valid JSON' },
      { line: 4, reason: 'column "id" has "three", which is not Int64' },
    ]);
    const schema = await oracleSchema(out);
    expect(schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? '?' : ''}`)).toEqual([
      'id: Int64',
      'score: Float64',
      'ok: Bool',
      'name: Utf8?',
      'emb: FixedSizeList[2]<Float32>',
    ]);
    expect((await oracleScan(out)).getChild('id')?.toArray()).toEqual(BigInt64Array.from([1n, 2n, 4n]));
  });

  it('fails at the first bad line by default, writing nothing', async () => {
    const path = fresh('rows.jsonl');
    fs.writeFileSync(path, jsonl);
    const out = fresh('rows.lance');
    const error = await rejection(convertToLance('jsonl', [path], out));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { line: 3 } });
    expect(error.message).toContain(`${path}:3: not JSON`);
    expect(fs.existsSync(join(out, '_versions'))).toBe(false);
  });

  it('reads CSV with a header, typing numbers, booleans and empty fields', async () => {
    const path = fresh('rows.csv');
    fs.writeFileSync(path, 'id,weight,label\n1,2.5,cat\n2,,dog\n3,4,\n4,1,bird,extra\n');
    const out = fresh('csv.lance');
    const result = await convertToLance('csv', [path], out, { onError: 'skip' });
    expect(result.skipped).toEqual([{ line: 5, reason: "does not have the header's 3 fields" }]);
    const rows = (await oracleScan(out)).toArray().map((r) => r.toJSON());
    expect(rows).toEqual([
      { id: 1n, weight: 2.5, label: 'cat' },
      { id: 2n, weight: null, label: 'dog' },
      { id: 3n, weight: 4, label: null },
    ]);
  });
});

describe('convertToLance images', () => {
  it('writes one row per image with its class as label', async () => {
    const dir = fresh('images');
    const files: Record<string, Uint8Array> = {
      'cat/1.jpg': Uint8Array.from([0xff, 0xd8, 1, 2, 0xff, 0xd9]),
      'cat/2.JPG': Uint8Array.from([0xff, 0xd8, 3, 0xff, 0xd9]),
      'dog/a.png': Uint8Array.from([0x89, 0x50, 0x4e, 0x47]),
      'dog/notes.txt': Uint8Array.from([1]),
    };
    for (const [name, bytes] of Object.entries(files)) {
      fs.mkdirSync(join(dir, name, '..'), { recursive: true });
      fs.writeFileSync(join(dir, name), bytes);
    }
    const out = fresh('images.lance');
    expect((await convertToLance('images', [dir], out)).rows).toBe(3);
    const rows = (await oracleScan(out))
      .toArray()
      .map((r) => ({ ...r.toJSON(), image: Array.from(r.image as Uint8Array) }));
    expect(rows).toEqual([
      { id: 0n, label: 0, label_name: 'cat', path: 'cat/1.jpg', image: Array.from(files['cat/1.jpg'] as Uint8Array) },
      { id: 1n, label: 0, label_name: 'cat', path: 'cat/2.JPG', image: Array.from(files['cat/2.JPG'] as Uint8Array) },
      { id: 2n, label: 1, label_name: 'dog', path: 'dog/a.png', image: Array.from(files['dog/a.png'] as Uint8Array) },
    ]);
  });

  it('refuses a folder without class sub-directories of images', async () => {
    const dir = fresh('flat');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'x.jpg'), new Uint8Array(1));
    const error = await rejection(convertToLance('images', [dir], fresh('flat.lance')));
    expect(error.message).toContain('no images in class sub-directories');
  });
});

describe('lance-loader convert', () => {
  function io(): { out: string[]; err: string[]; stdout(t: string): void; stderr(t: string): void } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  }

  it('converts a JSONL file and prints what it wrote and skipped', async () => {
    const path = fresh('cli.jsonl');
    fs.writeFileSync(path, '{"a": 1}\n{"a": \n{"a": 3}\n');
    const out = fresh('cli.lance');
    const streams = io();
    expect(await main(['convert', 'jsonl', path, out, '--on-error', 'skip'], streams)).toBe(0);
    expect(streams.out.join('')).toBe(`${out}: version 1, 2 rows in 1 data file(s), 1 record(s) skipped\n`);
    expect(streams.err.join('')).toContain('lance-loader: skipped line 2: not JSON');
  });

  it('exits 2 on an unknown format', async () => {
    const streams = io();
    expect(await main(['convert', 'parquet', 'a', 'b.lance'], streams)).toBe(2);
    expect(streams.err.join('')).toContain('convert: unknown format "parquet" (npy, jsonl, csv or images)');
  });

  it('exits 1 with the message when the output exists', async () => {
    const path = fresh('cli2.jsonl');
    fs.writeFileSync(path, '{"a": 1}\n');
    const out = fresh('cli2.lance');
    expect(await main(['convert', 'jsonl', path, out], io())).toBe(0);
    const streams = io();
    expect(await main(['convert', 'jsonl', path, out], streams)).toBe(1);
    expect(streams.err.join('')).toContain(
      "a dataset already exists here (version 1); pass mode 'append' or 'overwrite'",
    );
  });
});

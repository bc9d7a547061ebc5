import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { Field, RecordBatch, Schema, Struct, Table, Uint32, makeData, tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, LanceLoaderError } from '../../errors.js';
import { parseDeletionFile } from '../../format/deletion.js';
import { caught } from '../caught.js';

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Little-endian byte builder for hand-made roaring bitmaps. */
class Bytes {
  private readonly parts: number[] = [];
  u16(value: number): this {
    this.parts.push(value & 0xff, (value >>> 8) & 0xff);
    return this;
  }
  u32(value: number): this {
    return this.u16(value & 0xffff).u16(value >>> 16);
  }
  u8(value: number): this {
    this.parts.push(value & 0xff);
    return this;
  }
  /** A bitmap container: 1024 u64 words with bit `v` set for each value v. */
  bitmap(values: Iterable<number>): this {
    const words = new Uint8Array(8192);
    for (const v of values) words[v >>> 3] = (words[v >>> 3] ?? 0) | (1 << (v & 7));
    this.parts.push(...words);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function range(start: number, end: number, step = 1): number[] {
  const out: number[] = [];
  for (let v = start; v < end; v += step) out.push(v);
  return out;
}

function expectCorrupt(run: () => unknown, message: RegExp | string): void {
  const error = caught(run);
  expect(error).toBeInstanceOf(CorruptFileError);
  expect(error.code).toBe('CORRUPT_FILE');
  expect(error.message).toMatch(message);
}

/** Parses and either succeeds or throws one of our typed errors; anything else fails the test. */
function parsesOrThrowsTyped(bytes: Uint8Array, kind: 'arrow' | 'bitmap'): void {
  try {
    parseDeletionFile(bytes, kind, 'fuzzed');
  } catch (error) {
    if (!(error instanceof LanceLoaderError)) throw error;
    expect(['CORRUPT_FILE', 'UNSUPPORTED']).toContain(error.code);
  }
}

// ---------------------------------------------------------------------------------------------------
// Deletion files written by LanceDB

interface Written {
  /** Deletion file paths keyed by fragment id. */
  files: Map<number, string>;
}

let dir = '';
const written = new Map<string, Written>();

/** One-fragment-per-`add` table with `id` = global row index, then one delete. */
async function writeTable(
  db: lancedb.Connection,
  name: string,
  fragmentRows: number[],
  predicate: string,
): Promise<void> {
  let start = 0;
  let table: lancedb.Table | undefined;
  for (const rows of fragmentRows) {
    const data = tableFromArrays({ id: Int32Array.from(range(start, start + rows)) });
    if (table === undefined) {
      table = await db.createTable(name, data, { storageOptions: { new_table_data_storage_version: '2.1' } });
    } else {
      await table.add(data);
    }
    start += rows;
  }
  if (table === undefined) throw new Error('no fragments');
  await table.delete(predicate);
  const deletions = path.join(dir, `${name}.lance`, '_deletions');
  const files = new Map<number, string>();
  for (const file of fs.readdirSync(deletions)) files.set(Number(file.split('-')[0]), path.join(deletions, file));
  written.set(name, { files });
}

function deletionFile(table: string, fragment = 0): { bytes: Uint8Array; kind: 'arrow' | 'bitmap'; file: string } {
  const file = written.get(table)?.files.get(fragment);
  if (file === undefined) throw new Error(`no deletion file for ${table} fragment ${fragment}`);
  const kind = file.endsWith('.arrow') ? 'arrow' : 'bitmap';
  return { bytes: new Uint8Array(fs.readFileSync(file)), kind, file };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lldel-'));
  const db = await lancedb.connect(dir);
  await writeTable(db, 'arrow', [10_000], 'id % 7 = 3');
  await writeTable(db, 'tiny', [100], 'id = 42 OR id = 7');
  await writeTable(db, 'bitmap', [50_000], 'id % 5 < 2');
  // key 0: every even offset (bitmap container); keys 1 and 2: multiples of 100 (array containers).
  await writeTable(db, 'mixed', [150_000], '(id < 65536 AND id % 2 = 0) OR (id >= 65536 AND id % 100 = 0)');
  await writeTable(db, 'multi', [1000, 2000], 'id % 3 = 0');
});

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('parseDeletionFile on files written by LanceDB', () => {
  it('reads a zstd-compressed Arrow file (fewer than 5000 deletions) into sorted offsets', () => {
    const { bytes, kind } = deletionFile('arrow');
    expect(kind).toBe('arrow');
    expect(Array.from(parseDeletionFile(bytes, kind, 'arrow'))).toEqual(range(3, 10_000, 7));
  });

  it('reads an Arrow file whose buffers are stored raw (uncompressed length -1)', () => {
    const { bytes, kind } = deletionFile('tiny');
    expect(kind).toBe('arrow');
    expect(Array.from(parseDeletionFile(bytes, kind, 'tiny'))).toEqual([7, 42]);
  });

  it('reads a roaring .bin file (5000 or more deletions) into sorted offsets', () => {
    const { bytes, kind } = deletionFile('bitmap');
    expect(kind).toBe('bitmap');
    const expected = range(0, 50_000).filter((i) => i % 5 < 2);
    expect(Array.from(parseDeletionFile(bytes, kind, 'bitmap'))).toEqual(expected);
  });

  it('reads a roaring file with several containers of both array and bitmap kind', () => {
    const { bytes, kind } = deletionFile('mixed');
    expect(kind).toBe('bitmap');
    const expected = [...range(0, 65_536, 2), ...range(65_600, 150_000, 100)];
    expect(Array.from(parseDeletionFile(bytes, kind, 'mixed'))).toEqual(expected);
  });

  it('returns offsets relative to each fragment', () => {
    const first = deletionFile('multi', 0);
    const second = deletionFile('multi', 1);
    expect(Array.from(parseDeletionFile(first.bytes, first.kind, 'multi-0'))).toEqual(range(0, 1000, 3));
    // Global ids 1000..2999 are offsets 0..1999 of fragment 1; id % 3 = 0 starts at id 1002 = offset 2.
    expect(Array.from(parseDeletionFile(second.bytes, second.kind, 'multi-1'))).toEqual(range(2, 2000, 3));
  });

  it('accepts offsets below physicalRows and rejects an offset at or past it', () => {
    const { bytes, kind } = deletionFile('arrow');
    expect(parseDeletionFile(bytes, kind, 'arrow', 10_000).length).toBe(1429);
    // The largest deleted offset is 9999 (= 3 + 7 × 1428).
    expectCorrupt(
      () => parseDeletionFile(bytes, kind, 'arrow.arrow', 9_999),
      /arrow\.arrow: deletes row offset 9999 but the fragment has only 9999 physical rows/,
    );
  });

  it('rejects more deletions than physicalRows before decoding them', () => {
    const { bytes, kind } = deletionFile('bitmap');
    expectCorrupt(
      () => parseDeletionFile(bytes, kind, 'b.bin', 100),
      /b\.bin: deletion file lists 20000 row offsets, more than the fragment's 100 physical rows/,
    );
    const arrow = deletionFile('arrow');
    expectCorrupt(
      () => parseDeletionFile(arrow.bytes, arrow.kind, 'a.arrow', 100),
      /more row offsets than the fragment's 100 physical rows/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Hand-built roaring bitmaps (RoaringFormatSpec, 32-bit portable)

describe('roaring bitmaps built by hand', () => {
  it('reads an array container after cookie 12346', () => {
    const bytes = new Bytes()
      .u32(12346) // cookie: no run containers
      .u32(1) // container count
      .u16(0)
      .u16(2) // container 0: key 0, cardinality - 1 = 2
      .u32(16) // offset of container 0: 8 (cookie + count) + 4 (description) + 4 (offset)
      .u16(1)
      .u16(5)
      .u16(65535) // array container: sorted u16 low bits
      .build();
    expect(Array.from(parseDeletionFile(bytes, 'bitmap', 'a.bin'))).toEqual([1, 5, 65535]);
  });

  it('reads an empty bitmap (zero containers)', () => {
    const bytes = new Bytes().u32(12346).u32(0).build(); // cookie, count 0
    expect(Array.from(parseDeletionFile(bytes, 'bitmap', 'e.bin'))).toEqual([]);
  });

  it('reads array and bitmap containers under different keys after cookie 12346', () => {
    const bitmapValues = range(0, 5000).map((i) => i * 13); // 5000 > 4096 values: a bitmap container
    const bytes = new Bytes()
      .u32(12346) // cookie
      .u32(2) // container count
      .u16(1)
      .u16(1) // container 0: key 1, 2 values
      .u16(3)
      .u16(4999) // container 1: key 3, 5000 values
      .u32(24) // offset 0: 8 + 2 × 4 (descriptions) + 2 × 4 (offsets)
      .u32(28) // offset 1: 24 + 2 × 2 bytes of array
      .u16(0)
      .u16(7) // container 0 (array): 65536 + 0, 65536 + 7
      .bitmap(bitmapValues) // container 1 (bitmap): 8192 bytes
      .build();
    const expected = [65536, 65543, ...bitmapValues.map((v) => 3 * 65536 + v)];
    expect(Array.from(parseDeletionFile(bytes, 'bitmap', 'ab.bin'))).toEqual(expected);
  });

  it('reads run containers after cookie 12347 with fewer than 4 containers (no offset header)', () => {
    const bytes = new Bytes()
      .u32(12347 | ((2 - 1) << 16)) // cookie 12347, count - 1 = 1 in the high 16 bits
      .u8(0b01) // run flags: container 0 is a run container, container 1 is not
      .u16(0)
      .u16(3) // container 0: key 0, 4 values
      .u16(2)
      .u16(0) // container 1: key 2, 1 value
      // no offsets: run cookie with count < 4
      .u16(2) // container 0 (run): 2 runs
      .u16(10)
      .u16(2) // run: start 10, length - 1 = 2 → 10, 11, 12
      .u16(100)
      .u16(0) // run: start 100, length - 1 = 0 → 100
      .u16(9) // container 1 (array): 2 × 65536 + 9
      .build();
    expect(Array.from(parseDeletionFile(bytes, 'bitmap', 'r.bin'))).toEqual([10, 11, 12, 100, 131081]);
  });

  it('reads run, array and bitmap containers after cookie 12347 with 4 containers (offset header present)', () => {
    const b = new Bytes()
      .u32(12347 | ((4 - 1) << 16)) // cookie 12347, count - 1 = 3
      .u8(0b1001) // run flags: containers 0 and 3 are runs
      .u16(0)
      .u16(1) // container 0: key 0, 2 values
      .u16(1)
      .u16(0) // container 1: key 1, 1 value
      .u16(2)
      .u16(4999) // container 2: key 2, 5000 values
      .u16(4)
      .u16(65535); // container 3: key 4, 65536 values (cardinality - 1 = 65535)
    const headerEnd = b.length + 4 * 4; // 4 + 1 + 16 + 16 = 37
    b.u32(headerEnd) // offset 0: run container, 2 + 4 bytes
      .u32(headerEnd + 6) // offset 1: array container, 2 bytes
      .u32(headerEnd + 8) // offset 2: bitmap container, 8192 bytes
      .u32(headerEnd + 8 + 8192) // offset 3: run container
      .u16(1)
      .u16(65534)
      .u16(1) // container 0: 1 run, 65534..65535
      .u16(42) // container 1: 65536 + 42
      .bitmap(range(0, 5000)) // container 2: 2 × 65536 + 0..4999
      .u16(1)
      .u16(0)
      .u16(65535); // container 3: 1 run covering the whole key
    const expected = [65534, 65535, 65536 + 42, ...range(2 * 65536, 2 * 65536 + 5000), ...range(4 * 65536, 5 * 65536)];
    expect(Array.from(parseDeletionFile(b.build(), 'bitmap', 'all.bin'))).toEqual(expected);
  });
});

describe('corrupt roaring bitmaps', () => {
  it('rejects an unknown cookie', () => {
    expectCorrupt(
      () => parseDeletionFile(new Bytes().u32(12345).u32(0).build(), 'bitmap', 'x.bin'),
      /x\.bin: roaring bitmap has unknown cookie 12345/,
    );
  });

  it('rejects a file too short for its cookie', () => {
    expectCorrupt(
      () => parseDeletionFile(new Uint8Array([0x3a, 0x30]), 'bitmap', 'x.bin'),
      /is 2 bytes, too short for its 4-byte cookie/,
    );
  });

  it('rejects an absurd container count', () => {
    const bytes = new Bytes().u32(12346).u32(0xffffffff).build();
    expectCorrupt(
      () => parseDeletionFile(bytes, 'bitmap', 'x.bin'),
      /declares 4294967295 containers, more than the 65536/,
    );
  });

  it('rejects a container count the bytes cannot hold', () => {
    expectCorrupt(
      () => parseDeletionFile(new Bytes().u32(12346).u32(1000).build(), 'bitmap', 'x.bin'),
      /header for 1000 containers needs 8008 bytes but the file is 8 bytes/,
    );
    // run cookie declaring 65536 containers in 4 bytes
    expectCorrupt(
      () => parseDeletionFile(new Bytes().u32(12347 | (0xffff << 16)).build(), 'bitmap', 'x.bin'),
      /header for 65536 containers/,
    );
  });

  it('rejects a truncated LanceDB-written file', () => {
    const { bytes } = deletionFile('bitmap');
    expectCorrupt(
      () => parseDeletionFile(bytes.subarray(0, bytes.length - 1), 'bitmap', 'b.bin'),
      /container 0 \(8192 bytes at byte 16\) runs past the end of the file \(8207 bytes\)/,
    );
  });

  it('rejects trailing bytes after the last container', () => {
    const bytes = new Bytes().u32(12346).u32(1).u16(0).u16(0).u32(16).u16(3).u16(0xbeef).build();
    expectCorrupt(() => parseDeletionFile(bytes, 'bitmap', 'x.bin'), /ends at byte 18 but the file has 2 more bytes/);
  });

  it('rejects an offset header that disagrees with the container positions', () => {
    const bytes = new Bytes().u32(12346).u32(1).u16(0).u16(0).u32(20).u16(3).build();
    expectCorrupt(
      () => parseDeletionFile(bytes, 'bitmap', 'x.bin'),
      /offset header says container 0 starts at byte 20, but it starts at byte 16/,
    );
  });

  it('rejects container keys that do not increase', () => {
    const bytes = new Bytes().u32(12346).u32(2).u16(5).u16(0).u16(5).u16(0).u32(24).u32(26).u16(1).u16(2).build();
    expectCorrupt(
      () => parseDeletionFile(bytes, 'bitmap', 'x.bin'),
      /container keys are not strictly increasing \(container 1 has key 5 after 5\)/,
    );
  });

  it('rejects an array container that is not strictly increasing', () => {
    const bytes = new Bytes().u32(12346).u32(1).u16(0).u16(1).u32(16).u16(9).u16(9).build();
    expectCorrupt(
      () => parseDeletionFile(bytes, 'bitmap', 'x.bin'),
      /array container 0 at byte 16 is not strictly increasing at value 1/,
    );
  });

  it('rejects a bitmap container whose popcount differs from its cardinality', () => {
    const bytes = new Bytes().u32(12346).u32(1).u16(0).u16(4999).u32(16).bitmap(range(0, 4998)).build();
    expectCorrupt(
      () => parseDeletionFile(bytes, 'bitmap', 'x.bin'),
      /container 0 at byte 16 declares 5000 values but holds 4998/,
    );
    const extra = new Bytes().u32(12346).u32(1).u16(0).u16(4999).u32(16).bitmap(range(0, 5001)).build();
    expectCorrupt(() => parseDeletionFile(extra, 'bitmap', 'x.bin'), /declares 5000 values but holds more/);
  });

  it('rejects overlapping runs, runs past 65535, zero runs and a wrong run cardinality', () => {
    const run = (cardinalityMinus1: number, runs: Array<[number, number]>) => {
      const b = new Bytes().u32(12347).u8(1).u16(0).u16(cardinalityMinus1).u16(runs.length);
      for (const [start, lengthMinus1] of runs) b.u16(start).u16(lengthMinus1);
      return b.build();
    };
    expectCorrupt(
      () =>
        parseDeletionFile(
          run(5, [
            [10, 2],
            [12, 2],
          ]),
          'bitmap',
          'x.bin',
        ),
      /run 1 of container 0 at byte 9 starts at 12, not after the previous run's end 12/,
    );
    expectCorrupt(() => parseDeletionFile(run(1, [[65535, 1]]), 'bitmap', 'x.bin'), /goes past 65535/);
    expectCorrupt(() => parseDeletionFile(run(0, []), 'bitmap', 'x.bin'), /run container 0 at byte 9 has zero runs/);
    expectCorrupt(() => parseDeletionFile(run(9, [[0, 3]]), 'bitmap', 'x.bin'), /declares 10 values but holds 4/);
    expectCorrupt(() => parseDeletionFile(run(1, [[0, 3]]), 'bitmap', 'x.bin'), /declares 2 values but holds more/);
  });

  it('bounds the values of run containers before allocating', () => {
    // One full run container per key: 16 Mi values from a few hundred bytes.
    const count = 256;
    const b = new Bytes().u32(12347 | ((count - 1) << 16));
    for (let i = 0; i < count / 8; i++) b.u8(0xff); // every container is a run
    for (let k = 0; k < count; k++) b.u16(k).u16(65535);
    const headerEnd = b.length + 4 * count;
    for (let k = 0; k < count; k++) b.u32(headerEnd + 6 * k);
    for (let k = 0; k < count; k++) b.u16(1).u16(0).u16(65535);
    expectCorrupt(
      () => parseDeletionFile(b.build(), 'bitmap', 'bomb.bin', 1_000_000),
      /lists 16777216 row offsets, more than the fragment's 1000000 physical rows/,
    );
  });

  it('never throws anything but a typed error on flipped bytes', () => {
    const { bytes } = deletionFile('mixed');
    for (let i = 0; i < 64; i++) {
      const copy = bytes.slice();
      copy[i] = (copy[i] ?? 0) ^ 0xff;
      parsesOrThrowsTyped(copy, 'bitmap');
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Arrow IPC files without compression (apache-arrow JS writer), and corrupt Arrow files

function rowIdIpc(batches: number[][], field = new Field('row_id', new Uint32(), false)): Uint8Array {
  const schema = new Schema([field]);
  const records = batches.map(
    (values) =>
      new RecordBatch(
        schema,
        makeData({
          type: new Struct(schema.fields),
          length: values.length,
          nullCount: 0,
          children: [
            makeData({ type: new Uint32(), length: values.length, nullCount: 0, data: Uint32Array.from(values) }),
          ],
        }),
      ),
  );
  return tableToIPC(new Table(schema, records), 'file');
}

describe('Arrow deletion files', () => {
  it('reads an uncompressed Arrow IPC file with several record batches, sorting and de-duplicating', () => {
    const bytes = rowIdIpc([[9, 3, 7], [], [3, 1, 100]]);
    expect(Array.from(parseDeletionFile(bytes, 'arrow', 'u.arrow'))).toEqual([1, 3, 7, 9, 100]);
  });

  it('reads an Arrow file with no record batches as no deletions', () => {
    expect(Array.from(parseDeletionFile(rowIdIpc([]), 'arrow', 'u.arrow'))).toEqual([]);
  });

  it('rejects a schema other than one non-nullable UInt32 row_id', () => {
    expectCorrupt(
      () => parseDeletionFile(rowIdIpc([[1]], new Field('row_id', new Uint32(), true)), 'arrow', 'n.arrow'),
      /n\.arrow: Arrow deletion file schema is not one non-nullable UInt32 field "row_id"/,
    );
    expectCorrupt(
      () => parseDeletionFile(rowIdIpc([[1]], new Field('other', new Uint32(), false)), 'arrow', 'n.arrow'),
      /first "other"/,
    );
    const floats = tableToIPC(tableFromArrays({ row_id: Float32Array.from([1]) }), 'file');
    expectCorrupt(() => parseDeletionFile(floats, 'arrow', 'f.arrow'), /schema is not one non-nullable UInt32/);
  });

  it('rejects bad magic', () => {
    const { bytes } = deletionFile('arrow');
    const copy = bytes.slice();
    copy[0] = 0x58;
    expectCorrupt(
      () => parseDeletionFile(copy, 'arrow', 'bad.arrow'),
      new RegExp(
        String.raw`bad\.arrow: Arrow deletion file is not an Arrow IPC file \(no "ARROW1" magic at both ends; ${copy.length} bytes\)`,
      ),
    );
    expectCorrupt(() => parseDeletionFile(new Uint8Array(4), 'arrow', 'bad.arrow'), /is not an Arrow IPC file/);
  });

  it('rejects a truncated file', () => {
    const { bytes } = deletionFile('arrow');
    expectCorrupt(
      () => parseDeletionFile(bytes.subarray(0, bytes.length - 100), 'arrow', 't.arrow'),
      /is not an Arrow IPC file/,
    );
  });

  it('rejects an absurd footer length', () => {
    const { bytes } = deletionFile('arrow');
    const copy = bytes.slice();
    new DataView(copy.buffer).setInt32(copy.length - 10, 0x7fffffff, true);
    expectCorrupt(
      () => parseDeletionFile(copy, 'arrow', 'f.arrow'),
      `footer length 2147483647 does not fit in ${copy.length} bytes`,
    );
  });

  it('rejects a damaged zstd buffer', () => {
    const { bytes } = deletionFile('arrow');
    // The second zstd frame (magic 28 b5 2f fd) is the values buffer; damage its content size.
    let frames = 0;
    let at = -1;
    for (let i = 0; i + 4 <= bytes.length; i++) {
      if (
        bytes[i] === 0x28 &&
        bytes[i + 1] === 0xb5 &&
        bytes[i + 2] === 0x2f &&
        bytes[i + 3] === 0xfd &&
        ++frames === 2
      ) {
        at = i;
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    const copy = bytes.slice();
    copy[at + 5] = (copy[at + 5] ?? 0) ^ 0x01;
    expectCorrupt(
      () => parseDeletionFile(copy, 'arrow', 'z.arrow'),
      /z\.arrow: Arrow deletion file record batch 0 values buffer at byte \d+ holds a zstd frame of \d+ bytes, not the declared 5716/,
    );
    const garbage = bytes.slice();
    garbage.fill(0x55, at + 8, at + 40);
    expectCorrupt(
      () => parseDeletionFile(garbage, 'arrow', 'z.arrow'),
      /zstd block at byte \d+ has size \d+, more than 131072 \(z\.arrow: Arrow deletion file record batch 0 values buffer at byte \d+\)/,
    );
  });

  it('never throws anything but a typed error on flipped bytes', () => {
    const { bytes } = deletionFile('arrow');
    for (let i = 0; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i] = (copy[i] ?? 0) ^ 0xff;
      parsesOrThrowsTyped(copy, 'arrow');
    }
  });
});

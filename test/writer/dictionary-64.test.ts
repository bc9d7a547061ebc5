/**
 * How a file version 2.2 page's dictionary of 64-bit values (ints, floats, dates, timestamps, and 8-byte
 * fixed-size binaries, which LanceDB treats alike) is compressed, against LanceDB 0.39 on the same pages:
 * bit-packed as one block when that shrinks it (InlineBitpacking up to 1024 items, OutOfLineBitpacking at
 * the widest width above), lz4 otherwise. A matrix of types, distinct counts (2 to 3000 of 10,000 rows)
 * and value widths (4 to 64 bits, negative values, floats), with and without nulls, in one table: the
 * same layout for every column, the same bytes for every bit-packed dictionary, and every value read back
 * by LanceDB and lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFile } from '../../index.js';
import { fetchFileMetadata } from '../../io/open-file.js';
import { FileSource } from '../../io/source.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { hex, scanOurs, writeSideBySide, type ColumnLayout, type SideBySide } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-dictionary-64-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ROWS = 10_000;
const DISTINCT = [2, 16, 100, 500, 816, 817, 1000, 1024, 1025, 1500, 3000];
const WIDTHS = [4, 12, 20, 40, 51, 63];

/** The distinct value row `i` holds: every one of `distinct` appears, in a scattered order. */
const itemOf = (i: number, distinct: number): number => (i * 7919 + 13) % distinct;

/** Item `k` of `distinct` spread over [0, 2^width): the largest is 2^width − 1, so the items need `width` bits. */
const spread = (k: number, distinct: number, width: number): bigint =>
  (BigInt(k) * (2n ** BigInt(width) - 1n)) / BigInt(distinct - 1);

const int64 = (value: (i: number) => bigint): arrow.Vector =>
  arrow.makeVector(BigInt64Array.from({ length: ROWS }, (_, i) => value(i)));

/** Items 1 … distinct − 1 first, then 0: the dictionary's last block holds only zeros when distinct = 1025. */
const zeroLast = (distinct: number): arrow.Vector =>
  int64((i) => BigInt(i < distinct ? (i + 1) % distinct : itemOf(i, distinct)));

function matrixTable(): arrow.Table {
  const columns: Record<string, arrow.Vector> = {};
  for (const d of DISTINCT) {
    for (const w of WIDTHS.filter((w) => 2 ** w >= d))
      columns[`i64_w${w}_d${d}`] = int64((i) => spread(itemOf(i, d), d, w));
    for (const w of [12, 40]) {
      columns[`u64_w${w}_d${d}`] = arrow.makeVector(
        BigUint64Array.from({ length: ROWS }, (_, i) => spread(itemOf(i, d), d, w)),
      );
      columns[`nulls_w${w}_d${d}`] = arrow.vectorFromArray(
        Array.from({ length: ROWS }, (_, i) => (i % 10 === 3 ? null : spread(itemOf(i, d), d, w))),
        new arrow.Int64(),
      );
    }
    columns[`u64_top_d${d}`] = arrow.makeVector(
      BigUint64Array.from({ length: ROWS }, (_, i) => 2n ** 63n + BigInt(itemOf(i, d))),
    );
    columns[`neg_d${d}`] = int64((i) => -BigInt(itemOf(i, d)) - 1n);
    columns[`f64_int_d${d}`] = arrow.makeVector(Float64Array.from({ length: ROWS }, (_, i) => itemOf(i, d)));
    columns[`f64_frac_d${d}`] = arrow.makeVector(Float64Array.from({ length: ROWS }, (_, i) => itemOf(i, d) + 0.25));
    columns[`ts_d${d}`] = arrow.vectorFromArray(
      Array.from({ length: ROWS }, (_, i) => 1.7e12 + itemOf(i, d) * 3.6e6),
      new arrow.TimestampMicrosecond(),
    );
    const fsb = new BigUint64Array(Array.from({ length: ROWS }, (_, i) => BigInt(itemOf(i, d) * 3)));
    columns[`fsb8_d${d}`] = arrow.makeVector(
      arrow.makeData({ type: new arrow.FixedSizeBinary(8), length: ROWS, data: new Uint8Array(fsb.buffer) }),
    );
    columns[`date64_d${d}`] = arrow.vectorFromArray(
      Array.from({ length: ROWS }, (_, i) => new Date(1.7e12 + itemOf(i, d) * 86_400_000)),
      new arrow.DateMillisecond(),
    );
  }
  columns['zero_last_1024'] = zeroLast(1024);
  columns['zero_last_1025'] = zeroLast(1025);
  columns['zero_last_2049'] = zeroLast(2049);
  return new arrow.Table(columns);
}

/** The dictionary's encoding in a page layout description (up to its closing `;` or `}`), or 'none'. */
function dictionaryOf(column: ColumnLayout | undefined): string {
  const layout = column?.layout ?? '';
  const start = layout.indexOf('dict=');
  if (start < 0) return 'none';
  let depth = 0;
  let end = start + 'dict='.length;
  for (; end < layout.length; end++) {
    const c = layout[end];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && (c === ';' || c === '}')) break;
  }
  return layout.slice(start + 'dict='.length, end);
}

const dictionaries = (columns: Record<string, ColumnLayout>): Record<string, string> =>
  Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, dictionaryOf(c)]));

/** The dictionaries (a mini-block page's buffer 2) of each page of columns `names` of a one-file dataset, as hex. */
async function dictionaryBytes(dataset: string, names: readonly string[]): Promise<Record<string, (string | null)[]>> {
  const [name] = fs.readdirSync(join(dataset, 'data'));
  const path = join(dataset, 'data', name as string);
  const file = await openFile(path);
  let indexOf: Map<string | null, number>;
  try {
    indexOf = new Map(file.metadata().columns.map((c) => [c.field, c.index]));
  } finally {
    await file.close();
  }
  const source = await FileSource.open(path);
  try {
    const { columns } = await fetchFileMetadata(source);
    const bytes = fs.readFileSync(path);
    return Object.fromEntries(
      names.map((column) => {
        const pages = columns[indexOf.get(column) ?? -1]?.pages ?? [];
        const ranges = pages.map((page) => page.buffers[2]);
        return [column, ranges.map((r) => (r ? hex(bytes.subarray(r.offset, r.offset + r.size)) : null))];
      }),
    );
  } finally {
    await source.close();
  }
}

describe('64-bit dictionaries of a matrix of types, distinct counts and widths, written as file version 2.2', () => {
  const table = matrixTable();
  let written: SideBySide;
  let mine: Record<string, ColumnLayout>;
  let lance: Record<string, ColumnLayout>;

  beforeAll(async () => {
    written = await writeSideBySide(root, 'matrix', table, '2.2');
    ({ mine, lance } = written);
  });

  it('holds every way LanceDB compresses such a dictionary', () => {
    expect(new Set(Object.values(dictionaries(lance)))).toEqual(
      new Set([
        'none',
        'General(lz4,Flat(64b))',
        'InlineBitpacking(u64)',
        ...[11, 12, 13, 20, 40, 41, 51, 63, 64].map((w) => `OutOfLineBitpacking(u64,Flat(${w}b))`),
      ]),
    );
  });

  it('gives every column the layout LanceDB gives it', () => {
    const described = (columns: Record<string, ColumnLayout>): Record<string, string> =>
      Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, c.layout]));
    expect(described(mine)).toEqual(described(lance));
  });

  // lz4 dictionaries are left out: lance-loader's lz4 matches differ from liblz4's by a few bytes.
  it('writes every bit-packed dictionary in the bytes LanceDB writes', async () => {
    const packed = Object.keys(lance).filter((name) => dictionaryOf(lance[name]).includes('Bitpacking'));
    expect(packed.length).toBeGreaterThan(50);
    const theirs = await dictionaryBytes(written.theirs, packed);
    expect(Object.values(theirs).flat().includes(null)).toBe(false);
    expect(await dictionaryBytes(written.ours, packed)).toEqual(theirs);
  });

  it('is read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(written.ours), table, { label: 'LanceDB' });
  });

  it('is read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(written.ours), table, { label: 'lance-loader' });
  });

  it("reads LanceDB's bit-packed dictionaries value for value", async () => {
    expectTablesEqual(await scanOurs(written.theirs), table, { label: 'lance-loader on LanceDB' });
  });

  it.each([
    ['i64_w51_d816', 'General(lz4,Flat(64b))', 'one 1024-value block of 51 bits is no smaller than 816 items'],
    ['i64_w51_d817', 'InlineBitpacking(u64)', 'one block of 51 bits is smaller than 817 items'],
    ['i64_w4_d16', 'General(lz4,Flat(64b))', 'a block of 4 bits is larger than 16 items'],
    ['i64_w12_d1024', 'InlineBitpacking(u64)', 'up to 1024 items are packed inline'],
    ['i64_w12_d1025', 'OutOfLineBitpacking(u64,Flat(12b))', 'more than 1024 items are packed out of line'],
    ['neg_d1024', 'General(lz4,Flat(64b))', 'negative values take 64 bits'],
    ['neg_d1025', 'OutOfLineBitpacking(u64,Flat(64b))', 'more than 1024 items are packed even at 64 bits'],
    ['zero_last_1025', 'OutOfLineBitpacking(u64,Flat(11b))', 'a block of zeros is packed at the widest width'],
    ['f64_frac_d1500', 'OutOfLineBitpacking(u64,Flat(63b))', 'floats are packed by their bits'],
    ['ts_d3000', 'none', 'more than 0.3 × rows distinct values take no dictionary'],
  ])('compresses the dictionary of %s as %s: %s', (name, encoding) => {
    expect(dictionaryOf(mine[name])).toBe(encoding);
  });
});

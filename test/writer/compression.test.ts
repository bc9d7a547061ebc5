/**
 * The compressions the writer picks (dictionary, FSST, RLE, bit-packing, zstd/lz4 on request) against
 * the ones LanceDB 0.39 picks for the same table, both written as file version 2.1, then 2.2: same
 * encoding chain per column, sizes close to LanceDB's, and every value read back by LanceDB and by
 * lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, openDataset, writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { Rng } from '../fixtures/random.js';
import { layouts, type ColumnLayout } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-compression-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 20_000;
const rng = new Rng(0xc0de);
const random = (): number => rng.float();
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const WORDS = 'the of and to in is was for on that with as by at from his her it an be this which or are'.split(' ');
const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'black', 'white'];
const sentence = (words: number): string =>
  Array.from({ length: words }, () => pick(WORDS) + (random() < 0.3 ? String(Math.floor(random() * 1000)) : '')).join(
    ' ',
  );
const sentences = (words: () => number): string[] => Array.from({ length: N }, () => sentence(words()));
const short = (): number => 5 + Math.floor(random() * 15);
/** 2000 strings of 300–500 bytes: full-zip values (the other rows of their column are null). */
const longSentences = (): string[] => Array.from({ length: 2000 }, () => sentence(60 + Math.floor(random() * 20)));

function column(name: string, type: arrow.DataType, values: unknown[], metadata: Record<string, string> = {}) {
  return { field: new arrow.Field(name, type, true, new Map(Object.entries(metadata))), values };
}

const COLUMNS = [
  column(
    'color',
    new arrow.Utf8(),
    Array.from({ length: N }, () => pick(COLORS)),
  ),
  column(
    'color_nulls',
    new arrow.Utf8(),
    Array.from({ length: N }, (_, i) => (i % 7 === 0 ? null : pick(COLORS))),
  ),
  column(
    'large_color',
    new arrow.LargeUtf8(),
    Array.from({ length: N }, () => pick(COLORS)),
  ),
  column('text', new arrow.Utf8(), sentences(short)),
  column('long_text', new arrow.Utf8(), longSentences()),
  column('zstd_long', new arrow.Utf8(), longSentences(), { 'lance-encoding:compression': 'zstd' }),
  column('lz4_long', new arrow.Utf8(), longSentences(), { 'lance-encoding:compression': 'lz4' }),
  column(
    'runs',
    new arrow.Int32(),
    Array.from({ length: N }, (_, i) => Math.floor(i / 50) * 7919),
  ),
  column(
    'three_f64',
    new arrow.Float64(),
    Array.from({ length: N }, () => pick([0.5, 1.25, 3.75])),
  ),
  column(
    'sorted',
    new arrow.Int64(),
    Array.from({ length: N }, (_, i) => BigInt(i * 3 + 1_000_000)),
  ),
  column('zstd_text', new arrow.Utf8(), sentences(short), { 'lance-encoding:compression': 'zstd' }),
  column('zstd9_text', new arrow.Utf8(), sentences(short), {
    'lance-encoding:compression': 'zstd',
    'lance-encoding:compression-level': '9',
  }),
  column('lz4_text', new arrow.Utf8(), sentences(short), { 'lance-encoding:compression': 'lz4' }),
  column(
    'zstd_i32',
    new arrow.Int32(),
    Array.from({ length: N }, () => Math.floor(random() * 2 ** 31)),
    { 'lance-encoding:compression': 'zstd' },
  ),
  column(
    'lz4_f32',
    new arrow.Float32(),
    Array.from({ length: N }, () => random()),
    {
      'lance-encoding:compression': 'lz4',
    },
  ),
  column(
    'fsst_ids',
    new arrow.Utf8(),
    Array.from({ length: N }, () => `ab${Math.floor(random() * 1e6)}`),
    {
      'lance-encoding:compression': 'fsst',
    },
  ),
  column('none_text', new arrow.Utf8(), sentences(short), { 'lance-encoding:compression': 'none' }),
];

/** One table per row count (long_text has fewer rows), padded with nulls so every column has N rows. */
function table(): arrow.Table {
  const fields = COLUMNS.map((c) => c.field);
  const vectors = COLUMNS.map((c) =>
    arrow.vectorFromArray(
      c.values.length === N ? (c.values as never) : ([...c.values, ...Array(N - c.values.length).fill(null)] as never),
      c.field.type,
    ),
  );
  const data = arrow.makeData({
    type: new arrow.Struct(fields),
    length: N,
    nullCount: 0,
    children: vectors.map((v) => v.data[0] as arrow.Data),
  });
  return new arrow.Table([new arrow.RecordBatch(new arrow.Schema(fields), data)]);
}

/** Both writers' layouts of one table, per column, filled before the tests run. */
interface BothLayouts {
  mine: Record<string, ColumnLayout>;
  lance: Record<string, ColumnLayout>;
}

/**
 * Writes `written` with lance-loader and with LanceDB as file version `version` before the enclosing
 * describe's tests, adds the tests that LanceDB and lance-loader read ours back value for value, and
 * returns both writers' layouts.
 */
function writtenByBoth(name: string, version: '2.1' | '2.2', written: arrow.Table): BothLayouts {
  const ours = join(root, `${name}-ours-${version}.lance`);
  const theirs = `${name}-theirs-${version}`;
  const both: BothLayouts = { mine: {}, lance: {} };
  beforeAll(async () => {
    await writeDataset(ours, written, { fileVersion: version });
    const db = await lancedb.connect(root);
    (
      await db.createTable(theirs, toLanceDbArrow(written), {
        storageOptions: { new_table_data_storage_version: version },
      })
    ).close();
    db.close();
    [both.mine, both.lance] = [await layouts(ours), await layouts(join(root, `${theirs}.lance`))];
  });

  it('writes a table LanceDB reads value for value', async () => {
    expectTablesEqual(await oracleScan(ours), written);
  });

  it('writes a table lance-loader reads value for value', async () => {
    const dataset = await openDataset(ours);
    try {
      expectTablesEqual(await dataset.take(Array.from({ length: written.numRows }, (_, i) => i)), written);
    } finally {
      await dataset.close();
    }
  });
  return both;
}

describe.each(['2.1', '2.2'] as const)(
  'the writer compresses columns as LanceDB does in file version %s',
  (version) => {
    const both = writtenByBoth('flat', version, table());

    // 2.2 wraps a page's dictionary in lz4.
    const dict = (bits: number): string =>
      version === '2.1' ? `dict=Variable(Flat(${bits}b))` : `dict=General(lz4,Variable(Flat(${bits}b)))`;

    it.each([
      ['color', `MiniBlock{values=InlineBitpacking(u32); ${dict(32)}}`],
      ['color_nulls', dict(32)],
      ['large_color', dict(64)],
      ['text', 'MiniBlock{values=Fsst(Variable(Flat(32b)))}'],
      ['long_text', 'FullZip{values=Fsst(Variable(Flat(32b)))'],
      ['zstd_long', 'FullZip{values=General(zstd,Variable(Flat(32b)))'],
      ['lz4_long', 'FullZip{values=General(zstd,Variable(Flat(32b)))'],
      ['runs', 'MiniBlock{values=Rle(Flat(32b),Flat(8b))}'],
      [
        'three_f64',
        version === '2.1'
          ? 'MiniBlock{values=Rle(Flat(64b),Flat(8b))}'
          : 'MiniBlock{values=InlineBitpacking(u32); dict=General(lz4,Flat(64b))}',
      ],
      ['sorted', 'MiniBlock{values=InlineBitpacking(u64)}'],
      ['zstd_text', 'MiniBlock{values=General(zstd,Variable(Flat(32b)))}'],
      ['zstd9_text', 'MiniBlock{values=General(zstd,Variable(Flat(32b)))}'],
      ['lz4_text', 'MiniBlock{values=General(lz4,Variable(Flat(32b)))}'],
      ['zstd_i32', 'MiniBlock{values=General(zstd,InlineBitpacking(u32))}'],
      ['lz4_f32', 'MiniBlock{values=General(lz4,InlineBitpacking(u32))}'],
      ['fsst_ids', 'MiniBlock{values=Fsst(Variable(Flat(32b)))}'],
      ['none_text', 'MiniBlock{values=Variable(Flat(32b))}'],
    ])('gives column %s the encoding LanceDB gives it (%s)', (name, encoding) => {
      expect({ name, layout: both.mine[name]?.layout }).toEqual({ name, layout: both.lance[name]?.layout });
      expect(both.mine[name]?.layout).toContain(encoding);
      expect(both.mine[name]?.layout).toBe(both.lance[name]?.layout);
    });

    it.each(COLUMNS.map((c) => c.field.name))('stores column %s in at most 1.1 × the bytes LanceDB takes', (name) => {
      expect(both.mine[name]?.bytes).toBeLessThanOrEqual(1.1 * (both.lance[name]?.bytes ?? 0));
    });
  },
);

/** Lists and structs whose leaves LanceDB compresses: dictionary strings, runs of numbers, FSST text. */
function nestedTable(): arrow.Table {
  const rows = 3000;
  const item = (type: arrow.DataType): arrow.List => new arrow.List(new arrow.Field('item', type, true));
  return new arrow.Table({
    list_color: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => Array.from({ length: i % 4 }, () => pick(COLORS))),
      item(new arrow.Utf8()),
    ),
    list_runs: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => Array<number>(3).fill(Math.floor(i / 100))),
      item(new arrow.Int32()),
    ),
    list_text: arrow.vectorFromArray(
      Array.from({ length: rows }, () => [sentence(short()), sentence(short())]),
      item(new arrow.Utf8()),
    ),
    st: arrow.vectorFromArray(
      Array.from({ length: rows }, (_, i) => ({ c: pick(COLORS), n: i % 2 })),
      new arrow.Struct([new arrow.Field('c', new arrow.Utf8(), true), new arrow.Field('n', new arrow.Int32(), true)]),
    ),
  });
}

describe.each(['2.1', '2.2'] as const)('nested leaves in file version %s', (version) => {
  const both = writtenByBoth('nested', version, nestedTable());

  it.each([
    ['list_color.item', 'dict='],
    ['list_runs.item', 'values=Rle('],
    ['list_text.item', 'values=Fsst('],
    ['st.c', 'dict='],
    ['st.n', 'values=InlineBitpacking(u32)'],
  ])('give leaf %s the encoding LanceDB gives it (%s…) in at most 1.1 × its bytes', (name, encoding) => {
    expect(both.mine[name]?.layout).toContain(encoding);
    expect(both.mine[name]?.layout).toBe(both.lance[name]?.layout);
    expect(both.mine[name]?.bytes).toBeLessThanOrEqual(1.1 * (both.lance[name]?.bytes ?? 0));
  });
});

describe('lance-encoding:compression', () => {
  it('that names an unknown scheme is an InvalidArgumentError naming the column, and nothing is written', async () => {
    const path = join(root, 'brotli.lance');
    const field = new arrow.Field('notes', new arrow.Utf8(), true, new Map([['lance-encoding:compression', 'brotli']]));
    const notes = arrow.vectorFromArray(['a', 'b'], new arrow.Utf8());
    const schema = new arrow.Schema([field]);
    const struct = arrow.makeData({
      type: new arrow.Struct([field]),
      length: 2,
      children: [notes.data[0] as arrow.Data],
    });
    const data = new arrow.Table([new arrow.RecordBatch(schema, struct)]);
    const error = await writeDataset(path, data).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toBe(
      'column "notes": lance-encoding:compression is "brotli"; accepted: zstd, lz4, fsst, none',
    );
    expect(fs.existsSync(path)).toBe(false);
  });
});

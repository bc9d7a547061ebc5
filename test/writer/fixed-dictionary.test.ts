/**
 * Dictionaries of 64-bit values (ints, floats, timestamps) in file version 2.2, as LanceDB 0.39 picks
 * them: at least 100 values and a dictionary estimate under 0.8 × the plain bytes (at most 0.3 × rows
 * distinct values), never for narrower values or in 2.1. Read back value for value by LanceDB and
 * lance-loader, with LanceDB's layouts.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { Rng } from '../fixtures/random.js';
import { layouts, scanOurs, writeSideBySide, type ColumnLayout } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-fixed-dictionary-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const N = 10_000;

/** N values drawn from `distinct` values made by `value`, in random order. */
function few<T>(rng: Rng, distinct: number, value: (k: number) => T): T[] {
  const values = Array.from({ length: distinct }, (_, k) => value(k));
  return Array.from({ length: N }, () => values[rng.int(0, distinct)] as T);
}

function fewTable(): arrow.Table {
  const rng = new Rng(7);
  const big = (k: number): bigint => BigInt(k * 7919 - 3000) * 1_000_003n;
  return new arrow.Table({
    i64_c2: arrow.makeVector(BigInt64Array.from(few(rng, 2, big))),
    i64_c1000: arrow.makeVector(BigInt64Array.from(few(rng, 1000, big))),
    i64_c2000: arrow.makeVector(BigInt64Array.from(few(rng, 2000, big))),
    i64_c5000: arrow.makeVector(BigInt64Array.from(few(rng, 5000, big))),
    f64_c50: arrow.makeVector(Float64Array.from(few(rng, 50, (k) => k * 0.37 + 1e6))),
    ts_c10: arrow.vectorFromArray(
      few(rng, 10, (k) => 1.7e12 + k * 3.6e6),
      new arrow.TimestampMillisecond(),
    ),
    i64_runs: arrow.makeVector(BigInt64Array.from({ length: N }, (_, i) => BigInt(Math.floor(i / 1000)) * 10n ** 12n)),
    i64_nulls: arrow.vectorFromArray(
      Array.from({ length: N }, (_, i) => (i % 3 === 0 ? null : BigInt((i * 7919) % 10) * 10n ** 12n)),
      new arrow.Int64(),
    ),
    i32_c10: arrow.makeVector(Int32Array.from(few(rng, 10, (k) => k * 100_000_007))),
  });
}

const COLUMNS = fewTable().schema.fields.map((f) => f.name);

describe.each(['2.1', '2.2'] as const)('64-bit values of few distinct ones written as file version %s', (version) => {
  const table = fewTable();
  let ours: string;
  let mine: Record<string, ColumnLayout>;
  let lance: Record<string, ColumnLayout>;

  beforeAll(async () => {
    ({ ours, mine, lance } = await writeSideBySide(root, `few-${version}`, table, version));
  });

  it('are read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(ours), table, { label: 'LanceDB' });
  });

  it('are read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(ours), table, { label: 'lance-loader' });
  });

  it.each(COLUMNS)('%s is dictionary-encoded where LanceDB dictionary-encodes it', (name) => {
    expect(mine[name]?.layout.includes('dict='), mine[name]?.layout).toBe(lance[name]?.layout.includes('dict='));
  });

  // i64_runs is left out: its few hundred bytes of run-length chunks are cut differently (tens of bytes).
  it.each(COLUMNS.filter((name) => name !== 'i64_runs'))('%s takes at most 1.1 × the bytes LanceDB takes', (name) => {
    expect(mine[name]?.bytes).toBeLessThanOrEqual(1.1 * (lance[name]?.bytes ?? 0));
  });

  if (version === '2.2') {
    it.each(['i64_c2', 'i64_c1000', 'f64_c50', 'ts_c10', 'i64_runs', 'i64_nulls'])(
      '%s gets the layout LanceDB gives it',
      (name) => {
        expect(mine[name]?.layout).toContain('dict=General(lz4,Flat(64b))');
        expect(mine[name]?.layout).toBe(lance[name]?.layout);
      },
    );
  }
});

it('leaves a page of fewer than 100 values undictionaried, as LanceDB does', async () => {
  const path = join(root, 'small.lance');
  const small = new arrow.Table({
    v: arrow.makeVector(BigInt64Array.from({ length: 99 }, (_, i) => BigInt(i % 9) * 10n ** 15n)),
  });
  await writeDataset(path, small);
  expect((await layouts(path))['v']?.layout).toBe('MiniBlock{values=Flat(64b)}');
});

describe("64-bit values at the edge of LanceDB's size budget (items × 8 + values × 4 ≤ ⌊0.8 × values × 8⌋)", () => {
  const ROWS = 3000;
  const table = new arrow.Table(
    Object.fromEntries(
      [899, 900, 901].map((distinct) => [
        `d${distinct}`,
        arrow.makeVector(
          BigInt64Array.from({ length: ROWS }, (_, i) => BigInt((i * 7919 + 13) % distinct) * 1_000_003n),
        ),
      ]),
    ),
  );
  let mine: Record<string, ColumnLayout>;
  let lance: Record<string, ColumnLayout>;

  beforeAll(async () => {
    ({ mine, lance } = await writeSideBySide(root, 'edge', table, '2.2'));
  });

  it('takes a dictionary of 900 items of 3000 values and not of 901, as LanceDB does', () => {
    const dictionaries = (columns: Record<string, ColumnLayout>): boolean[] =>
      ['d899', 'd900', 'd901'].map((name) => columns[name]?.layout.includes('dict=') ?? false);
    expect(dictionaries(lance)).toEqual([true, true, false]);
    expect(dictionaries(mine)).toEqual(dictionaries(lance));
  });
});

/**
 * Which string pages become dictionaries, FSST or plain, against LanceDB 0.39 on the same pages: a few
 * typical pages, then a sweep of distinct counts across both of LanceDB's limits (the size budget and
 * the item budget with its sampled projection, writer/dictionary.ts) for values of 8, 20 and 60 bytes
 * and random mixes with nulls, in file versions 2.1 and 2.2: the same layout for every column.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { Rng } from '../fixtures/random.js';
import { writeSideBySide, type ColumnLayout, type SideBySide } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-dictionary-choice-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ROWS = 3000;
/** Row i's string: one of `distinct` values, `length` characters each. */
const strings = (distinct: number, length: number): string[] =>
  Array.from({ length: ROWS }, (_, i) => `${(i * 7919 + 13) % distinct}`.padStart(length, 'z'));

const CASES = [
  { name: 'few short values', distinct: 40, length: 8, kind: 'dictionary' },
  { name: 'a few hundred words', distinct: 400, length: 20, kind: 'dictionary' },
  { name: 'a thousand long labels', distinct: 1000, length: 60, kind: 'dictionary' },
  { name: 'mostly distinct words', distinct: 2900, length: 20, kind: 'fsst' },
  { name: 'mostly distinct short codes under 32 KiB', distinct: 2900, length: 6, kind: 'plain' },
] as const;

function kindOf(layout: string | undefined): string {
  if (layout?.includes('dict=')) return 'dictionary';
  return layout?.includes('Fsst') ? 'fsst' : 'plain';
}

describe.each(CASES)('a page of $name', ({ distinct, length, kind }) => {
  const table = new arrow.Table({ s: arrow.vectorFromArray(strings(distinct, length), new arrow.Utf8()) });
  let written: SideBySide;

  beforeAll(async () => {
    written = await writeSideBySide(root, `${distinct}-${length}`, table, '2.2');
  });

  it(`is written as ${kind}, as LanceDB writes it`, () => {
    const [mine, lance] = [written.mine['s'], written.lance['s']];
    expect(kindOf(mine?.layout)).toBe(kind);
    expect(mine?.layout).toBe(lance?.layout);
  });
});

/** 900 to 2,100 distinct values every 16, and each side of where LanceDB's choice flips on 3000 rows. */
const SWEEP = [...Array.from({ length: 76 }, (_, k) => 900 + 16 * k), 1399, 1400, 1488, 1489, 1500, 1501];

/** Rows drawn at random from `distinct` strings of 4 to 40 characters, a tenth of them null. */
function randomMix(rng: Rng, distinct: number): (string | null)[] {
  const pool = Array.from({ length: distinct }, (_, k) => `${k}`.padStart(rng.int(4, 41), 'q'));
  return Array.from({ length: ROWS }, () => (rng.bool(0.1) ? null : (pool[rng.int(0, distinct)] as string)));
}

function sweepTable(): arrow.Table {
  const columns: Record<string, arrow.Vector> = {};
  for (const length of [8, 20, 60]) {
    for (const distinct of SWEEP)
      columns[`w${length}_d${distinct}`] = arrow.vectorFromArray(strings(distinct, length), new arrow.Utf8());
  }
  const rng = new Rng(14);
  for (let k = 0; k < 24; k++) {
    columns[`mix${k}`] = arrow.vectorFromArray(randomMix(rng, rng.int(600, 2400)), new arrow.Utf8());
  }
  return new arrow.Table(columns);
}

const kinds = (columns: Record<string, ColumnLayout>): Record<string, string> =>
  Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, kindOf(c.layout)]));

describe.each(['2.1', '2.2'] as const)('a sweep of distinct counts written as file version %s', (version) => {
  const table = sweepTable();
  let ours: string;
  let mine: Record<string, ColumnLayout>;
  let lance: Record<string, ColumnLayout>;

  beforeAll(async () => {
    ({ ours, mine, lance } = await writeSideBySide(root, `sweep-${version}`, table, version));
  });

  it("crosses LanceDB's choice both ways at every value width", () => {
    const theirs = kinds(lance);
    for (const length of [8, 20, 60]) {
      const chosen = SWEEP.map((distinct) => theirs[`w${length}_d${distinct}`]);
      expect(chosen).toContain('dictionary');
      expect(chosen).toContain('fsst');
    }
  });

  it('gives every column the layout LanceDB gives it', () => {
    expect(Object.fromEntries(Object.entries(mine).map(([name, c]) => [name, c.layout]))).toEqual(
      Object.fromEntries(Object.entries(lance).map(([name, c]) => [name, c.layout])),
    );
  });

  it('is read by LanceDB value for value', async () => {
    expectTablesEqual(await oracleScan(ours), table, { label: 'LanceDB' });
  });
});

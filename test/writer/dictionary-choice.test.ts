/**
 * Which string pages become dictionaries, FSST or plain, against LanceDB 0.39 on the same pages: the
 * same choice wherever the page's distinct values are clearly under or over LanceDB's 0.8 size ratio.
 * (Near the ratio LanceDB decides on a HyperLogLog estimate of 16 registers, which lance-loader does not
 * reproduce: writer/dictionary.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { layouts } from './read-back.js';

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

describe.each(CASES)('a page of $name', ({ name, distinct, length, kind }) => {
  const table = new arrow.Table({ s: arrow.vectorFromArray(strings(distinct, length), new arrow.Utf8()) });
  const [ours, theirs] = [join(root, `ours-${name}.lance`), join(root, `${distinct}-${length}`)];

  beforeAll(async () => {
    await writeDataset(ours, table, { fileVersion: '2.2' });
    const db = await lancedb.connect(root);
    (
      await db.createTable(`${distinct}-${length}`, toLanceDbArrow(table), {
        storageOptions: { new_table_data_storage_version: '2.2' },
      })
    ).close();
    db.close();
  });

  it(`is written as ${kind}, as LanceDB writes it`, async () => {
    const [mine, lance] = [(await layouts(ours))['s'], (await layouts(`${theirs}.lance`))['s']];
    expect(kindOf(mine?.layout)).toBe(kind);
    expect(mine?.layout).toBe(lance?.layout);
  });
});

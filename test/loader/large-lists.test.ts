/**
 * large_list columns in the DataLoader, end to end: datasets whose lists lance-loader's writer stores
 * as large_list (`largeLists`), in file versions 2.1 and 2.2, batched as lists are, shuffled over 2
 * workers, every row equal to the row written.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { createLoader, openDataset, writeDataset } from '../../index.js';
import type { BatchColumn } from '../../loader/batch.js';
import { readLatestVersion } from '../../writer/commit.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'loader-large-lists-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const F = (name: string, type: arrow.DataType) => new arrow.Field(name, type, true);
const schema = new arrow.Schema([
  F('idx', new arrow.Int32()),
  F('tags', new arrow.List(F('item', new arrow.Float32()))),
  F('nested', new arrow.List(F('item', new arrow.List(F('item', new arrow.Int32()))))),
]);
const ROWS = 3000;
const rowAt = (i: number) => ({
  idx: i,
  tags: i % 9 === 4 ? null : Array.from({ length: i % 6 }, (_, k) => i + k / 2),
  nested: i % 7 === 1 ? null : [Array.from({ length: i % 4 }, (_, k) => i * 3 + k), ...(i % 2 ? [[i]] : [])],
});

/** `[0, a, a + b, …]`: the offsets of elements of counts `a, b, …`. */
const offsetsOf = (counts: number[]): number[] => counts.reduce((out, n) => [...out, (out.at(-1) as number) + n], [0]);

/** A batch column's arrays as plain numbers: row validity (1 where none is given), each level's offsets, values. */
function arraysOf(column: BatchColumn | undefined, rows: number) {
  return {
    validity: column?.validity ? Array.from(column.validity) : Array<number>(rows).fill(1),
    offsets: [column?.offsets, ...(column?.innerOffsets ?? [])].map((o) => Array.from(o ?? [])),
    values: Array.from(column?.values ?? [], Number),
  };
}

/** The arrays the loader gives for a column of `lists` (null rows empty), `depth` list levels deep. */
function expectedArrays(lists: (unknown[] | null)[], depth: number) {
  const offsets: number[][] = [];
  let level: unknown[][] = lists.map((list) => list ?? []);
  for (let d = 0; d < depth; d++) {
    offsets.push(offsetsOf(level.map((list) => list.length)));
    if (d < depth - 1) level = level.flat() as unknown[][];
  }
  return { validity: lists.map((list) => (list === null ? 0 : 1)), offsets, values: level.flat() };
}

describe.each(['2.1', '2.2'] as const)('a loader over large_list columns (file version %s)', (fileVersion) => {
  it('gives every row of a large_list and a large_list of large_lists as the rows written, shuffled over 2 workers', async () => {
    const path = join(root, `t-${fileVersion}.lance`);
    const rows = Array.from({ length: ROWS }, (_, i) => rowAt(i));
    await writeDataset(path, rows, { schema, fileVersion, largeLists: ['tags', 'nested', 'nested.item'] });
    expect(readLatestVersion(path)?.manifest.fields.map((f) => f.logical_type)).toEqual([
      'int32',
      'large_list',
      'float',
      'large_list',
      'large_list',
      'int32',
    ]);
    const dataset = await openDataset(path);
    const loader = await createLoader(dataset, { columns: ['tags', 'nested'], batchSize: 256, workers: 2, seed: 3 });
    const seen: number[] = [];
    try {
      for await (const batch of loader.epoch(0)) {
        const want = Array.from(batch.rowOffsets, (i) => rows[i] as (typeof rows)[number]);
        expect(arraysOf(batch.columns.tags, batch.numRows)).toEqual(
          expectedArrays(
            want.map((row) => row.tags),
            1,
          ),
        );
        expect(arraysOf(batch.columns.nested, batch.numRows)).toEqual(
          expectedArrays(
            want.map((row) => row.nested),
            2,
          ),
        );
        seen.push(...batch.rowOffsets);
        batch.release();
      }
    } finally {
      await loader.close();
      await dataset.close();
    }
    expect(seen.sort((a, b) => a - b)).toEqual(rows.map((row) => row.idx));
  });
});

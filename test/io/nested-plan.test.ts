/**
 * Reads of nested columns' pages, counted on LanceDB-written files: a take of one row of a list column
 * whose rows span mini-block chunks reads that row's chunks only (after the page's indexes, read once),
 * and gives LanceDB's values.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { fetchFileTasks, type FileRead } from '../../dataset/read-rows.js';
import type { ByteSource } from '../../io/source.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { oracleTake } from '../fixtures/oracle.js';

let path: string;
let path22: string;
let dataset: Dataset;

beforeAll(async () => {
  [path, path22] = await Promise.all([
    ensureDataset(specByName('nested_long'), '2.1'),
    ensureDataset(specByName('nested_long'), '2.2'),
  ]);
});

afterEach(async () => {
  await dataset?.close();
});

/** Rounds, ranges and bytes of the reads of a take of `rows` of list_long (page indexes cached by earlier takes). */
async function readsFor(rows: number[]): Promise<{ rounds: number; ranges: number; bytes: number }> {
  const plan = await dataset.planRead(Uint32Array.from(rows), dataset.selectFields(['list_long']));
  const file = plan.files[0] as FileRead;
  const counts = { rounds: 0, ranges: 0, bytes: 0 };
  const source: ByteSource = {
    ...file.source,
    path: file.source.path,
    size: file.source.size,
    stats: file.source.stats,
    readRanges: (ranges) => {
      counts.rounds++;
      counts.ranges += ranges.length;
      for (const range of ranges) counts.bytes += range.size;
      return file.source.readRanges(ranges);
    },
    close: () => file.source.close(),
  };
  await fetchFileTasks(file, source);
  return counts;
}

describe('a take of one row of a list column spanning chunks', () => {
  it('reads only the chunks holding that row once the page indexes are read', async () => {
    dataset = await openDataset(path);
    const first = await readsFor([10]);
    expect(first.rounds).toBe(2); // chunk table and repetition index, then the row's chunks
    const again = await readsFor([12]);
    const page = (await dataset.planRead(Uint32Array.of(12), dataset.selectFields(['list_long']))).files[0]?.columns[0]
      ?.column.pages[0];
    const pageBytes = page?.buffers[1]?.size ?? 0;
    // One read of the chunks of row 12 (up to 6000 items, ~3 chunks of ≤ 8 KiB), not the page.
    expect(again).toMatchObject({ rounds: 1, ranges: 1 });
    expect(again.bytes).toBeLessThan(64 * 1024);
    expect(pageBytes).toBeGreaterThan(5 * again.bytes);
  });

  it('gives the row LanceDB gives, alone and among its neighbours, in any order', async () => {
    dataset = await openDataset(path);
    for (const rows of [[123], [124, 123, 122, 123], [0, 199, 200, 399]]) {
      expectTablesEqual(
        await dataset.take(rows, { columns: ['list_long'] }),
        await oracleTake(path, rows, ['list_long']),
        {
          label: `rows ${rows.join(', ')}`,
        },
      );
    }
  });
});

describe('a take of one row of a 2.2 list column', () => {
  it('reads one range, the chunks holding the row, once the page indexes are kept', async () => {
    dataset = await openDataset(path22);
    const pages =
      (await dataset.planRead(Uint32Array.of(0), dataset.selectFields(['list_long']))).files[0]?.columns[0]?.column
        .pages ?? [];
    // The rows [start, end) of the page holding row 200 (pages of ~16 rows here).
    let start = 0;
    let end = 0;
    for (const page of pages) {
      end = start + page.numRows;
      if (end > 200) break;
      start = end;
    }
    expect(end - start).toBeGreaterThan(3);
    // The first take in the page reads its chunk table and repetition index together, then the row.
    expect(await readsFor([start])).toMatchObject({ rounds: 2, ranges: 3 });
    for (const row of [end - 1, start + 1, start + 2])
      expect(await readsFor([row]), `row ${row}`).toMatchObject({ rounds: 1, ranges: 1 });
  });
});

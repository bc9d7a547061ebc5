/**
 * Planning with a page cache on LanceDB-written full-zip pages: how many dependent rounds of reads a
 * take of a variable-width full-zip page needs, with and without room to keep its repetition index.
 * (Values against LanceDB with kept pages: test/dataset/matrix.test.ts.)
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { fetchFileTasks, type FileRead } from '../../dataset/read-rows.js';
import type { ByteSource } from '../../io/source.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let path: string;
let dataset: Dataset | undefined;

beforeAll(async () => {
  path = await ensureDataset(specByName('strings_long'), '2.1');
});

afterEach(async () => {
  await dataset?.close();
});

/** `source`, counting its readRanges calls: one per round of reads. */
function counting(source: ByteSource): { source: ByteSource; rounds: () => number } {
  let calls = 0;
  return {
    source: {
      path: source.path,
      size: source.size,
      stats: source.stats,
      readRanges: (ranges) => {
        calls++;
        return source.readRanges(ranges);
      },
      close: () => source.close(),
    },
    rounds: () => calls,
  };
}

/** Rounds of reads that fetching `rows` of column binary_medium (FullZip{Variable(Flat32)}) takes. */
async function roundsFor(ds: Dataset, rows: number[]): Promise<number> {
  const plan = await ds.planRead(Uint32Array.from(rows), ds.selectFields(['binary_medium']));
  const file = plan.files[0] as FileRead;
  const { source, rounds } = counting(file.source);
  await fetchFileTasks(file, source);
  return rounds();
}

describe('a variable-width full-zip page', () => {
  it('takes two rounds per read without room to keep its repetition index', async () => {
    dataset = await openDataset(path, { cacheBytes: 0 });
    expect(await roundsFor(dataset, [3, 250, 40])).toBe(2);
    expect(await roundsFor(dataset, [7, 260])).toBe(2);
  });

  it('keeps its repetition index after the first read, so later reads take one round', async () => {
    dataset = await openDataset(path, { cacheBytes: 1 << 20 });
    expect(await roundsFor(dataset, [3, 250, 40])).toBe(2);
    expect(await roundsFor(dataset, [7, 260, 499])).toBe(1);
  });

  it('gives the same values from a kept repetition index as from read entries', async () => {
    const rows = [499, 0, 17, 18, 19, 300, 17];
    const cold = await openDataset(path, { cacheBytes: 0 });
    dataset = await openDataset(path, { cacheBytes: 1 << 20 });
    try {
      const expected = (await cold.take(rows)).getChild('binary_medium')?.toArray();
      await dataset.take([1, 2, 450]);
      expect((await dataset.take(rows)).getChild('binary_medium')?.toArray()).toEqual(expected);
    } finally {
      await cold.close();
    }
  });
});

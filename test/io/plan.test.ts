/**
 * Planning with a page cache on LanceDB-written pages: how many dependent rounds of reads a take of a
 * variable-width full-zip page needs, with and without room to keep its repetition index; small pages
 * kept decoded (variable-width ones too), charged to the budget once when reads overlap, and refunded
 * when their read fails. (Values against LanceDB with kept pages for every fixture:
 * test/dataset/matrix.test.ts.)
 */
import * as arrow from 'apache-arrow';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, IoError, openDataset, type Dataset } from '../../index.js';
import { createOutputs, toRecordBatch } from '../../dataset/columns.js';
import { fetchFileTasks, type FileRead, type OutputTask } from '../../dataset/read-rows.js';
import { decodeWholePage, runDecodeTask } from '../../decode-workers/encodings/decode-task.js';
import type { ColumnOutput } from '../../decode-workers/encodings/output.js';
import { createPageCache, SMALL_VARIABLE_ROW_BYTES, type DecodedPageBudget } from '../../io/plan.js';
import type { PageInfo } from '../../format/file-metadata.js';
import type { ByteSource } from '../../io/source.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { oracleTake } from '../fixtures/oracle.js';

let path: string;
let dataset: Dataset | undefined;

beforeAll(async () => {
  path = await ensureDataset(specByName('strings_long'), '2.1');
});

afterEach(async () => {
  await dataset?.close();
});

/** A source as tests see it: its rounds of reads (readRanges calls) and bytes read so far. */
interface CountingSource {
  source: ByteSource;
  rounds: () => number;
  bytesRead: () => number;
}

/**
 * `source`, counting its rounds and bytes; with `failCall`, that call of readRanges (1 = the first) fails
 * once with an IoError before reading anything (the bytes read stay LanceDB's own).
 */
function counting(source: ByteSource, failCall?: number): CountingSource {
  let calls = 0;
  let bytes = 0;
  return {
    source: {
      path: source.path,
      size: source.size,
      stats: source.stats,
      readRanges: async (ranges) => {
        if (++calls === failCall) throw new IoError(`${source.path}: test read ${calls} fails`);
        for (const range of ranges) bytes += range.size;
        return source.readRanges(ranges);
      },
      close: () => source.close(),
    },
    rounds: () => calls,
    bytesRead: () => bytes,
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

/** The file read of `rows` of `column`, planned against a page cache of its own with `budget`. */
async function fileRead(ds: Dataset, rows: number[], column: string, budget: DecodedPageBudget): Promise<FileRead> {
  const plan = await ds.planRead(Uint32Array.from(rows), ds.selectFields([column]));
  return { ...(plan.files[0] as FileRead), cache: createPageCache(decodeWholePage, budget) };
}

/** Decodes the tasks of a read of `rows` of `column` into an Arrow table, for comparing with LanceDB's. */
function tableOf(ds: Dataset, column: string, rows: number[], tasks: OutputTask[]): arrow.Table {
  const fields = ds.selectFields([column]);
  const outputs = createOutputs(fields, rows.length);
  for (const { task, output } of tasks) runDecodeTask(task, outputs[output] as ColumnOutput);
  return new arrow.Table([toRecordBatch(ds.schema, fields, outputs, rows.length)]);
}

/** Shuffled rows of the strings fixture (12,000 rows, one page a column), with a duplicate. */
const SHUFFLED = [11999, 4, 6000, 5999, 300, 4, 8123, 0];

/** Expects the tasks of a read of `rows` of binary_small to copy, from its kept page, what LanceDB takes. */
async function expectKeptBinarySmall(datasetPath: string, rows: number[], tasks: OutputTask[]): Promise<void> {
  expect(tasks.map(({ task }) => task.kind)).toEqual(['cached']);
  expectTablesEqual(
    tableOf(dataset as Dataset, 'binary_small', rows, tasks),
    await oracleTake(datasetPath, rows, ['binary_small']),
  );
}

describe('a small page chosen to be kept', () => {
  let stringsPath: string;
  beforeAll(async () => {
    stringsPath = await ensureDataset(specByName('strings'), '2.1');
  });

  it.each([1, 2])('gives its budget back and keeps nothing when read %i of its steps fails', async (failCall) => {
    dataset = await openDataset(stringsPath);
    const budget = { bytesLeft: 64 << 20 };
    const read = await fileRead(dataset, SHUFFLED, 'binary_small', budget);
    const failing = counting(read.source, failCall);
    await expect(fetchFileTasks(read, failing.source)).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining(`test read ${failCall} fails`),
    });
    expect(budget.bytesLeft).toBe(64 << 20);
    const again = counting(read.source);
    await expectKeptBinarySmall(stringsPath, SHUFFLED, await fetchFileTasks(read, again.source));
    expect(budget.bytesLeft).toBeLessThan(64 << 20);
  });

  it('gives its budget back and keeps nothing when decoding it fails', async () => {
    dataset = await openDataset(stringsPath);
    const budget = { bytesLeft: 64 << 20 };
    let decodes = 0;
    const read = {
      ...(await fileRead(dataset, SHUFFLED, 'binary_small', budget)),
      // The real decoder, failing its first call as a corrupt page would.
      cache: createPageCache((...args) => {
        if (++decodes === 1) throw new CorruptFileError('test decode fails');
        return decodeWholePage(...args);
      }, budget),
    };
    await expect(fetchFileTasks(read)).rejects.toMatchObject({ code: 'CORRUPT_FILE', message: 'test decode fails' });
    expect(budget.bytesLeft).toBe(64 << 20);
    await expectKeptBinarySmall(stringsPath, SHUFFLED, await fetchFileTasks(read));
    expect(decodes).toBe(2);
  });

  it('is read and charged once when two reads of it overlap in time', async () => {
    dataset = await openDataset(stringsPath);
    const alone = { bytesLeft: 64 << 20 };
    const aloneRead = await fileRead(dataset, SHUFFLED, 'binary_small', alone);
    const aloneSource = counting(aloneRead.source);
    await fetchFileTasks(aloneRead, aloneSource.source);

    const budget = { bytesLeft: 64 << 20 };
    const first = await fileRead(dataset, SHUFFLED, 'binary_small', budget);
    const other = [7, 6500, 11000];
    const second = { ...(await fileRead(dataset, other, 'binary_small', budget)), cache: first.cache };
    const source = counting(first.source);
    const [, secondTasks] = await Promise.all([
      fetchFileTasks(first, source.source),
      fetchFileTasks(second, source.source),
    ]);
    expect(source.bytesRead()).toBe(aloneSource.bytesRead());
    expect(budget.bytesLeft).toBe(alone.bytesLeft);
    await expectKeptBinarySmall(stringsPath, other, secondTasks);
  });

  it('is read and charged once when two reads of its repetition index overlap in time', async () => {
    dataset = await openDataset(path);
    const budget = { bytesLeft: 1 << 20 };
    const first = await fileRead(dataset, [3, 250, 40], 'binary_medium', budget);
    const second = { ...(await fileRead(dataset, [7, 260], 'binary_medium', budget)), cache: first.cache };
    const { source, rounds } = counting(first.source);
    await Promise.all([fetchFileTasks(first, source), fetchFileTasks(second, source)]);
    // One round for the index, one for each read's rows (the second waits, then reads its rows).
    expect(rounds()).toBe(3);
    // 8 bytes a row and one more, for the first page's 500 rows.
    expect(budget.bytesLeft).toBe((1 << 20) - 501 * 8);
  });
});

describe('a small variable-width page', () => {
  it.each(['2.1', '2.0'] as const)(
    'is kept decoded when written as %s, so a second shuffled read copies the values LanceDB reads without reading',
    async (version) => {
      const stringsPath = await ensureDataset(specByName('strings'), version);
      dataset = await openDataset(stringsPath);
      const columns = ['binary_small_null', 'utf8_words'];
      const budget = { bytesLeft: 64 << 20 };
      for (const column of columns) {
        const read = await fileRead(dataset, SHUFFLED, column, budget);
        const expected = await oracleTake(stringsPath, SHUFFLED, [column]);
        const first = counting(read.source);
        expectTablesEqual(tableOf(dataset, column, SHUFFLED, await fetchFileTasks(read, first.source)), expected);
        const second = counting(read.source);
        const kept = await fetchFileTasks(read, second.source);
        expect(second.bytesRead()).toBe(0);
        expectTablesEqual(tableOf(dataset, column, SHUFFLED, kept), expected, { label: `${column} kept` });
      }
    },
  );

  it('is dropped, and read by rows from then on, when it decodes larger than the budget left', async () => {
    const stringsPath = await ensureDataset(specByName('strings'), '2.1');
    dataset = await openDataset(stringsPath);
    const budget = { bytesLeft: 0 };
    // utf8_words is FSST-compressed: its decoded values outgrow what the page stores. A budget of exactly
    // what the planner charges before reading (stored bytes and 8 bytes of offsets a row) lets it try.
    const read = await fileRead(dataset, SHUFFLED, 'utf8_words', budget);
    const page = read.columns[0]?.column.pages[0] as PageInfo;
    budget.bytesLeft = page.buffers.reduce((sum, b) => sum + b.size, 0) + (page.numRows + 1) * 8;
    const charged = budget.bytesLeft;
    const expected = await oracleTake(stringsPath, SHUFFLED, ['utf8_words']);
    const first = counting(read.source);
    expectTablesEqual(tableOf(dataset, 'utf8_words', SHUFFLED, await fetchFileTasks(read, first.source)), expected);
    expect(budget.bytesLeft).toBe(charged);
    const second = counting(read.source);
    expectTablesEqual(tableOf(dataset, 'utf8_words', SHUFFLED, await fetchFileTasks(read, second.source)), expected);
    expect(second.bytesRead()).toBeGreaterThan(0);
    expect(second.bytesRead()).toBeLessThan(first.bytesRead());
    expect(budget.bytesLeft).toBe(charged);
  });

  it(`is read by rows when it stores more than ${SMALL_VARIABLE_ROW_BYTES} bytes a row`, async () => {
    dataset = await openDataset(await ensureDataset(specByName('structural'), '2.1'));
    const budget = { bytesLeft: 64 << 20 };
    const read = await fileRead(dataset, [3, 700, 250], 'binary_medium_miniblock', budget);
    await fetchFileTasks(read);
    const second = counting(read.source);
    await fetchFileTasks(read, second.source);
    expect(second.bytesRead()).toBeGreaterThan(0);
    expect(budget.bytesLeft).toBe(64 << 20);
  });
});

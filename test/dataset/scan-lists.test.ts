/**
 * `dataset.scan()` of list columns on LanceDB-written data: the same values as LanceDB's scan whatever
 * the batch size (batches that cut through chunks and pages), the list values in Arrow memory sized by
 * the chunks read, and the batch read ahead finished before the iteration ends, its error thrown where the
 * loop reaches it.
 */
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { oracleScan } from '../fixtures/oracle.js';

const LISTS = ['idx', 'list_int32', 'list_int32_null'];

describe.each(['2.1', '2.2'] as const)('a scan of list<int32> columns (file version %s)', (version) => {
  let path: string;
  let dataset: Dataset;

  beforeAll(async () => {
    path = await ensureDataset(specByName('nested'), version);
    dataset = await openDataset(path);
  });

  afterAll(async () => {
    await dataset.close();
  });

  it('gives the values LanceDB scans, in batches that cut through chunks and pages', async () => {
    const batches: arrow.RecordBatch[] = [];
    for await (const batch of dataset.scan({ batchSize: 333, columns: LISTS })) batches.push(batch);
    expect(batches.length).toBe(Math.ceil(dataset.numRows / 333));
    expectTablesEqual(new arrow.Table(batches), await oracleScan(path, LISTS), { label: 'scan by 333 rows' });
  });

  it('hands Arrow the values of whole pages in memory of exactly their size', async () => {
    const batches: arrow.RecordBatch[] = [];
    for await (const batch of dataset.scan({ batchSize: dataset.numRows, columns: ['list_int32'] }))
      batches.push(batch);
    expect(batches.length).toBe(1);
    const values = (batches[0]?.getChild('list_int32')?.data[0]?.children[0]?.values ?? null) as Int32Array | null;
    expect(values?.length).toBeGreaterThan(0);
    expect(values?.byteOffset).toBe(0);
    expect(values?.buffer.byteLength).toBe(values?.byteLength);
  });

  it('throws the error of a batch read ahead when the loop reaches it, not before', async () => {
    const opened = await openDataset(path);
    const batches = opened.scan({ batchSize: 1000, columns: ['list_int32'] })[Symbol.asyncIterator]();
    expect((await batches.next()).value?.numRows).toBe(1000);
    await opened.close();
    // The caller holds each batch for a turn of the event loop, as a training step would.
    const rest = async () => {
      while (!(await batches.next()).done) await new Promise((resolve) => setImmediate(resolve));
    };
    await expect(rest()).rejects.toThrow(/is closed/);
  });

  it('has read the batch ahead in full when the loop is left after the first batch', async () => {
    const opened = await openDataset(path);
    try {
      for await (const batch of opened.scan({ batchSize: 1000, columns: ['list_int32'] })) {
        expect(batch.numRows).toBe(1000);
        break;
      }
      const left = await opened.readStats();
      // A read still in flight would land after this turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      expect(await opened.readStats()).toEqual(left);
    } finally {
      await opened.close();
    }
  });
});

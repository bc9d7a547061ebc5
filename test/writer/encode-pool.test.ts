/**
 * Page encoding in worker threads (writer/encode-pool.ts): which pages go to a worker, that a worker's
 * page is byte for byte the page encoded inline, and a large write through the workers read back by
 * LanceDB and lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset, writeDataset } from '../../index.js';
import { encodePageSomewhere, encodeWorkersLoaded, IN_WORKERS_BYTES } from '../../writer/encode-pool.js';
import { encodePage, type EncodedPage } from '../../writer/page.js';
import type { PageValues } from '../../writer/values.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'encode-pool-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** `rows` int64 values in 8 bytes each (a page the mini-block encoder bit-packs), every 7th row null. */
function int64Page(rows: number): PageValues {
  const values = BigInt64Array.from({ length: rows }, (_, i) => BigInt((i * 37) % 5000));
  const validity = Uint8Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? 0 : 1));
  return { rows, nullCount: validity.filter((v) => v === 0).length, validity, bytes: new Uint8Array(values.buffer) };
}

function flat(page: EncodedPage): number[] {
  return page.buffers.flatMap((buffer) => (Array.isArray(buffer) ? buffer : [buffer]).flatMap((b) => Array.from(b)));
}

describe('encodePageSomewhere', () => {
  it('encodes a large page inline while the pool starts, without waiting for it', () => {
    expect(encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, int64Page(200_000), 0)).not.toBeInstanceOf(Promise);
  });

  it('encodes a large mini-block page in a worker once the pool has loaded, byte for byte as inline', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const values = int64Page(200_000);
    const pending = encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, values, 0);
    expect(pending).toBeInstanceOf(Promise);
    const inWorker = await pending;
    const inline = encodePage({ kind: 'fixed', byteWidth: 8 }, values);
    expect(inWorker.rows).toBe(inline.rows);
    expect(Array.from(inWorker.encoding)).toEqual(Array.from(inline.encoding));
    expect(flat(inWorker)).toEqual(flat(inline));
  });

  it('leaves the values it was given in place: they are copied to the worker, not moved', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const values = int64Page(200_000);
    await encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, values, 0);
    expect(values.bytes.byteLength).toBe(1_600_000);
    expect(values.validity?.byteLength).toBe(200_000);
  });

  it('encodes a small page inline', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    expect(encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, int64Page(1000), 0)).not.toBeInstanceOf(Promise);
  });

  it('encodes a page inline when the writer has IN_WORKERS_BYTES in workers already', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const page = encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, int64Page(200_000), IN_WORKERS_BYTES);
    expect(page).not.toBeInstanceOf(Promise);
  });
});

describe('writeDataset with encodeInWorkers', () => {
  it('writes large int and string columns that LanceDB and lance-loader read value for value', async () => {
    const rows = 150_000;
    const table = new arrow.Table({
      id: arrow.makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i * 3))),
      label: arrow.vectorFromArray(
        Array.from({ length: rows }, (_, i) => (i % 11 === 0 ? null : (i * 7919) % 1000)),
        new arrow.Int32(),
      ),
      text: arrow.vectorFromArray(
        Array.from({ length: rows }, (_, i) => (i % 13 === 0 ? null : `row ${i} ${'x'.repeat(i % 17)}`)),
        new arrow.Utf8(),
      ),
    });
    const path = join(root, 'large.lance');
    await writeDataset(path, table, { encodeInWorkers: true });
    expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
    const ds = await openDataset(path);
    const batches: arrow.RecordBatch[] = [];
    for await (const batch of ds.scan({ batchSize: 65536 })) batches.push(batch);
    await ds.close();
    expectTablesEqual(new arrow.Table(batches), table, { label: 'lance-loader' });
  });
});

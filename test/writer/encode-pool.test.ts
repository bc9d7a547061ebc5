/**
 * Page encoding in worker threads (writer/encode-pool.ts): which pages go to a worker, that a worker's
 * page (flat or a nested leaf's, in 2.1 and 2.2) is byte for byte the page encoded inline, when writes
 * use workers without being told, and large
 * flat and nested writes through the workers read back by LanceDB and lance-loader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import {
  encodeInWorkersByDefault,
  encodePageSomewhere,
  encodeThreadsFor,
  encodeWorkersLoaded,
  IN_WORKERS_BYTES,
} from '../../writer/encode-pool.js';
import { gatherLeafPage } from '../../writer/nested.js';
import { loadZstd } from '../../writer/general-compression.js';
import { encodePage, type EncodedPage, type PageHints } from '../../writer/page.js';
import { planColumns } from '../../writer/schema.js';
import type { PageValues } from '../../writer/values.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'encode-pool-'));
/** A field that asks for nothing: compressions as LanceDB picks them by default. */
const NO_HINTS: PageHints = { text: false };
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** `rows` int64 values in 8 bytes each (a page the mini-block encoder bit-packs), every 7th row null. */
function int64Page(rows: number): PageValues {
  const values = BigInt64Array.from({ length: rows }, (_, i) => BigInt((i * 37) % 5000));
  const validity = Uint8Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? 0 : 1));
  return { rows, nullCount: validity.filter((v) => v === 0).length, validity, bytes: new Uint8Array(values.buffer) };
}

const list = (item: arrow.DataType): arrow.List => new arrow.List(new arrow.Field('item', item, true));

/** `rows` lists of int32: null (1 in 10), empty (1 in 10), else 1–6 items with a null in 1 of 9. */
function listColumn(rows: number): arrow.Vector {
  return arrow.vectorFromArray(
    Array.from({ length: rows }, (_, i) =>
      i % 10 === 3
        ? null
        : i % 10 === 7
          ? []
          : Array.from({ length: 1 + (i % 6) }, (_, k) => (k % 9 === 4 ? null : i * 7 + k)),
    ),
    list(new arrow.Int32()),
  );
}

function flat(page: EncodedPage): number[] {
  return page.buffers.flatMap((buffer) => (Array.isArray(buffer) ? buffer : [buffer]).flatMap((b) => Array.from(b)));
}

describe('encodePageSomewhere', () => {
  it('encodes a large page inline while the pool starts, without waiting for it', () => {
    expect(
      encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, int64Page(200_000), '2.2', NO_HINTS, 0),
    ).not.toBeInstanceOf(Promise);
  });

  it.each(['2.1', '2.2'] as const)(
    'encodes a large mini-block page of file version %s in a worker once the pool has loaded, byte for byte as inline',
    async (version) => {
      expect(await encodeWorkersLoaded()).toBe(true);
      const values = int64Page(200_000);
      const pending = encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, values, version, NO_HINTS, 0);
      expect(pending).toBeInstanceOf(Promise);
      const inWorker = await pending;
      const inline = encodePage({ kind: 'fixed', byteWidth: 8 }, values, version, NO_HINTS);
      expect(inWorker.rows).toBe(inline.rows);
      expect(Array.from(inWorker.encoding)).toEqual(Array.from(inline.encoding));
      expect(flat(inWorker)).toEqual(flat(inline));
    },
  );

  it.each(['2.1', '2.2'] as const)(
    "encodes a nested leaf's page of file version %s in a worker with its levels, byte for byte as inline",
    async (version) => {
      expect(await encodeWorkersLoaded()).toBe(true);
      const tags = listColumn(200_000);
      const [column] = planColumns(new arrow.Schema([new arrow.Field('tags', tags.type, true)]));
      const leaf = column?.leaves[0];
      if (!leaf) throw new Error('planColumns gave no leaf for a list<int32> column');
      const values = gatherLeafPage(leaf, tags.data);
      const pending = encodePageSomewhere(leaf.kind, values, version, NO_HINTS, 0);
      expect(pending).toBeInstanceOf(Promise);
      const inWorker = await pending;
      const inline = encodePage(leaf.kind, values, version, NO_HINTS);
      expect(inWorker.rows).toBe(200_000);
      expect(Array.from(inWorker.encoding)).toEqual(Array.from(inline.encoding));
      expect(flat(inWorker)).toEqual(flat(inline));
    },
  );

  it('loads zstd in the worker before encoding a page whose field asks for it, byte for byte as inline', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const hints: PageHints = { text: false, compression: { scheme: 'zstd', level: 3 } };
    const values = int64Page(200_000);
    const pending = encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, values, '2.2', hints, 0);
    expect(pending).toBeInstanceOf(Promise);
    const inWorker = await pending;
    await loadZstd();
    const inline = encodePage({ kind: 'fixed', byteWidth: 8 }, values, '2.2', hints);
    expect(Array.from(inWorker.encoding)).toEqual(Array.from(inline.encoding));
    expect(flat(inWorker)).toEqual(flat(inline));
  });

  it('leaves the values it was given in place: they are copied to the worker, not moved', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const values = int64Page(200_000);
    await encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, values, '2.2', NO_HINTS, 0);
    expect(values.bytes.byteLength).toBe(1_600_000);
    expect(values.validity?.byteLength).toBe(200_000);
  });

  it('encodes a small page inline', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    expect(
      encodePageSomewhere({ kind: 'fixed', byteWidth: 8 }, int64Page(1000), '2.2', NO_HINTS, 0),
    ).not.toBeInstanceOf(Promise);
  });

  it('encodes a page inline when the writer has IN_WORKERS_BYTES in workers already', async () => {
    expect(await encodeWorkersLoaded()).toBe(true);
    const page = encodePageSomewhere(
      { kind: 'fixed', byteWidth: 8 },
      int64Page(200_000),
      '2.2',
      NO_HINTS,
      IN_WORKERS_BYTES,
    );
    expect(page).not.toBeInstanceOf(Promise);
  });
});

/** Writes `table` with encodeInWorkers once the pool has loaded, and reads it back with LanceDB and lance-loader. */
async function expectWrittenInWorkers(name: string, table: arrow.Table, fileVersion: '2.1' | '2.2'): Promise<void> {
  expect(await encodeWorkersLoaded()).toBe(true);
  const path = join(root, `${name}-${fileVersion}.lance`);
  await writeDataset(path, table, { encodeInWorkers: true, fileVersion });
  expectTablesEqual(await oracleScan(path), table, { label: 'LanceDB' });
  expectTablesEqual(await scanOurs(path), table, { label: 'lance-loader' });
}

describe('writeDataset with encodeInWorkers', () => {
  it.each(['2.1', '2.2'] as const)(
    'writes large int and string columns in file version %s that LanceDB and lance-loader read value for value',
    async (fileVersion) => {
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
      await expectWrittenInWorkers('large', table, fileVersion);
    },
  );

  it.each(['2.1', '2.2'] as const)(
    'writes large columns asking for zstd and lz4 in file version %s that LanceDB and lance-loader read value for value',
    async (fileVersion) => {
      const rows = 150_000;
      const asking = (scheme: string): Map<string, string> => new Map([['lance-encoding:compression', scheme]]);
      const fields = [
        new arrow.Field('zstd_text', new arrow.Utf8(), true, asking('zstd')),
        new arrow.Field('lz4_text', new arrow.Utf8(), true, asking('lz4')),
        new arrow.Field('zstd_ids', new arrow.Int64(), true, asking('zstd')),
      ];
      const text = Array.from({ length: rows }, (_, i) =>
        i % 13 === 0 ? null : `note ${i % 5000} ${'y'.repeat(i % 9)}`,
      );
      const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt((i * 7919) % 100_000));
      const children = [
        arrow.vectorFromArray(text, new arrow.Utf8()),
        arrow.vectorFromArray(text, new arrow.Utf8()),
        arrow.makeVector(ids),
      ].map((vector) => vector.data[0] as arrow.Data);
      const data = arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children });
      const table = new arrow.Table([new arrow.RecordBatch(new arrow.Schema(fields), data)]);
      await expectWrittenInWorkers('compressed', table, fileVersion);
    },
  );

  it.each(['2.1', '2.2'] as const)(
    'writes large nested columns in file version %s that LanceDB and lance-loader read value for value',
    async (fileVersion) => {
      const rows = 150_000;
      const table = new arrow.Table({
        tags: listColumn(rows),
        pair: arrow.vectorFromArray(
          Array.from({ length: rows }, (_, i) =>
            i % 13 === 5
              ? null
              : { id: BigInt(i * 3), words: i % 4 === 1 ? [] : [`w${i}`, i % 5 ? `v${i % 97}` : null] },
          ),
          new arrow.Struct([
            new arrow.Field('id', new arrow.Int64(), true),
            new arrow.Field('words', list(new arrow.Utf8()), true),
          ]),
        ),
      });
      await expectWrittenInWorkers('nested', table, fileVersion);
    },
  );
});

describe('encodeInWorkersByDefault', () => {
  it('keeps pages on the calling thread with 2 cores or fewer', () => {
    expect([1, 2].map((cores) => encodeInWorkersByDefault(cores))).toEqual([false, false]);
  });

  it('sends pages to workers from 3 cores on', () => {
    expect([3, 4, 64].map((cores) => encodeInWorkersByDefault(cores))).toEqual([true, true, true]);
  });
});

describe('encodeThreadsFor', () => {
  it('starts one thread per core the calling thread leaves, at least one', () => {
    expect([1, 2, 3, 4, 9].map((cores) => encodeThreadsFor(cores))).toEqual([1, 1, 2, 3, 8]);
  });

  it('starts at most 8 threads however many cores the machine has', () => {
    expect([16, 64, 256].map((cores) => encodeThreadsFor(cores))).toEqual([8, 8, 8]);
  });
});

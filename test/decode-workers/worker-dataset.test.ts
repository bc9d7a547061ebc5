/**
 * WorkerDataset (a loader worker's dataset) on a LanceDB-written dataset with deletions: keeping the
 * small columns decoded ahead of the first batch, and batches read through it.
 */
import * as arrow from 'apache-arrow';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRef, OutputDescriptor, WorkerMemoryPlan } from '../../decode-workers/messages.js';
import { openDataset } from '../../index.js';
import { WorkerDataset } from '../../decode-workers/worker-dataset.js';
import { workerRefFor } from '../fixtures/worker-ref.js';

let ref: DatasetRef;
let numRows: number;
/** Every WorkerDataset a test opened, closed after it. */
const opened: WorkerDataset[] = [];

async function openWorker(r: DatasetRef): Promise<WorkerDataset> {
  const worker = await WorkerDataset.open(r);
  opened.push(worker);
  return worker;
}

beforeAll(async () => {
  // idx int64 and i32 int32: the small columns; vec_f32_8 (32 bytes a row) is small too.
  ref = await workerRefFor('deletions_arrow', { columns: ['idx', 'i32', 'vec_f32_8'] }, { cacheBytes: 16 << 20 });
  const dataset = await openDataset(ref.path);
  numRows = dataset.numRows;
  await dataset.close();
});

/** `r` with parts of its memory plan replaced. */
function withMemory(r: DatasetRef, memory: Partial<WorkerMemoryPlan>): DatasetRef {
  return { ...r, memory: { ...r.memory, ...memory } };
}

/** A batch slot's variable-width memory, as the loader makes it for `r`. */
function slotMemory(r: DatasetRef): SharedArrayBuffer {
  return new SharedArrayBuffer(r.memory.variableSlotBytes);
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((worker) => worker.close()));
});

const WIDTHS = [8, 4, 32];

/** Output descriptors of the three columns for `n` rows, in one shared buffer. */
function outputsFor(n: number): { outputs: OutputDescriptor[]; buffer: SharedArrayBuffer } {
  const buffer = new SharedArrayBuffer(n * WIDTHS.reduce((a, b) => a + b, 0));
  let at = 0;
  const outputs = WIDTHS.map((byteWidth): OutputDescriptor => {
    const d: OutputDescriptor = { kind: 'fixed', buffer, byteOffset: at, byteWidth, numSlots: n, validityOffset: -1 };
    at += n * byteWidth;
    return d;
  });
  return { outputs, buffer };
}

/** Loads `rows` and returns the bytes read and the idx column's values. */
async function load(worker: WorkerDataset, rows: number[]): Promise<{ bytesRead: number; idx: bigint[] }> {
  const { outputs, buffer } = outputsFor(rows.length);
  const loaded = await worker.load(Uint32Array.from(rows), outputs, null);
  return { bytesRead: loaded.reads.bytesRead, idx: Array.from(new BigInt64Array(buffer, 0, rows.length)) };
}

/** Loads `rows` of the utf8_words column alone: its values as strings, and the bytes read. */
async function loadWords(worker: WorkerDataset, rows: number[]): Promise<{ words: string[]; bytesRead: number }> {
  const loaded = await worker.load(
    Uint32Array.from(rows),
    [{ kind: 'variable', numSlots: rows.length, nullable: true }],
    slotMemory(ref),
  );
  const column = loaded.variable[0];
  const words = rows.map((_, k) =>
    new TextDecoder().decode(column?.data.subarray(column.offsets[k], column.offsets[k + 1])),
  );
  return { words, bytesRead: loaded.reads.bytesRead };
}

async function expectedWords(rows: number[]): Promise<string[]> {
  const dataset = await openDataset(ref.path);
  try {
    return Array.from(
      (await dataset.take(rows, { columns: ['utf8_words'] })).getChild('utf8_words') as arrow.Vector,
      (v) => (v as string | null) ?? '',
    );
  } finally {
    await dataset.close();
  }
}

async function expectedIdx(rows: number[]): Promise<bigint[]> {
  const dataset = await openDataset(ref.path);
  try {
    return Array.from((await dataset.take(rows)).getChild('idx') as arrow.Vector, (v) => BigInt(v as bigint));
  } finally {
    await dataset.close();
  }
}

describe('WorkerDataset.keepSmallColumns', () => {
  it('decodes the small columns ahead, so a batch of them reads no bytes', async () => {
    const worker = await openWorker(ref);
    await worker.keepSmallColumns();
    const rows = [numRows - 1, 0, 5000, 17, 9900];
    const batch = await load(worker, rows);
    expect(batch.bytesRead).toBe(0);
    expect(batch.idx).toEqual(await expectedIdx(rows));
  });

  it('reads nothing ahead when the small columns do not fit the decoded-page budget', async () => {
    const worker = await openWorker(withMemory(ref, { cacheBytes: numRows }));
    await worker.keepSmallColumns();
    const rows = [3, 8000];
    const batch = await load(worker, rows);
    expect(batch.bytesRead).toBeGreaterThan(0);
    expect(batch.idx).toEqual(await expectedIdx(rows));
  });
});

describe('WorkerDataset.warmUp', () => {
  it('keeps the repetition indexes of variable-width full-zip pages, so a first batch reads only its values', async () => {
    const longRef = await workerRefFor('strings_long', { columns: ['binary_medium'] }, { cacheBytes: 1 << 20 });
    const rows = Uint32Array.of(3, 700, 250, 999);
    const outputs: OutputDescriptor[] = [{ kind: 'variable', numSlots: rows.length, nullable: true }];
    const cold = await (await openWorker(longRef)).load(rows, outputs, slotMemory(longRef));
    const warm = await openWorker(longRef);
    await warm.warmUp();
    const loaded = await warm.load(rows, outputs, slotMemory(longRef));
    expect(loaded.reads.bytesRead).toBeLessThan(cold.reads.bytesRead);
    expect(loaded.reads.readsIssued).toBeLessThan(cold.reads.readsIssued);
    const column = loaded.variable[0];
    const expected = cold.variable[0];
    expect(Buffer.from(column?.data ?? []).equals(Buffer.from(expected?.data ?? [1]))).toBe(true);
  });
});

describe('WorkerDataset.load', () => {
  it('loads batches that overlap in time in lanes of their own, each batch counting only its own reads', async () => {
    const batches = [
      [5, 3000, 9900, 7],
      [numRows - 1, 40, 6001],
      [100, 101, 102, 8000, 9900],
    ];
    // What each batch reads on its own, in a fresh worker without a decoded-page cache: the most it can
    // read together with others (it may find page metadata another batch already read).
    const alone: number[] = [];
    for (const rows of batches)
      alone.push((await load(await openWorker({ ...withMemory(ref, { cacheBytes: 0 }), lanes: 1 }), rows)).bytesRead);
    const worker = await openWorker({ ...withMemory(ref, { cacheBytes: 0 }), lanes: 2 });
    const together = await Promise.all(batches.map((rows) => load(worker, rows)));
    for (const [i, rows] of batches.entries()) {
      expect(together[i]?.idx).toEqual(await expectedIdx(rows));
      expect(together[i]?.bytesRead).toBeGreaterThan(0);
      expect(together[i]?.bytesRead).toBeLessThanOrEqual(alone[i] as number);
    }
  });

  it('decodes variable-width values of batches loaded at once into their own outputs', async () => {
    const worker = await openWorker({ ...ref, columns: ['utf8_words'], lanes: 2 });
    const batches = [
      [9, 2000, 9500],
      [4, 5, 6, 7000],
    ];
    const loaded = await Promise.all(batches.map((rows) => loadWords(worker, rows)));
    for (const [i, rows] of batches.entries()) expect(loaded[i]?.words).toEqual(await expectedWords(rows));
  });

  it('reads a small variable-width page once when two lanes load batches that both want it kept', async () => {
    // Every 37th and every 41st row: both batches touch every page of utf8_words.
    const batches = [37, 41].map((step) => Array.from({ length: Math.floor(numRows / step) }, (_, i) => i * step));
    const columns = ['utf8_words'];
    const alone = await openWorker({ ...withMemory(ref, { cacheBytes: 16 << 20 }), columns, lanes: 1 });
    const union = [...new Set(batches.flat())].sort((a, b) => a - b);
    const { bytesRead: aloneBytes } = await loadWords(alone, union);
    const worker = await openWorker({ ...withMemory(ref, { cacheBytes: 16 << 20 }), columns, lanes: 2 });
    const loaded = await Promise.all(batches.map((rows) => loadWords(worker, rows)));
    expect(loaded.reduce((sum, batch) => sum + batch.bytesRead, 0)).toBe(aloneBytes);
    for (const [i, rows] of batches.entries()) expect(loaded[i]?.words).toEqual(await expectedWords(rows));
  });

  it.each([16, 1 << 20])(
    'decodes variable-width values into scratch prepared ahead at %i bytes',
    async (variableBytes) => {
      const worker = await openWorker({ ...withMemory(ref, { variableBytes }), columns: ['utf8_words'], lanes: 2 });
      await worker.prepareLanes();
      const rows = Array.from({ length: 300 }, (_, i) => (i * 31) % numRows);
      expect((await loadWords(worker, rows)).words).toEqual(await expectedWords(rows));
    },
  );

  it("refuses a batch whose variable-width values do not fit the slot's memory, naming the column and bytes", async () => {
    const small = withMemory({ ...ref, columns: ['utf8_words'] }, { variableSlotBytes: 1024 });
    const rows = Array.from({ length: 300 }, (_, i) => (i * 31) % numRows);
    const outputs: OutputDescriptor[] = [{ kind: 'variable', numSlots: rows.length, nullable: true }];
    await expect((await openWorker(small)).load(Uint32Array.from(rows), outputs, slotMemory(small))).rejects.toThrow(
      expect.objectContaining({
        code: 'MEMORY_BUDGET',
        message: expect.stringMatching(
          /variable-width values need \d+ bytes \("utf8_words" \d+\), more than a batch slot's 1024 bytes/,
        ),
      }),
    );
  });

  it('refuses a batch whose decode scratch would outgrow its part of the budget', async () => {
    const small = withMemory({ ...ref, columns: ['utf8_words'] }, { decodeScratchBytes: 300 * 21 + 64 });
    const rows = Array.from({ length: 300 }, (_, i) => (i * 31) % numRows);
    const outputs: OutputDescriptor[] = [{ kind: 'variable', numSlots: rows.length, nullable: true }];
    await expect((await openWorker(small)).load(Uint32Array.from(rows), outputs, slotMemory(small))).rejects.toThrow(
      expect.objectContaining({
        code: 'MEMORY_BUDGET',
        message: expect.stringContaining("the worker's decode scratch"),
      }),
    );
  });

  it('reports the read memory, kept pages and decode scratch it holds', async () => {
    const worker = await openWorker({ ...ref, columns: ['idx', 'utf8_words'] });
    await worker.keepSmallColumns();
    const rows = Uint32Array.from({ length: 300 }, (_, i) => (i * 31) % numRows);
    const { memory } = await worker.load(
      rows,
      [
        {
          kind: 'fixed',
          buffer: new SharedArrayBuffer(rows.length * 8),
          byteOffset: 0,
          byteWidth: 8,
          numSlots: rows.length,
          validityOffset: -1,
        },
        { kind: 'variable', numSlots: rows.length, nullable: true },
      ],
      slotMemory(ref),
    );
    expect(memory.readMemory.allocated).toBeGreaterThan(0);
    expect(memory.readMemory.peak).toBeLessThanOrEqual(ref.memory.readMemoryBytes);
    // idx's pages whole, deleted rows included.
    expect(memory.pageCaches.allocated).toBeGreaterThanOrEqual(numRows * 8);
    expect(memory.pageCaches.allocated).toBeLessThanOrEqual(ref.memory.cacheBytes);
    expect(memory.decodeScratch.allocated).toBeGreaterThan(0);
    expect(memory.decodeScratch.peak).toBeLessThanOrEqual(ref.memory.decodeScratchBytes);
  });

  it('throws an InternalError for a row offset past the end instead of planning forever', async () => {
    const worker = await openWorker(ref);
    const { outputs } = outputsFor(2);
    await expect(worker.load(Uint32Array.from([0, numRows]), outputs, null)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining(`row offset ${numRows}`),
    });
  });
});

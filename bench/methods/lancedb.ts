/**
 * LanceDB (@lancedb/lancedb, the reference reader) in the suite: `table.takeOffsets(batchRows).toArrow()`
 * on the suite's shuffled batches with 1 and 4 batches in flight, warm and cold, and its full scan
 * (`for await (const batch of table.query())`, every column).
 *
 *   take ×N warm   files read into the page cache (cat), another whole epoch untimed first (at most WARM_UP_MAX_SECONDS)
 *   take ×N cold   a fresh connection and table; the files are evicted just before timing
 *   scan warm      files in the page cache, a short untimed pass first
 *
 * Each variant opens its own connection, so no variant inherits another's caches. takeOffsets returns
 * rows sorted by offset rather than in the asked order; only throughput is measured here.
 * Run by bench/run.ts: `node --import tsx bench/methods/lancedb.ts <task.json>`.
 */
import { dirname } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { cachedBytes, evictFiles, warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  procIoSince,
  rate,
  readProcIo,
  measureWarmScan,
  runMethodProcess,
  warmUpDeadline,
  MIN_WARM_TIMED_SECONDS,
  type Measurement,
  type MethodTask,
} from '../suite.js';

interface ArrowLike {
  numRows: number;
  batches: { data: DataLike }[];
}
interface DataLike {
  values?: { byteLength: number };
  valueOffsets?: { byteLength: number };
  nullBitmap?: { byteLength: number };
  children: DataLike[];
}

function byteLengthOf(data: DataLike): number {
  let n = (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0);
  for (const child of data.children) n += byteLengthOf(child);
  return n;
}

function tableBytes(table: ArrowLike): number {
  return table.batches.reduce((sum, b) => sum + b.data.children.reduce((s, c) => s + byteLengthOf(c), 0), 0);
}

async function openTable(task: MethodTask): Promise<{ db: lancedb.Connection; table: lancedb.Table }> {
  const db = await lancedb.connect(dirname(task.dataset.path));
  const table = await db.openTable(task.dataset.tableName);
  return { db, table };
}

async function takeRun(
  task: MethodTask,
  inFlight: number,
  cache: 'warm' | 'cold',
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  const files = task.dataset.dataFiles.map((f) => f.path);
  const sampler = createSampler(task.dataset, task.seed);
  const numBatches = sampler.numBatches();
  if (cache === 'warm') warmFiles(files);
  const { db, table } = await openTable(task);
  try {
    let cachedBeforeBytes: number | undefined;
    if (cache === 'warm') {
      const deadline = warmUpDeadline(task);
      for (let i = 0; i < numBatches && performance.now() < deadline; i++)
        await table.takeOffsets(Array.from(sampler.batch(task.epoch + 1000, i))).toArrow();
    } else {
      evictFiles(files);
      cachedBeforeBytes = cachedBytes(files);
    }
    // Each epoch's batches as plain arrays, made when the epoch starts (the first one before timing).
    const epochs = new Map<number, number[][]>();
    const batchAt = (at: number): number[] => {
      const epoch = task.epoch + Math.floor(at / numBatches);
      let list = epochs.get(epoch);
      if (!list) {
        list = Array.from({ length: numBatches }, (_, i) => Array.from(sampler.batch(epoch, i)));
        epochs.set(epoch, list);
        epochs.delete(epoch - 2);
      }
      return list[at % numBatches] as number[];
    };
    batchAt(0);
    const io = readProcIo();
    rss.reset();
    const t0 = performance.now();
    const deadline = t0 + task.maxSeconds * 1000;
    let rows = 0;
    let bytes = 0;
    let next = 0;
    let firstBatchMs = NaN;
    // Warm: whole epochs (the suite's, then the ones after it, as lance-loader) until MIN_WARM_TIMED_SECONDS.
    const minMs = cache === 'warm' ? MIN_WARM_TIMED_SECONDS * 1000 : 0;
    const worker = async () => {
      while (performance.now() <= deadline) {
        if (next > 0 && next % numBatches === 0 && performance.now() - t0 >= minMs) break;
        const batch = batchAt(next++);
        const result = (await table.takeOffsets(batch).toArrow()) as unknown as ArrowLike;
        if (Number.isNaN(firstBatchMs)) firstBatchMs = performance.now() - t0;
        rows += result.numRows;
        bytes += tableBytes(result);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const ms = performance.now() - t0;
    const m: Measurement = {
      method: 'lancedb',
      variant: `take ×${inFlight} ${cache}`,
      cache,
      rows,
      ms,
      rowsPerSecond: rate(rows, ms),
      complete: next >= numBatches,
      firstBatchMs,
      bytesDelivered: bytes,
      peakRssBytes: rss.peak(),
      proc: procIoSince(io),
      ...(cachedBeforeBytes !== undefined ? { cachedBeforeBytes } : {}),
    };
    log(task, describe(m));
    return m;
  } finally {
    table.close();
    db.close();
  }
}

async function scanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(task.dataset.dataFiles.map((f) => f.path));
  const { db, table } = await openTable(task);
  try {
    return await measureWarmScan(task, rss, 'lancedb', async function* () {
      for await (const batch of table.query()) {
        yield {
          rows: batch.numRows,
          bytes: (batch.data as unknown as DataLike).children.reduce((s, c) => s + byteLengthOf(c), 0),
        };
      }
    });
  } finally {
    table.close();
    db.close();
  }
}

await runMethodProcess(async (task, result) => {
  const rss = createRssSampler();
  const attempt = async (what: string, fn: () => Promise<Measurement>) => {
    try {
      result.measurements.push(await fn());
    } catch (error) {
      result.errors.push(`${what}: ${(error as Error).message}`);
      log(task, `${what} failed: ${(error as Error).message}`);
    }
  };
  for (const cache of ['warm', 'cold'] as const) {
    for (const inFlight of [1, 4])
      await attempt(`take ×${inFlight} ${cache}`, () => takeRun(task, inFlight, cache, rss));
  }
  await attempt('scan warm', () => scanRun(task, rss));
  rss.stop();
});

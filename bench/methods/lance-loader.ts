/**
 * lance-loader in the suite: the DataLoader's shuffled epoch (the suite's batches: seed, epoch, batch
 * size), warm and cold, the dataset's full scan, peak RSS and RSS over extra epochs.
 *
 *   epoch warm              files read into the page cache (cat), a loader with io.direct false, another
 *                           whole epoch untimed first (at most WARM_UP_MAX_SECONDS: threads, JIT, caches)
 *   epoch cold O_DIRECT     a fresh loader with io.direct true; the files are evicted just before timing
 *   epoch cold buffered     the same with io.direct false (reads come from the disk through the page cache)
 *   scan warm               the loader's sequential epoch (shuffle: false, batches of up to 8192 rows that fit
 *                           the slots), every column, files in the page cache: the full-scan target's number
 *   dataset.scan warm       dataset.scan({ batchSize: 8192 }): Arrow record batches decoded on the main thread
 *   rss epochs              more warm epochs on the warm loader; peak RSS of each
 *
 * The consumer only counts rows and releases each batch, so its wait share is close to 100% by design:
 * it says how much of the epoch the loader was the bottleneck, not a training loop's share.
 * bench/run.ts runs the cold variants each in a process of its own, so each peak RSS is one loader's.
 * Within a process, each loader is closed and the garbage collector run (node --expose-gc) before the
 * next measurement, so shared memory of a closed loader the GC has not freed yet does not count.
 * Run by bench/run.ts: `node --expose-gc --import tsx bench/methods/lance-loader.ts <task.json>`.
 */
import { createLoader, openDataset, type DataLoader, type LoaderMetrics } from 'lance-loader';
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

type Variant = { name: string; cache: 'warm' | 'cold' | 'direct'; direct: boolean };

async function openLoader(task: MethodTask, direct: boolean): Promise<DataLoader> {
  return createLoader(task.dataset.path, {
    batchSize: task.dataset.batchSize,
    shuffle: true,
    seed: task.seed,
    memoryBytes: task.memoryBytes,
    io: { direct },
  });
}

function delta(
  after: LoaderMetrics,
  before: LoaderMetrics,
): Pick<
  Measurement,
  'bytesRead' | 'bytesDelivered' | 'readsIssued' | 'rangesRequested' | 'consumerWaitMs' | 'decodeMs'
> {
  return {
    bytesRead: after.bytesRead - before.bytesRead,
    bytesDelivered: after.bytesDelivered - before.bytesDelivered,
    readsIssued: after.readsIssued - before.readsIssued,
    rangesRequested: after.rangesRequested - before.rangesRequested,
    consumerWaitMs: after.consumerWaitMs - before.consumerWaitMs,
    decodeMs: after.decodeMs - before.decodeMs,
  };
}

/** Drains up to `maxBatches` batches of `epoch` (or until `deadline`); returns rows and the first batch's latency. */
async function drain(
  loader: DataLoader,
  epoch: number,
  deadline: number,
  maxBatches = Infinity,
  expectFirst?: Uint32Array,
): Promise<{ rows: number; batches: number; firstBatchMs: number; complete: boolean }> {
  const started = performance.now();
  let rows = 0;
  let batches = 0;
  let firstBatchMs = NaN;
  let complete = true;
  for await (const batch of loader.epoch(epoch)) {
    if (batches === 0) {
      firstBatchMs = performance.now() - started;
      // Every method must read the same batches: the loader's first batch is the suite sampler's.
      if (
        expectFirst &&
        (expectFirst.length !== batch.rowOffsets.length || expectFirst.some((row, i) => batch.rowOffsets[i] !== row))
      ) {
        throw new Error(
          `the loader's first batch of epoch ${epoch} differs from BatchSampler's: the methods would not read the same rows`,
        );
      }
    }
    rows += batch.numRows;
    batches++;
    batch.release();
    if (batches >= maxBatches) break;
    if (performance.now() > deadline && batches < loader.numBatches) {
      complete = false;
      break;
    }
  }
  return { rows, batches, firstBatchMs, complete };
}

async function epochRun(
  task: MethodTask,
  variant: Variant,
  rss: ReturnType<typeof createRssSampler>,
): Promise<{ measurement: Measurement; loader: DataLoader }> {
  const files = task.dataset.dataFiles.map((f) => f.path);
  if (variant.cache === 'warm') warmFiles(files);
  const loader = await openLoader(task, variant.direct);
  let cachedBeforeBytes: number | undefined;
  if (variant.cache === 'warm') {
    await drain(loader, task.epoch + 1000, warmUpDeadline(task));
  } else {
    evictFiles(files);
    cachedBeforeBytes = cachedBytes(files);
  }
  const expectFirst = createSampler(task.dataset, task.seed).batch(task.epoch, 0);
  const before = loader.metrics();
  const io = readProcIo();
  rss.reset();
  const t0 = performance.now();
  const deadline = t0 + task.maxSeconds * 1000;
  const run = await drain(loader, task.epoch, deadline, Infinity, expectFirst);
  // Warm: more whole epochs until MIN_WARM_TIMED_SECONDS are timed (LanceDB's takes follow the same epochs).
  for (
    let epoch = task.epoch + 1;
    variant.cache === 'warm' && run.complete && performance.now() - t0 < MIN_WARM_TIMED_SECONDS * 1000;
    epoch++
  ) {
    const more = await drain(loader, epoch, deadline);
    run.rows += more.rows;
    run.complete = more.complete;
  }
  const ms = performance.now() - t0;
  const d = delta(loader.metrics(), before);
  const measurement: Measurement = {
    method: 'lance-loader',
    variant: variant.name,
    cache: variant.cache,
    rows: run.rows,
    ms,
    rowsPerSecond: rate(run.rows, ms),
    complete: run.complete,
    firstBatchMs: run.firstBatchMs,
    ...d,
    consumerWaitShare: (d.consumerWaitMs ?? 0) / ms,
    peakRssBytes: rss.peak(),
    proc: procIoSince(io),
    ...(cachedBeforeBytes !== undefined ? { cachedBeforeBytes } : {}),
  };
  log(task, describe(measurement));
  return { measurement, loader };
}

/** Rows per batch of both scans: the size LanceDB's scan uses. */
const SCAN_BATCH_ROWS = 8192;

/** The loader's sequential epoch (shuffle: false): every row in file order, read and decoded by the workers. */
async function loaderScanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(task.dataset.dataFiles.map((f) => f.path));
  const batchSize = Math.min(
    SCAN_BATCH_ROWS,
    Math.max(1, Math.floor(task.memoryBytes / 2 / 6 / Math.max(1, task.dataset.rowBytes))),
  );
  const loader = await createLoader(task.dataset.path, {
    batchSize,
    shuffle: false,
    memoryBytes: task.memoryBytes,
    io: { direct: false },
  });
  // Each pass is the next epoch, as a training loop asks for them.
  let epoch = 0;
  try {
    return await measureWarmScan(task, rss, 'lance-loader', async function* () {
      for await (const batch of loader.epoch(epoch++)) {
        let bytes = 0;
        for (const column of Object.values(batch.columns)) bytes += column.values.byteLength;
        yield { rows: batch.numRows, bytes };
        batch.release();
      }
    });
  } finally {
    await closeAndCollect(loader);
  }
}

/** `dataset.scan()`: Arrow record batches, read and decoded on the calling thread. */
async function datasetScanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(task.dataset.dataFiles.map((f) => f.path));
  const ds = await openDataset(task.dataset.path);
  try {
    return await measureWarmScan(
      task,
      rss,
      'lance-loader',
      async function* () {
        for await (const batch of ds.scan({ batchSize: SCAN_BATCH_ROWS })) {
          yield {
            rows: batch.numRows,
            bytes: batch.data.children.reduce((sum, child) => sum + byteLengthOf(child), 0),
          };
        }
      },
      'dataset.scan warm',
    );
  } finally {
    await ds.close();
  }
}

/** Bytes of an Arrow Data's buffers (values, offsets, validity), children included. */
function byteLengthOf(data: {
  values?: { byteLength: number };
  valueOffsets?: { byteLength: number };
  nullBitmap?: { byteLength: number };
  children: unknown[];
}): number {
  let n = (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0);
  for (const child of data.children) n += byteLengthOf(child as Parameters<typeof byteLengthOf>[0]);
  return n;
}

/** Closes the loader and frees its memory now (its slots are SharedArrayBuffers, freed by the GC). */
async function closeAndCollect(loader: DataLoader): Promise<void> {
  await loader.close();
  (globalThis as { gc?: () => void }).gc?.();
}

await runMethodProcess(async (task, result) => {
  const rss = createRssSampler();
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (error) {
      const e = error as Error & { code?: string };
      result.errors.push(`${what}: ${e.code ? `${e.code}: ` : ''}${e.message}`);
      log(task, `${what} failed: ${e.message}`);
      return undefined;
    }
  };

  // run.ts runs the parts in processes of their own (METHOD_PARTS): 'warm' (with the RSS epochs and the
  // scans), 'cold O_DIRECT', 'cold buffered'; without a part, all of them.
  const runs = (part: string) => task.part === undefined || task.part === part;
  const warm = runs('warm')
    ? await attempt('epoch warm', () => epochRun(task, { name: 'epoch warm', cache: 'warm', direct: false }, rss))
    : undefined;
  if (warm) {
    result.measurements.push(warm.measurement);
    // RSS over more warm epochs on the same loader: flat means no growth per epoch.
    if (task.rssEpochs > 0) {
      await attempt('rss epochs', async () => {
        const perEpoch: number[] = [];
        const stop = performance.now() + task.maxSeconds * 2000;
        for (let e = 0; e < task.rssEpochs && performance.now() < stop; e++) {
          rss.reset();
          await drain(warm.loader, task.epoch + 1 + e, stop);
          perEpoch.push(rss.peak());
        }
        warm.measurement.rssPerEpochBytes = perEpoch;
        log(task, `rss over ${perEpoch.length} epochs: ${perEpoch.map((b) => Math.round(b / 2 ** 20)).join(', ')} MiB`);
      });
    }
    await closeAndCollect(warm.loader);
  }
  for (const variant of [
    { name: 'epoch cold O_DIRECT', part: 'cold O_DIRECT', cache: 'direct', direct: true },
    { name: 'epoch cold buffered', part: 'cold buffered', cache: 'cold', direct: false },
  ] as const) {
    if (!runs(variant.part)) continue;
    const run = await attempt(variant.name, () => epochRun(task, variant, rss));
    if (run) {
      result.measurements.push(run.measurement);
      await closeAndCollect(run.loader);
    }
  }
  for (const [name, run] of [
    ['scan warm', loaderScanRun],
    ['dataset.scan warm', datasetScanRun],
  ] as const) {
    if (!runs('warm')) continue;
    const scan = await attempt(name, () => run(task, rss));
    if (scan) result.measurements.push(scan);
  }
  rss.stop();
});

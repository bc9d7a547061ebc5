/**
 * lance-loader in the suite: the DataLoader's shuffled epoch (the suite's batches: seed, epoch, batch
 * size), warm and cold, the dataset's full scan both ways, peak RSS and RSS over extra epochs.
 *
 *   epoch warm                            files read into the page cache (cat), a loader with io.direct false,
 *                                         the suite's warm protocol (suite.ts measureWarm)
 *   epoch cold O_DIRECT incl. creation    every file of the dataset evicted, then createLoader and the epoch
 *                                         timed together (createMs: creation's share): what LanceDB's cold
 *                                         takes pay too (open + takes), so the figure compared with them
 *   epoch cold O_DIRECT                   evicted, createLoader (createMs), evicted again, the epoch alone
 *                                         timed: the reads an epoch costs once the loader is up
 *   epoch cold buffered [incl. creation]  the same two with io.direct false (reads through the page cache)
 *   dataset.scan warm                     dataset.scan({ batchSize: 8192 }): Arrow record batches decoded on the
 *                                         calling thread, what LanceDB's scan delivers: the full-scan target
 *   scan warm                             the loader's sequential epoch (shuffle: false, batches of up to 8192
 *                                         rows that fit the slots) as typed arrays, decoded by the workers
 *   rss epochs                            more warm epochs on the warm loader; peak RSS of each
 *   epoch warm ragged                     datasets with a padded list column (suite.ts DatasetSpec.pad): the
 *                                         epochs above pad it (options.pad); this warm epoch takes it ragged
 *
 * The consumer only counts rows and releases each batch, so its wait share is close to 100% by design:
 * it says how much of the epoch the loader was the bottleneck, not a training loop's share.
 * bench/run.ts runs the cold variants each in a process of its own, so each peak RSS is one loader's.
 * Within a process, each loader is closed and the garbage collector run (node --expose-gc) before the
 * next measurement, so shared memory of a closed loader the GC has not freed yet does not count.
 * Run by bench/run.ts: `node --expose-gc --import tsx bench/methods/lance-loader.ts <task.json>`.
 */
import { createLoader, openDataset, type DataLoader, type LoaderMetrics } from 'lance-loader';
import { datasetFiles, warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  measureCold,
  measureWarm,
  LOADER_COLD_VARIANTS,
  recordBatchBytes,
  runMethodProcess,
  scanPass,
  WARM_UP_EPOCH_OFFSET,
  type Measurement,
  type ArrowDataLike,
  type LoaderColdVariant,
  type MethodTask,
  type PassResult,
} from '../suite.js';

async function openLoader(task: MethodTask, direct: boolean, ragged = false): Promise<DataLoader> {
  const pad = task.dataset.pad;
  return createLoader(task.dataset.path, {
    batchSize: task.dataset.batchSize,
    shuffle: true,
    seed: task.seed,
    memoryBytes: task.memoryBytes,
    io: { direct },
    ...(pad && !ragged ? { pad: { [pad.column]: { length: pad.length } } } : {}),
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

/** Drains the batches of `epoch` (or until `deadline`); returns rows and the first batch's latency. */
async function drain(
  loader: DataLoader,
  epoch: number,
  deadline: number,
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
    if (performance.now() > deadline && batches < loader.numBatches) {
      complete = false;
      break;
    }
  }
  return { rows, batches, firstBatchMs, complete };
}

/** One pass over `epoch` that checks the loader reads the suite's batches (the first one is BatchSampler's). */
function suitePass(task: MethodTask, loader: DataLoader, epoch: number, deadline: number): Promise<PassResult> {
  const expectFirst = epoch === task.epoch ? createSampler(task.dataset, task.seed).batch(epoch, 0) : undefined;
  return drain(loader, epoch, deadline, expectFirst);
}

/** Loader counters over the timed part, and the consumer's wait as a share of it. */
function metricsSince(loader: DataLoader, before: LoaderMetrics, ms: number): Partial<Measurement> {
  const d = delta(loader.metrics(), before);
  return { ...d, consumerWaitShare: (d.consumerWaitMs ?? 0) / ms };
}

/** The warm epoch (a padded list column ragged when `ragged`); the loader stays open for the RSS epochs. */
async function warmRun(
  task: MethodTask,
  rss: ReturnType<typeof createRssSampler>,
  ragged = false,
): Promise<{ measurement: Measurement; loader: DataLoader }> {
  warmFiles(datasetFiles(task.dataset.path));
  const loader = await openLoader(task, false, ragged);
  try {
    let before = loader.metrics();
    const timing = await measureWarm(
      task,
      rss,
      (epoch, deadline) => suitePass(task, loader, epoch, deadline),
      () => (before = loader.metrics()),
    );
    const measurement: Measurement = {
      method: 'lance-loader',
      variant: ragged ? 'epoch warm ragged' : 'epoch warm',
      cache: 'warm',
      ...timing,
      ...metricsSince(loader, before, timing.ms),
    };
    log(task, describe(measurement));
    return { measurement, loader };
  } catch (error) {
    await closeAndCollect(loader);
    throw error;
  }
}

async function coldRun(
  task: MethodTask,
  variant: LoaderColdVariant,
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  let before: LoaderMetrics | undefined;
  const timing = await measureCold(task, rss, {
    files: datasetFiles(task.dataset.path),
    creation: variant.creation,
    open: () => openLoader(task, variant.direct),
    pass: (loader, deadline) => suitePass(task, loader, task.epoch, deadline),
    close: closeAndCollect,
    onTimedStart: (loader) => (before = loader.metrics()),
    details: (loader, ms) => (before ? metricsSince(loader, before, ms) : {}),
  });
  const measurement: Measurement = { method: 'lance-loader', variant: variant.name, cache: variant.cache, ...timing };
  log(task, `${describe(measurement)}, createLoader ${Math.round(measurement.createMs ?? NaN)} ms`);
  return measurement;
}

/** Rows per batch of both scans: the size LanceDB's scan uses. */
const SCAN_BATCH_ROWS = 8192;

/** Times a warm full scan with the suite's warm protocol; `pass` scans once. */
async function scanRun(
  task: MethodTask,
  rss: ReturnType<typeof createRssSampler>,
  variant: string,
  pass: (epoch: number, deadline: number) => Promise<PassResult>,
): Promise<Measurement> {
  const timing = await measureWarm(task, rss, pass);
  const measurement: Measurement = { method: 'lance-loader', variant, cache: 'warm', ...timing };
  log(task, describe(measurement));
  return measurement;
}

/** A loader scan's batch is at most this fraction of memoryBytes. */
const SCAN_MEMORY_SHARES = 32;

/** The loader's sequential epoch (shuffle: false): every row in file order as typed arrays, decoded by the workers. */
async function loaderScanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(datasetFiles(task.dataset.path));
  // The memory budget holds about ten batches of variable-width values (each slot's, and each worker's
  // decode scratch) with headroom, beside read memory: a batch of a 32nd of memoryBytes fits any dataset.
  const batchSize = Math.min(
    SCAN_BATCH_ROWS,
    Math.max(1, Math.floor(task.memoryBytes / SCAN_MEMORY_SHARES / Math.max(1, task.dataset.rowBytes))),
  );
  const loader = await createLoader(task.dataset.path, {
    batchSize,
    shuffle: false,
    memoryBytes: task.memoryBytes,
    io: { direct: false },
  });
  try {
    // measureWarm asks for the next epoch each pass, as a training loop does.
    return await scanRun(task, rss, 'scan warm', (epoch, deadline) =>
      scanPass(
        task,
        (async function* () {
          for await (const batch of loader.epoch(epoch)) {
            let bytes = 0;
            for (const column of Object.values(batch.columns)) bytes += column.values.byteLength;
            batch.release();
            yield { rows: batch.numRows, bytes };
          }
        })(),
        deadline,
      ),
    );
  } finally {
    await closeAndCollect(loader);
  }
}

/** `dataset.scan()`: Arrow record batches, read and decoded on the calling thread. */
async function datasetScanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(datasetFiles(task.dataset.path));
  const ds = await openDataset(task.dataset.path);
  try {
    return await scanRun(task, rss, 'dataset.scan warm', (_epoch, deadline) =>
      scanPass(
        task,
        (async function* () {
          for await (const batch of ds.scan({ batchSize: SCAN_BATCH_ROWS }))
            yield { rows: batch.numRows, bytes: recordBatchBytes(batch.data as unknown as ArrowDataLike) };
        })(),
        deadline,
      ),
    );
  } finally {
    await ds.close();
  }
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
  // scans) and each cold variant; without a part, all of them.
  const runs = (part: string) => task.part === undefined || task.part === part;
  const warm = runs('warm') ? await attempt('epoch warm', () => warmRun(task, rss)) : undefined;
  if (warm) {
    result.measurements.push(warm.measurement);
    // RSS over more warm epochs on the same loader: flat means no growth per epoch. Epochs of their own,
    // past the warm-up's, so each is a new shuffle.
    if (task.rssEpochs > 0) {
      await attempt('rss epochs', async () => {
        const perEpoch: number[] = [];
        const stop = performance.now() + task.maxSeconds * 2000;
        for (let e = 0; e < task.rssEpochs && performance.now() < stop; e++) {
          rss.reset();
          await drain(warm.loader, task.epoch + WARM_UP_EPOCH_OFFSET + 1 + e, stop);
          perEpoch.push(rss.peak());
        }
        warm.measurement.rssPerEpochBytes = perEpoch;
        log(task, `rss over ${perEpoch.length} epochs: ${perEpoch.map((b) => Math.round(b / 2 ** 20)).join(', ')} MiB`);
      });
    }
    await closeAndCollect(warm.loader);
  }
  if (runs('warm') && task.dataset.pad) {
    const ragged = await attempt('epoch warm ragged', () => warmRun(task, rss, true));
    if (ragged) {
      result.measurements.push(ragged.measurement);
      await closeAndCollect(ragged.loader);
    }
  }
  for (const variant of LOADER_COLD_VARIANTS) {
    if (!runs(variant.part)) continue;
    const measurement = await attempt(variant.name, () => coldRun(task, variant, rss));
    if (measurement) result.measurements.push(measurement);
  }
  for (const [name, run] of [
    ['dataset.scan warm', datasetScanRun],
    ['scan warm', loaderScanRun],
  ] as const) {
    if (!runs('warm')) continue;
    const scan = await attempt(name, () => run(task, rss));
    if (scan) result.measurements.push(scan);
  }
  rss.stop();
});

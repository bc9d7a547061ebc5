/**
 * What bench/run.ts and the method modules (bench/methods/*.ts) share: the datasets of the suite, the
 * task a method process receives, the measurement it returns, and the probes every method uses
 * (the shuffled batches, /proc/self/io counters, a peak-RSS sampler, a time cap).
 *
 *   run.ts ──task JSON file──► node --expose-gc --import tsx methods/<method>.ts <task> ──result JSON file──► run.ts
 *
 * Every method runs in its own process, so its peak RSS and I/O counters are its own and no method
 * inherits another's heap, threads or caches.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { BatchSampler } from '../samplers/index.js';
import type { BenchKind, FileVersion } from './datasets.js';

/**
 * Warm methods (lance-loader, LanceDB takes) first read another whole epoch, untimed, stopping after at
 * most this many seconds (and the run's maxSeconds): threads started, hot paths JIT-compiled, metadata and
 * page caches filled, heaps grown to their working size, as in a training run's second epoch. The same
 * for every method. (256 batches measured a first-epoch rate: mnist's loader epoch 0 ran at 0.6-0.8× of
 * its epochs 1-3 in the same process.)
 */
export const WARM_UP_MAX_SECONDS = 30;

/**
 * Warm rates are timed over whole epochs (the suite's epoch, then the ones after it, the same sequence for
 * every method) until at least this many seconds are timed: one epoch of emb takes lance-loader under half
 * a second, too short to be measured reliably on a shared machine.
 */
export const MIN_WARM_TIMED_SECONDS = 3;

/** When a warm method's untimed warm-up epoch stops, if it has not ended by then. */
export function warmUpDeadline(task: { maxSeconds: number }): number {
  return performance.now() + Math.min(task.maxSeconds, WARM_UP_MAX_SECONDS) * 1000;
}

export type DatasetKey = 'emb-2.1' | 'emb-2.0' | 'mnist' | 'seed000' | 'images';
export const DATASET_KEYS: readonly DatasetKey[] = ['emb-2.1', 'emb-2.0', 'mnist', 'seed000', 'images'];

export interface DatasetSpec {
  key: DatasetKey;
  kind: BenchKind;
  version: FileVersion;
  /** Rows at full size (`--rows-scale 1`). */
  fullRows: number;
  /** Fewest rows at any scale (so quick runs still have a few batches). */
  minRows: number;
  batchSize: number;
  /** The float32 vector column the NumPy batch-file store holds, when the dataset has one. */
  npyColumn?: { name: string; dim: number };
  /** What a row holds, for the report. */
  describe: string;
}

export const DATASET_SPECS: Record<DatasetKey, DatasetSpec> = {
  'emb-2.1': {
    key: 'emb-2.1',
    kind: 'emb',
    version: '2.1',
    fullRows: 200_000,
    minRows: 2048,
    batchSize: 256,
    npyColumn: { name: 'x', dim: 768 },
    describe: 'id int64, label int32, x fixed_size_list<float32>[768]; file version 2.1',
  },
  // emb-2.0 holds the same values as emb-2.1, so the NumPy store (and its run) would repeat emb-2.1's.
  'emb-2.0': {
    key: 'emb-2.0',
    kind: 'emb',
    version: '2.0',
    fullRows: 200_000,
    minRows: 2048,
    batchSize: 256,
    describe: 'id int64, label int32, x fixed_size_list<float32>[768]; file version 2.0',
  },
  mnist: {
    key: 'mnist',
    kind: 'mnist',
    version: '2.1',
    fullRows: 1_000_000,
    minRows: 4096,
    batchSize: 256,
    describe: 'label int32, pixels fixed_size_list<uint8>[784]; file version 2.1',
  },
  seed000: {
    key: 'seed000',
    kind: 'seed000',
    version: '2.1',
    fullRows: 500,
    minRows: 500,
    batchSize: 16,
    npyColumn: { name: 'tensor', dim: 105_600 },
    describe: 'id int64, tensor fixed_size_list<float32>[105600] (~422 KB); file version 2.1',
  },
  images: {
    key: 'images',
    kind: 'images',
    version: '2.1',
    fullRows: 20_000,
    minRows: 512,
    batchSize: 256,
    describe:
      'id int64, label int32, image binary 20–120 KB (random bytes between JPEG SOI/EOI markers); file version 2.1',
  },
};

/** A generated dataset as the methods see it. */
export interface SuiteDataset {
  key: DatasetKey;
  rows: number;
  batchSize: number;
  path: string;
  tableName: string;
  dataFiles: { path: string; sizeBytes: number }[];
  dataBytes: number;
  /** Stored bytes per row (data files / rows): the read size of the raw-pread ceiling. */
  rowBytes: number;
  /** Directory of the NumPy batch-file store, when the dataset has one. */
  npyDir?: string;
  npyColumn?: { name: string; dim: number };
}

export type MethodName = 'lance-loader' | 'lancedb' | 'numpy-files' | 'raw-pread';

/** What a method process is asked to do. */
export interface MethodTask {
  method: MethodName;
  dataset: SuiteDataset;
  seed: number;
  /** The epoch whose batches every method reads (the same BatchSampler order for all). */
  epoch: number;
  /** Time cap per measurement: a measurement stops after the batch that crosses it (complete: false). */
  maxSeconds: number;
  /** Extra epochs lance-loader runs to show RSS stays flat (0 = skip). */
  rssEpochs: number;
  /** Memory budget given to the loader (memoryBytes). */
  memoryBytes: number;
  quick: boolean;
  resultFile: string;
  /** The part of the method to run, for methods run in several processes (run.ts METHOD_PARTS); all when absent. */
  part?: string;
}

/** /proc/self/io deltas: bytes passed through read syscalls (page cache or not), read syscalls, bytes from the block device. */
export interface ProcIo {
  rchar: number;
  syscr: number;
  readBytes: number;
}

/** One timed run of one method variant on one dataset. */
export interface Measurement {
  method: MethodName;
  /** e.g. 'epoch warm', 'epoch cold O_DIRECT', 'take ×4 cold', 'scan warm', 'pread 4 threads O_DIRECT', 'fio qd32'. */
  variant: string;
  cache: 'warm' | 'cold' | 'direct' | 'n/a';
  rows: number;
  ms: number;
  rowsPerSecond: number;
  /** False when the time cap stopped the run before the epoch ended (the rate is over the rows done). */
  complete: boolean;
  firstBatchMs?: number;
  bytesRead?: number;
  bytesDelivered?: number;
  readsIssued?: number;
  rangesRequested?: number;
  consumerWaitMs?: number;
  consumerWaitShare?: number;
  decodeMs?: number;
  peakRssBytes?: number;
  /** Peak RSS of each extra epoch (lance-loader RSS flatness). */
  rssPerEpochBytes?: number[];
  proc?: ProcIo;
  /** Page-cache bytes of the dataset's files just before the timed part (fincore), for cold runs. */
  cachedBeforeBytes?: number;
  note?: string;
}

export interface MethodResult {
  method: MethodName;
  dataset: DatasetKey;
  measurements: Measurement[];
  /** Why a method or variant did not run, or failed. */
  skipped: string[];
  errors: string[];
}

/** The shuffled batches of `epoch`: the same sampler the loader builds from (numRows, batchSize, seed). */
export function createSampler(dataset: SuiteDataset, seed: number): BatchSampler {
  return new BatchSampler({
    numRows: dataset.rows,
    batchSize: dataset.batchSize,
    shuffle: 'global',
    seed,
    dropLast: false,
    rank: 0,
    worldSize: 1,
  });
}

export function readProcIo(): ProcIo {
  const text = readFileSync('/proc/self/io', 'utf8');
  const get = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rchar: get('rchar'), syscr: get('syscr'), readBytes: get('read_bytes') };
}

export function procIoSince(before: ProcIo): ProcIo {
  const now = readProcIo();
  return {
    rchar: now.rchar - before.rchar,
    syscr: now.syscr - before.syscr,
    readBytes: now.readBytes - before.readBytes,
  };
}

/** Samples process RSS every 50 ms; `peak()` is the highest since the last `reset()`. */
export function createRssSampler(): { peak(): number; reset(): void; stop(): void } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  timer.unref();
  return {
    peak: () => Math.max(peak, process.memoryUsage.rss()),
    reset: () => {
      peak = process.memoryUsage.rss();
    },
    stop: () => clearInterval(timer),
  };
}

/** A measurement from rows done and elapsed time. */
export function rate(rows: number, ms: number): number {
  return ms > 0 ? (rows / ms) * 1000 : 0;
}

/**
 * The entry point of a method process: reads the task file named by argv[2], runs `body`, writes the
 * result file. A thrown error is recorded in `errors` and the process still exits 0 with its result, so
 * the suite reports it instead of dying.
 */
export async function runMethodProcess(body: (task: MethodTask, result: MethodResult) => Promise<void>): Promise<void> {
  const taskFile = process.argv[2];
  if (!taskFile) throw new Error('usage: tsx bench/methods/<method>.ts <task.json>');
  const task = JSON.parse(readFileSync(taskFile, 'utf8')) as MethodTask;
  const result: MethodResult = {
    method: task.method,
    dataset: task.dataset.key,
    measurements: [],
    skipped: [],
    errors: [],
  };
  const started = performance.now();
  try {
    await body(task, result);
  } catch (error) {
    const e = error as Error & { code?: string };
    result.errors.push(`${e.code ? `${e.code}: ` : ''}${e.stack ?? e.message}`);
  }
  writeFileSync(task.resultFile, JSON.stringify(result, null, 2));
  log(task, `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // Threads or handles a failed variant left behind must not keep the process (and the suite) waiting.
  process.exit(0);
}

/** Progress on stderr, prefixed with the method and dataset. */
export function log(task: MethodTask, message: string): void {
  process.stderr.write(`  [${task.method} ${task.dataset.key}] ${message}\n`);
}

/** Formats a measurement line for progress output. */
export function describe(m: Measurement): string {
  return `${m.variant}: ${Math.round(m.rowsPerSecond).toLocaleString('en-US')} rows/s (${m.rows} rows in ${(m.ms / 1000).toFixed(2)} s${m.complete ? '' : ', time cap'})`;
}

/**
 * Times a warm full scan: one short untimed pass, then a pass capped at `task.maxSeconds`. `batches`
 * yields each batch's rows and value bytes.
 */
export async function measureWarmScan(
  task: MethodTask,
  rss: ReturnType<typeof createRssSampler>,
  method: Measurement['method'],
  batches: () => AsyncIterable<{ rows: number; bytes: number }>,
  variant = 'scan warm',
): Promise<Measurement> {
  const pass = async (deadline: number) => {
    let rows = 0;
    let bytes = 0;
    let complete = true;
    for await (const batch of batches()) {
      rows += batch.rows;
      bytes += batch.bytes;
      if (performance.now() > deadline && rows < task.dataset.rows) {
        complete = false;
        break;
      }
    }
    return { rows, bytes, complete };
  };
  await pass(performance.now() + Math.min(2000, task.maxSeconds * 250));
  const io = readProcIo();
  rss.reset();
  const t0 = performance.now();
  const run = await pass(t0 + task.maxSeconds * 1000);
  const ms = performance.now() - t0;
  const m: Measurement = {
    method,
    variant,
    cache: 'warm',
    rows: run.rows,
    ms,
    rowsPerSecond: rate(run.rows, ms),
    complete: run.complete,
    bytesDelivered: run.bytes,
    peakRssBytes: rss.peak(),
    proc: procIoSince(io),
  };
  log(task, describe(m));
  return m;
}

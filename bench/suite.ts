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
import { cachedBytes, evictFiles, type BenchKind, type DatasetWriter, type FileVersion } from './datasets.js';

/**
 * The warm-up every method gets before a warm measurement (measureWarm): one whole pass over another
 * epoch's batches (or, for scans, one whole scan), untimed, stopped after at most this many seconds (and
 * the run's maxSeconds): threads started, hot paths JIT-compiled, metadata and page caches filled, heaps
 * grown to their working size, as in a training run's second epoch (a first epoch runs slower than later
 * ones in the same process).
 */
export const WARM_UP_MAX_SECONDS = 30;

/**
 * Warm rates are timed over whole epochs (the suite's epoch, then the ones after it, the same sequence for
 * every method) until at least this many seconds are timed: one epoch of emb takes lance-loader under half
 * a second, too short to be measured reliably on a shared machine.
 */
export const MIN_WARM_TIMED_SECONDS = 3;

/** The warm-up reads this epoch after the suite's, so the timed epochs' batches are not the ones it just read. */
export const WARM_UP_EPOCH_OFFSET = 1000;

/** When a warm method's untimed warm-up pass stops, if it has not ended by then. */
export function warmUpDeadline(task: { maxSeconds: number }): number {
  return performance.now() + Math.min(task.maxSeconds, WARM_UP_MAX_SECONDS) * 1000;
}

export type DatasetKey =
  'emb-2.1' | 'emb-2.0' | 'emb-2.2' | 'emb-2.2-ours' | 'mnist' | 'mnist-2.2' | 'seed000' | 'images' | 'tokens';
export const DATASET_KEYS: readonly DatasetKey[] = [
  'emb-2.1',
  'emb-2.0',
  'emb-2.2',
  'emb-2.2-ours',
  'mnist',
  'mnist-2.2',
  'seed000',
  'images',
  'tokens',
];

/** A list column the loader pads to `length` items per row (loader options.pad) in the suite's epochs. */
export interface PaddedColumn {
  column: string;
  length: number;
}

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
  /** The list column lance-loader's shuffled epochs pad (its ragged epoch is measured warm beside it). */
  pad?: PaddedColumn;
  /** Who writes the dataset (LanceDB unless said). */
  writer?: DatasetWriter;
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
  // emb-2.2 and mnist-2.2: the same values written as file version 2.2, LanceDB 0.39's default.
  'emb-2.2': {
    key: 'emb-2.2',
    kind: 'emb',
    version: '2.2',
    fullRows: 200_000,
    minRows: 2048,
    batchSize: 256,
    describe: 'id int64, label int32, x fixed_size_list<float32>[768]; file version 2.2',
  },
  // The same values written by lance-loader's writeDataset: our files read through both loaders.
  'emb-2.2-ours': {
    key: 'emb-2.2-ours',
    kind: 'emb',
    version: '2.2',
    fullRows: 200_000,
    minRows: 2048,
    batchSize: 256,
    writer: 'lance-loader',
    describe: 'emb-2.2 written by lance-loader (writeDataset) instead of LanceDB; file version 2.2',
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
  'mnist-2.2': {
    key: 'mnist-2.2',
    kind: 'mnist',
    version: '2.2',
    fullRows: 1_000_000,
    minRows: 4096,
    batchSize: 256,
    describe: 'label int32, pixels fixed_size_list<uint8>[784]; file version 2.2',
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
  tokens: {
    key: 'tokens',
    kind: 'tokens',
    version: '2.2',
    fullRows: 1_000_000,
    minRows: 4096,
    batchSize: 256,
    pad: { column: 'tokens', length: 512 },
    describe:
      'id int64, tokens list<int32> of 64–1024 Zipf-distributed ids over 32k (mean ~300), padded to 512 by lance-loader; file version 2.2',
  },
};

/** A cold variant of lance-loader's shuffled epoch. */
export interface LoaderColdVariant {
  name: string;
  /** The run.ts part (process) it runs in. */
  part: string;
  cache: 'cold' | 'direct';
  direct: boolean;
  creation: Creation;
}

/**
 * lance-loader's cold variants (methods/lance-loader.ts), each run in a process of its own (`part`,
 * run.ts METHOD_PARTS). "incl. creation" times createLoader with the epoch, as LanceDB's cold takes time
 * their open; the others time the epoch after a createLoader on evicted files (measureCold).
 */
export const LOADER_COLD_VARIANTS: readonly LoaderColdVariant[] = [
  {
    name: 'epoch cold O_DIRECT incl. creation',
    part: 'cold O_DIRECT incl. creation',
    cache: 'direct',
    direct: true,
    creation: 'timed',
  },
  { name: 'epoch cold O_DIRECT', part: 'cold O_DIRECT', cache: 'direct', direct: true, creation: 'before eviction' },
  {
    name: 'epoch cold buffered incl. creation',
    part: 'cold buffered incl. creation',
    cache: 'cold',
    direct: false,
    creation: 'timed',
  },
  { name: 'epoch cold buffered', part: 'cold buffered', cache: 'cold', direct: false, creation: 'before eviction' },
];

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
  pad?: PaddedColumn;
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
  /**
   * Time to open before the first batch could be asked for: createLoader, LanceDB's connect + openTable,
   * the NPY store's index. Part of `ms` in the variants that time creation (cold "… incl. creation",
   * LanceDB and NumPy cold), outside it otherwise.
   */
  createMs?: number;
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

/**
 * The process's resident memory other than mapped file pages: RssAnon + RssShmem from /proc/self/status
 * (heaps, buffers, shared memory). RssFile is left out: a method that maps files (lance-loader's warm
 * buffered reads, `io.mapped`) sees the page cache it touches there, memory the kernel owns and reclaims,
 * which a method reading with pread holds too without it showing in its RSS. Falls back to the whole RSS
 * where the fields are missing.
 */
function ownedRss(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const anon = /^RssAnon:\s+(\d+) kB/m.exec(status);
  const shmem = /^RssShmem:\s+(\d+) kB/m.exec(status);
  if (!anon || !shmem) return process.memoryUsage.rss();
  return (Number(anon[1]) + Number(shmem[1])) * 1024;
}

/** Samples ownedRss every 50 ms; `peak()` is the highest since the last `reset()`. */
export function createRssSampler(): { peak(): number; reset(): void; stop(): void } {
  let peak = ownedRss();
  const timer = setInterval(() => {
    peak = Math.max(peak, ownedRss());
  }, 50);
  timer.unref();
  return {
    peak: () => Math.max(peak, ownedRss()),
    reset: () => {
      peak = ownedRss();
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * An Arrow Data as far as counting its bytes goes: lance-loader and LanceDB each hand out their own
 * apache-arrow copy's classes, so the type is structural.
 */
export interface ArrowDataLike {
  values?: { byteLength: number };
  valueOffsets?: { byteLength: number };
  nullBitmap?: { byteLength: number };
  children: ArrowDataLike[];
}

/** Value bytes of a record batch's data: every column's buffers (values, offsets, validity), children included. */
export function recordBatchBytes(batchData: ArrowDataLike): number {
  const bytesOf = (data: ArrowDataLike): number =>
    (data.values?.byteLength ?? 0) +
    (data.valueOffsets?.byteLength ?? 0) +
    (data.nullBitmap?.byteLength ?? 0) +
    data.children.reduce((sum, child) => sum + bytesOf(child), 0);
  return batchData.children.reduce((sum, column) => sum + bytesOf(column), 0);
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

/** What one pass over a method's batches (one epoch, or one whole scan) did. */
export interface PassResult {
  rows: number;
  /** False when the deadline stopped the pass before its end. */
  complete: boolean;
  firstBatchMs?: number;
  /** Value bytes handed to the consumer, when the method counts them. */
  bytes?: number;
}

/** A measurement's timing, without its method and variant. */
export type Timing = Pick<
  Measurement,
  | 'rows'
  | 'ms'
  | 'rowsPerSecond'
  | 'complete'
  | 'firstBatchMs'
  | 'createMs'
  | 'bytesDelivered'
  | 'peakRssBytes'
  | 'proc'
  | 'cachedBeforeBytes'
>;

/**
 * The warm protocol, the same for every method and scan: a warm-up pass over another epoch
 * (WARM_UP_EPOCH_OFFSET), untimed, stopped at warmUpDeadline; then whole passes timed, the suite's
 * epoch first, then the ones after it, until at least MIN_WARM_TIMED_SECONDS are timed (or the run's
 * maxSeconds stops a pass). `pass(epoch, deadline)` reads one epoch's batches, stopping after the batch
 * that crosses `deadline`; `onTimedStart` runs just before the clock starts (to take counters).
 */
export async function measureWarm(
  task: MethodTask,
  rss: ReturnType<typeof createRssSampler>,
  pass: (epoch: number, deadline: number) => Promise<PassResult>,
  onTimedStart?: () => void,
): Promise<Timing> {
  await pass(task.epoch + WARM_UP_EPOCH_OFFSET, warmUpDeadline(task));
  onTimedStart?.();
  const io = readProcIo();
  rss.reset();
  const t0 = performance.now();
  const deadline = t0 + task.maxSeconds * 1000;
  const first = await pass(task.epoch, deadline);
  let { rows, complete } = first;
  let bytes = first.bytes;
  for (let epoch = task.epoch + 1; complete && performance.now() - t0 < MIN_WARM_TIMED_SECONDS * 1000; epoch++) {
    const more = await pass(epoch, deadline);
    rows += more.rows;
    complete = more.complete;
    if (bytes !== undefined) bytes += more.bytes ?? 0;
  }
  const ms = performance.now() - t0;
  return {
    rows,
    ms,
    rowsPerSecond: rate(rows, ms),
    complete,
    firstBatchMs: first.firstBatchMs,
    ...(bytes !== undefined ? { bytesDelivered: bytes } : {}),
    peakRssBytes: rss.peak(),
    proc: procIoSince(io),
  };
}

/**
 * One scan pass for measureWarm: counts what `batches` yields (each batch's rows and value bytes) and
 * stops after the batch that crosses `deadline`.
 */
export async function scanPass(
  task: MethodTask,
  batches: AsyncIterable<{ rows: number; bytes: number }>,
  deadline: number,
): Promise<PassResult> {
  const run = { rows: 0, complete: true, bytes: 0 };
  for await (const batch of batches) {
    run.rows += batch.rows;
    run.bytes += batch.bytes;
    if (performance.now() > deadline && run.rows < task.dataset.rows) {
      run.complete = false;
      break;
    }
  }
  return run;
}

/** How a cold measurement treats opening (createLoader, LanceDB's openTable, the NPY index). */
export type Creation = 'timed' | 'before eviction';

/**
 * A cold measurement of one pass over the suite's epoch. Every file is evicted first, so opening reads
 * the manifest, file footers and column metadata from the disk as well.
 *
 *   'timed'             evict → [open → pass]: opening is part of the time (createMs says how much), as a
 *                       training job's first epoch pays it; LanceDB's and NumPy's cold numbers are this
 *   'before eviction'   evict → open → evict again → [pass]: the epoch alone, after whatever opening keeps
 *                       in memory (the loader's decoded small columns, warmed-up workers)
 *
 * `files` must hold every file `open` and `pass` read (datasets.ts datasetFiles), or the page cache
 * serves some of them. The handle is closed before returning; `details` reads its counters first.
 */
export async function measureCold<H>(
  task: MethodTask,
  rss: ReturnType<typeof createRssSampler>,
  run: {
    files: readonly string[];
    creation: Creation;
    open: () => Promise<H>;
    pass: (handle: H, deadline: number) => Promise<PassResult>;
    close: (handle: H) => Promise<void> | void;
    onTimedStart?: (handle: H) => void;
    details?: (handle: H, ms: number) => Partial<Measurement>;
  },
): Promise<Timing & Partial<Measurement>> {
  evictFiles(run.files);
  let handle: H | undefined;
  let createMs = NaN;
  const open = async () => {
    const c0 = performance.now();
    handle = await run.open();
    createMs = performance.now() - c0;
    return handle;
  };
  try {
    if (run.creation === 'before eviction') {
      await open();
      evictFiles(run.files);
    }
    const cachedBeforeBytes = cachedBytes(run.files);
    const io = readProcIo();
    rss.reset();
    const t0 = performance.now();
    const opened = handle ?? (await open());
    run.onTimedStart?.(opened);
    const p = await run.pass(opened, t0 + task.maxSeconds * 1000);
    const ms = performance.now() - t0;
    return {
      rows: p.rows,
      ms,
      rowsPerSecond: rate(p.rows, ms),
      complete: p.complete,
      firstBatchMs: p.firstBatchMs,
      createMs,
      ...(p.bytes !== undefined ? { bytesDelivered: p.bytes } : {}),
      peakRssBytes: rss.peak(),
      proc: procIoSince(io),
      ...(cachedBeforeBytes !== undefined ? { cachedBeforeBytes } : {}),
      ...run.details?.(opened, ms),
    };
  } finally {
    if (handle !== undefined) await run.close(handle);
  }
}

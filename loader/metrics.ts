/**
 * Loader metrics: what the loader did, how long the consumer waited for it, and what each part of the
 * memory budget holds. Workers report their parts with every batch they load; the loader keeps each
 * worker's latest report and sums them.
 */
import type { WorkerReads } from '../decode-workers/messages.js';
import type { ReadEngine } from '../io/native-read.js';
import { addReadStats, emptyReadStats, type ReadStats } from '../io/source.js';
import type { MemoryPartUse, WorkerMemoryUse } from '../decode-workers/messages.js';
import { MEMORY_PARTS, type MemoryBudget, type MemoryPart } from './budget.js';

/**
 * One part of the memory budget: bytes planned for it, allocated now (memory the part holds, resident
 * once touched), of them holding live data now, and the most allocated at once.
 */
export interface MemoryPartMetrics {
  plannedBytes: number;
  allocatedBytes: number;
  inUseBytes: number;
  /** For per-worker parts, the sum of each worker's peak (an upper bound of their peaks at one time). */
  peakBytes: number;
}

/**
 * The memory budget by part: `slots` (batch slots; in use: those holding a batch), `variable` (the slots'
 * variable-width memory; in use: their batches' values), and summed over workers `readMemory` (read
 * slabs; in use: leased), `pageCaches` (decoded pages kept), `decodeScratch` and `transformScratch`;
 * for a remote dataset `remote` (bytes of requests in flight from all workers when the last batch came).
 * Worker parts are as of each worker's last batch.
 */
export interface LoaderMemoryMetrics {
  /** options.memoryBytes. */
  budgetBytes: number;
  parts: Record<MemoryPart, MemoryPartMetrics>;
  /** Sums over the parts: plannedBytes (at most budgetBytes), allocatedBytes and inUseBytes. */
  plannedBytes: number;
  allocatedBytes: number;
  inUseBytes: number;
}

type MainPart = 'slots' | 'variable' | 'remote';
type WorkerPart = Exclude<MemoryPart, MainPart>;

/** The budget's parts as the main thread and the workers report them. */
export interface MemoryTracker {
  /** What a part the main thread owns holds now. */
  setMain(part: MainPart, allocated: number, inUse: number): void;
  /** A worker's latest report of its parts; reports of threads not in `live` (workers that died) are dropped. */
  setWorker(use: WorkerMemoryUse, live: readonly number[]): void;
  snapshot(): LoaderMemoryMetrics;
}

function createMemoryTracker(budget: MemoryBudget): MemoryTracker {
  const main: Record<MainPart, MemoryPartUse> = {
    slots: { allocated: 0, inUse: 0, peak: 0 },
    variable: { allocated: 0, inUse: 0, peak: 0 },
    remote: { allocated: 0, inUse: 0, peak: 0 },
  };
  const workers = new Map<number, WorkerMemoryUse>();
  const usage = (part: MemoryPart): MemoryPartUse => {
    if (part === 'slots' || part === 'variable' || part === 'remote') return main[part];
    const sum = { allocated: 0, inUse: 0, peak: 0 };
    for (const use of workers.values()) {
      const one = use[part as WorkerPart];
      sum.allocated += one.allocated;
      sum.inUse += one.inUse;
      sum.peak += one.peak;
    }
    return sum;
  };
  return {
    setMain(part, allocated, inUse) {
      main[part] = { allocated, inUse, peak: Math.max(main[part].peak, allocated) };
    },
    setWorker(use, live) {
      workers.set(use.worker, use);
      for (const id of workers.keys()) if (!live.includes(id)) workers.delete(id);
    },
    snapshot() {
      const parts = {} as Record<MemoryPart, MemoryPartMetrics>;
      const total = { plannedBytes: 0, allocatedBytes: 0, inUseBytes: 0 };
      for (const part of MEMORY_PARTS) {
        const { allocated, inUse, peak } = usage(part);
        parts[part] = {
          plannedBytes: budget.parts[part],
          allocatedBytes: allocated,
          inUseBytes: inUse,
          peakBytes: peak,
        };
        total.plannedBytes += budget.parts[part];
        total.allocatedBytes += allocated;
        total.inUseBytes += inUse;
      }
      return { budgetBytes: budget.memoryBytes, parts, ...total };
    },
  };
}

export interface LoaderMetrics {
  batches: number;
  rows: number;
  /** Rows delivered per second since the loader was created. */
  rowsPerSecond: number;
  elapsedMs: number;
  /** Bytes read from files, and bytes of column values handed to the consumer. */
  bytesRead: number;
  bytesDelivered: number;
  /** Reads issued to the OS, and byte ranges the planner asked for (ranges per read = coalescing ratio). */
  readsIssued: number;
  rangesRequested: number;
  coalescingRatio: number;
  /**
   * Of readsIssued, those copied out of a read-only mapping of the file, with no system call: buffered
   * reads (`io.direct: false`, or `'auto'` choosing buffered, e.g. on tmpfs) of pages already in the
   * page cache.
   */
  mappedReads: number;
  /** Time the consumer spent waiting inside the iterator for a batch. */
  consumerWaitMs: number;
  /**
   * Time batches spent being planned and read (waiting for the disk included), and decoded, summed over
   * batches: a worker has up to two batches in progress at once, so the read time can exceed wall time.
   */
  readMs: number;
  decodeMs: number;
  /** Time the workers spent in transforms (decodeImage and the other steps), summed over batches. */
  transformMs: number;
  /** Rows that transforms could not make and that onError 'skip' replaced with another row. */
  skippedRows: number;
  /**
   * How the workers read, as they report it with each batch: `addon` whether the native addon is loaded
   * in every worker, `engine` the slowest read engine any of them uses (`io_uring`, else `pread`, else
   * `fs.readSync` without the addon). Null until the first batch has been loaded.
   */
  native: WorkerReads | null;
  memory: LoaderMemoryMetrics;
}

export interface MetricsCounters {
  batches: number;
  rows: number;
  bytesDelivered: number;
  consumerWaitMs: number;
  readMs: number;
  decodeMs: number;
  transformMs: number;
  skippedRows: number;
  /** Adds one batch's read counters (from the worker that loaded it). */
  addReads(reads: ReadStats): void;
  /** Adds how the worker that loaded a batch reads. */
  addNative(native: WorkerReads): void;
  memory: MemoryTracker;
  snapshot(): LoaderMetrics;
}

const ENGINES_FASTEST_FIRST: readonly ReadEngine[] = ['io_uring', 'pread', 'fs.readSync'];

export function createLoaderMetrics(budget: MemoryBudget): MetricsCounters {
  const started = performance.now();
  const reads = emptyReadStats();
  let native: WorkerReads | null = null;
  const counters: MetricsCounters = {
    batches: 0,
    rows: 0,
    bytesDelivered: 0,
    consumerWaitMs: 0,
    readMs: 0,
    decodeMs: 0,
    transformMs: 0,
    skippedRows: 0,
    addReads(batch) {
      addReadStats(reads, batch);
    },
    addNative(worker) {
      native =
        native === null
          ? { ...worker }
          : {
              addon: native.addon && worker.addon,
              engine:
                ENGINES_FASTEST_FIRST.indexOf(worker.engine) > ENGINES_FASTEST_FIRST.indexOf(native.engine)
                  ? worker.engine
                  : native.engine,
            };
    },
    memory: createMemoryTracker(budget),
    snapshot() {
      const { bytesRead, readsIssued, rangesRequested } = reads;
      const elapsedMs = performance.now() - started;
      return {
        batches: counters.batches,
        rows: counters.rows,
        rowsPerSecond: elapsedMs > 0 ? (counters.rows / elapsedMs) * 1000 : 0,
        elapsedMs,
        bytesRead,
        bytesDelivered: counters.bytesDelivered,
        readsIssued,
        rangesRequested,
        coalescingRatio: readsIssued > 0 ? rangesRequested / readsIssued : 0,
        mappedReads: reads.mappedReads,
        consumerWaitMs: counters.consumerWaitMs,
        readMs: counters.readMs,
        decodeMs: counters.decodeMs,
        transformMs: counters.transformMs,
        skippedRows: counters.skippedRows,
        native: native && { ...native },
        memory: counters.memory.snapshot(),
      };
    },
  };
  return counters;
}

/**
 * Loader metrics: what the loader did, how long the consumer waited for it, and what each part of the
 * memory budget holds. Workers report their parts with every batch they load; the loader keeps each
 * worker's latest report and sums them.
 */
import { addReadStats, emptyReadStats, type ReadStats } from '../io/source.js';
import type { WorkerMemoryUse } from '../decode-workers/messages.js';
import { MEMORY_PARTS, type MemoryBudget, type MemoryPart } from './budget.js';

/** One part of the memory budget: bytes planned for it, held now, and the most held. */
export interface MemoryPartMetrics {
  plannedBytes: number;
  usedBytes: number;
  /** For per-worker parts, the sum of each worker's peak (an upper bound of their peaks at one time). */
  peakBytes: number;
}

/**
 * The memory budget by part: `slots` (batch slots holding a batch), `variable` (their variable-width
 * values), and summed over workers `readMemory` (read slabs held), `pageCaches` (decoded pages kept),
 * `decodeScratch` and `transformScratch`. Worker parts are as of each worker's last batch.
 */
export interface LoaderMemoryMetrics {
  /** options.memoryBytes. */
  budgetBytes: number;
  parts: Record<MemoryPart, MemoryPartMetrics>;
  /** Sums of the parts' plannedBytes (at most budgetBytes) and usedBytes. */
  plannedBytes: number;
  usedBytes: number;
}

/** The budget's parts as the main thread and the workers report them. */
export interface MemoryTracker {
  /** The bytes a part the main thread owns holds now. */
  setMain(part: 'slots' | 'variable', bytes: number): void;
  /** A worker's latest report of its parts. */
  setWorker(use: WorkerMemoryUse): void;
  snapshot(): LoaderMemoryMetrics;
}

type WorkerPart = Exclude<MemoryPart, 'slots' | 'variable'>;

function createMemoryTracker(budget: MemoryBudget): MemoryTracker {
  const main = { slots: { inUse: 0, peak: 0 }, variable: { inUse: 0, peak: 0 } };
  const workers = new Map<number, WorkerMemoryUse>();
  const usage = (part: MemoryPart): { inUse: number; peak: number } => {
    if (part === 'slots' || part === 'variable') return main[part];
    const sum = { inUse: 0, peak: 0 };
    for (const use of workers.values()) {
      sum.inUse += use[part as WorkerPart].inUse;
      sum.peak += use[part as WorkerPart].peak;
    }
    return sum;
  };
  return {
    setMain(part, bytes) {
      main[part].inUse = bytes;
      main[part].peak = Math.max(main[part].peak, bytes);
    },
    setWorker(use) {
      workers.set(use.worker, use);
    },
    snapshot() {
      const parts = {} as Record<MemoryPart, MemoryPartMetrics>;
      let plannedBytes = 0;
      let usedBytes = 0;
      for (const part of MEMORY_PARTS) {
        const { inUse, peak } = usage(part);
        parts[part] = { plannedBytes: budget.parts[part], usedBytes: inUse, peakBytes: peak };
        plannedBytes += budget.parts[part];
        usedBytes += inUse;
      }
      return { budgetBytes: budget.memoryBytes, parts, plannedBytes, usedBytes };
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
  /** Time the consumer spent waiting inside the iterator for a batch. */
  consumerWaitMs: number;
  /**
   * Time batches spent being planned and read (waiting for the disk included), and decoded, summed over
   * batches: a worker has up to two batches in progress at once, so the read time can exceed wall time.
   */
  readMs: number;
  decodeMs: number;
  memory: LoaderMemoryMetrics;
}

export interface MetricsCounters {
  batches: number;
  rows: number;
  bytesDelivered: number;
  consumerWaitMs: number;
  readMs: number;
  decodeMs: number;
  /** Adds one batch's read counters (from the worker that loaded it). */
  addReads(reads: ReadStats): void;
  memory: MemoryTracker;
  snapshot(): LoaderMetrics;
}

export function createLoaderMetrics(budget: MemoryBudget): MetricsCounters {
  const started = performance.now();
  const reads = emptyReadStats();
  const counters: MetricsCounters = {
    batches: 0,
    rows: 0,
    bytesDelivered: 0,
    consumerWaitMs: 0,
    readMs: 0,
    decodeMs: 0,
    addReads(batch) {
      addReadStats(reads, batch);
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
        consumerWaitMs: counters.consumerWaitMs,
        readMs: counters.readMs,
        decodeMs: counters.decodeMs,
        memory: counters.memory.snapshot(),
      };
    },
  };
  return counters;
}

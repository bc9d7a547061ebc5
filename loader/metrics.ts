/**
 * Loader metrics: what the loader did and how long the consumer waited for it.
 */
import type { WorkerReads } from '../decode-workers/messages.js';
import type { ReadEngine } from '../io/native-read.js';
import { addReadStats, emptyReadStats, type ReadStats } from '../io/source.js';

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
  /**
   * How the workers read, as they report it with each batch: `addon` whether the native addon is loaded
   * in every worker, `engine` the slowest read engine any of them uses (`io_uring`, else `pread`, else
   * `fs.readSync` without the addon). Null until the first batch has been loaded.
   */
  native: WorkerReads | null;
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
  /** Adds how the worker that loaded a batch reads. */
  addNative(native: WorkerReads): void;
  snapshot(): LoaderMetrics;
}

const ENGINES_FASTEST_FIRST: readonly ReadEngine[] = ['io_uring', 'pread', 'fs.readSync'];

export function createLoaderMetrics(): MetricsCounters {
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
        native: native && { ...native },
      };
    },
  };
  return counters;
}

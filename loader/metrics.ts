/**
 * Loader metrics: what the loader did and how long the consumer waited for it.
 */
import type { ReadStats } from '../io/source.js';

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
  /** Time workers spent decoding (summed over workers). */
  decodeMs: number;
}

export interface MetricsCounters {
  batches: number;
  rows: number;
  bytesDelivered: number;
  consumerWaitMs: number;
  decodeMs: number;
  snapshot(sources: ReadStats[]): LoaderMetrics;
}

export function createLoaderMetrics(): MetricsCounters {
  const started = performance.now();
  const counters: MetricsCounters = {
    batches: 0,
    rows: 0,
    bytesDelivered: 0,
    consumerWaitMs: 0,
    decodeMs: 0,
    snapshot(sources) {
      let bytesRead = 0;
      let readsIssued = 0;
      let rangesRequested = 0;
      for (const stats of sources) {
        bytesRead += stats.bytesRead;
        readsIssued += stats.readsIssued;
        rangesRequested += stats.rangesRequested;
      }
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
        decodeMs: counters.decodeMs,
      };
    },
  };
  return counters;
}

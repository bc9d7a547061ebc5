/**
 * The messages between the loader and its workers, typed in one place. Everything here is plain
 * structured-clone data: SharedArrayBuffers and views over them travel by reference (never in a
 * transfer list), other typed arrays are copied.
 *
 *   main ── LoadJob { dataset (how to open it), rows (one batch), outputs (where each column lives) } ──► worker
 *   main ◄── LoadJobResult { ok, variable columns (fresh shared memory), decodeMs, reads (counters) } ── worker
 *
 * A worker opens the dataset itself on its first job (manifest, file metadata, its own file descriptors)
 * and keeps it for later jobs, so a job is only row offsets and output locations: the main thread never
 * plans, reads or decodes.
 */
import type { ErrorRecord } from '../errors.js';
import type { ReadEngine } from '../io/native-read.js';
import type { ReadStats } from '../io/source.js';

/** Where one output column of a batch lives. */
export type OutputDescriptor =
  | {
      kind: 'fixed';
      /** The batch slot's shared memory. */
      buffer: SharedArrayBuffer;
      byteOffset: number;
      byteWidth: number;
      numSlots: number;
      /** Byte offset of one validity byte per slot, or -1 when the column is not nullable. */
      validityOffset: number;
    }
  | {
      kind: 'variable';
      numSlots: number;
      nullable: boolean;
      /** Memory this slot's previous batch used for the column, free again: reused when big enough. */
      reuse: SharedArrayBuffer | null;
    };

/** How a worker opens and reads the loader's dataset: the same for every job of a loader. */
export interface DatasetRef {
  /** The dataset directory and the version the loader opened. */
  path: string;
  version: number;
  /** The columns to load, in output order. */
  columns: string[];
  /** O_DIRECT, as DirectFileSourceOptions.direct. */
  direct: boolean | 'auto';
  queueDepth: number;
  bytesInFlight: number;
  maxGapBytes: number;
  maxReadBytes: number;
  /** This worker's share of the read-memory budget, and its budget of decoded small pages. */
  readMemoryBytes: number;
  /**
   * Batches a worker loads at once (Piscina's concurrentTasksPerWorker): one is planned or decoded while
   * the others' reads are on the disk. Each lane has its own share of readMemoryBytes and its own files.
   */
  lanes: number;
  /**
   * An average batch's stored bytes (batch size × the dataset's bytes per row). Each lane touches that
   * much of its read memory when the loader is created, so first batches do not wait for page faults.
   */
  batchBytes: number;
  /** The dataset's stored bytes per row (all its columns): how many rows a worker's warm-up reads. */
  rowBytes: number;
  /** An estimate of a batch's bytes per variable-width column, with headroom: workers size their decode scratch to it ahead. */
  variableBytes: number;
  cacheBytes: number;
  /** The loader's memoryBytes, for the message when reads wait too long for memory. */
  memoryBytes: number;
}

/** The `prepare` task: one per worker, all sharing `arrived` (an Int32Array's buffer counting them). */
export interface PrepareJob {
  dataset: DatasetRef;
  arrived: SharedArrayBuffer;
  workers: number;
}

export interface LoadJob {
  dataset: DatasetRef;
  /** Visible row offsets of the batch, in batch order (duplicates allowed). */
  rows: Uint32Array;
  outputs: OutputDescriptor[];
}

/** A variable-width column decoded by a worker, in slot order. */
export interface VariableColumn {
  /** numSlots + 1 byte offsets. */
  offsets: Float64Array;
  /** In shared memory the worker made for this batch: it reaches the main thread by reference. */
  data: Uint8Array;
  validity: Uint8Array | null;
}

/** How a worker reads: whether it loaded the native addon, and its read engine (io/native-read.ts). */
export interface WorkerReads {
  addon: boolean;
  engine: ReadEngine;
}

export type LoadJobResult =
  | {
      ok: true;
      /** How the worker that loaded the batch reads. */
      native: WorkerReads;
      decodeMs: number;
      readMs: number;
      /** What the job's reads did (the worker's source counters over the job). */
      reads: ReadStats;
      variable: (VariableColumn | null)[];
    }
  | { ok: false; error: ErrorRecord };

/**
 * The messages between the loader and its workers, typed in one place. Everything here is plain
 * structured-clone data: SharedArrayBuffers and views over them travel by reference (never in a
 * transfer list), other typed arrays are copied.
 *
 *   main ── LoadJob { dataset (how to open it), rows (one batch), outputs (where each column lives) } ──► worker
 *   main ◄── LoadJobResult { ok, variable columns (views of the slot's memory), decodeMs, reads, memory } ── worker
 *
 * A worker opens the dataset itself when the loader is created, in its `prepare` task (manifest, file
 * metadata, its own file descriptors)
 * and keeps it for later jobs, so a job is only row offsets and output locations: the main thread never
 * plans, reads or decodes.
 */
import type { ErrorRecord } from '../errors.js';
import type { FollowSymlinks } from '../dataset/dataset.js';
import type { RemoteAccess } from '../dataset/storage.js';
import type { ReadEngine } from '../io/native-read.js';
import type { ReadStats } from '../io/source.js';
import type { ColumnTransformPlan } from './transforms/steps.js';
import type { PaddedTarget } from './encodings/list-rows.js';

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
      /**
       * A packed struct: its rows (`byteWidth` bytes, the fields side by side) are decoded into the column's
       * place and then split into one run of values per field, of `byteWidths[f]` bytes each, at
       * `byteOffsets[f]` in the slot (decode-workers/packed-fill.ts).
       */
      packed?: { byteWidths: number[]; byteOffsets: number[] };
    }
  | {
      kind: 'variable';
      numSlots: number;
      nullable: boolean;
    }
  | {
      /**
       * A variable-width column (images as bytes) read like 'variable' and turned by its transform
       * (DatasetRef.transforms) into fixed-size rows of the slot, byteWidth bytes each.
       */
      kind: 'transformed';
      buffer: SharedArrayBuffer;
      byteOffset: number;
      byteWidth: number;
      numSlots: number;
      nullable: boolean;
    }
  | ({
      /** A list column padded to `length` items per row (loader options.pad), in the slot's memory. */
      kind: 'padded';
    } & PaddedTarget);

/**
 * Bytes per row and variable-width column of a batch's decode indexes in a worker: start (8) and length
 * (4) of each value as decoded, a validity byte, and the end offsets in slot order (8). Part of the
 * decode scratch the loader plans.
 */
export const VARIABLE_INDEX_BYTES_PER_ROW = 21;

/** Variable-width columns start at multiples of this in a slot's memory (V8 copies fastest between offsets equal mod 8). */
export const VARIABLE_ALIGN_BYTES = 8;

/** `bytes` rounded up to a multiple of VARIABLE_ALIGN_BYTES: where the next variable-width column starts. */
export const alignVariable = (bytes: number): number => Math.ceil(bytes / VARIABLE_ALIGN_BYTES) * VARIABLE_ALIGN_BYTES;

/**
 * A worker's share of the loader's memory budget (loader/budget.ts plans it): every byte the worker
 * keeps draws from one of these parts, and what does not fit is refused with a ResourceError.
 */
export interface WorkerMemoryPlan {
  /** The loader's options.memoryBytes, for messages. */
  memoryBytes: number;
  /** Read memory (slab pools of every lane, their slack included). */
  readMemoryBytes: number;
  /** Decoded pages of small columns and repetition indexes kept (io.cacheBytes). */
  cacheBytes: number;
  /** Variable-width values decoded before they go to shared memory, their slot indexes and staging. */
  decodeScratchBytes: number;
  /**
   * Transforms: the encoded values of the batches being transformed (kept in the worker while their
   * rows are decoded, one lane at a time) and the largest image one row may decode. 0 without transforms.
   */
  transformScratchBytes: number;
  /** List columns' per-row scratch and levels on the fast path (decode-workers/encodings/list-rows.ts); 0 without. */
  listScratchBytes: number;
  /** A batch slot's memory for all of its variable-width values (the most one batch may have). */
  variableSlotBytes: number;
  /** An average batch's variable-width bytes, per column, with headroom: the decode scratch prepared ahead. */
  variableBytes: number;
  /**
   * A remote dataset's receive memory a worker keeps for its next batches once their values are decoded
   * (io/remote/receive-pool.ts): its share of the `remote` part's fetched values. 0 for a local dataset.
   */
  remoteKeptBytes: number;
}

/**
 * One part of the budget as its owner sees it: bytes allocated (memory the part holds, resident once
 * touched), of them holding live data now, and the most allocated at once.
 */
export interface MemoryPartUse {
  allocated: number;
  inUse: number;
  peak: number;
}

/** What a worker holds of its budget, by part. */
export interface WorkerMemoryUse {
  /** The worker's thread id: the loader keeps the latest report of each worker. */
  worker: number;
  readMemory: MemoryPartUse;
  pageCaches: MemoryPartUse;
  decodeScratch: MemoryPartUse;
  transformScratch: MemoryPartUse;
  listScratch: MemoryPartUse;
}

/** How a worker opens and reads the loader's dataset: the same for every job of a loader. */
export interface DatasetRef {
  /** The dataset directory and the version the loader opened. */
  path: string;
  version: number;
  /** The symlink policy the loader's dataset was opened with (OpenDatasetOptions.followSymlinks; default 'inside'). */
  followSymlinks?: FollowSymlinks;
  /** A remote dataset's storage options and this worker's share of the request limits; absent for local ones. */
  remote?: RemoteAccess;
  /** The columns to load, in output order. */
  columns: string[];
  /** O_DIRECT, as DirectFileSourceOptions.direct. */
  direct: boolean | 'auto';
  /** Buffered reads copied out of a mapping of the file, as DirectFileSourceOptions.mapped (default true). */
  mapped?: boolean;
  queueDepth: number;
  bytesInFlight: number;
  maxGapBytes: number;
  maxReadBytes: number;
  /** This worker's share of the memory budget. */
  memory: WorkerMemoryPlan;
  /**
   * Batches a worker loads at once (Piscina's concurrentTasksPerWorker): one is planned or decoded while
   * the others' reads are on the disk. Each lane has its own share of memory.readMemoryBytes and its own files.
   */
  lanes: number;
  /**
   * An average batch's stored bytes (batch size × the dataset's bytes per row). Each lane touches that
   * much of its read memory when the loader is created, so first batches do not wait for page faults.
   */
  batchBytes: number;
  /** The dataset's stored bytes per row (all its columns): how many rows a worker's warm-up reads. */
  rowBytes: number;
  /**
   * What the loader opened, for workers to check that they open the same (Dataset.fragmentsDigest and
   * Dataset.openedFiles): a worker started after a manifest, deletion file or data file changed (a dead
   * worker's replacement) refuses to load other rows or values than the loader's other workers.
   */
  fragmentsDigest: string;
  /** Device and inode of each data file holding the loaded columns, by absolute path. */
  files: Record<string, string>;
  /** Per column (in `columns` order), its transform, or null; absent without transforms. */
  transforms?: (ColumnTransformPlan | null)[];
  /** Directories external blobs may be read from (LoaderOptions.externalRoots), resolved; absent for none. */
  externalRoots?: string[];
  /** The loader's seed: random transform steps draw from streams seeded per (seed, epoch, row). */
  seed?: number;
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
  /** The epoch the batch belongs to (random transform steps are seeded with it); 0 when absent. */
  epoch?: number;
  outputs: OutputDescriptor[];
  /**
   * The batch slot's memory for variable-width values (memory.variableSlotBytes long), null without
   * variable-width columns: the worker puts the columns one after another in it.
   */
  variableMemory: SharedArrayBuffer | null;
}

/** A variable-width column decoded by a worker, in slot order. */
export interface VariableColumn {
  /** numSlots + 1 byte offsets. */
  offsets: Float64Array;
  /** A view of the slot's variable-width memory (LoadJob.variableMemory): it reaches the main thread by reference. */
  data: Uint8Array;
  validity: Uint8Array | null;
  /** Ragged lists with a null item in the batch: one byte per item (1 = valid), copied to the main thread. */
  itemValidity?: Uint8Array;
  /** Ragged lists decoded by the general nested path: their levels below the rows, copied to the main thread. */
  levels?: RaggedLevels;
}

/**
 * A ragged column's structure below its rows (lists of lists, of strings, of structs), in the slot's order:
 * `values` hold the items back to back, row by row.
 */
export interface RaggedLevels {
  /**
   * Per list level, outermost first: its elements' offsets into the next level's elements (the items,
   * after the last level). The first level's elements are the rows (rows + 1 offsets).
   */
  offsets: Int32Array[];
  /** Per list level after the first: one byte per element, 1 = valid (a null inner list is empty). */
  validity: Uint8Array[];
  /** String and binary items: items + 1 byte offsets into the values; null for fixed-width items. */
  itemOffsets: Int32Array | null;
}

/** A row replaced in its batch by onError 'skip': its batch position, dataset row, and why. */
export interface SkippedRow {
  slot: number;
  row: number;
  /** The row whose values took its place. */
  replacedBy: number;
  message: string;
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
      /** Fixed-size list columns with a null item in the batch: one byte per item, slot-major; else null. */
      itemValidity: (Uint8Array | null)[];
      /** Time spent in transforms (after the decode). */
      transformMs: number;
      /** Rows that transforms could not make and that onError 'skip' replaced (empty without). */
      skipped: SkippedRow[];
      /** The worker's memory after the job. */
      memory: WorkerMemoryUse;
    }
  | { ok: false; error: ErrorRecord };

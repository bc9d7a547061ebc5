/**
 * DataLoader options: the documented defaults and one validation pass with exact messages.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ShuffleMode, SamplerState } from '../samplers/index.js';
import { describeValue } from '../samplers/options.js';
import { isOptionsObject } from '../dataset/file.js';
import { checkExternalRoots } from '../dataset/blobs.js';
import { defaultWorkerCount } from '../decode-workers/pool.js';
import { resolveRemoteIo, type RemoteIoOptions, type ResolvedRemoteIo } from '../io/remote/remote-options.js';
import type { StorageOptions } from '../io/remote/storage-options.js';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import {
  planColumnTransform,
  type ColumnTransform,
  type ColumnTransformPlan,
} from '../decode-workers/transforms/steps.js';

/** The deepest {@link LoaderOptions.prefetch} a remote dataset gets by default, where the memory budget holds it. */
export const REMOTE_PREFETCH = 16;

/** I/O settings of the loader. */
export interface LoaderIoOptions {
  /**
   * O_DIRECT reads: `true` (always; an IoError where the file system refuses), `false` (buffered reads
   * through the page cache), or `'auto'` (default): direct when the dataset's files add up to more than
   * half of the machine's memory, so the page cache cannot hold them, buffered otherwise.
   */
  direct?: boolean | 'auto';
  /**
   * Buffered reads (`direct: false`, or `'auto'` choosing buffered) copied out of a read-only mapping of
   * each data file where its pages are in the page cache (default true, with the native addon): a batch
   * of reads is one copy, with no system call per read. A copy that meets pages not in the page cache
   * (each one a synchronous read) stops within 64 KiB of them, and the rest of the batch and the file's
   * next batches in that worker go through the io_uring queue as without it. A worker maps a file once
   * for all its lanes, and at most min(4096, vm.max_map_count / 8) files are mapped per process; files
   * past that are read as with `false`, which always reads.
   */
  mapped?: boolean;
  /**
   * Merged reads in flight per worker (default 256). With the native addon's io_uring a worker queues
   * its batches' reads on its own ring, at most this many in flight (the ring holds 256); without it,
   * per data file, and async O_DIRECT reads are limited by the libuv threadpool (UV_THREADPOOL_SIZE, 4
   * by default) whatever this says.
   */
  queueDepth?: number;
  /**
   * Bytes of reads in flight per worker with the native addon's io_uring (default 4 MiB; 0: only
   * queueDepth limits). Large reads (images, tensors of hundreds of KB) fill a disk's bandwidth with a
   * few in flight; more only make the batch that is due wait behind the next ones.
   */
  bytesInFlight?: number;
  /** Largest gap of unwanted bytes read to merge two ranges (default 4 KiB: shuffled rows are far apart, so wider gaps mostly read bytes nobody wants). */
  maxGapBytes?: number;
  /** Largest merged read (default 8 MiB). */
  maxReadBytes?: number;
  /**
   * Bytes of decoded pages of small columns (ids, labels, short strings and binaries) each worker keeps
   * (default 16 MiB; the budget's pageCaches part is this times the worker count). A shuffled batch otherwise
   * reads and decodes a whole mini-block chunk per row for every such column; see OpenDatasetOptions.cacheBytes. When all small
   * columns (values of at most 64 bytes) fit, each worker decodes them while the loader is created, so
   * the first batch does not. The same budget keeps the repetition indexes of variable-width full-zip
   * pages (8 bytes a row), which saves a shuffled batch of large values (images) a round of reads.
   * 0 turns it off.
   */
  cacheBytes?: number;
  /**
   * Requests of a remote (`s3://`, `https://`) dataset: `concurrency` and `bytesInFlight` bound the
   * loader's requests in flight (split equally between its workers), `timeoutMs`, `retries` and
   * `retryTimeoutMs` each request, `cacheDir` and `cacheBytes` the local range cache. Defaults: those of
   * the Dataset passed, else of {@link RemoteIoOptions}.
   */
  remote?: RemoteIoOptions;
}

/**
 * How a list column is batched as a fixed `[batch, length]` tensor (LoaderOptions.pad). A row's items
 * fill its first `min(items, length)` places and `value` the rest; the batch column's `lengths` says how
 * many of each row are items, and a null list is a row of `value` with length 0 and validity 0. A null
 * item inside a list reads as `value` too.
 */
export interface PadOptions {
  /** Items per row. */
  length: number;
  /** What pads short rows and stands for null items (default 0; must be 0 for float16 lists). */
  value?: number;
  /**
   * Which items of a row longer than `length` are kept: `'end'` (default) drops the end, `'start'` the
   * start, `'random'` keeps a window at a random place, drawn from (seed, epoch, row offset) alone, so
   * it is the same whatever the worker count, and again after a resume.
   */
  truncate?: 'end' | 'start' | 'random';
}

/** Options of {@link createLoader}. */
export interface LoaderOptions {
  /**
   * Columns to load (default: all). A struct gives its fields as columns of their own, by path; a column
   * named twice, or a struct and a field of it, is one batch column, where it is first named.
   */
  columns?: readonly string[];
  /** Rows per batch. */
  batchSize: number;
  /** `true` (a new seeded order each epoch), `false` (file order), `'locality'` or a sampler shuffle mode. Default true. */
  shuffle?: boolean | 'locality' | ShuffleMode;
  /** Seed of the shuffle (default 0). */
  seed?: number;
  /** Drop the last partial batch (default false). */
  dropLast?: boolean;
  /** This process's rank among `worldSize` (distributed training); default 0 of 1. */
  rank?: number;
  worldSize?: number;
  /** Decode worker threads (default: the number of cores). */
  workers?: number;
  /**
   * Batches in flight ahead of the consumer (default 4; for a remote dataset up to 16: the most that
   * `memoryBytes` holds without giving each slot less variable-width memory than 4 do. Its batches each
   * wait round trips for their reads, and with 256 requests in flight 16 batches ahead read 1.4–1.7× the
   * rows/s of 4 through a 20 ms round trip).
   */
  prefetch?: number;
  io?: LoaderIoOptions;
  /**
   * Bytes the loader and its workers may keep (default 512 MiB): one budget split into batch slots,
   * their variable-width memory, each worker's read memory, decoded-page cache (io.cacheBytes) and decode
   * scratch (loader/budget.ts); `metrics().memory` reports each part. Too small for the least each part
   * needs: createLoader rejects with a ResourceError (MEMORY_BUDGET) saying how many bytes it needs.
   * Variable-width memory is sized from the data files' average bytes a row, with headroom, and for blob
   * columns from the values of up to 1,024 sampled rows: at least a batch holding the largest sampled
   * value. A batch that needs more (longer values, a blob larger than any sampled) rejects the epoch with
   * a ResourceError (MEMORY_BUDGET) naming the column and the bytes.
   */
  memoryBytes?: number;
  /** Per-column row shapes, e.g. `{ pixels: [28, 28, 1] }`. */
  shapes?: Record<string, readonly number[]>;
  /**
   * List columns to batch as `[batch, length]` tensors with a `lengths` vector, e.g.
   * `{ tokens: { length: 512, value: 0, truncate: 'random' } }`. A list column the loader loads needs one.
   */
  pad?: Record<string, PadOptions>;
  /** A state from `loader.state()` to continue from. */
  resume?: LoaderState;
  /** Credentials, region and endpoint of an `s3://` dataset, as OpenDatasetOptions.storage. */
  storage?: StorageOptions;
  /**
   * Per column, steps run in the workers on each row's value after it is read (images as encoded bytes
   * in a binary column → a fixed-shape uint8 or float32 tensor in the batch, under the same name), e.g.
   * `{ image: { steps: [decodeImage(), randomResizedCrop(224), flipHorizontal(), normalize(MEAN, STD)] } }`.
   * Random steps are seeded per (seed, epoch, row). See README "Images and transforms".
   */
  transforms?: Record<string, ColumnTransform>;
  /**
   * Directories whose files a blob column's external values (blob v2 kind 3, `file:` URIs) may be read
   * from, as `dataset.takeBlobs`' option of that name; default none (such a row is an `UnsupportedError`).
   */
  externalRoots?: readonly string[];
}

/** A JSON-serialisable position of the loader. */
export interface LoaderState {
  version: 1;
  sampler: SamplerState;
}

export interface ResolvedLoaderOptions {
  columns: readonly string[] | undefined;
  batchSize: number;
  shuffle: ShuffleMode;
  seed: number;
  dropLast: boolean;
  rank: number;
  worldSize: number;
  workers: number;
  prefetch: number;
  direct: boolean | 'auto';
  mapped: boolean;
  queueDepth: number;
  bytesInFlight: number;
  maxGapBytes: number;
  maxReadBytes: number;
  cacheBytes: number;
  memoryBytes: number;
  shapes: Record<string, readonly number[]>;
  pad: Record<string, PadOptions>;
  resume: LoaderState | undefined;
  /** io.remote checked, or undefined when not given. */
  remote: ResolvedRemoteIo | undefined;
  /** Planned transforms by column, user modules as file: URLs. */
  transforms: Record<string, ColumnTransformPlan>;
  /** options.externalRoots as absolute paths ([] when not given). */
  externalRoots: string[];
}

/** `transforms` checked and planned; user steps' modules resolved against the working directory. */
function planTransforms(transforms: unknown): Record<string, ColumnTransformPlan> {
  if (transforms === undefined) return {};
  if (!isOptionsObject(transforms))
    throw new InvalidArgumentError(
      `options.transforms must be an object of column transforms such as { image: { steps: [decodeImage(), centerCrop(224)] } }, got ${describeValue(transforms)}`,
      { option: 'transforms' },
    );
  const plans: Record<string, ColumnTransformPlan> = {};
  for (const [column, transform] of Object.entries(transforms)) {
    const plan = planColumnTransform(column, transform);
    plan.steps = plan.steps.map((step) =>
      step.op === 'user' && !step.module.startsWith('file:')
        ? { ...step, module: pathToFileURL(resolve(step.module)).href }
        : step,
    );
    plans[column] = plan;
  }
  return plans;
}

function integer(value: unknown, path: string, min: number, max: number, fallback?: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`options.${path} must be an integer from ${min} to ${max}, got ${String(value)}`, {
      option: path,
    });
  }
  return v;
}

/** `shapes` checked: an object of arrays of positive integers (each matched to its column later). */
function checkShapes(shapes: unknown): Record<string, readonly number[]> {
  if (shapes === undefined) return {};
  if (!isOptionsObject(shapes))
    throw new InvalidArgumentError(
      `options.shapes must be an object of row shapes such as { pixels: [28, 28, 1] }, got ${describeValue(shapes)}`,
      { option: 'shapes' },
    );
  for (const [name, shape] of Object.entries(shapes)) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new InvalidArgumentError(
        `options.shapes.${name} must be an array of positive integers such as [28, 28, 1], got ${describeValue(shape)}`,
        { option: `shapes.${name}` },
      );
    }
  }
  return shapes as Record<string, readonly number[]>;
}

/** `pad` checked: an object of { length, value?, truncate? } (each matched to its column later). */
function checkPad(pad: unknown): Record<string, PadOptions> {
  if (pad === undefined) return {};
  if (!isOptionsObject(pad))
    throw new InvalidArgumentError(
      `options.pad must be an object such as { tokens: { length: 512 } }, got ${describeValue(pad)}`,
      { option: 'pad' },
    );
  const checked: Record<string, PadOptions> = {};
  for (const [name, spec] of Object.entries(pad)) {
    if (!isOptionsObject(spec))
      throw new InvalidArgumentError(
        `options.pad.${name} must be an object such as { length: 512, value: 0, truncate: 'end' }, got ${describeValue(spec)}`,
        { option: `pad.${name}` },
      );
    const { length, value, truncate } = spec as Partial<PadOptions>;
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value)))
      throw new InvalidArgumentError(`options.pad.${name}.value must be a finite number, got ${describeValue(value)}`, {
        option: `pad.${name}.value`,
      });
    if (truncate !== undefined && truncate !== 'end' && truncate !== 'start' && truncate !== 'random')
      throw new InvalidArgumentError(
        `options.pad.${name}.truncate must be 'end', 'start' or 'random', got ${describeValue(truncate)}`,
        { option: `pad.${name}.truncate` },
      );
    checked[name] = {
      length: integer(length, `pad.${name}.length`, 1, 1 << 24),
      ...(value !== undefined && { value }),
      ...(truncate !== undefined && { truncate }),
    };
  }
  return checked;
}

/** Validates options and fills in defaults. */
export function resolveLoaderOptions(options: LoaderOptions): ResolvedLoaderOptions {
  if (!isOptionsObject(options))
    throw new InvalidArgumentError(
      `createLoader needs an options object with at least batchSize, got ${describeValue(options)}`,
      { option: 'options' },
    );
  const shuffle = options.shuffle ?? true;
  let mode: ShuffleMode;
  if (shuffle === true) mode = 'global';
  else if (shuffle === false) mode = 'none';
  else if (shuffle === 'locality') mode = { kind: 'locality', blockRows: 1024, windowBlocks: 64 };
  else mode = shuffle;
  const io = options.io ?? {};
  if (!isOptionsObject(io))
    throw new InvalidArgumentError(
      `options.io must be an object such as { direct: 'auto', cacheBytes: 16 << 20 }, got ${describeValue(io)}`,
      { option: 'io' },
    );
  const direct = io.direct ?? 'auto';
  if (direct !== true && direct !== false && direct !== 'auto')
    throw new InvalidArgumentError(`options.io.direct must be true, false or 'auto', got ${String(direct)}`);
  const mapped = io.mapped ?? true;
  if (typeof mapped !== 'boolean')
    throw new InvalidArgumentError(`options.io.mapped must be true or false, got ${describeValue(mapped)}`, {
      option: 'io.mapped',
    });
  const resume = options.resume;
  if (
    resume !== undefined &&
    (typeof resume !== 'object' || resume === null || resume.version !== 1 || typeof resume.sampler !== 'object')
  ) {
    throw new InvalidArgumentError(
      `options.resume must be a state returned by loader.state(), got ${describeValue(resume)}`,
      { option: 'resume' },
    );
  }
  return {
    columns: options.columns,
    batchSize: integer(options.batchSize, 'batchSize', 1, 1 << 24),
    shuffle: mode,
    seed: integer(options.seed, 'seed', 0, 2 ** 32 - 1, 0),
    dropLast: options.dropLast ?? false,
    rank: integer(options.rank, 'rank', 0, 1 << 20, 0),
    worldSize: integer(options.worldSize, 'worldSize', 1, 1 << 20, 1),
    workers: integer(options.workers, 'workers', 1, 256, defaultWorkerCount()),
    prefetch: integer(options.prefetch, 'prefetch', 1, 1024, 4),
    direct,
    mapped,
    queueDepth: integer(io.queueDepth, 'io.queueDepth', 1, 1024, 256),
    bytesInFlight: integer(io.bytesInFlight, 'io.bytesInFlight', 0, Number.MAX_SAFE_INTEGER, 4 * 1024 * 1024),
    maxGapBytes: integer(io.maxGapBytes, 'io.maxGapBytes', 0, 1 << 30, 4096),
    maxReadBytes: integer(io.maxReadBytes, 'io.maxReadBytes', 4096, 1 << 30, 8 * 1024 * 1024),
    cacheBytes: integer(io.cacheBytes, 'io.cacheBytes', 0, Number.MAX_SAFE_INTEGER, 16 * 1024 * 1024),
    memoryBytes: integer(options.memoryBytes, 'memoryBytes', 1 << 20, Number.MAX_SAFE_INTEGER, 512 * 1024 * 1024),
    shapes: checkShapes(options.shapes),
    pad: checkPad(options.pad),
    resume,
    remote: io.remote === undefined ? undefined : resolveRemoteIo(io.remote as RemoteIoOptions, 'io.remote'),
    transforms: planTransforms(options.transforms),
    externalRoots: checkExternalRoots(options.externalRoots),
  };
}

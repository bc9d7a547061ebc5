/**
 * One memory budget: `options.memoryBytes` split into named parts, one per kind of memory the loader and
 * its workers keep. Planned once, when the loader is created; every allocation then draws from its part,
 * and what does not fit is refused with a {@link ResourceError} instead of being made outside the budget.
 *
 *   memoryBytes
 *   ├─ slots             (prefetch + 2) × the fixed-width bytes of a batch        main thread, touched ahead
 *   ├─ variable          (prefetch + 2) × variableSlotBytes: variable-width values main thread (workers write)
 *   ├─ readMemory        workers × readMemoryBytes: each lane's slab pool          per worker
 *   ├─ pageCaches        workers × io.cacheBytes: decoded small pages kept         per worker
 *   ├─ decodeScratch     workers × decodeScratchBytes: variable-width decode       per worker
 *   ├─ transformScratch  workers × transformScratchBytes: values being transformed  per worker
 *   ├─ listScratch       workers × listScratchBytes: list columns' rows and levels   per worker
 *   └─ remote            io.remote.bytesInFlight + workers × 4 batches fetched     all workers (remote datasets)
 *
 * Slots, page caches, transform scratch and list scratch take what they ask for. Without variable-width
 * columns read memory gets the rest. With them, read memory gets half of the rest (at least two lanes of twice an average batch), and
 * the other half is shared out in equal units: one per slot's variable-width memory, DECODE_SCRATCH_COPIES per worker's
 * scratch. Workers receive their share as plain data (DatasetRef.memory), since decode-workers/ cannot
 * import loader/.
 *
 * A remote dataset's workers read into receive buffers, not slabs: its requests in flight (a count shared
 * by all workers, io/remote/shared-permits.ts) and what they fetched until it is decoded (two lanes of
 * up to twice a batch per worker, range-cache hits included; the buffers a worker keeps for reuse are
 * bounded by the same amount, io/remote/receive-pool.ts) are the `remote` part, which must fit like
 * slots do; each worker's read memory is then only the least a slab pool is made with.
 */
import { ResourceError } from '../errors.js';
import {
  VARIABLE_ALIGN_BYTES,
  VARIABLE_INDEX_BYTES_PER_ROW,
  type WorkerMemoryPlan,
} from '../decode-workers/messages.js';
import type { BlobColumnBytes } from '../decode-workers/blob-fill.js';

/** The parts of the budget, each owned by one kind of allocation. */
export type MemoryPart =
  'slots' | 'variable' | 'readMemory' | 'pageCaches' | 'decodeScratch' | 'transformScratch' | 'listScratch' | 'remote';

export const MEMORY_PARTS: readonly MemoryPart[] = [
  'slots',
  'variable',
  'readMemory',
  'pageCaches',
  'decodeScratch',
  'transformScratch',
  'listScratch',
  'remote',
];

/** Read memory is planned in pages (the slab pool's allocation unit). */
const READ_MEMORY_UNIT_BYTES = 4096;

/**
 * Smallest read memory a worker gets: two 2 MiB huge pages, the unit the native addon's read memory
 * comes in (a worker with less could not make a single slab within its share).
 */
export const MIN_WORKER_READ_BYTES = 4 * 1024 * 1024;

/**
 * Average batches of read memory a worker gets at least when variable-width columns want the rest: two
 * lanes, each with room for twice a batch (a batch may need a second round of reads).
 */
const READ_BATCHES_PER_WORKER = 4;

/**
 * The share of what slots and caches leave that read memory gets when variable-width columns want the
 * rest: reads of whole pages (small columns kept decoded, mini-block chunks) can be far larger than a
 * batch's own bytes.
 */
const READ_SHARE_WITH_VARIABLE = 0.5;

/**
 * Copies of a batch's variable-width values a worker's decode scratch holds: the values as decoded, what
 * earlier batches left in the other columns' scratch (kept for reuse, at most a slot's share in all), and
 * without the native addon's gather the values put in slot order before one copy into the slot.
 */
export const DECODE_SCRATCH_COPIES = { native: 2, fallback: 3 } as const;

/** Least variable-width memory a slot gets, whatever the estimate says. */
const MIN_VARIABLE_SLOT_BYTES = 64 * 1024;

/**
 * Headroom over an average batch's variable-width bytes (estimated from stored bytes): the least a slot's
 * variable-width memory may be, for batches of longer values than average, and how much of it is touched
 * and how much decode scratch prepared when the loader is created.
 */
const VARIABLE_HEADROOM = 1.25;

/**
 * A list column's rows, per worker, on the fast path (decode-workers/encodings/list-rows.ts): five
 * Float64Arrays and a Uint16Array a row, kept by the thread, made for LIST_ROW_SCRATCH_MIN_ROWS rows and
 * grown by doubling, so up to twice the larger of a batch and that.
 */
export const LIST_ROW_SCRATCH_BYTES = 2 * (5 * 8 + 2);
export const LIST_ROW_SCRATCH_MIN_ROWS = 256;

/**
 * A list column's levels and values while a group of chunks is decoded, in batches' worth of its stored
 * bytes: a rep and a def level of 2 bytes an item and the window's decoded values, against the ~2 stored
 * bytes an item of bit-packed ids and RLE levels take.
 */
const LIST_LEVEL_SCRATCH_BATCHES = 4;

/** What the plan is made from: the resolved options and the estimates of one batch's bytes. */
export interface MemoryBudgetInput {
  memoryBytes: number;
  workers: number;
  /** Batch slots in the ring (prefetch + 2). */
  slotCount: number;
  /** Fixed-width bytes of one slot (BatchLayout.slotBytes). */
  slotBytes: number;
  batchSize: number;
  /** Variable-width columns loaded. */
  variableColumns: number;
  /** An average batch's stored bytes (all columns). */
  batchBytes: number;
  /** An average batch's stored bytes of its variable-width columns. */
  variableBatchBytes: number;
  /**
   * Per blob column, its values outside the data files (blob v2 sidecars, external files), which
   * variableBatchBytes, made from the data files' sizes, leaves out: their mean and largest bytes a row in
   * a sample of rows (decode-workers/blob-fill.ts blobBytesOutsideFiles); empty or absent without.
   */
  blobColumns?: readonly BlobColumnBytes[];
  /** io.cacheBytes (per worker). */
  cacheBytes: number;
  /** Whether the native addon gathers variable-width values (no staging copy). */
  nativeGather: boolean;
  /** Per worker, for transforms (transformScratchFor); 0 or absent without. */
  transformScratchBytes?: number;
  /** A remote dataset's io.remote.bytesInFlight (the loader's total); absent for a local dataset. */
  remoteBytesInFlight?: number;
  /** List columns loaded (padded or ragged); 0 or absent without. */
  listColumns?: number;
}

/**
 * Batches' worth of a transformed column's values a worker keeps: up to two batches (lanes) wait for or
 * are in their transforms at once, each given twice the average batch's bytes for larger values.
 */
const TRANSFORM_INPUT_BATCHES = 4;

/**
 * A worker's transform scratch: the encoded values of the batches it transforms (an average batch's
 * bytes of the transformed columns, `transformedBatchBytes`, or `fullBatchBytes` for one lane's batch
 * holding the largest blob values sampled: {@link blobBatchBytes}) and the largest image one row may
 * decode (`decodedBytes`: decodeImage's maxPixels × 4, the RGBA buffer a worker reuses for its crops).
 */
export function transformScratchFor(
  transformedBatchBytes: number,
  decodedBytes: number,
  fullBatchBytes = transformedBatchBytes,
): number {
  const inputBytes = Math.max(
    TRANSFORM_INPUT_BATCHES * transformedBatchBytes,
    (TRANSFORM_INPUT_BATCHES / 2) * transformedBatchBytes + fullBatchBytes,
  );
  return Math.ceil(inputBytes) + decodedBytes;
}

/**
 * A batch of `batchSize` rows' blob values outside the data files, summed over `columns`: an average
 * batch's, and a full batch's, which holds each column's largest sampled value beside average ones. Only
 * the sample is known: a batch with a larger value than any sampled can need more.
 */
export function blobBatchBytes(
  columns: readonly BlobColumnBytes[],
  batchSize: number,
): { averageBytes: number; fullBytes: number } {
  let averageBytes = 0;
  let fullBytes = 0;
  for (const c of columns) {
    averageBytes += Math.ceil(batchSize * c.meanBytes);
    fullBytes += fullBlobBatchBytes(c, batchSize);
  }
  return { averageBytes, fullBytes };
}

function fullBlobBatchBytes(column: BlobColumnBytes, batchSize: number): number {
  return Math.ceil(column.largestBytes + (batchSize - 1) * column.meanBytes);
}

/** The budget: bytes planned per part (summed over workers), and what each worker and slot gets. */
export interface MemoryBudget {
  memoryBytes: number;
  parts: Record<MemoryPart, number>;
  slotCount: number;
  /** Fixed-width bytes of a slot. */
  slotBytes: number;
  /** Each worker's share, as sent to it. */
  worker: WorkerMemoryPlan;
  /** Batches a worker loads at once. */
  lanes: number;
}

/**
 * Batches a worker loads at once (DatasetRef.lanes): two, so one is planned or decoded while the other's
 * reads are on the disk and the worker never waits for the main thread's next job, when half of the
 * worker's read memory still holds twice an average batch's bytes; else one.
 */
function lanesFor(workerReadBytes: number, batchBytes: number): number {
  return workerReadBytes / 2 >= Math.max(MIN_WORKER_READ_BYTES, 2 * batchBytes) ? 2 : 1;
}

const floorTo = (bytes: number, unit: number): number => Math.floor(bytes / unit) * unit;
const ceilTo = (bytes: number, unit: number): number => Math.ceil(bytes / unit) * unit;

/** Splits memoryBytes into its parts; a ResourceError (MEMORY_BUDGET) when it cannot hold the least each needs. */
export function planMemoryBudget(input: MemoryBudgetInput): MemoryBudget {
  const { memoryBytes, workers, slotCount, slotBytes, variableColumns, cacheBytes } = input;
  const slots = slotCount * slotBytes;
  const pageCaches = workers * cacheBytes;
  const copies = input.nativeGather ? DECODE_SCRATCH_COPIES.native : DECODE_SCRATCH_COPIES.fallback;
  const indexBytes = input.batchSize * VARIABLE_INDEX_BYTES_PER_ROW * variableColumns;
  // Units of variable-width memory: one per slot, `copies` per worker's decode scratch.
  const variableUnits = variableColumns === 0 ? 0 : slotCount + workers * copies;
  const blobColumns = input.blobColumns ?? [];
  const blobs = blobBatchBytes(blobColumns, input.batchSize);
  // An average batch's variable-width values: stored in the data files, and blob values beside them.
  const variableBatchBytes = input.variableBatchBytes + blobs.averageBytes;
  // A slot holds an average batch with headroom, and a batch holding the largest blob values sampled.
  const minVariableSlot =
    variableColumns === 0
      ? 0
      : Math.max(
          MIN_VARIABLE_SLOT_BYTES,
          ceilTo(
            Math.max(
              variableBatchBytes * VARIABLE_HEADROOM,
              input.variableBatchBytes * VARIABLE_HEADROOM + blobs.fullBytes,
            ),
            VARIABLE_ALIGN_BYTES,
          ),
        );
  const transformScratchBytes = input.transformScratchBytes ?? 0;
  const listScratchBytes =
    (input.listColumns ?? 0) === 0
      ? 0
      : Math.max(input.batchSize, LIST_ROW_SCRATCH_MIN_ROWS) * LIST_ROW_SCRATCH_BYTES +
        Math.ceil(LIST_LEVEL_SCRATCH_BATCHES * input.variableBatchBytes);
  const remoteHeld = workers * READ_BATCHES_PER_WORKER * input.batchBytes;
  const remote = input.remoteBytesInFlight === undefined ? 0 : input.remoteBytesInFlight + remoteHeld;
  const fixedParts = slots + pageCaches + workers * (indexBytes + transformScratchBytes + listScratchBytes) + remote;
  const needed = fixedParts + workers * MIN_WORKER_READ_BYTES + variableUnits * minVariableSlot;
  if (needed > memoryBytes) {
    throw new ResourceError(
      'MEMORY_BUDGET',
      `options.memoryBytes (${memoryBytes}) is too small: this loader needs at least ${needed} bytes ` +
        `(batch slots ${slots}: (prefetch + 2) ${slotCount} × ${slotBytes}; decoded-page caches ${pageCaches}: ${workers} workers × io.cacheBytes ${cacheBytes}; ` +
        `read memory ${workers} × ${MIN_WORKER_READ_BYTES}` +
        (transformScratchBytes === 0 ? '' : `; transform scratch ${workers} × ${transformScratchBytes}`) +
        (listScratchBytes === 0 ? '' : `; list rows and levels ${workers} × ${listScratchBytes}`) +
        (remote === 0
          ? ''
          : `; remote reads ${remote}: io.remote.bytesInFlight ${input.remoteBytesInFlight} + ${remoteHeld} fetched and not yet decoded`) +
        (variableColumns === 0
          ? ''
          : `; variable-width values ${variableUnits * minVariableSlot + workers * indexBytes}: ${variableUnits} × ${minVariableSlot} for ${slotCount} slots and ${workers} workers' decode scratch, plus indexes` +
            (blobs.fullBytes === 0
              ? ''
              : ` (a batch's blob values in sidecars or external files, with the largest value sampled: ${blobColumns.map((c) => `"${c.column}" ${fullBlobBatchBytes(c, input.batchSize)} bytes (largest ${c.largestBytes}, mean ${Math.round(c.meanBytes)} a row)`).join(', ')})`)) +
        `); raise memoryBytes, or lower batchSize, prefetch, workers or io.cacheBytes` +
        (remote === 0 ? '' : ' or io.remote.bytesInFlight'),
      { option: 'memoryBytes', memoryBytes, neededBytes: needed },
    );
  }
  const rest = memoryBytes - fixedParts;
  let readMemoryBytes: number;
  let variableSlotBytes = 0;
  if (remote > 0) {
    readMemoryBytes = MIN_WORKER_READ_BYTES;
    if (variableColumns > 0)
      variableSlotBytes = floorTo((rest - workers * readMemoryBytes) / variableUnits, VARIABLE_ALIGN_BYTES);
  } else if (variableColumns === 0) {
    readMemoryBytes = floorTo(rest / workers, READ_MEMORY_UNIT_BYTES);
  } else {
    const wanted = Math.max(
      MIN_WORKER_READ_BYTES,
      READ_BATCHES_PER_WORKER * input.batchBytes,
      (rest * READ_SHARE_WITH_VARIABLE) / workers,
    );
    const most = floorTo((rest - variableUnits * minVariableSlot) / workers, READ_MEMORY_UNIT_BYTES);
    readMemoryBytes = Math.max(MIN_WORKER_READ_BYTES, Math.min(floorTo(wanted, READ_MEMORY_UNIT_BYTES), most));
    variableSlotBytes = floorTo((rest - workers * readMemoryBytes) / variableUnits, VARIABLE_ALIGN_BYTES);
  }
  const decodeScratchBytes = variableColumns === 0 ? 0 : copies * variableSlotBytes + indexBytes;
  const worker: WorkerMemoryPlan = {
    memoryBytes,
    readMemoryBytes,
    cacheBytes,
    decodeScratchBytes,
    transformScratchBytes,
    listScratchBytes,
    variableSlotBytes,
    remoteKeptBytes: remote === 0 ? 0 : READ_BATCHES_PER_WORKER * input.batchBytes,
    variableBytes:
      variableColumns === 0
        ? 0
        : Math.min(
            Math.floor(variableSlotBytes / variableColumns),
            Math.ceil((variableBatchBytes / variableColumns) * VARIABLE_HEADROOM),
          ),
  };
  return {
    memoryBytes,
    parts: {
      slots,
      variable: slotCount * variableSlotBytes,
      readMemory: workers * readMemoryBytes,
      pageCaches,
      decodeScratch: workers * decodeScratchBytes,
      transformScratch: workers * worker.transformScratchBytes,
      listScratch: workers * listScratchBytes,
      remote,
    },
    slotCount,
    slotBytes,
    worker,
    // A remote dataset's two lanes are in the remote part.
    lanes: remote > 0 ? 2 : lanesFor(readMemoryBytes, input.batchBytes),
  };
}

/**
 * The plan of the deepest prefetch in (input.slotCount − 2)..`mostPrefetch` that fits and still gives each
 * slot at least the variable-width memory of input's own plan: a deeper ring only hides more round trips
 * when its slots still hold the larger-than-average batches a shuffle draws, so a dataset whose variable-width
 * values would be squeezed keeps input's prefetch. A ResourceError when input's own plan does not fit.
 */
export function planDeepestBudget(input: MemoryBudgetInput, mostPrefetch: number): MemoryBudget {
  const base = planMemoryBudget(input);
  for (let slotCount = mostPrefetch + 2; slotCount > input.slotCount; slotCount--) {
    let deeper: MemoryBudget;
    try {
      deeper = planMemoryBudget({ ...input, slotCount });
    } catch (error) {
      if (error instanceof ResourceError) continue;
      throw error;
    }
    if (deeper.worker.variableSlotBytes >= base.worker.variableSlotBytes) return deeper;
  }
  return base;
}

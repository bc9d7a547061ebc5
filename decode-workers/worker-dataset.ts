/**
 * The loader's dataset as a worker thread holds it: opened once per worker from a {@link DatasetRef}
 * (manifest, file metadata, page indexes), then used for every batch that worker loads. A batch goes
 * through the same plan → read → decode path as `dataset.take()` (read-rows.ts), with reads leased from
 * its lane's slab pool and values decoded straight into the batch slot's shared memory.
 *
 *   rows ─► dataset.planRead ─► fetchFileTasks (merged reads as one batch per file and round, queued on
 *   the worker's io_uring via the native addon; else blocking reads for page-cache hits and async O_DIRECT
 *   reads queueDepth deep) ─► runDecodeTask ─► slot (fixed-width) / shared buffers (variable)
 *
 * Lanes: a worker loads `ref.lanes` batches at once (Piscina gives it that many jobs). Each lane has its
 * own read memory and file descriptors; while one batch is planned or decoded on the thread, the reads of
 * another are on the disk, and the worker's next job is already waiting in the worker when one ends.
 * Read memory is huge-page backed where the addon can make it (native-addon.ts readMemory).
 *
 * Copies of a byte: kernel → the worker's slab (the read); slab → the batch slot (the decode, which is a
 * plain copy for flat values). Variable-width values are decoded into the worker's reused scratch memory
 * and then copied in slot order into the slot's variable-width memory (LoadJob.variableMemory), one
 * column after another: by the native addon's memmove, or, without the addon, through reused plain
 * staging memory in slot order and one whole copy, because V8 copies value by value into shared memory
 * at unaligned offsets much more slowly (output.ts compactVariable).
 *
 * Memory: everything the worker keeps draws from its share of the loader's budget (ref.memory): lanes'
 * slab pools from readMemoryBytes, kept pages from cacheBytes, decode scratch and staging from
 * decodeScratchBytes. A batch whose values do not fit its slot or its scratch is refused with a
 * ResourceError (MEMORY_BUDGET) instead of taking memory outside the budget.
 */
import { threadId } from 'node:worker_threads';
import { CorruptFileError, ResourceError } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { runDecodeTask, type DecodeOutput } from './encodings/decode-task.js';
import {
  createPaddedListOutput,
  createRaggedListOutput,
  finishListOutput,
  listItemValidity,
  listScratchBytes,
  isSingleList,
} from './encodings/list-rows.js';
import {
  alignVariable,
  VARIABLE_INDEX_BYTES_PER_ROW,
  type DatasetRef,
  type OutputDescriptor,
  type RaggedLevels,
  type SkippedRow,
  type VariableColumn,
  type WorkerMemoryUse,
} from './messages.js';
import {
  compactVariable,
  createVariableOutput,
  chargeGrowth,
  type ColumnOutput,
  type ScratchBudget,
  type VariableOutput,
} from './encodings/output.js';
import { DirectFileSource, type BatchReads } from '../io/direct-source.js';
import { nativeAddon, readMemory } from '../io/native-addon.js';
import { hasQueuedReads } from '../io/native-read.js';
import { createSlabPool, touchPages, type SlabPool } from '../io/slab.js';
import { allSettledOrFirstError } from '../io/settle.js';
import { addReadStats, emptyReadStats, readIntoTargets, type ByteSource, type ReadStats } from '../io/source.js';
import { SMALL_VALUE_BYTES } from '../io/plan.js';
import { fixedByteWidth, isVariableWidth, outputWidthOf, valueTypeOf } from '../dataset/arrow-build.js';
import { createOutputs, leafColumns, type LeafColumn } from '../dataset/columns.js';
import { createNestedOutput, type ReadOutput } from './encodings/nested-output.js';
import {
  fillPadded,
  fillStructLeaf,
  moveRaggedLevels,
  nestedAsVariable,
  nullItemsOf,
  paddedItemValidity,
  singleListLevels,
  valuesPerItem,
} from './nested-fill.js';
import { isPackedOutput, splitPackedRows } from './packed-fill.js';
import { isBlobColumn, loadBlobColumn } from './blob-fill.js';
import type { Dataset } from '../dataset/dataset.js';
import { checkSameDataset, openVersion, replaced } from './same-dataset.js';
import { packedChildOf, selectBatchFields } from './batch-fields.js';
import { keepPackedFields, packedGroups, readsOwnColumn, type PackedGroup } from './packed-leaf.js';
import { fetchFileTasks, type FileRead, type OutputTask } from '../dataset/read-rows.js';
import { RemoteSource } from '../io/remote/remote-source.js';
import { ReceivePool } from '../io/remote/receive-pool.js';
import { ColumnTransformer } from './transforms/run.js';
import { transformBatch, type BatchTransformJob, type BatchTransformResult } from './transforms/batch.js';

/** Rows that {@link WorkerDataset.keepSmallColumns} reads to touch every page of the small columns. */
const KEEP_ROWS = 4096;

/** Most rows, and most of their stored bytes, that {@link WorkerDataset.warmUp} reads. */
const WARM_UP_ROWS = 256;
const WARM_UP_BYTES = 8 * 1024 * 1024;

/** How long a batch may wait for read memory before the loader reports the budget as too small. */
const READ_MEMORY_WAIT_MS = 30_000;

/** Read memory is made in slabs of at most this many bytes (a smaller lane gets one slab of its size). */
const READ_SLAB_BYTES = 16 * 1024 * 1024;

/** The slab pool's allocation unit (createSlabPool's default); each slab is one unit longer, for alignment. */
const READ_UNIT_BYTES = 4096;

/** What readMemory rounds sizes up to: huge pages (native/memory.c), or pages without the addon. */
const READ_ALLOCATE_UNIT_BYTES = nativeAddon() ? 2 * 1024 * 1024 : READ_UNIT_BYTES;

/** Staging grows with a quarter of headroom, so batches a little larger than the last do not regrow it. */
const STAGING_HEADROOM = 1.25;

/**
 * The slab pool of a lane with `laneBytes` of read memory: as many slabs of equal size as READ_SLAB_BYTES
 * needs, each (with the unit of slack the pool adds) a whole number of readMemory's allocation units,
 * and a lease budget of exactly those slabs, so the pool never needs memory past the lane's share.
 */
function lanePoolSize(laneBytes: number): { slabBytes: number; maxBytes: number } {
  const slabs = Math.max(1, Math.ceil(laneBytes / READ_SLAB_BYTES));
  const allocated = Math.max(
    READ_ALLOCATE_UNIT_BYTES,
    Math.floor(laneBytes / slabs / READ_ALLOCATE_UNIT_BYTES) * READ_ALLOCATE_UNIT_BYTES,
  );
  const slabBytes = allocated - READ_UNIT_BYTES;
  return { slabBytes, maxBytes: slabs * slabBytes };
}

/** One batch loaded: variable-width columns (null for fixed-width ones, which are in the slot) and timings. */
export interface LoadedBatch {
  variable: (VariableColumn | null)[];
  /** Fixed-size list columns with a null item in the batch: one byte per item (see nullItemsOf), else null. */
  itemValidity: (Uint8Array | null)[];
  readMs: number;
  decodeMs: number;
  transformMs: number;
  /** Rows replaced under onError 'skip'. */
  skipped: SkippedRow[];
  reads: ReadStats;
  /** The worker's memory after the batch. */
  memory: WorkerMemoryUse;
}

/**
 * What one batch in progress holds of its own: its share of the worker's read memory and the sources
 * (file descriptors) that read into it. Lanes never wait for each other's memory, so a batch that needs
 * a second round of reads cannot be stuck behind another batch holding the rest of the budget.
 */
interface Lane {
  memory: SlabPool;
  sources: Map<string, Promise<DirectFileSource>>;
  opened: DirectFileSource[];
  /** Requests of a remote dataset's files made for this lane's batches. */
  remoteReads: ReadStats;
  /** Per file, the lane's source as the batch reads it (leasing): made once, not per batch. */
  leasing: Map<string, ByteSource>;
  /** Releases of the read memory the lane's batch in progress holds (its views are valid until then). */
  leases: (() => void)[];
}

export class WorkerDataset {
  private readonly free: Lane[];
  /** The column (leaf) each output reads: nested leaves have layers. */
  private readonly leaves: LeafColumn[];
  private readonly waiting: ((lane: Lane) => void)[] = [];
  /**
   * Per variable-width output: the memory its values were decoded into last time, reused by the next
   * batch (fresh memory per batch costs page faults and zeroing). As large as the largest batch so far.
   * Shared by the lanes: a batch decodes and compacts in one synchronous step.
   */
  private readonly scratch: (Uint8Array | undefined)[] = [];
  /** Without the addon: plain memory where variable-width values are put in slot order before one copy into shared memory. */
  private staging = new Uint8Array(0);
  /** Blob values of batches in progress (blob-fill.ts), part of the decode scratch until their batch is decoded. */
  private blobBytes = 0;
  /** The most decode scratch (with staging) held at once. */
  private peakScratchBytes = 0;
  /** Per column, whether it is a blob column (blob-fill.ts). */
  private readonly isBlob: boolean[];
  /** Per column, the field it keeps of a packed struct with strings (packed-leaf.ts), or undefined. */
  private readonly packedChild: (number | undefined)[];
  /** The columns that keep fields of one packed struct's rows, each group's rows decoded once (packed-leaf.ts). */
  private readonly packedGroups: PackedGroup[];
  /** Per column, whether it reads its own column: false for a packed group's fields after its first. */
  private readonly readsOwn: boolean[];
  /** A remote dataset's receive memory, reused across batches (empty and unused for a local one). */
  private readonly receivePool: ReceivePool;
  /** Per fields array, the fields its reads plan (fieldsRead). */
  private readonly readFields = new WeakMap<LanceField[], { kept: number[]; read: LanceField[] }>();
  /** Per column, the runner of its transform, or null. */
  private readonly transformers: (ColumnTransformer | null)[];
  /**
   * Batches transform one after another (a lane's reads still overlap another's transforms): a worker
   * decodes one image at a time, so `workers` is how many cores decode.
   */
  private transforming: Promise<unknown> = Promise.resolve();
  /** Transform scratch held now (encoded values of batches waiting for or in their transforms) and at most. */
  private transformBytes = 0;
  private peakTransformBytes = 0;

  private constructor(
    private readonly ref: DatasetRef,
    private readonly dataset: Dataset,
    private readonly fields: LanceField[],
    private readonly lanes: Lane[],
    /** Device and inode of each data file, as the loader opened it (checkSameDataset). */
    private readonly files: Record<string, string>,
  ) {
    this.free = [...lanes];
    this.transformers = (ref.transforms ?? []).map((plan) => plan && new ColumnTransformer(plan, ref.seed ?? 0));
    this.leaves = leafColumns(fields);
    this.isBlob = fields.map(isBlobColumn);
    this.packedChild = fields.map(packedChildOf);
    this.packedGroups = packedGroups(fields);
    this.readsOwn = readsOwnColumn(fields);
    this.receivePool = new ReceivePool(ref.memory.remoteKeptBytes);
  }

  static async open(ref: DatasetRef): Promise<WorkerDataset> {
    const dataset = await openVersion(ref);
    try {
      const fields = selectBatchFields(dataset, ref.columns);
      const files = await checkSameDataset(ref, dataset, fields);
      const laneBytes = Math.floor(ref.memory.readMemoryBytes / ref.lanes / READ_UNIT_BYTES) * READ_UNIT_BYTES;
      // Plain memory: reads and decodes happen on this thread, and copies out of plain memory are fast.
      const lanes = Array.from({ length: ref.lanes }, () => ({
        memory: createSlabPool({
          ...lanePoolSize(laneBytes),
          unitBytes: READ_UNIT_BYTES,
          allocateUnitBytes: READ_ALLOCATE_UNIT_BYTES,
          shared: false,
          allocate: readMemory,
        }),
        sources: new Map<string, Promise<DirectFileSource>>(),
        opened: [],
        remoteReads: emptyReadStats(),
        leasing: new Map(),
        leases: [],
      }));
      return new WorkerDataset(ref, dataset, fields, lanes, files);
    } catch (error) {
      await dataset.close();
      throw error;
    }
  }

  /**
   * Reads and decodes the rows (visible offsets, batch order) into the outputs; variable-width columns
   * go into `variableMemory` (the slot's), one after another.
   */
  async load(
    rows: Uint32Array,
    outputs: OutputDescriptor[],
    variableMemory: SharedArrayBuffer | null,
    epoch = 0,
  ): Promise<LoadedBatch> {
    const started = performance.now();
    // Flat fixed-width outputs are known before reading (values may be read straight into them); variable-width
    // ones take the shared scratch memory when their batch decodes; nested ones decode into fresh
    // memory from the same scratch budget and are then put in the slot (nested-fill.ts).
    const placed = outputs.map((d, i) =>
      d.kind === 'fixed' && !this.leaves[i]?.layers && this.packedChild[i] === undefined
        ? openFixedOutput(d)
        : undefined,
    );
    const blobReads = emptyReadStats();
    const blobs = await this.loadBlobs(rows, outputs, blobReads);
    let inputs: (VariableColumn | null)[] = [];
    // Padded lists and struct children with a null item in the batch: their item validity (nested-fill.ts).
    const paddedItems: (Uint8Array | null)[] = [];
    // Transform scratch this batch holds: its values to transform and a batch-level step's stacked input.
    let held = 0;
    const allocate = (bytes: number): Uint8Array => {
      this.chargeTransform(bytes);
      held += bytes;
      return new Uint8Array(bytes);
    };
    const release = () => {
      this.transformBytes -= held;
      held = 0;
    };
    const {
      read,
      reads,
      result: variable,
    } = await this.readColumns(rows, this.fields, placed, (tasks) => {
      const budget = this.scratchBudget(outputs);
      const columns = outputs.map((d, i): DecodeOutput => {
        const blob = blobs[i];
        if (blob) return blob;
        // A packed struct's fields: its rows in plain form first, decoded by the group's first field
        // (packed-leaf.ts); the others read nothing and are given their values from those rows.
        if (this.packedChild[i] !== undefined)
          return this.readsOwn[i]
            ? createVariableOutput(d.numSlots, !!this.fields[i]?.nullable, undefined, budget)
            : NOT_READ;
        const leaf = this.leaves[i] as LeafColumn;
        if (leaf.layers) {
          const width = outputWidthOf(leaf.field.arrowType, leaf.name);
          // One list over fixed-width items decodes straight into its rows (list-rows.ts).
          if (isSingleList(leaf.layers, width, leaf.field.arrowType) && d.kind === 'padded')
            return createPaddedListOutput(d, rows, leaf.layers, budget);
          if (isSingleList(leaf.layers, width, leaf.field.arrowType) && d.kind === 'variable')
            return createRaggedListOutput(d.numSlots, width, d.nullable, leaf.layers, budget, leaf.field.nullable);
          return createNestedOutput(d.numSlots, leaf.layers, width, budget);
        }
        const nullable = (d.kind === 'variable' || d.kind === 'transformed') && d.nullable;
        return placed[i] ?? createVariableOutput(d.numSlots, nullable, this.scratch[i], budget);
      });
      try {
        for (const { task, output } of tasks) runDecodeTask(task, columns[output] as DecodeOutput);
        for (const group of this.packedGroups) {
          const packedRows = columns[group.rows] as VariableOutput;
          const where = `${this.ref.path}: column "${packedStructName(this.fields[group.rows] as LanceField)}"`;
          keepPackedFields(packedRows, group, outputs, this.scratch, budget, columns, (slot, bytes) =>
            badPackedRow(where, rows, slot, bytes),
          );
        }
        const itemValidity: (Uint8Array | null)[] = [];
        const levels: (RaggedLevels | null)[] = [];
        // Ragged lists from the fast path: their items' width, for their levels once compacted.
        const listItemBytes: number[] = [];
        outputs.forEach((d, i) => {
          const out = columns[i] as DecodeOutput;
          const where = `${this.ref.path}: column "${this.fields[i]?.name}"`;
          if (out.kind === 'list') {
            columns[i] = finishListOutput(out, where) ?? out;
            if (out.ragged) {
              itemValidity[i] = listItemValidity(out);
              listItemBytes[i] = out.byteWidth;
            } else paddedItems[i] = paddedItemValidity(out);
          }
          if (out.kind !== 'nested') return;
          if (d.kind === 'padded') paddedItems[i] = fillPadded(d, out, rows, where);
          else if (d.kind === 'fixed') paddedItems[i] = fillStructLeaf(d, out, where);
          else {
            const ragged = nestedAsVariable(
              out,
              d.numSlots,
              d.nullable,
              where,
              valuesPerItem(this.leaves[i]?.field.arrowType),
            );
            columns[i] = ragged.output;
            itemValidity[i] = ragged.itemValidity;
            levels[i] = ragged.levels;
          }
        });
        // Values to transform leave the shared scratch (the next batch reuses it) for memory of their own.
        inputs = columns.map((out, i) =>
          outputs[i]?.kind === 'transformed' && out.kind === 'variable'
            ? this.transformInput(out, budget, allocate)
            : null,
        );
        const compacted = this.compactAll(
          columns.map((out, i) => (inputs[i] ? null : out)),
          variableMemory,
          budget,
        );
        compacted.forEach((column, i) => {
          const items = itemValidity[i];
          if (items && column) column.itemValidity = items;
          const width = listItemBytes[i];
          const below = levels[i] ?? (column && width ? singleListLevels(column.offsets, width) : null);
          if (below && column) column.levels = below;
        });
        return compacted;
      } catch (error) {
        release();
        throw error;
      } finally {
        this.keepScratch(columns);
      }
    }).finally(() => this.releaseBlobs(blobs));
    const itemValidity = placed.map((out, i) => (out?.kind === 'fixed' ? nullItemsOf(out) : (paddedItems[i] ?? null)));
    const decoded = performance.now();
    const transformed = inputs.some(Boolean)
      ? await this.transformInOrder(
          { rows, epoch, outputs, transformers: this.transformers, inputs, variable, variableMemory, allocate },
          release,
        )
      : { skipped: [], variable, transformMs: 0 };
    if (transformed.skipped.length > 0) {
      const source = Uint32Array.from(rows, (_, slot) => slot);
      for (const { slot, replacedBy } of transformed.skipped) source[slot] = rows.indexOf(replacedBy);
      transformed.variable.forEach((column, i) => {
        const before = variable[i];
        if (column && before?.levels)
          Object.assign(column, moveRaggedLevels(before.levels, before.itemValidity, source));
      });
    }
    // A skipped row took another row's values: its items' validity too.
    for (const { slot, replacedBy } of transformed.skipped) {
      const from = rows.indexOf(replacedBy);
      for (const items of itemValidity) {
        const n = items ? items.length / rows.length : 0;
        items?.copyWithin(slot * n, from * n, (from + 1) * n);
      }
    }
    // After the transforms: a row they replaced was copied as a whole packed row.
    for (const d of outputs) if (isPackedOutput(d)) splitPackedRows(d);
    return {
      variable: transformed.variable,
      itemValidity,
      readMs: read - started,
      decodeMs: decoded - read,
      transformMs: transformed.transformMs,
      skipped: transformed.skipped,
      reads: addReadStats(reads, blobReads),
      memory: this.memoryUse(),
    };
  }

  /**
   * The batch's blob columns' values (blob-fill.ts) by output, undefined for other columns, counted as
   * decode scratch until {@link releaseBlobs}; their value reads are added to `reads`.
   */
  private async loadBlobs(
    rows: Uint32Array,
    outputs: readonly OutputDescriptor[],
    reads: ReadStats,
  ): Promise<(VariableOutput | undefined)[]> {
    const blobs: (VariableOutput | undefined)[] = [];
    if (!this.isBlob.includes(true)) return blobs;
    let held = 0;
    const hold = (bytes: number) => {
      this.blobBytes += bytes;
      held += bytes;
      this.peakScratchBytes = Math.max(this.peakScratchBytes, this.scratchBytes());
    };
    try {
      for (const [i, field] of this.fields.entries()) {
        const d = outputs[i];
        if (!this.isBlob[i] || !d) continue;
        const nullable = (d.kind === 'variable' || d.kind === 'transformed') && d.nullable;
        blobs[i] = await loadBlobColumn(
          this.dataset,
          rows,
          field.name,
          nullable,
          this.ref.externalRoots ?? [],
          () => this.scratchBudget(outputs),
          hold,
          reads,
        );
      }
    } catch (error) {
      this.blobBytes -= held;
      throw error;
    }
    return blobs;
  }

  private releaseBlobs(blobs: readonly (VariableOutput | undefined)[]): void {
    for (const out of blobs) this.blobBytes -= out?.data.byteLength ?? 0;
  }

  /** A transformed column's values in memory of their own (`allocate`: transform scratch) until transformed. */
  private transformInput(
    out: VariableOutput,
    budget: ScratchBudget,
    allocate: (bytes: number) => Uint8Array,
  ): VariableColumn {
    const { offsets, data } = compactVariable(out, allocate, (bytes) => this.stagingFor(bytes, budget));
    return { offsets, data, validity: out.validity && out.validity.slice(0, out.lengths.length) };
  }

  /** Counts `bytes` more of transform scratch held, or refuses them when they do not fit the worker's share. */
  private chargeTransform(bytes: number): void {
    const { transformScratchBytes, memoryBytes } = this.ref.memory;
    if (this.transformBytes + bytes > transformScratchBytes)
      throw new ResourceError(
        'MEMORY_BUDGET',
        `a batch's ${bytes} bytes of values to transform do not fit the worker's transform scratch (${transformScratchBytes} bytes of options.memoryBytes ${memoryBytes}, ${this.transformBytes} held by other batches); raise memoryBytes or lower batchSize`,
        { neededBytes: bytes, transformScratchBytes },
      );
    this.transformBytes += bytes;
    this.peakTransformBytes = Math.max(this.peakTransformBytes, this.transformBytes);
  }

  /**
   * Runs the batch's transforms (transforms/batch.ts) after those of the batches before it on this
   * worker, then `release` frees its transform scratch. Resolves to the rows skipped, the variable-width
   * columns (moved when rows were replaced) and the time the transforms took (the wait for the turn not included).
   */
  private transformInOrder(
    job: BatchTransformJob,
    release: () => void,
  ): Promise<BatchTransformResult & { transformMs: number }> {
    const run = this.transforming.then(async () => {
      const started = performance.now();
      const result = await transformBatch(job);
      return { ...result, transformMs: performance.now() - started };
    });
    this.transforming = run.catch(() => undefined);
    return run.finally(release);
  }

  /** What the worker holds of its budget, by part. */
  memoryUse(): WorkerMemoryUse {
    const read = { allocated: 0, inUse: 0, peak: 0 };
    for (const lane of this.lanes) {
      const stats = lane.memory.stats();
      read.allocated += stats.slabBytesHeld;
      read.inUse += stats.bytesInUse;
      read.peak += stats.peakSlabBytesHeld;
    }
    // Pages are kept until the worker stops, never evicted: what is held is the most held.
    const cached = this.ref.memory.cacheBytes - this.dataset.cacheBytesLeft;
    const scratch = this.scratchBytes();
    const list = this.ref.memory.listScratchBytes === 0 ? 0 : listScratchBytes();
    return {
      worker: threadId,
      readMemory: read,
      pageCaches: { allocated: cached, inUse: cached, peak: cached },
      decodeScratch: { allocated: scratch, inUse: scratch, peak: this.peakScratchBytes },
      transformScratch: { allocated: this.transformBytes, inUse: this.transformBytes, peak: this.peakTransformBytes },
      // Grown, never shrunk: what is held is the most held.
      listScratch: { allocated: list, inUse: list, peak: list },
    };
  }

  /**
   * Reads and decodes whole, into the decoded-page cache, every page of the small fixed-width columns
   * (values of at most {@link SMALL_VALUE_BYTES}: ids, labels) when all of them fit the cache's budget
   * (io.cacheBytes). The loader has each worker do this when it is created, so the first batch of an
   * epoch reads only its rows instead of whole pages, on code that already ran once. Larger small
   * columns are kept page by page as batches first touch them.
   */
  async keepSmallColumns(): Promise<void> {
    const small = this.fields.filter((f) => (fixedByteWidth(f.arrowType) ?? Infinity) <= SMALL_VALUE_BYTES);
    const numRows = this.dataset.numRows;
    const bytesPerRow = small.reduce(
      (sum, f) => sum + (fixedByteWidth(f.arrowType) as number) + (f.nullable ? 1 : 0),
      0,
    );
    if (small.length === 0 || numRows === 0 || numRows * bytesPerRow > this.ref.memory.cacheBytes) return;
    // Evenly spaced rows touch every page that holds at least numRows / KEEP_ROWS of them.
    await this.readAndDrop(evenlySpaced(numRows, KEEP_ROWS), small);
  }

  /**
   * Loads a few evenly spaced rows of every column (as many as WARM_UP_BYTES hold, WARM_UP_ROWS at most)
   * and drops them, when the loader is created: the decoders this dataset needs have run once before the
   * first batch, and the first read of each variable-width full-zip page keeps the page's repetition
   * index (within io.cacheBytes), so the first batches read only their rows.
   */
  async warmUp(): Promise<void> {
    const numRows = this.dataset.numRows;
    if (numRows === 0) return;
    await this.readAndDrop(
      evenlySpaced(
        numRows,
        Math.min(WARM_UP_ROWS, Math.max(1, Math.floor(WARM_UP_BYTES / Math.max(1, this.ref.rowBytes)))),
      ),
      this.fields,
    );
  }

  /** Reads and decodes `rows` of `fields` into outputs of its own, for what reading leaves behind (kept pages, compiled code). */
  private async readAndDrop(rows: Uint32Array, fields: LanceField[]): Promise<void> {
    const columns = createOutputs(fields, rows.length);
    const placed = columns.map((out) => (out.kind === 'nested' || out.kind === 'list' ? undefined : out));
    await this.readColumns(rows, fields, placed, (tasks) => {
      for (const { task, output } of tasks) runDecodeTask(task, columns[output] as ReadOutput);
    });
  }

  /**
   * Readies every lane for the first batches of an epoch, when the loader is created: opens in each lane
   * the files another lane opened (keepSmallColumns, warmUp), since an O_DIRECT open probes the device
   * with reads, and touches as much of each lane's read memory as an average batch reads (ref.batchBytes,
   * at most the lane's share), since the kernel zeroes a page on first touch. Variable-width columns get
   * decode scratch of ref.memory.variableBytes, touched, so their first batch does not grow it by doubling.
   */
  async prepareLanes(): Promise<void> {
    const { variableBytes } = this.ref.memory;
    this.fields.forEach(({ arrowType }, i) => {
      if (isVariableWidth(valueTypeOf(arrowType)) && variableBytes > 0)
        this.scratch[i] = touchPages(new Uint8Array(variableBytes));
    });
    this.peakScratchBytes = Math.max(this.peakScratchBytes, this.scratchBytes());
    const lanes = [...this.free];
    const paths = new Set(lanes.flatMap((lane) => [...lane.sources.keys()]));
    await Promise.all(
      lanes.map(async (lane) => {
        await Promise.all([...paths].map((path) => this.sourceFor(lane, path)));
        // In pieces of at most a slab: a larger lease gets a slab of its own, dropped on release.
        const { slabBytes, maxBytes } = lane.memory;
        const pieces: number[] = [];
        for (let left = Math.min(this.ref.batchBytes, maxBytes); left > 0; left -= slabBytes)
          pieces.push(Math.min(left, slabBytes));
        for (const lease of await lane.memory.acquireAll(pieces)) {
          touchPages(new Uint8Array(lease.buffer, lease.byteOffset, lease.byteLength));
          lease.release();
        }
      }),
    );
  }

  /**
   * Plan → read of `rows` of `fields` in a free lane, reading values that need no decoding straight into
   * `placed`; then `decode` runs the decode tasks while the read memory is still held. Resolves to when
   * the reads were done, the lane's read counters for them, and what `decode` returned.
   */
  private async readColumns<T>(
    rows: Uint32Array,
    fields: LanceField[],
    placed: readonly (ColumnOutput | undefined)[],
    decode: (tasks: OutputTask[]) => T,
  ): Promise<{ read: number; reads: ReadStats; result: T }> {
    const lane = await this.takeLane();
    const before = counters(lane);
    const { kept, read: readFields } = this.fieldsRead(fields);
    const all = kept.length === fields.length;
    try {
      const plan = await this.dataset.planRead(rows, readFields);
      const into = all ? placed : kept.map((i) => placed[i]);
      const perFile = await allSettledOrFirstError(
        plan.files.map(async (file) => fetchFileTasks(file, await this.laneSource(lane, file), into)),
      );
      const read = performance.now();
      const tasks = [...perFile.flat(), ...plan.nullFills];
      const result = decode(all ? tasks : tasks.map(({ task, output }) => ({ task, output: kept[output] as number })));
      return { read, reads: addReadStats(counters(lane), before, -1), result };
    } finally {
      // Views of leased read memory are valid until the tasks have run.
      for (const release of lane.leases) release();
      lane.leases.length = 0;
      this.returnLane(lane);
    }
  }

  /**
   * Which of `fields` a read plans, one array per `fields` array (the dataset keeps its plans per array):
   * blob columns' values are read by loadBlobs, and a packed struct's rows by its group's first field
   * (packed-leaf.ts), so the plan numbers its outputs among the other fields.
   */
  private fieldsRead(fields: LanceField[]): { kept: number[]; read: LanceField[] } {
    let known = this.readFields.get(fields);
    if (!known) {
      const own = readsOwnColumn(fields);
      const kept = fields.flatMap((f, i) => (isBlobColumn(f) || !own[i] ? [] : [i]));
      known = { kept, read: kept.length === fields.length ? fields : kept.map((i) => fields[i] as LanceField) };
      this.readFields.set(fields, known);
    }
    return known;
  }

  /** Closes the dataset and every lane's files (a loader's workers leave that to their thread's exit). */
  async close(): Promise<void> {
    await Promise.all(this.lanes.flatMap((lane) => lane.opened.map((source) => source.close())));
    await this.dataset.close();
  }

  /**
   * Loads what the transforms need (@napi-rs/image, user modules) and runs the image library once, when the
   * loader is created, so the first batch does not wait for them.
   */
  async prepareTransforms(): Promise<void> {
    await Promise.all(this.transformers.map((t) => t?.prepare()));
  }

  /** Bytes of decode scratch held: the kept variable-width outputs and the staging memory. */
  private scratchBytes(): number {
    return this.scratch.reduce((sum, data) => sum + (data?.byteLength ?? 0), this.staging.byteLength + this.blobBytes);
  }

  /** What a batch's variable-width outputs may grow by: the scratch part less its indexes and what is kept. */
  private scratchBudget(outputs: readonly OutputDescriptor[]): ScratchBudget {
    const { decodeScratchBytes, memoryBytes } = this.ref.memory;
    const indexes = outputs.reduce(
      (sum, d) => sum + (d.kind === 'variable' ? d.numSlots * VARIABLE_INDEX_BYTES_PER_ROW : 0),
      0,
    );
    return {
      bytesLeft: Math.max(0, decodeScratchBytes - indexes - this.scratchBytes()),
      source: `the worker's decode scratch (${decodeScratchBytes} bytes of options.memoryBytes ${memoryBytes})`,
    };
  }

  /**
   * The variable-width outputs in slot order, one after another in the slot's memory (null for fixed-width
   * outputs, which are in the slot); a ResourceError when they do not fit it.
   */
  private compactAll(
    columns: readonly (DecodeOutput | null)[],
    memory: SharedArrayBuffer | null,
    budget: ScratchBudget,
  ): (VariableColumn | null)[] {
    const sizes = columns.map((out) => (out?.kind === 'variable' ? valueBytes(out) : 0));
    const needed = sizes.reduce((sum, bytes) => sum + alignVariable(bytes), 0);
    const target = memory ?? new SharedArrayBuffer(0);
    const slotBytes = target.byteLength;
    if (needed > slotBytes) {
      const shown = columns
        .map((out, i) => (out?.kind === 'variable' ? `"${this.fields[i]?.name}" ${sizes[i]}` : ''))
        .filter(Boolean)
        .join(', ');
      throw new ResourceError(
        'MEMORY_BUDGET',
        `a batch's variable-width values need ${needed} bytes (${shown}), more than a batch slot's ${slotBytes} bytes of variable-width memory (options.memoryBytes ${this.ref.memory.memoryBytes}); raise memoryBytes, or lower batchSize or prefetch`,
        { neededBytes: needed, slotBytes },
      );
    }
    let at = 0;
    return columns.map((out) => {
      if (out?.kind !== 'variable') return null;
      const start = at;
      const { offsets, data } = compactVariable(
        out,
        (bytes) => new Uint8Array(target, start, bytes),
        (bytes) => this.stagingFor(bytes, budget),
      );
      at = alignVariable(start + data.byteLength);
      return { offsets, data, validity: out.validity };
    });
  }

  /** Staging memory of at least `bytes`, grown within the batch's scratch budget. */
  private stagingFor(bytes: number, budget: ScratchBudget): Uint8Array {
    const length = this.staging.byteLength;
    if (length < bytes)
      this.staging = new Uint8Array(chargeGrowth(budget, length, Math.ceil(bytes * STAGING_HEADROOM), bytes));
    return this.staging;
  }

  /**
   * Keeps the batch's variable-width outputs' memory for the next batch, at most a slot's worth in all
   * (the largest dropped first): one large batch of one column does not hold scratch for ever.
   */
  private keepScratch(columns: readonly DecodeOutput[]): void {
    columns.forEach((out, i) => {
      // A nested column's memory is its decoded levels and values, and a blob column's is fresh per batch:
      // the next batch does not reuse them.
      if (out.kind === 'variable' && !this.leaves[i]?.layers && !this.isBlob[i]) this.scratch[i] = out.data;
    });
    this.peakScratchBytes = Math.max(this.peakScratchBytes, this.scratchBytes());
    let kept = this.scratchBytes() - this.staging.byteLength - this.blobBytes;
    while (kept > this.ref.memory.variableSlotBytes) {
      let largest = -1;
      this.scratch.forEach((data, i) => {
        if (data && (largest < 0 || data.byteLength > (this.scratch[largest]?.byteLength ?? 0))) largest = i;
      });
      kept -= this.scratch[largest]?.byteLength ?? 0;
      this.scratch[largest] = undefined;
    }
  }

  private takeLane(): Promise<Lane> {
    const lane = this.free.pop();
    return lane ? Promise.resolve(lane) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private returnLane(lane: Lane): void {
    const next = this.waiting.shift();
    if (next) next(lane);
    else this.free.push(lane);
  }

  private sourceFor(lane: Lane, path: string): Promise<DirectFileSource> {
    let source = lane.sources.get(path);
    if (!source) {
      const { direct, mapped, queueDepth, bytesInFlight, maxGapBytes, maxReadBytes } = this.ref;
      const expected = this.files[path];
      source = DirectFileSource.open(path, {
        direct,
        mapped,
        reads: readsFor(direct),
        queueDepth,
        bytesInFlight,
        coalesce: { maxGapBytes, maxReadBytes },
        pool: lane.memory,
      }).then(async (opened) => {
        if (expected === undefined || opened.identity === expected) return opened;
        await opened.close();
        throw replaced(path, expected, opened.identity, 'while the loader was reading it');
      });
      source.then(
        (s) => lane.opened.push(s),
        () => lane.sources.delete(path),
      );
      lane.sources.set(path, source);
    }
    return source;
  }

  /**
   * Where a lane reads `file`: a local file through the lane's own descriptor and read memory; a remote
   * one through the dataset's source (one tail read and metadata per worker), its requests landing in
   * the worker's receive pool (receiving), counted for the lane.
   */
  private async laneSource(lane: Lane, file: FileRead): Promise<ByteSource> {
    let source = lane.leasing.get(file.path);
    if (!source) {
      source =
        file.source instanceof RemoteSource
          ? this.receiving(file.source.countingInto(lane.remoteReads), lane.leases)
          : this.leasing(await this.sourceFor(lane, file.path), lane.leases);
      lane.leasing.set(file.path, source);
    }
    return source;
  }

  /**
   * A view of a remote `source` whose reads receive their bodies into the worker's receive pool and
   * record giving them back in `leases`, as leased slabs are: a batch's bodies are reused by later
   * batches instead of becoming garbage.
   */
  private receiving(source: ByteSource, leases: (() => void)[]): ByteSource {
    const pool = this.receivePool;
    return {
      ...source,
      readRanges: async (ranges) => {
        const targets = ranges.map((r) => pool.take(r.size));
        try {
          await readIntoTargets(source, ranges, targets);
        } catch (error) {
          pool.drop(targets);
          throw error;
        }
        leases.push(() => pool.give(targets));
        return targets;
      },
    };
  }

  /**
   * A view of `source` whose reads lease pool memory (zero-copy) and record the release in `leases`. Reads
   * straight into their targets take no pool memory, so they need no timer for a wait that cannot happen.
   */
  private leasing(source: DirectFileSource, leases: (() => void)[]): ByteSource {
    return {
      path: source.path,
      size: source.size,
      stats: source.stats,
      readRanges: (ranges) =>
        this.waitingForMemory(async (signal) => {
          const leased = await source.readRangesLeased(ranges, { signal });
          leases.push(leased.release);
          return leased.views;
        }),
      readInto: (ranges, targets) =>
        source.readsIntoTargets
          ? source.readInto(ranges, targets)
          : this.waitingForMemory((signal) => source.readInto(ranges, targets, { signal })),
      close: () => source.close(),
    };
  }

  /** Runs a read that may wait for pool memory, giving up with a clear error after READ_MEMORY_WAIT_MS. */
  private async waitingForMemory<T>(read: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // A timer cleared when the read is done. Not AbortSignal.timeout: Node keeps each such signal alive
    // until its timer fires, so one per read would hold memory for the whole timeout and RSS would grow every epoch.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), READ_MEMORY_WAIT_MS);
    try {
      return await read(controller.signal);
    } catch (error) {
      if (controller.signal.aborted) {
        const { readMemoryBytes, memoryBytes } = this.ref.memory;
        throw new ResourceError(
          'READ_MEMORY_TIMEOUT',
          `a batch waited ${READ_MEMORY_WAIT_MS / 1000} s for read memory: each batch's share (${Math.floor(readMemoryBytes / this.ref.lanes)} bytes: a worker's ${readMemoryBytes} bytes of options.memoryBytes ${memoryBytes} for ${this.ref.lanes} batches at once) is too small for this batch size; raise memoryBytes or lower batchSize`,
          { readMemoryBytes, lanes: this.ref.lanes, waitedMs: READ_MEMORY_WAIT_MS },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Bytes of a variable-width output's values (what compaction copies). */
function valueBytes(out: VariableOutput): number {
  let total = 0;
  for (let i = 0; i < out.lengths.length; i++) total += out.lengths[i] as number;
  return total;
}

/** `count` rows (at most numRows) spread evenly over [0, numRows), ascending. */
function evenlySpaced(numRows: number, count: number): Uint32Array {
  const rows = new Uint32Array(Math.min(numRows, count));
  for (let i = 0; i < rows.length; i++) rows[i] = Math.floor((i * numRows) / rows.length);
  return rows;
}

/** The summed counters of a lane's sources. */
function counters(lane: Lane): ReadStats {
  const sum = addReadStats(emptyReadStats(), lane.remoteReads);
  for (const { stats } of lane.opened) addReadStats(sum, stats);
  return sum;
}

/**
 * How a worker issues a batch's reads: queued on its io_uring (the disk works on one batch while the
 * worker plans or decodes another) when the addon has one; else blocking batches where the data is
 * expected in the page cache (direct: false), and async O_DIRECT reads on the threadpool otherwise.
 */
function readsFor(direct: DatasetRef['direct']): BatchReads {
  if (hasQueuedReads()) return 'queued';
  return direct === false ? 'blocking' : 'threadpool';
}

function openFixedOutput(d: Extract<OutputDescriptor, { kind: 'fixed' }>): ColumnOutput {
  const validity = d.validityOffset >= 0 ? new Uint8Array(d.buffer, d.validityOffset, d.numSlots) : null;
  validity?.fill(1);
  return {
    kind: 'fixed',
    byteWidth: d.byteWidth,
    values: new Uint8Array(d.buffer, d.byteOffset, d.numSlots * d.byteWidth),
    validity,
  };
}

/** What a packed group's fields after its first hold until the group's rows are split: nothing read. */
const NOT_READ: ColumnOutput = { kind: 'fixed', byteWidth: 0, values: new Uint8Array(0), validity: null };

/** The packed struct a batch field of it (`item.name`, one child) belongs to: its name less the child's. */
function packedStructName(field: LanceField): string {
  const child = field.children[0]?.name ?? '';
  return field.name.slice(0, field.name.length - child.length - 1);
}

/** A packed row whose fields do not add up to its length, named by its dataset row and batch row. */
function badPackedRow(where: string, rows: Uint32Array, slot: number, bytes: number): CorruptFileError {
  return new CorruptFileError(
    `${where}: the packed row of row ${rows[slot]} (batch row ${slot}, ${bytes} bytes) does not hold the struct's fields`,
    { row: rows[slot], slot, bytes },
  );
}

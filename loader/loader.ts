/**
 * The DataLoader: shuffled batches of a Lance dataset for training, each loaded by one worker thread
 * (plan, coalesced reads, decode) straight into shared memory.
 *
 *   sampler ─rows─► DecodePool: LoadJob { rows, slot } ─► worker: planRead → reads → decode ─┐ writes into
 *      ▲                                                                                   │
 *      │ state()/resume                              slot ring (prefetch + 2 SharedArrayBuffers) ◄─┘
 *   consumer ◄── Batch (typed-array views of a slot; release() returns the slot) ◄── in order
 *
 * The main thread only draws rows and hands out slots: each worker opens the dataset itself when the
 * loader is created (decode-workers/worker-dataset.ts) and reads with its own file descriptors, queueing each
 * batch's reads on its own io_uring (native addon) so that it plans or decodes one batch while another's
 * reads are on the disk. Up to `prefetch` batches are in flight (up to two per worker at a time, see
 * budget.ts lanesFor); they are delivered in epoch order. A batch's slot is reused only after `release()`. Errors
 * reject the epoch with the typed error plus the batch and rows; every other batch in flight is settled
 * first, so no work or thread is left behind.
 *
 * Memory: options.memoryBytes is split once into the parts of one budget (budget.ts): the slots and their
 * variable-width memory are made here, at creation; each worker gets its share of read memory, page cache
 * and decode scratch in DatasetRef.memory. metrics().memory reports each part's use.
 */
import { totalmem } from 'node:os';
import { AbortError, InvalidArgumentError, InvalidStateError, ResourceError, withContext } from '../errors.js';
import { BatchSampler } from '../samplers/index.js';
import { DecodePool } from '../decode-workers/pool.js';
import { touchPages } from '../io/slab.js';
import { nativeAddon } from '../io/native-addon.js';
import type { DatasetRef, OutputDescriptor, VariableColumn } from '../decode-workers/messages.js';
import { createBatch, type Batch, type BatchColumn, type BatchLease } from './batch.js';
import { planBatchLayout, type BatchLayout } from './batch-layout.js';
import {
  blobBatchBytes,
  planDeepestBudget,
  planMemoryBudget,
  transformScratchFor,
  type MemoryBudget,
} from './budget.js';
import { loadImageLibrary } from '../decode-workers/transforms/image-library.js';
import type { SkippedRow } from '../decode-workers/messages.js';
import { selectBatchFields } from '../decode-workers/batch-fields.js';
import { blobBytesOutsideFiles } from '../decode-workers/blob-fill.js';
import type { ColumnTransformPlan } from '../decode-workers/transforms/steps.js';
import { Dataset, openDataset } from '../dataset/dataset.js';
import { checkReadableFields } from '../dataset/columns.js';
import { resolveLocation, type DatasetLocation, type LocationArgument } from '../dataset/location.js';
import { bytesInFlight, createRequestPermits, releaseHolders } from '../io/remote/shared-permits.js';
import {
  REMOTE_PREFETCH,
  resolveLoaderOptions,
  type LoaderOptions,
  type LoaderState,
  type ResolvedLoaderOptions,
} from './loader-options.js';
import { resolveTransformInputs } from './transform-inputs.js';
import { createLoaderMetrics, type LoaderMetrics, type MetricsCounters } from './metrics.js';

interface Slot extends BatchLease {
  buffer: SharedArrayBuffer;
  /** The slot's memory for its batch's variable-width values (the budget's variable part), or null. */
  variable: SharedArrayBuffer | null;
  /** Bytes of variable-width values of the slot's batch. */
  variableBytes: number;
  /** Bytes of `variable` ever touched (resident): touched ahead at creation, or written by a batch. */
  variableTouched: number;
}

/**
 * Shared memory of `bytes`, its first `touchBytes` touched, so the first batches do not pay the kernel's
 * zeroing while the disk waits (the kernel zeroes each page on first touch). Untouched pages take no memory
 * until a batch writes them.
 */
function touchedShared(bytes: number, touchBytes = bytes): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(bytes);
  touchPages(new Uint8Array(buffer, 0, Math.min(bytes, touchBytes)));
  return buffer;
}

type BudgetInput = Parameters<typeof planMemoryBudget>[0];

/**
 * A remote dataset's workers' young generation (V8's default size for a 64-bit process): each request's
 * objects live a round trip or longer while hundreds are in flight, so with the 8 MiB of a local
 * dataset's workers they were scavenged several times, promoted and left to full collections.
 */
const REMOTE_WORKER_YOUNG_GENERATION_MB = 48;

/**
 * The budget of a remote dataset's loader without options.prefetch: its batches each wait round trips for
 * their reads, so up to REMOTE_PREFETCH of them are in flight (and `resolved.prefetch` says how many) when
 * the budget holds their slots without shrinking each slot's variable-width memory below the default's.
 */
function planRemoteBudget(resolved: ResolvedLoaderOptions, input: BudgetInput): MemoryBudget {
  const budget = planDeepestBudget(input, REMOTE_PREFETCH);
  resolved.prefetch = budget.slotCount - 2;
  return budget;
}

/** Shuffled, multi-threaded batches of a Lance dataset. Create with {@link createLoader}. */
export class DataLoader {
  private readonly slots: Slot[];
  private readonly counters: MetricsCounters;
  private position: { epoch: number; nextBatch: number };
  /** Where the first iteration of the resumed epoch starts (options.resume); used once. */
  private resumeAt: { epoch: number; nextBatch: number } | null;
  /** The epoch iteration in progress: slots and position serve one iteration at a time. */
  private iterating: { epoch: number; generator: AsyncGenerator<Batch> } | null = null;
  /** Every batch load not yet settled, so close() can let them finish before stopping the workers. */
  private readonly loading = new Set<Promise<Batch>>();
  private isClosed = false;
  /** What close() resolves with, for every call: the first call's shutdown. */
  private closing: Promise<void> | undefined;

  private constructor(
    /** The dataset being loaded. */
    readonly dataset: Dataset,
    private readonly ownsDataset: boolean,
    private readonly layout: BatchLayout,
    private readonly sampler: BatchSampler,
    private readonly pool: DecodePool,
    private readonly options: ResolvedLoaderOptions,
    /** How workers open and read the dataset. */
    private readonly ref: DatasetRef,
    budget: MemoryBudget,
    resumeAt: { epoch: number; nextBatch: number } | null,
  ) {
    const { variableSlotBytes, variableBytes } = budget.worker;
    // An average batch's variable-width values touched ahead, so the first batches copy them into mapped memory.
    const variableTouched = variableBytes * layout.columns.filter((c) => c.variable).length;
    this.slots = Array.from({ length: budget.slotCount }, () => ({
      buffer: touchedShared(layout.slotBytes),
      free: true,
      generation: 0,
      variable: variableSlotBytes > 0 ? touchedShared(variableSlotBytes, variableTouched) : null,
      variableBytes: 0,
      variableTouched: Math.min(variableSlotBytes, variableTouched),
    }));
    this.counters = createLoaderMetrics(budget);
    this.trackSlots();
    this.resumeAt = resumeAt;
    this.position = resumeAt ?? { epoch: 0, nextBatch: 0 };
  }

  /** @internal */
  static async create(pathOrDataset: DatasetLocation | Dataset, options: LoaderOptions): Promise<DataLoader> {
    const resolved = resolveLoaderOptions(options);
    const dataset =
      pathOrDataset instanceof Dataset ? pathOrDataset : await openLocation(pathOrDataset, options, resolved);
    const owns = dataset !== pathOrDataset;
    let pool: DecodePool | undefined;
    try {
      const fields = selectBatchFields(dataset, resolved.columns);
      checkReadableFields(fields, dataset.path);
      const layout = planBatchLayout(fields, resolved.batchSize, resolved.shapes, resolved.transforms, resolved.pad);
      resolveTransformInputs(resolved.transforms, layout);
      const plans = Object.values(resolved.transforms);
      await checkTransforms(plans);
      // Slots are sized by the schema's widths: a width the pages cannot hold is damage, not a budget matter.
      // This opens every data file the loader reads, whose identities the workers check theirs against.
      await dataset.checkWidths(fields);
      const sampler = new BatchSampler({
        numRows: dataset.numRows,
        batchSize: resolved.batchSize,
        shuffle: resolved.shuffle,
        seed: resolved.seed,
        dropLast: resolved.dropLast,
        rank: resolved.rank,
        worldSize: resolved.worldSize,
      });
      // Before any worker starts: a refused state must leave nothing running.
      const resumeAt = resolved.resume ? sampler.resume(resolved.resume.sampler, 'options.resume.sampler') : null;
      const datasetBytes = dataset.fragments.reduce(
        (sum, f) => sum + f.files.reduce((s, file) => s + file.sizeBytes, 0),
        0,
      );
      // 'auto': O_DIRECT only when the page cache cannot hold the dataset (it bypasses a warm cache).
      const direct = resolved.direct === 'auto' ? (datasetBytes > totalmem() / 2 ? 'auto' : false) : resolved.direct;
      const rowBytes = datasetBytes / Math.max(1, dataset.numRows);
      const batchBytes = Math.ceil(resolved.batchSize * rowBytes);
      // Transformed columns and padded lists are as wide as their output, not as their stored bytes.
      const fixedBatchBytes = layout.columns.reduce(
        (sum, c) => sum + (c.transformed || c.pad ? 0 : c.bytesPerRow * resolved.batchSize),
        0,
      );
      const variableBatchBytes = Math.max(0, batchBytes - fixedBatchBytes);
      // Blob values in sidecars and external files: variable-width values the data files' sizes leave out.
      const blobColumns = await blobBytesOutsideFiles(dataset, fields, resolved.externalRoots);
      const blobs = blobBatchBytes(blobColumns, resolved.batchSize);
      const remoteIo = dataset.remote && {
        ...(resolved.remote ?? dataset.remote.io),
        // Unless given, in-flight bytes take at most a quarter of the memory budget.
        ...(options.io?.remote?.bytesInFlight === undefined && {
          bytesInFlight: Math.min(
            (resolved.remote ?? dataset.remote.io).bytesInFlight,
            Math.floor(resolved.memoryBytes / 4),
          ),
        }),
      };
      const budgetInput: BudgetInput = {
        memoryBytes: resolved.memoryBytes,
        workers: resolved.workers,
        slotCount: resolved.prefetch + 2,
        slotBytes: layout.slotBytes,
        batchSize: resolved.batchSize,
        // Transformed columns are read and decoded as variable-width ones; nested columns' levels and
        // values are decoded in scratch before they go to the slot.
        variableColumns: layout.columns.filter((c, i) => c.variable || c.transformed || c.pad || fields[i]?.ancestors)
          .length,
        batchBytes,
        // What the batch's stored bytes leave after its fixed-width values.
        variableBatchBytes,
        blobColumns,
        cacheBytes: resolved.cacheBytes,
        nativeGather: nativeAddon() !== null,
        transformScratchBytes:
          plans.length === 0
            ? 0
            : transformScratchFor(
                variableBatchBytes + blobs.averageBytes,
                Math.max(...plans.map((p) => p.decodedBytes)) +
                  // A batch-level step's input: the batch's rows stacked, one batch at a time per worker.
                  resolved.batchSize * plans.reduce((sum, p) => sum + (p.batchStep?.input?.byteWidth ?? 0), 0),
                variableBatchBytes + blobs.fullBytes,
              ),
        ...(remoteIo && { remoteBytesInFlight: remoteIo.bytesInFlight }),
        // Lists of fixed-width items, padded or ragged: the ones the list-rows path decodes.
        listColumns: layout.columns.filter((c) => c.list && c.itemBytes !== undefined).length,
      };
      const budget =
        remoteIo && options.prefetch === undefined
          ? planRemoteBudget(resolved, budgetInput)
          : planMemoryBudget(budgetInput);
      const ref: DatasetRef = {
        path: dataset.path,
        version: dataset.version,
        followSymlinks: dataset.followSymlinks,
        ...(remoteIo && {
          remote: {
            storage: dataset.remote?.storage,
            io: remoteIo,
            // Slots for every worker and as many replacements starting while dead ones are given back.
            permits: createRequestPermits(remoteIo.concurrency, remoteIo.bytesInFlight, 2 * resolved.workers),
          },
        }),
        columns: fields.map((f) => f.name),
        direct,
        mapped: resolved.mapped,
        queueDepth: resolved.queueDepth,
        bytesInFlight: resolved.bytesInFlight,
        maxGapBytes: resolved.maxGapBytes,
        maxReadBytes: resolved.maxReadBytes,
        memory: budget.worker,
        lanes: budget.lanes,
        batchBytes,
        rowBytes,
        fragmentsDigest: dataset.fragmentsDigest,
        files: await dataset.openedFiles(),
        ...(resolved.externalRoots.length > 0 && { externalRoots: resolved.externalRoots }),
        ...(plans.length === 0
          ? {}
          : { transforms: fields.map((f) => resolved.transforms[f.name] ?? null), seed: resolved.seed }),
      };
      const permits = ref.remote?.permits;
      pool = new DecodePool({
        workers: resolved.workers,
        tasksPerWorker: ref.lanes,
        // A worker killed mid-request never gives back its permits: give them back for it.
        ...(permits && { onWorkerExit: (live: number[]) => releaseHolders(permits, live) }),
        ...(permits && { youngGenerationMb: REMOTE_WORKER_YOUNG_GENERATION_MB }),
      });
      // Workers start and open the dataset now, not on the first batch: its latency is then reading only.
      await pool.prepare(ref);
      return new DataLoader(dataset, owns, layout, sampler, pool, resolved, ref, budget, resumeAt);
    } catch (error) {
      await pool?.destroy();
      if (owns) await dataset.close();
      throw error;
    }
  }

  /** Batches per epoch (for this rank). */
  get numBatches(): number {
    return this.sampler.numBatches();
  }

  /** @internal The worker pool (tests kill workers through it). */
  get decodePool(): DecodePool {
    return this.pool;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * The batches of epoch `epoch` in order, the same batches for the same seed every time the epoch is
   * iterated. The first iteration of the epoch named by `options.resume` starts where that state stopped;
   * every other iteration starts at the first batch.
   *
   * One iteration at a time: starting one while another has not ended (finished, left with `break`, its
   * iterator's `return()` called, or {@link endEpoch}) throws an InvalidStateError. After {@link close},
   * the iteration in progress ends normally without further batches, and starting another throws an
   * AbortError.
   */
  epoch(epoch: number): AsyncGenerator<Batch> {
    const generator: AsyncGenerator<Batch> = this.iterate(epoch, () => generator);
    return generator;
  }

  /**
   * Ends the epoch iteration in progress as `break` would, when its loop is out of reach: after
   * `model.fitDataset` stopped early (`model.stopTraining`), the iteration it was reading stays open.
   * Waits for a batch the iteration is waiting for, if any. Does nothing when no iteration is open.
   */
  async endEpoch(): Promise<void> {
    await this.iterating?.generator.return(undefined);
  }

  private async *iterate(epoch: number, generator: () => AsyncGenerator<Batch>): AsyncGenerator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new InvalidArgumentError(`epoch must be a non-negative integer, got ${String(epoch)}`);
    this.checkOpen();
    if (this.iterating !== null) {
      const open = this.iterating.epoch;
      const at = this.position;
      throw new InvalidStateError(
        `epoch ${epoch} cannot start while epoch ${open} is being iterated (${at.nextBatch} of ${this.numBatches} batches delivered); finish that loop, end it with break or its iterator's return(), or call loader.endEpoch(), first`,
        { epoch, iterating: open },
      );
    }
    this.iterating = { epoch, generator: generator() };
    const numBatches = this.numBatches;
    const start = this.resumeAt?.epoch === epoch ? this.resumeAt.nextBatch : 0;
    this.resumeAt = null;
    this.position = { epoch, nextBatch: start };
    const inflight = new Map<number, Promise<Batch>>();
    let next = start;
    const launch = () => {
      while (next < numBatches && inflight.size < this.options.prefetch && !this.isClosed) {
        const slot = this.slots.find((s) => s.free);
        if (!slot) return;
        slot.free = false;
        this.trackSlots();
        const promise = this.loadBatch(epoch, next, slot);
        this.loading.add(promise);
        promise.then(
          () => this.loading.delete(promise),
          () => this.loading.delete(promise),
        );
        inflight.set(next, promise);
        next++;
      }
    };
    try {
      for (let index = start; index < numBatches; index++) {
        launch();
        if (this.isClosed) return;
        const pending = inflight.get(index);
        if (!pending) {
          throw new ResourceError(
            'SLOTS_EXHAUSTED',
            `all ${this.slots.length} batch slots (prefetch ${this.options.prefetch} + 2) are held by the consumer, so epoch ${epoch} batch ${index} cannot be loaded: call batch.release() on batches you are done with before asking for more, or raise prefetch`,
            { slots: this.slots.length, epoch, batch: index },
          );
        }
        const waitStarted = performance.now();
        const batch = await pending;
        this.counters.consumerWaitMs += performance.now() - waitStarted;
        if (this.isClosed) return; // closed while waiting: the finally block releases the batch
        inflight.delete(index);
        this.position = { epoch, nextBatch: index + 1 };
        this.counters.batches++;
        this.counters.rows += batch.numRows;
        yield batch;
      }
    } finally {
      await Promise.allSettled(inflight.values());
      for (const promise of inflight.values()) (await promise.catch(() => null))?.release();
      this.iterating = null;
    }
  }

  /** Where the loader stands: the next batch to deliver. Pass it as `resume` to continue from there. */
  state(): LoaderState {
    return { version: 1, sampler: this.sampler.state(this.position.epoch, this.position.nextBatch) };
  }

  /** Throughput, I/O and wait counters since creation, and the memory budget's use by part. */
  metrics(): LoaderMetrics {
    return this.counters.snapshot();
  }

  /**
   * Lets batches being loaded finish, then stops every worker thread and closes files. Batches already
   * delivered stay readable until released. An epoch being iterated ends normally (its `for await` loop
   * exits without more batches), so close() may be called from anywhere, a SIGINT handler included.
   * Idempotent: every call resolves once the workers have stopped.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.isClosed = true;
    // A remote batch may wait minutes on its requests (timeouts times retries); its worker has no kernel
    // reads into its memory in flight, so stopping the threads now ends those requests safely.
    if (this.ref.remote) await this.pool.destroy();
    await Promise.allSettled([...this.loading]);
    // Workers' file descriptors are closed when their threads stop (Piscina tracks fds opened in workers).
    await this.pool.destroy();
    if (this.ownsDataset) await this.dataset.close();
  }

  private checkOpen(): void {
    if (this.isClosed) throw new AbortError('the loader is closed');
  }

  private async loadBatch(epoch: number, index: number, slot: Slot): Promise<Batch> {
    const rows = this.sampler.batch(epoch, index);
    try {
      const result = await this.pool.run({
        dataset: this.ref,
        rows,
        epoch,
        outputs: this.describeOutputs(slot, rows.length, epoch),
        variableMemory: slot.variable,
      });
      this.counters.memory.setWorker(
        result.memory,
        this.pool.threads.map((t) => t.threadId),
      );
      this.counters.readMs += result.readMs;
      this.counters.decodeMs += result.decodeMs;
      this.counters.transformMs += result.transformMs;
      if (result.skipped.length > 0) this.reportSkipped(epoch, index, rows, result.skipped);
      this.counters.addReads(result.reads);
      this.counters.addNative(result.native);
      return this.assemble(epoch, index, rows, slot, result.variable, result.itemValidity);
    } catch (error) {
      slot.free = true;
      this.trackSlots();
      const shown = Array.from(rows.subarray(0, 8)).join(', ') + (rows.length > 8 ? `, … (${rows.length} rows)` : '');
      throw withContext(error, `while loading epoch ${epoch} batch ${index}, rows ${shown}`, {
        epoch,
        batch: index,
        rows: Array.from(rows),
      });
    }
  }

  /**
   * Counts rows that onError 'skip' replaced, names them in a warning, and points the batch's rowOffsets
   * at the rows whose values they now hold.
   */
  private reportSkipped(epoch: number, index: number, rows: Uint32Array, skipped: SkippedRow[]): void {
    this.counters.skippedRows += skipped.length;
    for (const { slot, replacedBy } of skipped) rows[slot] = replacedBy;
    const shown = skipped.map((s) => `${s.message} (replaced by row ${s.replacedBy})`).join('; ');
    process.emitWarning(`lance-loader skipped ${skipped.length} row(s) of epoch ${epoch} batch ${index}: ${shown}`, {
      code: 'LANCE_LOADER_SKIPPED_ROWS',
    });
  }

  /** Reports the slots and their variable-width memory to the metrics. */
  private trackSlots(): void {
    const held = this.slots.filter((s) => !s.free);
    this.counters.memory.setMain(
      'slots',
      this.slots.length * this.layout.slotBytes,
      held.length * this.layout.slotBytes,
    );
    this.counters.memory.setMain(
      'variable',
      this.slots.reduce((sum, s) => sum + s.variableTouched, 0),
      held.reduce((sum, s) => sum + s.variableBytes, 0),
    );
    const permits = this.ref.remote?.permits;
    if (permits) {
      const inFlight = bytesInFlight(permits);
      this.counters.memory.setMain('remote', inFlight, inFlight);
    }
  }

  private describeOutputs(slot: Slot, numRows: number, epoch: number): OutputDescriptor[] {
    return this.layout.columns.map((c): OutputDescriptor =>
      c.transformed
        ? {
            kind: 'transformed',
            buffer: slot.buffer,
            byteOffset: c.valuesOffset,
            byteWidth: c.bytesPerRow,
            numSlots: numRows,
            // A null value is a row the transform cannot make: the worker needs to see it.
            nullable: true,
          }
        : c.variable
          ? { kind: 'variable', numSlots: numRows, nullable: c.nullable }
          : c.pad
            ? {
                kind: 'padded',
                buffer: slot.buffer,
                byteOffset: c.valuesOffset,
                itemBytes: c.itemBytes as number,
                length: c.pad.length,
                numSlots: numRows,
                lengthsOffset: c.pad.lengthsOffset,
                validityOffset: c.validityOffset,
                padBytes: padBytesOf(c.ArrayType, c.pad.value),
                truncate: c.pad.truncate,
                seed: this.options.seed,
                epoch,
              }
            : {
                kind: 'fixed',
                buffer: slot.buffer,
                byteOffset: c.valuesOffset,
                byteWidth: c.bytesPerRow,
                numSlots: numRows,
                validityOffset: c.validityOffset,
                ...(c.packed && {
                  packed: {
                    byteWidths: c.packed.map((f) => f.byteWidth),
                    byteOffsets: c.packed.map((f) => f.byteOffset),
                  },
                }),
              },
    );
  }

  private assemble(
    epoch: number,
    index: number,
    rows: Uint32Array,
    slot: Slot,
    variable: (VariableColumn | null)[],
    itemValidity: (Uint8Array | null)[],
  ): Batch {
    const numRows = rows.length;
    const columns: Record<string, BatchColumn> = {};
    let bytes = 0;
    this.layout.columns.forEach((c, i) => {
      const v = variable[i];
      if (c.variable && v) {
        columns[c.name] = raggedColumn(c, v, numRows);
        bytes += v.data.byteLength;
        return;
      }
      bytes += numRows * c.bytesPerRow;
      if (c.packed) {
        for (const f of c.packed) columns[f.name] = packedFieldColumn(f, c.validityOffset, slot.buffer, numRows);
        return;
      }
      const perRow = c.rowShape.reduce((a, b) => a * b, 1);
      const values = new c.ArrayType(slot.buffer, c.valuesOffset, numRows * perRow);
      const column: BatchColumn = { dtype: c.dtype, values, shape: [numRows, ...c.rowShape] };
      if (c.validityOffset >= 0) column.validity = new Uint8Array(slot.buffer, c.validityOffset, numRows);
      if (c.pad) column.lengths = new Int32Array(slot.buffer, c.pad.lengthsOffset, numRows);
      const items = itemValidity[i];
      if (items) column.itemValidity = items;
      columns[c.name] = column;
    });
    this.counters.bytesDelivered += bytes;
    slot.variableBytes = variable.reduce((sum, v) => sum + (v?.data.byteLength ?? 0), 0);
    // Columns are placed one after another: the last one's end is how far the batch wrote.
    const written = variable.reduce((end, v) => Math.max(end, v ? v.data.byteOffset + v.data.byteLength : 0), 0);
    slot.variableTouched = Math.max(slot.variableTouched, written);
    this.trackSlots();
    return createBatch({ epoch, index, rowOffsets: rows, numRows }, columns, slot, () => {
      slot.variableBytes = 0;
      this.trackSlots();
    });
  }
}

/**
 * What transforms need beyond their own options: @napi-rs/image for decodeImage (an UnsupportedError saying how to
 * install it, before any worker starts).
 */
async function checkTransforms(plans: ColumnTransformPlan[]): Promise<void> {
  if (plans.some((p) => p.steps.some((s) => s.op === 'decodeImage'))) await loadImageLibrary();
}

/** A field of a packed struct as a batch column: its values, and the struct's validity when it is nullable. */
function packedFieldColumn(
  f: NonNullable<BatchLayout['columns'][number]['packed']>[number],
  validityOffset: number,
  buffer: SharedArrayBuffer,
  numRows: number,
): BatchColumn {
  const perRow = f.rowShape.reduce((a, b) => a * b, 1);
  return {
    dtype: f.dtype,
    values: new f.ArrayType(buffer, f.byteOffset, numRows * perRow),
    shape: [numRows, ...f.rowShape],
    ...(validityOffset >= 0 && { validity: new Uint8Array(buffer, validityOffset, numRows) }),
  };
}

/**
 * A variable-width column of a batch: strings and binaries as bytes and offsets, ragged lists as their
 * items (8-byte aligned in the slot, VARIABLE_ALIGN_BYTES) and the offsets of each list level.
 */
function raggedColumn(c: BatchLayout['columns'][number], v: VariableColumn, numRows: number): BatchColumn {
  const levels = v.levels;
  const values = c.itemBytes
    ? new c.ArrayType(v.data.buffer, v.data.byteOffset, v.data.byteLength / c.ArrayType.BYTES_PER_ELEMENT)
    : v.data;
  // Strings and binaries have no levels: their row offsets are byte offsets.
  const offsets = levels?.offsets[0] ?? Int32Array.from(v.offsets);
  return {
    dtype: c.dtype,
    values,
    shape: [numRows],
    offsets,
    ...(v.validity ? { validity: v.validity } : {}),
    ...(v.itemValidity ? { itemValidity: v.itemValidity } : {}),
    ...(levels && levels.offsets.length > 1
      ? { innerOffsets: levels.offsets.slice(1), innerValidity: levels.validity }
      : {}),
    ...(levels?.itemOffsets ? { itemOffsets: levels.itemOffsets } : {}),
    ...(c.itemShape ? { itemShape: c.itemShape } : {}),
  };
}

/** The `itemBytes` bytes of `value` as an item of a list batched as `ArrayType`. */
function padBytesOf(ArrayType: BatchLayout['columns'][number]['ArrayType'], value: number): Uint8Array {
  const one = new ArrayType(new ArrayBuffer(8), 0, 1);
  one[0] = (one instanceof BigInt64Array || one instanceof BigUint64Array ? BigInt(value) : value) as never;
  return new Uint8Array(one.buffer, 0, one.byteLength);
}

const DATASET_ARGUMENT: LocationArgument = {
  name: 'createLoader(dataset)',
  accepts: 'a dataset (a path, a file:, s3:// or http(s):// URL, or a LanceDB Table) or an open Dataset',
  tables: true,
  remote: true,
};

/** Opens the dataset at `location` for a loader: a remote one with options.storage and options.io.remote. */
function openLocation(
  location: DatasetLocation,
  options: LoaderOptions,
  resolved: ResolvedLoaderOptions,
): Promise<Dataset> {
  const where = resolveLocation(location, DATASET_ARGUMENT);
  if (where.kind === 'local') return openDataset(where.path);
  return openDataset(where.url, { storage: options.storage, ...(resolved.remote && { remote: resolved.remote }) });
}

/**
 * Creates a loader over a dataset (opened and closed by the loader) or an open {@link Dataset} (left
 * open). The dataset is given as for `openDataset`: a local path, a `file:` URL, an `s3://` or
 * `http(s)://` URL (with `options.storage` and `options.io.remote`), or an open LanceDB `Table`.
 */
export function createLoader(pathOrDataset: DatasetLocation | Dataset, options: LoaderOptions): Promise<DataLoader> {
  return DataLoader.create(pathOrDataset, options);
}

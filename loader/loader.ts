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
 * lanesFor); they are delivered in epoch order. A batch's slot is reused only after `release()`. Errors
 * reject the epoch with the typed error plus the batch and rows; every other batch in flight is settled
 * first, so no work or thread is left behind.
 */
import { totalmem } from 'node:os';
import { AbortError, InvalidArgumentError, InvalidStateError, withContext } from '../errors.js';
import { BatchSampler } from '../samplers/index.js';
import { DecodePool } from '../decode-workers/pool.js';
import { touchPages } from '../io/slab.js';
import type { DatasetRef, OutputDescriptor, VariableColumn } from '../decode-workers/messages.js';
import { createBatch, type Batch, type BatchColumn, type BatchLease } from './batch.js';
import { planBatchLayout, type BatchLayout } from './batch-layout.js';
import { openDataset, type Dataset } from '../dataset/dataset.js';
import {
  resolveLoaderOptions,
  type LoaderOptions,
  type LoaderState,
  type ResolvedLoaderOptions,
} from './loader-options.js';
import { createLoaderMetrics, type LoaderMetrics, type MetricsCounters } from './metrics.js';

interface Slot extends BatchLease {
  buffer: SharedArrayBuffer;
  /** Per column: the shared memory of the slot's last batch's variable-width values, reused once free. */
  variable: (SharedArrayBuffer | null)[];
}

/** Smallest read memory a worker can work with (two O_DIRECT blocks, with room for a merged read). */
const MIN_WORKER_READ_BYTES = 64 * 1024;

/**
 * Batches a worker loads at once (DatasetRef.lanes): two, so one is planned or decoded while the other's
 * reads are on the disk and the worker never waits for the main thread's next job, when half of the
 * worker's read memory still holds twice an average batch's bytes (a batch may need a second round of
 * reads); else one.
 */
function lanesFor(workerReadBytes: number, batchBytes: number): number {
  return workerReadBytes / 2 >= Math.max(MIN_WORKER_READ_BYTES, 2 * batchBytes) ? 2 : 1;
}

/**
 * Shared memory of `bytes` with every page touched, so the first batches do not pay the kernel's zeroing
 * while the disk waits (a few ms per batch of seed000's 6.7 MB).
 */
function touchedShared(bytes: number): SharedArrayBuffer {
  return touchPages(new Uint8Array(new SharedArrayBuffer(bytes))).buffer as SharedArrayBuffer;
}

/**
 * The memory a batch's variable-width column gets first (DatasetRef.variableBytes): what the batch's
 * stored bytes leave after its fixed-width values, shared evenly, with a quarter of headroom (as workers
 * size a new shared buffer for a column).
 */
function variableBytesOf(layout: BatchLayout, batchBytes: number, batchSize: number): number {
  const variable = layout.columns.filter((c) => c.variable).length;
  const fixed = layout.columns.reduce((sum, c) => sum + c.bytesPerRow * batchSize, 0);
  return variable === 0 ? 0 : Math.ceil((Math.max(0, batchBytes - fixed) / variable) * 1.25);
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
    resumeAt: { epoch: number; nextBatch: number } | null,
  ) {
    this.slots = Array.from({ length: options.prefetch + 2 }, () => ({
      buffer: touchedShared(layout.slotBytes),
      free: true,
      generation: 0,
      // So the first batches copy their variable-width values into memory already mapped.
      variable: layout.columns.map((c) =>
        c.variable && ref.variableBytes > 0 ? touchedShared(ref.variableBytes) : null,
      ),
    }));
    this.counters = createLoaderMetrics();
    this.resumeAt = resumeAt;
    this.position = resumeAt ?? { epoch: 0, nextBatch: 0 };
  }

  /** @internal */
  static async create(pathOrDataset: string | Dataset, options: LoaderOptions): Promise<DataLoader> {
    const resolved = resolveLoaderOptions(options);
    const owns = typeof pathOrDataset === 'string';
    const dataset = owns ? await openDataset(pathOrDataset) : pathOrDataset;
    let pool: DecodePool | undefined;
    try {
      const fields = dataset.selectFields(resolved.columns);
      const layout = planBatchLayout(fields, resolved.batchSize, resolved.shapes);
      const slotsBytes = layout.slotBytes * (resolved.prefetch + 2);
      if (slotsBytes > resolved.memoryBytes / 2) {
        throw new InvalidArgumentError(
          `batch slots need ${slotsBytes} bytes ((prefetch ${resolved.prefetch} + 2) × ${layout.slotBytes}), more than half of options.memoryBytes (${resolved.memoryBytes}); lower batchSize or prefetch, or raise memoryBytes`,
        );
      }
      const cacheBytes = resolved.cacheBytes * resolved.workers;
      const workerReadBytes =
        Math.floor((resolved.memoryBytes - slotsBytes - cacheBytes) / resolved.workers / 4096) * 4096;
      if (workerReadBytes < MIN_WORKER_READ_BYTES) {
        throw new InvalidArgumentError(
          `options.memoryBytes (${resolved.memoryBytes}) leaves ${Math.max(0, workerReadBytes)} bytes of read memory per worker after the batch slots (${slotsBytes} bytes) and the decoded-page caches (${resolved.workers} × io.cacheBytes ${resolved.cacheBytes}); each of the ${resolved.workers} workers needs at least ${MIN_WORKER_READ_BYTES}`,
        );
      }
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
      const ref: DatasetRef = {
        path: dataset.path,
        version: dataset.version,
        columns: fields.map((f) => f.name),
        direct,
        queueDepth: resolved.queueDepth,
        bytesInFlight: resolved.bytesInFlight,
        maxGapBytes: resolved.maxGapBytes,
        maxReadBytes: resolved.maxReadBytes,
        readMemoryBytes: workerReadBytes,
        lanes: lanesFor(workerReadBytes, batchBytes),
        batchBytes,
        rowBytes,
        variableBytes: variableBytesOf(layout, batchBytes, resolved.batchSize),
        cacheBytes: resolved.cacheBytes,
        memoryBytes: resolved.memoryBytes,
      };
      pool = new DecodePool({ workers: resolved.workers, tasksPerWorker: ref.lanes });
      // Workers start and open the dataset now, not on the first batch: its latency is then reading only.
      await pool.prepare(ref);
      return new DataLoader(dataset, owns, layout, sampler, pool, resolved, ref, resumeAt);
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
          throw new InvalidArgumentError(
            `all ${this.slots.length} batch slots are held by the consumer: call batch.release() on batches you are done with before asking for more`,
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

  /** Throughput, I/O and wait counters since creation. */
  metrics(): LoaderMetrics {
    return this.counters.snapshot();
  }

  /**
   * Lets batches being loaded finish, then stops every worker thread and closes files. Batches already
   * delivered stay readable until released. An epoch being iterated ends normally (its `for await` loop
   * exits without more batches), so close() may be called from anywhere, a SIGINT handler included.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
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
      const result = await this.pool.run({ dataset: this.ref, rows, outputs: this.describeOutputs(slot, rows.length) });
      this.counters.readMs += result.readMs;
      this.counters.decodeMs += result.decodeMs;
      this.counters.addReads(result.reads);
      return this.assemble(epoch, index, rows, slot, result.variable);
    } catch (error) {
      slot.free = true;
      const shown = Array.from(rows.subarray(0, 8)).join(', ') + (rows.length > 8 ? `, … (${rows.length} rows)` : '');
      throw withContext(error, `while loading epoch ${epoch} batch ${index}, rows ${shown}`, {
        epoch,
        batch: index,
        rows: Array.from(rows),
      });
    }
  }

  private describeOutputs(slot: Slot, numRows: number): OutputDescriptor[] {
    return this.layout.columns.map((c, i): OutputDescriptor =>
      c.variable
        ? { kind: 'variable', numSlots: numRows, nullable: c.nullable, reuse: slot.variable[i] ?? null }
        : {
            kind: 'fixed',
            buffer: slot.buffer,
            byteOffset: c.valuesOffset,
            byteWidth: c.bytesPerRow,
            numSlots: numRows,
            validityOffset: c.validityOffset,
          },
    );
  }

  private assemble(
    epoch: number,
    index: number,
    rows: Uint32Array,
    slot: Slot,
    variable: (VariableColumn | null)[],
  ): Batch {
    const numRows = rows.length;
    const columns: Record<string, BatchColumn> = {};
    let bytes = 0;
    this.layout.columns.forEach((c, i) => {
      const v = variable[i];
      if (c.variable && v) {
        if (v.data.buffer instanceof SharedArrayBuffer) slot.variable[i] = v.data.buffer;
        const offsets = Int32Array.from(v.offsets);
        columns[c.name] = {
          dtype: c.dtype,
          values: v.data,
          shape: [numRows],
          offsets,
          ...(v.validity ? { validity: v.validity } : {}),
        };
        bytes += v.data.byteLength;
        return;
      }
      const perRow = c.rowShape.reduce((a, b) => a * b, 1);
      const values = new c.ArrayType(slot.buffer, c.valuesOffset, numRows * perRow);
      const column: BatchColumn = { dtype: c.dtype, values, shape: [numRows, ...c.rowShape] };
      if (c.validityOffset >= 0) column.validity = new Uint8Array(slot.buffer, c.validityOffset, numRows);
      columns[c.name] = column;
      bytes += numRows * c.bytesPerRow;
    });
    this.counters.bytesDelivered += bytes;
    return createBatch({ epoch, index, rowOffsets: rows, numRows }, columns, slot);
  }
}

/**
 * Creates a loader over a dataset directory (opened and closed by the loader) or an open {@link Dataset}
 * (left open).
 */
export function createLoader(pathOrDataset: string | Dataset, options: LoaderOptions): Promise<DataLoader> {
  return DataLoader.create(pathOrDataset, options);
}

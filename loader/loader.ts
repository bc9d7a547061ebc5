/**
 * The DataLoader: shuffled batches of a Lance dataset for training, read with few large reads and
 * decoded in worker threads straight into shared memory.
 *
 *   sampler ─rows─► dataset.planRead ─► fetchFileTasks (merged reads, per data file) ─► DecodePool job
 *      ▲                                                                                   │ writes into
 *      │ state()/resume                              slot ring (prefetch + 2 SharedArrayBuffers) ◄─┘
 *   consumer ◄── Batch (typed-array views of a slot; release() returns the slot) ◄── in order
 *
 * Up to `prefetch` batches are in flight; they are delivered in epoch order. A batch's slot is reused
 * only after `release()`. Errors reject the epoch with the typed error plus the batch and rows; every
 * other batch in flight is settled first, so no work or thread is left behind.
 */
import { totalmem } from 'node:os';
import { AbortError, InvalidArgumentError, withContext } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { BatchSampler } from '../samplers/index.js';
import { DecodePool } from '../decode-workers/pool.js';
import type { DecodeJob, OutputDescriptor, VariableColumn } from '../decode-workers/messages.js';
import { DirectFileSource } from '../io/direct-source.js';
import { createSlabPool, type SlabPool } from '../io/slab.js';
import type { ByteSource } from '../io/source.js';
import type { Batch, BatchColumn } from './batch.js';
import { planBatchLayout, type BatchLayout } from './batch-layout.js';
import { openDataset, type Dataset } from './dataset.js';
import { resolveLoaderOptions, type LoaderOptions, type LoaderState, type ResolvedLoaderOptions } from './loader-options.js';
import { createLoaderMetrics, type LoaderMetrics, type MetricsCounters } from './metrics.js';
import { fetchFileTasks, type OutputTask } from './read-rows.js';

interface Slot {
  buffer: SharedArrayBuffer;
  free: boolean;
}

/** How long a batch may wait for read memory before the loader reports the budget as too small. */
const READ_MEMORY_WAIT_MS = 30_000;

/** Shuffled, multi-threaded batches of a Lance dataset. Create with {@link createLoader}. */
export class DataLoader {
  private readonly slots: Slot[];
  private readonly sources = new Map<string, Promise<DirectFileSource>>();
  private readonly openedSources: ByteSource[] = [];
  private readonly counters: MetricsCounters;
  private position: { epoch: number; nextBatch: number };
  /** Whether reads bypass the page cache (options.io.direct, with 'auto' resolved for this dataset). */
  private readonly direct: boolean | 'auto';
  /** Every batch load not yet settled, so close() can let them finish before stopping the workers. */
  private readonly loading = new Set<Promise<Batch>>();
  private closed = false;

  private constructor(
    /** The dataset being loaded. */
    readonly dataset: Dataset,
    private readonly ownsDataset: boolean,
    private readonly fields: LanceField[],
    private readonly layout: BatchLayout,
    private readonly sampler: BatchSampler,
    private readonly pool: DecodePool,
    private readonly options: ResolvedLoaderOptions,
    private readonly readMemory: SlabPool,
  ) {
    this.slots = Array.from({ length: options.prefetch + 2 }, () => ({ buffer: new SharedArrayBuffer(layout.slotBytes), free: true }));
    this.counters = createLoaderMetrics();
    const datasetBytes = dataset.fragments.reduce((sum, f) => sum + f.files.reduce((s, file) => s + file.sizeBytes, 0), 0);
    this.direct = options.direct === 'auto' ? (datasetBytes > totalmem() / 2 ? 'auto' : false) : options.direct;
    this.position = options.resume ? sampler.resume(options.resume.sampler) : { epoch: 0, nextBatch: 0 };
  }

  /** @internal */
  static async create(pathOrDataset: string | Dataset, options: LoaderOptions): Promise<DataLoader> {
    const resolved = resolveLoaderOptions(options);
    const owns = typeof pathOrDataset === 'string';
    const dataset = owns ? await openDataset(pathOrDataset) : pathOrDataset;
    try {
      const fields = dataset.selectFields(resolved.columns);
      const layout = planBatchLayout(fields, resolved.batchSize, resolved.shapes);
      const slotsBytes = layout.slotBytes * (resolved.prefetch + 2);
      if (slotsBytes > resolved.memoryBytes / 2) {
        throw new InvalidArgumentError(
          `batch slots need ${slotsBytes} bytes ((prefetch ${resolved.prefetch} + 2) × ${layout.slotBytes}), more than half of options.memoryBytes (${resolved.memoryBytes}); lower batchSize or prefetch, or raise memoryBytes`,
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
      const readBudget = Math.floor((resolved.memoryBytes - slotsBytes) / 4096) * 4096;
      const readMemory = createSlabPool({ slabBytes: Math.min(16 * 1024 * 1024, readBudget), maxBytes: readBudget });
      const pool = new DecodePool({ workers: resolved.workers });
      return new DataLoader(dataset, owns, fields, layout, sampler, pool, resolved, readMemory);
    } catch (error) {
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

  /**
   * The batches of epoch `epoch` in order. When the loader was created with `resume` for this epoch, it
   * starts where that state stopped.
   */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new InvalidArgumentError(`epoch must be a non-negative integer, got ${String(epoch)}`);
    this.checkOpen();
    const numBatches = this.numBatches;
    const start = this.position.epoch === epoch ? this.position.nextBatch : 0;
    this.position = { epoch, nextBatch: start };
    const inflight = new Map<number, Promise<Batch>>();
    let next = start;
    const launch = () => {
      while (next < numBatches && inflight.size < this.options.prefetch && !this.closed) {
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
        const pending = inflight.get(index);
        if (!pending) {
          this.checkOpen();
          throw new InvalidArgumentError(
            `all ${this.slots.length} batch slots are held by the consumer: call batch.release() on batches you are done with before asking for more`,
          );
        }
        const waitStarted = performance.now();
        const batch = await pending;
        this.counters.consumerWaitMs += performance.now() - waitStarted;
        inflight.delete(index);
        this.position = { epoch, nextBatch: index + 1 };
        this.counters.batches++;
        this.counters.rows += batch.numRows;
        yield batch;
      }
    } finally {
      await Promise.allSettled(inflight.values());
      for (const promise of inflight.values()) (await promise.catch(() => null))?.release();
    }
  }

  /** Where the loader stands: the next batch to deliver. Pass it as `resume` to continue from there. */
  state(): LoaderState {
    return { version: 1, sampler: this.sampler.state(this.position.epoch, this.position.nextBatch) };
  }

  /** Throughput, I/O and wait counters since creation. */
  metrics(): LoaderMetrics {
    return this.counters.snapshot(this.openedSources.map((s) => s.stats));
  }

  /**
   * Lets batches being loaded finish, then stops every worker thread and closes files. Batches already
   * delivered stay readable. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.loading]);
    await this.pool.destroy();
    const sources = await Promise.allSettled(this.sources.values());
    await Promise.all(sources.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
    this.readMemory.close();
    if (this.ownsDataset) await this.dataset.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new AbortError('the loader is closed');
  }

  /** The loader's own reader of a data file (direct I/O where possible), shared by all batches. */
  private sourceFor(path: string): Promise<DirectFileSource> {
    let source = this.sources.get(path);
    if (!source) {
      const { queueDepth, maxGapBytes, maxReadBytes } = this.options;
      source = DirectFileSource.open(path, { direct: this.direct, queueDepth, coalesce: { maxGapBytes, maxReadBytes }, pool: this.readMemory });
      source.then((s) => this.openedSources.push(s), () => this.sources.delete(path));
      this.sources.set(path, source);
    }
    return source;
  }

  private async loadBatch(epoch: number, index: number, slot: Slot): Promise<Batch> {
    const rows = this.sampler.batch(epoch, index);
    // Views of leased read memory travel to the worker by reference and are released after decoding.
    const leases: (() => void)[] = [];
    try {
      const plan = await this.dataset.planRead(rows, this.fields);
      const perFile = await Promise.all(plan.files.map(async (file) => fetchFileTasks(file, this.leasing(await this.sourceFor(file.path), leases))));
      const tasks: OutputTask[] = [...perFile.flat(), ...plan.nullFills];
      const job: DecodeJob = { tasks, outputs: this.describeOutputs(slot, rows.length) };
      const result = await this.pool.run(job);
      this.counters.decodeMs += result.decodeMs;
      return this.assemble(epoch, index, rows, slot, result.variable);
    } catch (error) {
      slot.free = true;
      const shown = Array.from(rows.subarray(0, 8)).join(', ') + (rows.length > 8 ? `, … (${rows.length} rows)` : '');
      throw withContext(error, `while loading epoch ${epoch} batch ${index}, rows ${shown}`, { epoch, batch: index, rows: Array.from(rows) });
    } finally {
      for (const release of leases) release();
    }
  }

  /** A view of `source` whose reads lease pool memory (zero-copy) and record the release in `leases`. */
  private leasing(source: DirectFileSource, leases: (() => void)[]): ByteSource {
    return {
      path: source.path,
      size: source.size,
      stats: source.stats,
      readRanges: async (ranges) => {
        const signal = AbortSignal.timeout(READ_MEMORY_WAIT_MS);
        try {
          const leased = await source.readRangesLeased(ranges, { signal });
          leases.push(leased.release);
          return leased.views;
        } catch (error) {
          if (signal.aborted) {
            throw new InvalidArgumentError(
              `a batch waited ${READ_MEMORY_WAIT_MS / 1000} s for read memory: options.memoryBytes (${this.options.memoryBytes}) is too small for prefetch ${this.options.prefetch} and this batch size`,
            );
          }
          throw error;
        }
      },
      close: () => source.close(),
    };
  }

  private describeOutputs(slot: Slot, numRows: number): OutputDescriptor[] {
    return this.layout.columns.map((c): OutputDescriptor =>
      c.variable
        ? { kind: 'variable', numSlots: numRows, nullable: c.nullable }
        : { kind: 'fixed', buffer: slot.buffer, byteOffset: c.valuesOffset, byteWidth: c.bytesPerRow, numSlots: numRows, validityOffset: c.validityOffset },
    );
  }

  private assemble(epoch: number, index: number, rows: Uint32Array, slot: Slot, variable: (VariableColumn | null)[]): Batch {
    const numRows = rows.length;
    const columns: Record<string, BatchColumn> = {};
    let bytes = 0;
    this.layout.columns.forEach((c, i) => {
      const v = variable[i];
      if (c.variable && v) {
        const offsets = Int32Array.from(v.offsets);
        columns[c.name] = { dtype: c.dtype, values: v.data, shape: [numRows], offsets, ...(v.validity ? { validity: v.validity } : {}) };
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
    let released = false;
    return {
      epoch,
      index,
      rowOffsets: rows,
      numRows,
      columns,
      release: () => {
        if (released) return;
        released = true;
        slot.free = true;
      },
    };
  }
}

/**
 * Creates a loader over a dataset directory (opened and closed by the loader) or an open {@link Dataset}
 * (left open).
 */
export function createLoader(pathOrDataset: string | Dataset, options: LoaderOptions): Promise<DataLoader> {
  return DataLoader.create(pathOrDataset, options);
}

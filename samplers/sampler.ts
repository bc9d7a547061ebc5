/**
 * BatchSampler: which rows each batch of each epoch holds, for one rank. It composes the pieces of this
 * folder and owns the one large allocation, the epoch order:
 *
 *   (seed, epoch) ─► epoch order: one Uint32Array of numRows offsets, the same on every rank
 *                    ('none' needs no array; 'global' permutation.ts; 'locality' locality.ts)
 *        │
 *        ▼  shard.ts: rank r takes positions r, r+W, r+2W, …; batch i of every rank comes from
 *           positions [i·B·W, (i+1)·B·W); padding repeats the first rows, dropLast drops the tail
 *   batch(epoch, i) ─► fresh Uint32Array of row offsets
 *
 * Determinism: a batch depends only on (options, epoch, index), never on call order, worker count or
 * prefetch depth, so every rank and every resumed run agrees on it.
 *
 * Memory: the order of the last epoch asked for is cached, and its array is reused for the next epoch,
 * so at most one order (4 bytes per row) is alive. Asking alternately for two epochs recomputes the order
 * at every switch, a pass over the whole dataset's offsets: finish an epoch's batches before asking for
 * the next epoch's.
 *
 * Batches are fresh arrays, never views of the order: the order is overwritten when the epoch changes,
 * and a view would also keep a 400 MB order alive for as long as any batch is held. A batch is
 * batchSize × 4 bytes, and the caller may keep or modify it.
 */
import { InvalidArgumentError } from '../errors.js';
import { fillLocalityPermutation } from './locality.js';
import { checkInteger, checkSamplerOptions, describeValue, type SamplerOptions } from './options.js';
import { fillPermutation } from './permutation.js';
import { epochSeedKey } from './random.js';
import { batchLength, fillBatchRows, planShard, type ShardPlan } from './shard.js';
import { checkSameOptions, checkSamplerState, createSamplerState, type SamplerState } from './state.js';

/** One batch as yielded by {@link BatchSampler.batches}. */
export interface SampledBatch {
  /** Batch number within the epoch, 0 … numBatches − 1. */
  index: number;
  /** Row offsets (a fresh array). */
  rows: Uint32Array;
}

export class BatchSampler {
  /** The checked options (frozen). */
  readonly options: Readonly<SamplerOptions>;
  /** Rows and batches per rank, padding and dropped rows (frozen; see shard.ts). */
  readonly plan: Readonly<ShardPlan>;
  #order: Uint32Array | null = null;
  #orderEpoch = -1;

  /** Checks every option; throws InvalidArgumentError naming the option path and accepted values. */
  constructor(options: SamplerOptions) {
    const checked = checkSamplerOptions(options);
    if (typeof checked.shuffle === 'object') Object.freeze(checked.shuffle);
    this.options = Object.freeze(checked);
    this.plan = Object.freeze(planShard(checked.numRows, checked.batchSize, checked.worldSize, checked.dropLast));
  }

  /** Batches this rank yields in each epoch (the same for every rank and every epoch; may be 0). */
  numBatches(): number {
    return this.plan.numBatches;
  }

  /**
   * Row offsets of batch `index` of `epoch` for this rank: a fresh Uint32Array of batchSize rows (fewer
   * for a short last batch). Computes the epoch order first if `epoch` is not the cached one.
   */
  batch(epoch: number, index: number): Uint32Array {
    checkEpoch(epoch, 'epoch');
    const numBatches = this.plan.numBatches;
    if (numBatches === 0) {
      const { numRows, batchSize, worldSize } = this.plan;
      const layout = `numRows ${numRows}, batchSize ${batchSize}, worldSize ${worldSize}`;
      throw new InvalidArgumentError(
        `index ${describeValue(index)} is out of range: this sampler yields no batches (${layout})`,
        {
          option: 'index',
        },
      );
    }
    checkInteger(index, 'index', 0, numBatches - 1, `numBatches ${numBatches}`);
    const rows = new Uint32Array(batchLength(this.plan, index));
    fillBatchRows(rows, this.plan, this.#epochOrder(epoch), this.options.rank, index);
    return rows;
  }

  /** Iterates the batches of `epoch` from batch `from` (default 0; numBatches yields nothing) to the end. */
  batches(epoch: number, from = 0): Iterable<SampledBatch> {
    checkEpoch(epoch, 'epoch');
    const numBatches = this.plan.numBatches;
    checkInteger(from, 'from', 0, numBatches, `numBatches ${numBatches}`);
    return { [Symbol.iterator]: () => this.#iterate(epoch, from) };
  }

  /** The JSON-serialisable state of this sampler about to yield batch `nextBatch` (0 … numBatches) of `epoch`. */
  state(epoch: number, nextBatch: number): SamplerState {
    checkEpoch(epoch, 'epoch');
    const numBatches = this.plan.numBatches;
    checkInteger(nextBatch, 'nextBatch', 0, numBatches, `numBatches ${numBatches}`);
    return createSamplerState(this.options, epoch, nextBatch);
  }

  /**
   * Where `state` resumes, after checking that it was saved by a sampler with exactly this sampler's
   * options (else InvalidArgumentError naming the first differing field, e.g. `state.batchSize`; `path`
   * replaces `state` in messages).
   */
  resume(state: SamplerState, path = 'state'): { epoch: number; nextBatch: number } {
    const point = checkSamplerState(state, this.options.numRows, path);
    checkSameOptions(point.options, this.options, path);
    return { epoch: point.epoch, nextBatch: point.nextBatch };
  }

  /**
   * A sampler rebuilt from a saved `state`, and where to resume. `numRows` is the dataset's current row
   * count: a state saved for a different row count is refused (InvalidArgumentError on `state.numRows`),
   * as is any malformed field.
   */
  static fromState(state: SamplerState, numRows: number): { sampler: BatchSampler; epoch: number; nextBatch: number } {
    checkInteger(numRows, 'numRows', 0, Number.MAX_SAFE_INTEGER);
    const point = checkSamplerState(state, numRows);
    return { sampler: new BatchSampler(point.options), epoch: point.epoch, nextBatch: point.nextBatch };
  }

  *#iterate(epoch: number, from: number): Iterator<SampledBatch> {
    for (let index = from; index < this.plan.numBatches; index++) yield { index, rows: this.batch(epoch, index) };
  }

  /** The order of `epoch` (null for the sequential order), computed into the reused array if not cached. */
  #epochOrder(epoch: number): Uint32Array | null {
    const { shuffle, numRows, seed } = this.options;
    if (shuffle === 'none') return null;
    if (this.#order !== null && this.#orderEpoch === epoch) return this.#order;
    const order = this.#order ?? new Uint32Array(numRows);
    this.#orderEpoch = -1; // not valid while being overwritten (in case filling throws)
    const key = epochSeedKey(seed, epoch);
    if (shuffle === 'global') fillPermutation(order, key);
    else fillLocalityPermutation(order, key, shuffle.blockRows, shuffle.windowBlocks);
    this.#order = order;
    this.#orderEpoch = epoch;
    return order;
  }
}

function checkEpoch(epoch: unknown, path: string): void {
  checkInteger(epoch, path, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * The sampler's resumable state: plain JSON (numbers, booleans, strings, one small object) naming the
 * options and the next batch to yield, so a checkpoint can store it next to the model weights. A state
 * holds no row offsets: the order is recomputed from (seed, epoch), so resuming at batch i yields exactly
 * the batches i, i+1, … that the interrupted run would have yielded.
 *
 * A state read back is untrusted: every field is checked, and a state saved for a different dataset
 * (numRows) or a different sampler configuration is refused with an InvalidArgumentError naming the field.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkInteger, checkSamplerOptions, describeValue, type SamplerOptions, type ShuffleMode } from './options.js';
import { planShard } from './shard.js';

export interface SamplerState {
  /** Format of this record; 1 is the only one. */
  version: 1;
  seed: number;
  /** Epoch in progress. */
  epoch: number;
  /** First batch of `epoch` not yet yielded (numBatches when the epoch is finished). */
  nextBatch: number;
  numRows: number;
  batchSize: number;
  rank: number;
  worldSize: number;
  shuffle: ShuffleMode;
  dropLast: boolean;
}

/** Where a state resumes, with the options it was saved under. */
interface ResumePoint {
  options: SamplerOptions;
  epoch: number;
  nextBatch: number;
}

/** The state of a sampler with `options` about to yield batch `nextBatch` of `epoch` (checked by the caller). */
export function createSamplerState(options: SamplerOptions, epoch: number, nextBatch: number): SamplerState {
  const { seed, numRows, batchSize, rank, worldSize, shuffle, dropLast } = options;
  return {
    version: 1,
    seed,
    epoch,
    nextBatch,
    numRows,
    batchSize,
    rank,
    worldSize,
    shuffle: typeof shuffle === 'string' ? shuffle : { ...shuffle },
    dropLast,
  };
}

/**
 * Checks a state read back from storage against the dataset's current `numRows`. `path` names the state
 * in messages (`state`, or `options.resume.sampler` when a loader resumes).
 */
export function checkSamplerState(state: unknown, numRows: number, path = 'state'): ResumePoint {
  if (typeof state !== 'object' || state === null) {
    throw new InvalidArgumentError(
      `${path} must be an object made by BatchSampler.state(), got ${describeValue(state)}`,
      {
        option: path,
      },
    );
  }
  const fields = state as Record<string, unknown>;
  if (fields.version !== 1) {
    throw new InvalidArgumentError(
      `${path}.version must be 1 (the only state format), got ${describeValue(fields.version)}`,
      {
        option: `${path}.version`,
      },
    );
  }
  const options = checkSamplerOptions(state, path);
  if (options.numRows !== numRows) {
    throw new InvalidArgumentError(
      `${path}.numRows is ${options.numRows} but the dataset has ${numRows} rows; a state resumes only the dataset it was saved from`,
      { option: `${path}.numRows`, expected: numRows, actual: options.numRows },
    );
  }
  const epoch = checkInteger(fields.epoch, `${path}.epoch`, 0, Number.MAX_SAFE_INTEGER);
  const { numBatches } = planShard(options.numRows, options.batchSize, options.worldSize, options.dropLast);
  const nextBatch = checkInteger(fields.nextBatch, `${path}.nextBatch`, 0, numBatches, `numBatches ${numBatches}`);
  return { options, epoch, nextBatch };
}

/** Throws if `saved` (a checked state's options) differs from `current` in any field, naming the first. */
export function checkSameOptions(saved: SamplerOptions, current: SamplerOptions, path = 'state'): void {
  const names = ['numRows', 'batchSize', 'shuffle', 'seed', 'dropLast', 'rank', 'worldSize'] as const;
  for (const name of names) {
    const a = describeValue(saved[name]);
    const b = describeValue(current[name]);
    if (a !== b) {
      const message = `${path}.${name} is ${a} but this sampler's ${name} is ${b}; resume with the options the state was saved under`;
      throw new InvalidArgumentError(message, {
        option: `${path}.${name}`,
        expected: current[name],
        actual: saved[name],
      });
    }
  }
}

/**
 * Sampler options: their types, the values each accepts, and the checks that turn an untrusted options
 * object (or a saved state, which carries the same fields) into a clean copy, or throw an
 * InvalidArgumentError naming the option path and what it accepts. Checked once, at construction.
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * Row order within an epoch: `'none'` keeps dataset order (no array at all), `'global'` is a uniformly
 * random permutation, `'locality'` shuffles blocks of `blockRows` consecutive rows and then rows within
 * windows of `windowBlocks` blocks (for datasets bigger than the page cache; see locality.ts).
 */
export type ShuffleMode = 'none' | 'global' | { kind: 'locality'; blockRows: number; windowBlocks: number };

export interface SamplerOptions {
  /** Rows in the dataset; the sampler yields row offsets 0 … numRows − 1. At most 2^32 − 1. */
  numRows: number;
  /** Rows per batch (the last batch may be shorter unless dropLast). */
  batchSize: number;
  shuffle: ShuffleMode;
  /** Any safe integer; with the epoch number it determines the order (see random.ts). */
  seed: number;
  /** Drop the rows that would make a short last batch (and the shard remainder); see shard.ts. */
  dropLast: boolean;
  /** This process's rank, 0 … worldSize − 1. */
  rank: number;
  /** Number of ranks sharing the epoch; 1 when not distributed. */
  worldSize: number;
}

/** Largest numRows (row offsets must fit a Uint32Array). */
const MAX_ROWS = 0xffffffff;
const MAX_COUNT = 0xffffffff;

/** Checks `options` (at `path`, e.g. "options" or "state") and returns a copy with a copied shuffle mode. */
export function checkSamplerOptions(options: unknown, path = 'options'): SamplerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      `${path} must be an object with numRows, batchSize, shuffle, seed, dropLast, rank and worldSize, got ${describeValue(options)}`,
      { option: path },
    );
  }
  const fields = options as Record<string, unknown>;
  const numRows = checkInteger(fields.numRows, `${path}.numRows`, 0, MAX_ROWS);
  const batchSize = checkInteger(fields.batchSize, `${path}.batchSize`, 1, MAX_COUNT);
  const shuffle = checkShuffleMode(fields.shuffle, `${path}.shuffle`);
  const seed = checkInteger(fields.seed, `${path}.seed`, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const dropLast = checkBoolean(fields.dropLast, `${path}.dropLast`);
  const worldSize = checkInteger(fields.worldSize, `${path}.worldSize`, 1, MAX_COUNT);
  const rank = checkInteger(fields.rank, `${path}.rank`, 0, worldSize - 1, `worldSize ${worldSize}`);
  return { numRows, batchSize, shuffle, seed, dropLast, rank, worldSize };
}

/** Checks a shuffle mode and returns a copy (objects are never shared with the caller). */
function checkShuffleMode(value: unknown, path: string): ShuffleMode {
  if (value === 'none' || value === 'global') return value;
  if (typeof value !== 'object' || value === null || (value as { kind?: unknown }).kind !== 'locality') {
    throw new InvalidArgumentError(
      `${path} must be 'none', 'global' or { kind: 'locality', blockRows, windowBlocks }, got ${describeValue(value)}`,
      { option: path },
    );
  }
  const mode = value as { blockRows?: unknown; windowBlocks?: unknown };
  return {
    kind: 'locality',
    blockRows: checkInteger(mode.blockRows, `${path}.blockRows`, 1, MAX_COUNT),
    windowBlocks: checkInteger(mode.windowBlocks, `${path}.windowBlocks`, 1, MAX_COUNT),
  };
}

/**
 * Checks that `value` is an integer in [min, max] and returns it. `maxReason` explains a bound that
 * depends on another option (e.g. "worldSize 4").
 */
export function checkInteger(value: unknown, path: string, min: number, max: number, maxReason?: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  const because = maxReason === undefined ? '' : ` (${maxReason})`;
  throw new InvalidArgumentError(
    `${path} must be an integer from ${min} to ${max}${because}, got ${describeValue(value)}`,
    {
      option: path,
      min,
      max,
    },
  );
}

function checkBoolean(value: unknown, path: string): boolean {
  if (typeof value === 'boolean') return value;
  throw new InvalidArgumentError(`${path} must be true or false, got ${describeValue(value)}`, { option: path });
}

/** A short, safe rendering of an untrusted value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) {
    try {
      const json = JSON.stringify(value);
      return json.length > 80 ? `${json.slice(0, 80)}…` : json;
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

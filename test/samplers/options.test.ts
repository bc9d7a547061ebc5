import { describe, expect, it } from 'vitest';
import { BatchSampler, type SamplerOptions } from '../../samplers/index.js';
import { checkSamplerOptions } from '../../samplers/options.js';
import { expectInvalidArgument } from './invalid-argument.js';

const valid: SamplerOptions = {
  numRows: 100,
  batchSize: 8,
  shuffle: 'global',
  seed: 1,
  dropLast: false,
  rank: 0,
  worldSize: 1,
};

/** `valid` with one field replaced by an arbitrary (possibly ill-typed) value. */
function withOption(name: string, value: unknown): SamplerOptions {
  return { ...valid, [name]: value } as unknown as SamplerOptions;
}

describe('checkSamplerOptions', () => {
  it('returns a copy whose shuffle object is not the caller’s', () => {
    const shuffle = { kind: 'locality', blockRows: 4, windowBlocks: 2 } as const;
    const checked = checkSamplerOptions({ ...valid, shuffle });
    expect(checked).toEqual({ ...valid, shuffle });
    expect(checked.shuffle).not.toBe(shuffle);
  });

  it('accepts the boundary values', () => {
    expect(() => checkSamplerOptions({ ...valid, numRows: 0 })).not.toThrow();
    expect(() => checkSamplerOptions({ ...valid, numRows: 2 ** 32 - 1 })).not.toThrow();
    expect(() => checkSamplerOptions({ ...valid, seed: -(2 ** 53 - 1) })).not.toThrow();
    expect(() => checkSamplerOptions({ ...valid, rank: 3, worldSize: 4 })).not.toThrow();
  });
});

describe('BatchSampler options', () => {
  it.each([
    ['numRows', -1, 'options.numRows must be an integer from 0 to 4294967295, got -1'],
    ['numRows', 2 ** 32, 'options.numRows must be an integer from 0 to 4294967295, got 4294967296'],
    ['numRows', 1.5, 'options.numRows must be an integer from 0 to 4294967295, got 1.5'],
    ['numRows', '100', 'options.numRows must be an integer from 0 to 4294967295, got "100"'],
    ['numRows', undefined, 'options.numRows must be an integer from 0 to 4294967295, got undefined'],
    ['batchSize', 0, 'options.batchSize must be an integer from 1 to 4294967295, got 0'],
    ['batchSize', Number.NaN, 'options.batchSize must be an integer from 1 to 4294967295, got NaN'],
    ['seed', 0.5, 'options.seed must be an integer from -9007199254740991 to 9007199254740991, got 0.5'],
    [
      'seed',
      2 ** 53,
      'options.seed must be an integer from -9007199254740991 to 9007199254740991, got 9007199254740992',
    ],
    ['dropLast', 'yes', 'options.dropLast must be true or false, got "yes"'],
    ['dropLast', 0, 'options.dropLast must be true or false, got 0'],
    ['worldSize', 0, 'options.worldSize must be an integer from 1 to 4294967295, got 0'],
    ['rank', 1, 'options.rank must be an integer from 0 to 0 (worldSize 1), got 1'],
    ['rank', -1, 'options.rank must be an integer from 0 to 0 (worldSize 1), got -1'],
    [
      'shuffle',
      'random',
      `options.shuffle must be 'none', 'global' or { kind: 'locality', blockRows, windowBlocks }, got "random"`,
    ],
    [
      'shuffle',
      true,
      `options.shuffle must be 'none', 'global' or { kind: 'locality', blockRows, windowBlocks }, got true`,
    ],
    [
      'shuffle',
      { kind: 'blocks' },
      `options.shuffle must be 'none', 'global' or { kind: 'locality', blockRows, windowBlocks }, got {"kind":"blocks"}`,
    ],
    [
      'shuffle',
      { kind: 'locality', blockRows: 0, windowBlocks: 2 },
      'options.shuffle.blockRows must be an integer from 1 to 4294967295, got 0',
    ],
    [
      'shuffle',
      { kind: 'locality', blockRows: 64 },
      'options.shuffle.windowBlocks must be an integer from 1 to 4294967295, got undefined',
    ],
  ])('rejects %s = %j, naming the option and what it accepts', (name, value, message) => {
    expectInvalidArgument(() => new BatchSampler(withOption(name, value)), message);
  });

  it('rejects a rank outside the given worldSize', () => {
    expectInvalidArgument(
      () => new BatchSampler({ ...valid, rank: 4, worldSize: 4 }),
      'options.rank must be an integer from 0 to 3 (worldSize 4), got 4',
    );
  });

  it('rejects options that are not an object', () => {
    expectInvalidArgument(
      () => new BatchSampler(null as unknown as SamplerOptions),
      'options must be an object with numRows, batchSize, shuffle, seed, dropLast, rank and worldSize, got null',
    );
  });

  it('names the option path in the error details', () => {
    try {
      new BatchSampler(withOption('batchSize', -3));
      expect.unreachable();
    } catch (error) {
      expect((error as { details: unknown }).details).toEqual({
        option: 'options.batchSize',
        min: 1,
        max: 2 ** 32 - 1,
      });
    }
  });

  it('freezes its options so later changes by the caller cannot reach it', () => {
    const options = { ...valid, shuffle: { kind: 'locality' as const, blockRows: 4, windowBlocks: 2 } };
    const sampler = new BatchSampler(options);
    options.shuffle.blockRows = 99;
    expect(sampler.options.shuffle).toEqual({ kind: 'locality', blockRows: 4, windowBlocks: 2 });
    expect(Object.isFrozen(sampler.options)).toBe(true);
    expect(Object.isFrozen(sampler.options.shuffle)).toBe(true);
  });
});

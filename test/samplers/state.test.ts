import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchSampler, type SamplerOptions, type SamplerState } from '../../samplers/index.js';
import { samplerOptions } from './arbitraries.js';
import { expectInvalidArgument } from './invalid-argument.js';

const options: SamplerOptions = {
  numRows: 1000,
  batchSize: 32,
  shuffle: { kind: 'locality', blockRows: 64, windowBlocks: 4 },
  seed: 5,
  dropLast: false,
  rank: 1,
  worldSize: 2,
};

/** A state as read back from storage: JSON text parsed again. */
function throughJson(state: SamplerState): SamplerState {
  return JSON.parse(JSON.stringify(state)) as SamplerState;
}

/** `state` with one field replaced by an arbitrary (possibly ill-typed) value. */
function withField(state: SamplerState, name: string, value: unknown): SamplerState {
  return { ...state, [name]: value } as unknown as SamplerState;
}

describe('BatchSampler.state', () => {
  it('records the options and the next batch as plain JSON', () => {
    const state = new BatchSampler(options).state(3, 7);
    expect(state).toEqual({
      version: 1,
      seed: 5,
      epoch: 3,
      nextBatch: 7,
      numRows: 1000,
      batchSize: 32,
      rank: 1,
      worldSize: 2,
      shuffle: { kind: 'locality', blockRows: 64, windowBlocks: 4 },
      dropLast: false,
    });
    expect(throughJson(state)).toEqual(state);
  });

  it('rejects a next batch past the end of the epoch', () => {
    const sampler = new BatchSampler(options);
    expect(sampler.numBatches()).toBe(16);
    expectInvalidArgument(
      () => sampler.state(0, 17),
      'nextBatch must be an integer from 0 to 16 (numBatches 16), got 17',
    );
  });
});

describe('BatchSampler.fromState', () => {
  it('resumes from any step of any epoch with exactly the batches not yet yielded', () => {
    fc.assert(
      fc.property(samplerOptions, fc.nat(1000), fc.nat(), (layout, epoch, stepSeed) => {
        const sampler = new BatchSampler(layout);
        const step = stepSeed % (sampler.numBatches() + 1);
        const remaining = [...sampler.batches(epoch)].slice(step);
        const resumed = BatchSampler.fromState(throughJson(sampler.state(epoch, step)), layout.numRows);
        expect(resumed.epoch).toBe(epoch);
        expect(resumed.nextBatch).toBe(step);
        expect([...resumed.sampler.batches(resumed.epoch, resumed.nextBatch)]).toEqual(remaining);
      }),
    );
  });

  it('rebuilds a sampler with the saved options', () => {
    fc.assert(
      fc.property(samplerOptions, (layout) => {
        const state = throughJson(new BatchSampler(layout).state(0, 0));
        expect(BatchSampler.fromState(state, layout.numRows).sampler.options).toEqual(layout);
      }),
    );
  });

  it('refuses a state saved for a different row count, naming numRows', () => {
    const state = throughJson(new BatchSampler(options).state(0, 0));
    expectInvalidArgument(
      () => BatchSampler.fromState(state, 999),
      'state.numRows is 1000 but the dataset has 999 rows; a state resumes only the dataset it was saved from',
    );
  });

  it.each([
    ['version', 2, 'state.version must be 1 (the only state format), got 2'],
    ['version', undefined, 'state.version must be 1 (the only state format), got undefined'],
    ['batchSize', '32', 'state.batchSize must be an integer from 1 to 4294967295, got "32"'],
    [
      'shuffle',
      'blocks',
      `state.shuffle must be 'none', 'global' or { kind: 'locality', blockRows, windowBlocks }, got "blocks"`,
    ],
    ['rank', 2, 'state.rank must be an integer from 0 to 1 (worldSize 2), got 2'],
    ['dropLast', null, 'state.dropLast must be true or false, got null'],
    ['epoch', -1, 'state.epoch must be an integer from 0 to 9007199254740991, got -1'],
    ['nextBatch', 17, 'state.nextBatch must be an integer from 0 to 16 (numBatches 16), got 17'],
  ])('refuses a state with %s = %j, naming the field', (name, value, message) => {
    const state = withField(throughJson(new BatchSampler(options).state(0, 0)), name, value);
    expectInvalidArgument(() => BatchSampler.fromState(state, 1000), message);
  });

  it('refuses something that is not a state', () => {
    expectInvalidArgument(
      () => BatchSampler.fromState('{"version":1}' as unknown as SamplerState, 1000),
      'state must be an object made by BatchSampler.state(), got "{\\"version\\":1}"',
    );
  });
});

describe('BatchSampler.resume', () => {
  it('returns where a state of a sampler with the same options resumes', () => {
    const state = throughJson(new BatchSampler(options).state(4, 9));
    expect(new BatchSampler(options).resume(state)).toEqual({ epoch: 4, nextBatch: 9 });
  });

  it.each([
    [
      'batchSize',
      16,
      "state.batchSize is 32 but this sampler's batchSize is 16; resume with the options the state was saved under",
    ],
    ['seed', 6, "state.seed is 5 but this sampler's seed is 6; resume with the options the state was saved under"],
    [
      'shuffle',
      'global',
      `state.shuffle is {"kind":"locality","blockRows":64,"windowBlocks":4} but this sampler's shuffle is "global"; resume with the options the state was saved under`,
    ],
    [
      'worldSize',
      4,
      "state.worldSize is 2 but this sampler's worldSize is 4; resume with the options the state was saved under",
    ],
    [
      'dropLast',
      true,
      "state.dropLast is false but this sampler's dropLast is true; resume with the options the state was saved under",
    ],
  ])('refuses a state saved with a different %s', (name, value, message) => {
    const state = throughJson(new BatchSampler(options).state(0, 0));
    const sampler = new BatchSampler({ ...options, [name]: value });
    expectInvalidArgument(() => sampler.resume(state), message);
  });
});

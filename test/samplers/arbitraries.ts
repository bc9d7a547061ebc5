/** fast-check arbitraries shared by the sampler property tests. */
import fc from 'fast-check';
import type { SamplerOptions, ShuffleMode } from '../../samplers/index.js';

/** Every shuffle mode, locality with small blocks and windows. */
export const shuffleModes: fc.Arbitrary<ShuffleMode> = fc.oneof(
  fc.constant('none' as const),
  fc.constant('global' as const),
  fc.record({
    kind: fc.constant('locality' as const),
    blockRows: fc.integer({ min: 1, max: 16 }),
    windowBlocks: fc.integer({ min: 1, max: 6 }),
  }),
);

/** Sampler options of up to 250 rows and 6 ranks, with a rank that exists. */
export const samplerOptions: fc.Arbitrary<SamplerOptions> = fc
  .record({
    numRows: fc.nat(250),
    batchSize: fc.integer({ min: 1, max: 20 }),
    shuffle: shuffleModes,
    seed: fc.integer(),
    dropLast: fc.boolean(),
    worldSize: fc.integer({ min: 1, max: 6 }),
  })
  .chain((options) => fc.record({ options: fc.constant(options), rank: fc.nat(options.worldSize - 1) }))
  .map(({ options, rank }): SamplerOptions => ({ ...options, rank }));

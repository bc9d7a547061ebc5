import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchSampler, type SamplerOptions } from '../../samplers/index.js';
import { fillPermutation } from '../../samplers/permutation.js';
import { epochSeedKey } from '../../samplers/random.js';
import { samplerOptions, shuffleModes } from './arbitraries.js';
import { expectInvalidArgument } from './invalid-argument.js';

const singleRank = fc.record({
  numRows: fc.nat(300),
  batchSize: fc.integer({ min: 1, max: 40 }),
  shuffle: shuffleModes,
  seed: fc.integer(),
  dropLast: fc.constant(false),
  rank: fc.constant(0),
  worldSize: fc.constant(1),
});

const epochs = fc.nat(1000);

function allRows(sampler: BatchSampler, epoch: number): number[] {
  return [...sampler.batches(epoch)].flatMap((batch) => Array.from(batch.rows));
}

function sorted(rows: number[]): number[] {
  return [...rows].sort((a, b) => a - b);
}

function base(overrides: Partial<SamplerOptions> = {}): SamplerOptions {
  return {
    numRows: 100,
    batchSize: 10,
    shuffle: 'global',
    seed: 7,
    dropLast: false,
    rank: 0,
    worldSize: 1,
    ...overrides,
  };
}

describe('BatchSampler order', () => {
  it('pins the first rows of seed 42, epoch 0, 10 rows (a seedrandom upgrade that changes the order must be noticed)', () => {
    const sampler = new BatchSampler(base({ numRows: 10, seed: 42 }));
    expect(Array.from(sampler.batch(0, 0))).toEqual([8, 1, 3, 4, 9, 7, 5, 0, 6, 2]);
    const locality = new BatchSampler(
      base({ numRows: 10, seed: 42, shuffle: { kind: 'locality', blockRows: 3, windowBlocks: 2 } }),
    );
    expect(Array.from(locality.batch(0, 0))).toEqual([4, 5, 3, 9, 0, 6, 8, 1, 2, 7]);
  });

  it('pins the first rows of a bucketed order (seed 42, epoch 0, 200000 rows)', () => {
    const sampler = new BatchSampler(base({ numRows: 200_000, batchSize: 8, seed: 42 }));
    expect(Array.from(sampler.batch(0, 0))).toEqual([172643, 61437, 1824, 49945, 184128, 63965, 69612, 154749]);
  });

  it('yields every row exactly once per epoch on a single rank', () => {
    fc.assert(
      fc.property(singleRank, epochs, (options, epoch) => {
        expect(sorted(allRows(new BatchSampler(options), epoch))).toEqual(
          Array.from({ length: options.numRows }, (_, i) => i),
        );
      }),
    );
  });

  it('cuts the epoch order into consecutive batches of batchSize rows, the last possibly shorter', () => {
    fc.assert(
      fc.property(singleRank, epochs, (options, epoch) => {
        const sampler = new BatchSampler({ ...options, shuffle: 'global' });
        const order = new Uint32Array(options.numRows);
        fillPermutation(order, epochSeedKey(options.seed, epoch));
        const batches = [...sampler.batches(epoch)];
        expect(batches.map((batch) => batch.index)).toEqual(Array.from({ length: sampler.numBatches() }, (_, i) => i));
        expect(batches.flatMap((batch) => Array.from(batch.rows))).toEqual(Array.from(order));
        for (const batch of batches.slice(0, -1)) expect(batch.rows.length).toBe(options.batchSize);
        expect(batches.at(-1)?.rows.length ?? 0).toBeLessThanOrEqual(options.batchSize);
      }),
    );
  });

  it('yields dataset order for shuffle none', () => {
    const sampler = new BatchSampler(base({ numRows: 25, shuffle: 'none' }));
    expect(allRows(sampler, 3)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('yields the same batches for the same seed and epoch from separate samplers', () => {
    fc.assert(
      fc.property(samplerOptions, epochs, (options, epoch) => {
        expect([...new BatchSampler(options).batches(epoch)]).toEqual([...new BatchSampler(options).batches(epoch)]);
      }),
    );
  });

  it('deals every rank its positions of the one epoch order that a single rank would yield', () => {
    fc.assert(
      fc.property(samplerOptions, epochs, (options, epoch) => {
        fc.pre(options.numRows > 0);
        const single = allRows(new BatchSampler({ ...options, rank: 0, worldSize: 1, dropLast: false }), epoch);
        const rows = allRows(new BatchSampler(options), epoch);
        rows.forEach((row, k) => expect(row).toBe(single[(k * options.worldSize + options.rank) % options.numRows]));
      }),
    );
  });

  it('yields a different order in a different epoch', () => {
    fc.assert(
      fc.property(singleRank, epochs, epochs, (options, epoch, otherEpoch) => {
        fc.pre(options.numRows >= 20 && options.shuffle !== 'none' && epoch !== otherEpoch);
        const sampler = new BatchSampler(options);
        expect(allRows(sampler, epoch)).not.toEqual(allRows(sampler, otherEpoch));
      }),
    );
  });

  it('yields a different order for a different seed', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), epochs, (seed, otherSeed, epoch) => {
        fc.pre(seed !== otherSeed);
        expect(allRows(new BatchSampler(base({ seed })), epoch)).not.toEqual(
          allRows(new BatchSampler(base({ seed: otherSeed })), epoch),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('returns the same rows whichever epochs were asked for before', () => {
    const sampler = new BatchSampler(base());
    const first = sampler.batch(1, 3);
    expect(sampler.batch(0, 0)).toEqual(new BatchSampler(base()).batch(0, 0));
    expect(sampler.batch(1, 3)).toEqual(first);
  });

  it('returns a fresh array that the caller may modify', () => {
    const sampler = new BatchSampler(base());
    const rows = sampler.batch(0, 2);
    const copy = Array.from(rows);
    rows.fill(0);
    expect(Array.from(sampler.batch(0, 2))).toEqual(copy);
  });
});

describe('BatchSampler ranks', () => {
  it('gives every rank the same number of batches and batch sizes', () => {
    fc.assert(
      fc.property(samplerOptions, epochs, (options, epoch) => {
        const sizes = Array.from({ length: options.worldSize }, (_, rank) =>
          [...new BatchSampler({ ...options, rank }).batches(epoch)].map((batch) => batch.rows.length),
        );
        for (const rankSizes of sizes) expect(rankSizes).toEqual(sizes[0]);
      }),
    );
  });

  it('partitions the rows: ranks are disjoint apart from padding, and cover every row without dropLast', () => {
    fc.assert(
      fc.property(samplerOptions, epochs, (options, epoch) => {
        const { paddingRows, droppedRows } = new BatchSampler(options).plan;
        const yielded = Array.from({ length: options.worldSize }, (_, rank) =>
          allRows(new BatchSampler({ ...options, rank }), epoch),
        ).flat();
        const distinct = new Set(yielded);
        expect(yielded.length - distinct.size).toBe(paddingRows); // each padded position repeats a row
        expect(distinct.size).toBe(options.numRows - droppedRows);
        if (options.dropLast) expect(paddingRows).toBe(0);
        else expect(droppedRows).toBe(0);
      }),
    );
  });

  it('yields only full batches with dropLast', () => {
    fc.assert(
      fc.property(samplerOptions, epochs, (options, epoch) => {
        const sampler = new BatchSampler({ ...options, dropLast: true });
        for (const batch of sampler.batches(epoch)) expect(batch.rows.length).toBe(options.batchSize);
        expect(sampler.numBatches()).toBe(
          Math.floor(Math.floor(options.numRows / options.worldSize) / options.batchSize),
        );
      }),
    );
  });
});

describe('BatchSampler arguments', () => {
  it('rejects a batch index outside the epoch', () => {
    const sampler = new BatchSampler(base());
    expectInvalidArgument(() => sampler.batch(0, 10), 'index must be an integer from 0 to 9 (numBatches 10), got 10');
    expectInvalidArgument(() => sampler.batch(0, -1), 'index must be an integer from 0 to 9 (numBatches 10), got -1');
  });

  it('rejects a negative or fractional epoch', () => {
    const sampler = new BatchSampler(base());
    expectInvalidArgument(() => sampler.batch(-1, 0), 'epoch must be an integer from 0 to 9007199254740991, got -1');
    expectInvalidArgument(() => sampler.batches(0.5), 'epoch must be an integer from 0 to 9007199254740991, got 0.5');
  });

  it('rejects a start batch past the end of the epoch, eagerly', () => {
    const sampler = new BatchSampler(base());
    expectInvalidArgument(() => sampler.batches(0, 11), 'from must be an integer from 0 to 10 (numBatches 10), got 11');
    expect([...sampler.batches(0, 10)]).toEqual([]);
  });

  it('explains a batch request to a sampler that yields no batches', () => {
    const sampler = new BatchSampler(base({ numRows: 5, batchSize: 4, worldSize: 2, dropLast: true }));
    expect(sampler.numBatches()).toBe(0);
    expectInvalidArgument(
      () => sampler.batch(0, 0),
      'index 0 is out of range: this sampler yields no batches (numRows 5, batchSize 4, worldSize 2)',
    );
  });
});

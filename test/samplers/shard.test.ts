import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillPermutation } from '../../samplers/permutation.js';
import { batchLength, fillBatchRows, planShard, type ShardPlan } from '../../samplers/shard.js';

/** The batches of one rank, as arrays of rows. */
function rankBatches(plan: ShardPlan, order: Uint32Array | null, rank: number): number[][] {
  return Array.from({ length: plan.numBatches }, (_, index) => {
    const rows = new Uint32Array(batchLength(plan, index));
    fillBatchRows(rows, plan, order, rank, index);
    return Array.from(rows);
  });
}

const layouts = fc.record({
  numRows: fc.nat(200),
  batchSize: fc.integer({ min: 1, max: 12 }),
  worldSize: fc.integer({ min: 1, max: 9 }),
  dropLast: fc.boolean(),
  key: fc.string(),
});

function shuffled(numRows: number, key: string): Uint32Array {
  const order = new Uint32Array(numRows);
  fillPermutation(order, key);
  return order;
}

describe('planShard', () => {
  it('pads to ceil(N/W) rows per rank without dropLast', () => {
    expect(planShard(10, 2, 3, false)).toEqual({
      numRows: 10,
      batchSize: 2,
      worldSize: 3,
      rowsPerRank: 4,
      numBatches: 2,
      paddingRows: 2,
      droppedRows: 0,
    });
  });

  it('keeps only full batches of floor(N/W) rows per rank with dropLast', () => {
    expect(planShard(10, 2, 3, true)).toEqual({
      numRows: 10,
      batchSize: 2,
      worldSize: 3,
      rowsPerRank: 2,
      numBatches: 1,
      paddingRows: 0,
      droppedRows: 4,
    });
  });

  it('plans no batches for no rows', () => {
    expect(planShard(0, 4, 2, false).numBatches).toBe(0);
    expect(planShard(0, 4, 2, true).numBatches).toBe(0);
  });

  it('gives every rank a row when there are more ranks than rows, repeating rows cyclically', () => {
    const plan = planShard(2, 4, 5, false);
    expect(plan).toMatchObject({ rowsPerRank: 1, numBatches: 1, paddingRows: 3 });
    expect([0, 1, 2, 3, 4].map((rank) => rankBatches(plan, null, rank))).toEqual([[[0]], [[1]], [[0]], [[1]], [[0]]]);
  });
});

describe('fillBatchRows', () => {
  it('deals positions round-robin and repeats the first rows as padding (the example of shard.ts)', () => {
    const plan = planShard(10, 2, 3, false);
    expect(rankBatches(plan, null, 0)).toEqual([
      [0, 3],
      [6, 9],
    ]);
    expect(rankBatches(plan, null, 1)).toEqual([
      [1, 4],
      [7, 0],
    ]);
    expect(rankBatches(plan, null, 2)).toEqual([
      [2, 5],
      [8, 1],
    ]);
  });

  it('drops the tail of the order with dropLast (the example of shard.ts)', () => {
    const plan = planShard(10, 2, 3, true);
    expect([0, 1, 2].map((rank) => rankBatches(plan, null, rank))).toEqual([[[0, 3]], [[1, 4]], [[2, 5]]]);
  });

  it('reads rows through the epoch order', () => {
    const order = Uint32Array.from([5, 3, 0, 4, 1, 2]);
    expect(rankBatches(planShard(6, 2, 2, false), order, 1)).toEqual([[3, 4], [2]]);
  });

  it('gives every rank the same batch count, full batches except possibly the last, all full with dropLast', () => {
    fc.assert(
      fc.property(layouts, ({ numRows, batchSize, worldSize, dropLast, key }) => {
        const plan = planShard(numRows, batchSize, worldSize, dropLast);
        const order = shuffled(numRows, key);
        const lengths = Array.from({ length: worldSize }, (_, rank) =>
          rankBatches(plan, order, rank).map((batch) => batch.length),
        );
        for (const rankLengths of lengths) {
          expect(rankLengths).toEqual(lengths[0]);
          expect(rankLengths.slice(0, -1).every((length) => length === batchSize)).toBe(true);
          if (dropLast) expect(rankLengths.every((length) => length === batchSize)).toBe(true);
          expect(rankLengths.reduce((a, b) => a + b, 0)).toBe(plan.rowsPerRank);
        }
      }),
    );
  });

  it('partitions the order across ranks: disjoint ignoring padding, covering every row without dropLast', () => {
    fc.assert(
      fc.property(layouts, ({ numRows, batchSize, worldSize, dropLast, key }) => {
        const plan = planShard(numRows, batchSize, worldSize, dropLast);
        const order = shuffled(numRows, key);
        const timesYielded = new Array<number>(numRows).fill(0);
        for (let rank = 0; rank < worldSize; rank++) {
          for (const batch of rankBatches(plan, order, rank))
            for (const row of batch) timesYielded[row] = (timesYielded[row] ?? 0) + 1;
        }
        // Expected: once per used position; padding positions p ≥ N repeat order[p mod N].
        const expected = new Array<number>(numRows).fill(0);
        const usedPositions = plan.rowsPerRank * worldSize;
        for (let p = 0; p < usedPositions; p++) {
          const row = order[p % numRows] as number;
          expected[row] = (expected[row] ?? 0) + 1;
        }
        expect(timesYielded).toEqual(expected);
        if (dropLast) {
          expect(timesYielded.every((times) => times <= 1)).toBe(true);
          expect(timesYielded.filter((times) => times === 0)).toHaveLength(plan.droppedRows);
        } else {
          expect(timesYielded.every((times) => times >= 1)).toBe(true);
          expect(timesYielded.reduce((a, b) => a + b, 0)).toBe(numRows + plan.paddingRows);
          expect(plan.paddingRows).toBeLessThan(Math.max(worldSize, 1));
        }
      }),
    );
  });

  it('puts each padded repeat in the last row of the last batch of ranks (N mod W) … W−1', () => {
    fc.assert(
      fc.property(layouts, ({ numRows, batchSize, worldSize, key }) => {
        fc.pre(numRows >= worldSize && numRows % worldSize !== 0);
        const plan = planShard(numRows, batchSize, worldSize, false);
        const order = shuffled(numRows, key);
        for (let rank = 0; rank < worldSize; rank++) {
          const rows = rankBatches(plan, order, rank).flat();
          const lastPosition = (rows.length - 1) * worldSize + rank;
          expect(lastPosition >= numRows).toBe(rank >= numRows % worldSize);
          if (lastPosition >= numRows) expect(rows.at(-1)).toBe(order[lastPosition - numRows]);
        }
      }),
    );
  });
});

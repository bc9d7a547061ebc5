/**
 * Sharding of one epoch order across ranks, and batching of each rank's shard (the rule of PyTorch's
 * DistributedSampler followed by a DataLoader). Every rank computes the same epoch order; rank r of W
 * takes positions r, r+W, r+2W, … of it, so the shards are disjoint and, together, cover the order.
 * Batch i of every rank is cut from positions [i·B·W, (i+1)·B·W) of the order (B = batchSize), so
 * all ranks advance through the epoch together.
 *
 *   order (N = 10, W = 3, B = 2)   o0 o1 o2 o3 o4 o5 o6 o7 o8 o9 │ o0 o1
 *                                                                 └ padding: repeats the first rows
 *   dropLast false: rank 0  [o0 o3] [o6 o9]     every rank: ceil(10/3) = 4 rows, 2 batches
 *                   rank 1  [o1 o4] [o7 o0]
 *                   rank 2  [o2 o5] [o8 o1]
 *   dropLast true:  rank 0  [o0 o3]             every rank: floor(10/3) = 3 rows → 1 full batch;
 *                   rank 1  [o1 o4]             positions 6..9 (o6 o7 o8 o9) are dropped
 *                   rank 2  [o2 o5]
 *
 * dropLast false: each rank has ceil(N/W) rows in ceil(ceil(N/W)/B) batches; only the last batch may be
 * short, and it has the same length on every rank. The order is padded to ceil(N/W)·W positions:
 * position p ≥ N holds order[p mod N], so the first P = ceil(N/W)·W − N rows of the epoch order
 * (P < W; none when W divides N) are yielded twice; if W > N the order repeats cyclically. Each repeat
 * is the last row of the last batch of one of the ranks (N mod W) … W−1.
 * dropLast true: each rank has floor(floor(N/W)/B) full batches; the first numBatches·B·W positions of
 * the order are used and the rest (the tail of this epoch's order, different rows every epoch when
 * shuffled) are skipped. No row repeats.
 */

/** How an epoch order of `numRows` positions is split across `worldSize` ranks and batches. */
export interface ShardPlan {
  numRows: number;
  batchSize: number;
  worldSize: number;
  /** Rows each rank yields per epoch (repeats included); the same on every rank. */
  rowsPerRank: number;
  /** Batches each rank yields per epoch; the same on every rank. */
  numBatches: number;
  /** Positions past the end of the order (repeating its first rows): rowsPerRank·worldSize − numRows when > 0. */
  paddingRows: number;
  /** Positions at the end of the order that no rank yields (dropLast only). */
  droppedRows: number;
}

/** Plans the shards and batches (the arguments are checked by the sampler's options). */
export function planShard(numRows: number, batchSize: number, worldSize: number, dropLast: boolean): ShardPlan {
  let rowsPerRank: number;
  let numBatches: number;
  if (dropLast) {
    numBatches = Math.floor(Math.floor(numRows / worldSize) / batchSize);
    rowsPerRank = numBatches * batchSize;
  } else {
    rowsPerRank = Math.ceil(numRows / worldSize);
    numBatches = Math.ceil(rowsPerRank / batchSize);
  }
  const usedPositions = rowsPerRank * worldSize;
  return {
    numRows,
    batchSize,
    worldSize,
    rowsPerRank,
    numBatches,
    paddingRows: Math.max(0, usedPositions - numRows),
    droppedRows: Math.max(0, numRows - usedPositions),
  };
}

/** Rows in batch `index` (< numBatches) of every rank: batchSize, or fewer for a short last batch. */
export function batchLength(plan: ShardPlan, index: number): number {
  return Math.min(plan.batchSize, plan.rowsPerRank - index * plan.batchSize);
}

/**
 * Writes the rows of batch `index` of `rank` into `output` (length {@link batchLength}). `order` is the
 * epoch order, or null for the sequential order (position p holds row p) which needs no array.
 */
export function fillBatchRows(
  output: Uint32Array,
  plan: ShardPlan,
  order: Uint32Array | null,
  rank: number,
  index: number,
): void {
  const { numRows, worldSize } = plan;
  let position = index * plan.batchSize * worldSize + rank;
  for (let k = 0; k < output.length; k++, position += worldSize) {
    const p = position < numRows ? position : position % numRows;
    output[k] = order === null ? p : (order[p] as number);
  }
}

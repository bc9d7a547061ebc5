/**
 * Uniformly random permutations of row offsets, written into one caller-supplied Uint32Array. Beyond
 * that array the only memory used is a table of at most {@link MAX_BUCKETS} bucket bounds (16 KiB), so a
 * permutation of 100M rows needs its 400 MB array and nothing else of that size.
 *
 * Small orders are a plain Fisher–Yates shuffle of the identity. A Fisher–Yates pass over a 400 MB array
 * swaps with a random far-away element at every step and so waits on memory at every step. Large orders
 * therefore take one level of the Rao–Sandelius / Sanders shuffle, whose passes touch memory in order or
 * within a cache-resident bucket:
 *
 *   pass 1  count:    draw a bucket for each row 0..n-1 (top bits of one draw), count rows per bucket
 *   pass 2  scatter:  replay the same draws (second stream, same key) and append each row to its bucket
 *                     [ bucket 0 rows ascending | bucket 1 rows ascending | ... ]   (k sequential writers)
 *   pass 3  shuffle:  Fisher–Yates inside each bucket (~64K rows, cache-resident), continuing the stream
 *
 * This is still exactly uniform: with bucket sizes c_1..c_k, every assignment of rows to buckets with
 * those sizes is equally likely, and each bucket is then shuffled uniformly, so each of the n!
 * permutations has probability (∏ c_b! / n!) · ∏ (1 / c_b!) = 1 / n!.
 */
import type { Random } from './random.js';
import { createRandom } from './random.js';

/** Rows per bucket the large-order path aims for (256 KiB of offsets: stays in L2 while shuffled). */
export const TARGET_BUCKET_ROWS = 1 << 16;
/** Most buckets the scatter pass writes to at once (more streams than this thrash the cache). */
const MAX_BUCKETS = 1 << 11;

/**
 * Shuffles `array[start, end)` in place (Durstenfeld's Fisher–Yates: for i from the last position down,
 * swap with a uniformly chosen position ≤ i). Allocates nothing.
 */
export function shuffleRange(array: Uint32Array, random: Random, start = 0, end = array.length): void {
  for (let i = end - 1; i > start; i--) {
    const j = start + random.nextBelow(i - start + 1);
    const value = array[i] as number;
    array[i] = array[j] as number;
    array[j] = value;
  }
}

/**
 * Writes a uniformly random permutation of 0..output.length-1 into `output`, determined by `key` alone
 * (see `epochSeedKey`). `targetBucketRows` exists for tests of the bucketed path; callers leave it.
 */
export function fillPermutation(output: Uint32Array, key: string, targetBucketRows = TARGET_BUCKET_ROWS): void {
  const rows = output.length;
  const bucketBits = bucketBitsFor(rows, targetBucketRows);
  if (bucketBits === 0) {
    for (let i = 0; i < rows; i++) output[i] = i;
    shuffleRange(output, createRandom(key));
    return;
  }
  const shift = 32 - bucketBits;
  // bucketEnds[b] first counts bucket b's rows, then holds its start, and after the scatter its end.
  const bucketEnds = new Float64Array(1 << bucketBits);
  const counting = createRandom(key);
  for (let row = 0; row < rows; row++) {
    const b = counting.nextUint32() >>> shift;
    bucketEnds[b] = (bucketEnds[b] as number) + 1;
  }
  let start = 0;
  for (let b = 0; b < bucketEnds.length; b++) {
    const count = bucketEnds[b] as number;
    bucketEnds[b] = start;
    start += count;
  }
  const random = createRandom(key);
  for (let row = 0; row < rows; row++) {
    const b = random.nextUint32() >>> shift;
    const position = bucketEnds[b] as number;
    output[position] = row;
    bucketEnds[b] = position + 1;
  }
  let bucketStart = 0;
  for (let b = 0; b < bucketEnds.length; b++) {
    const bucketEnd = bucketEnds[b] as number;
    shuffleRange(output, random, bucketStart, bucketEnd);
    bucketStart = bucketEnd;
  }
}

/** log2 of the bucket count: 0 (one bucket, plain Fisher–Yates) up to log2(MAX_BUCKETS). */
function bucketBitsFor(rows: number, targetBucketRows: number): number {
  let bits = 0;
  while (1 << bits < MAX_BUCKETS && rows > targetBucketRows * (1 << bits)) bits++;
  return bits;
}

/**
 * Locality-aware shuffle for datasets bigger than the page cache: rows are grouped into blocks of
 * `blockRows` consecutive rows (the last block may be shorter), the block order is shuffled, and the
 * shuffled blocks are taken `windowBlocks` at a time, each window's rows shuffled together. A reader
 * then touches at most `windowBlocks` blocks of the file while it works through one window, so the
 * pages it reads stay cached until their rows are used.
 *
 *   rows      [0 1 2 | 3 4 5 | 6 7 8 | 9]                     blockRows 3 → blocks A B C D (D short)
 *   blocks    C A D B                                          (shuffled block order)
 *   windows   [C A] [D B]                                      windowBlocks 2
 *   order     [7 1 6 0 8 2 | 4 9 3 5]                          (rows shuffled within each window)
 *
 * Randomness: one stream from `key` (see `epochSeedKey`) shuffles the block order first, then each
 * window in turn. The result is a permutation of 0..n-1 written into the caller's Uint32Array, which
 * also serves as scratch: the block order is shuffled in its first slots and expanded into rows from
 * the back, so nothing else is allocated.
 */
import { createRandom } from './random.js';
import { shuffleRange } from './permutation.js';

/**
 * Writes the locality-aware permutation of 0..output.length-1 into `output`, determined by `key`,
 * `blockRows` and `windowBlocks` (positive integers, checked by the sampler's options).
 */
export function fillLocalityPermutation(
  output: Uint32Array,
  key: string,
  blockRows: number,
  windowBlocks: number,
): void {
  const rows = output.length;
  if (rows === 0) return;
  const random = createRandom(key);
  const numBlocks = Math.ceil(rows / blockRows);
  const lastBlock = numBlocks - 1;
  const lastBlockRows = rows - lastBlock * blockRows;

  // 1. Shuffle the block ids in output[0, numBlocks).
  for (let b = 0; b < numBlocks; b++) output[b] = b;
  shuffleRange(output, random, 0, numBlocks);

  // 2. Expand blocks into rows, last shuffled block first. Block k of the shuffled order starts at
  //    startOf(k) ≥ k (every block has at least one row), so writing it never overwrites an unread id.
  const shortAt = output.indexOf(lastBlock);
  const startOf = (k: number): number => k * blockRows - (k > shortAt ? blockRows - lastBlockRows : 0);
  for (let k = numBlocks - 1; k >= 0; k--) {
    const block = output[k] as number;
    const length = block === lastBlock ? lastBlockRows : blockRows;
    const start = startOf(k);
    const firstRow = block * blockRows;
    for (let t = length - 1; t >= 0; t--) output[start + t] = firstRow + t;
  }

  // 3. Shuffle the rows of each window of `windowBlocks` shuffled blocks.
  for (let k = 0; k < numBlocks; k += windowBlocks) {
    const end = k + windowBlocks >= numBlocks ? rows : startOf(k + windowBlocks);
    shuffleRange(output, random, startOf(k), end);
  }
}

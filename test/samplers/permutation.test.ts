import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillPermutation, shuffleRange, TARGET_BUCKET_ROWS } from '../../samplers/permutation.js';
import { createRandom } from '../../samplers/random.js';

function isPermutation(order: Uint32Array): boolean {
  const seen = new Uint8Array(order.length);
  for (const row of order) {
    if (row >= order.length || seen[row] === 1) return false;
    seen[row] = 1;
  }
  return true;
}

function permutation(rows: number, key: string, targetBucketRows?: number): Uint32Array {
  const order = new Uint32Array(rows);
  fillPermutation(order, key, targetBucketRows);
  return order;
}

describe('shuffleRange', () => {
  it('permutes only the values inside [start, end)', () => {
    fc.assert(
      fc.property(fc.nat(60), fc.nat(60), fc.nat(60), fc.string(), (length, a, b, key) => {
        const start = Math.min(a, b, length);
        const end = Math.min(Math.max(a, b), length);
        const array = Uint32Array.from({ length }, (_, i) => i * 3);
        shuffleRange(array, createRandom(key), start, end);
        for (let i = 0; i < length; i++) {
          if (i < start || i >= end) expect(array[i]).toBe(i * 3);
        }
        expect(Array.from(array.subarray(start, end)).sort((x, y) => x - y)).toEqual(
          Array.from({ length: end - start }, (_, i) => (start + i) * 3),
        );
      }),
    );
  });
});

describe('fillPermutation', () => {
  it('writes every row exactly once, on the plain and on the bucketed path', () => {
    fc.assert(
      fc.property(fc.nat(400), fc.integer({ min: 1, max: 64 }), fc.string(), (rows, targetBucketRows, key) => {
        expect(isPermutation(permutation(rows, key, targetBucketRows))).toBe(true);
      }),
    );
  });

  it('writes every row exactly once with the default buckets of a large order', () => {
    const rows = 4 * TARGET_BUCKET_ROWS + 123;
    expect(isPermutation(permutation(rows, '42:0'))).toBe(true);
  });

  it('depends only on the key', () => {
    fc.assert(
      fc.property(fc.nat(300), fc.integer({ min: 1, max: 64 }), fc.string(), (rows, targetBucketRows, key) => {
        expect(permutation(rows, key, targetBucketRows)).toEqual(permutation(rows, key, targetBucketRows));
      }),
    );
  });

  it('differs between keys', () => {
    expect(permutation(1000, '1:0')).not.toEqual(permutation(1000, '1:1'));
    expect(permutation(1000, '1:0', 16)).not.toEqual(permutation(1000, '2:0', 16));
  });

  it.each([
    ['plain Fisher–Yates', undefined],
    ['bucketed', 1],
  ])('produces all 24 orders of 4 rows about equally often (%s)', (_name, targetBucketRows) => {
    const counts = new Map<string, number>();
    const samples = 24_000;
    for (let i = 0; i < samples; i++) {
      const key = permutation(4, `uniform:${i}`, targetBucketRows).join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    const expected = samples / 24;
    let chiSquare = 0;
    for (const count of counts.values()) chiSquare += (count - expected) ** 2 / expected;
    // 23 degrees of freedom: the 99.99th percentile is about 56
    expect(chiSquare).toBeLessThan(60);
  });
});

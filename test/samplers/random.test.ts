import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom, epochSeedKey } from '../../samplers/random.js';

function draws(key: string, count: number): number[] {
  const random = createRandom(key);
  return Array.from({ length: count }, () => random.nextUint32());
}

describe('epochSeedKey', () => {
  it('joins seed and epoch as decimal integers with a colon', () => {
    expect(epochSeedKey(42, 0)).toBe('42:0');
    expect(epochSeedKey(-7, 12)).toBe('-7:12');
  });

  it('gives a different key for every (seed, epoch) pair', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(), fc.integer(), fc.nat(), (s1, e1, s2, e2) => {
        fc.pre(s1 !== s2 || e1 !== e2);
        expect(epochSeedKey(s1, e1)).not.toBe(epochSeedKey(s2, e2));
      }),
    );
  });
});

describe('createRandom', () => {
  it('pins the first draws of key "42:0" (a seedrandom upgrade that changes them must be noticed)', () => {
    expect(draws('42:0', 3)).toEqual([2669153210, 3636029276, 1805904624]);
  });

  it('gives the same stream for the same key', () => {
    expect(draws('7:3', 50)).toEqual(draws('7:3', 50));
  });

  it('gives different streams for neighbouring keys', () => {
    expect(draws('7:3', 8)).not.toEqual(draws('7:4', 8));
    expect(draws('7:3', 8)).not.toEqual(draws('8:3', 8));
  });

  it('draws 32-bit unsigned integers', () => {
    for (const value of draws('1:1', 1000)) {
      expect(Number.isInteger(value) && value >= 0 && value < 2 ** 32).toBe(true);
    }
  });
});

describe('nextBelow', () => {
  it('stays in [0, n) for any n up to 2^32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 32 }), fc.string(), (n, key) => {
        const random = createRandom(key);
        for (let i = 0; i < 20; i++) {
          const value = random.nextBelow(n);
          expect(Number.isInteger(value) && value >= 0 && value < n).toBe(true);
        }
      }),
    );
  });

  it('returns 0 for n = 1', () => {
    const random = createRandom('x');
    for (let i = 0; i < 10; i++) expect(random.nextBelow(1)).toBe(0);
  });

  // 3·2^29 and 3·2^30 are where a plain `draw % n` is most biased: the lowest third would come up twice
  // as often as each other third, on the 31-bit and on the 32-bit path.
  it('is close to uniform, also for the n where modulo bias would be largest', () => {
    for (const [n, buckets] of [
      [7, 7],
      [3 * 2 ** 29, 3],
      [3 * 2 ** 30, 3],
    ] as const) {
      const random = createRandom(`uniform:${n}`);
      const counts = new Array<number>(buckets).fill(0);
      const samples = 70_000;
      for (let i = 0; i < samples; i++) {
        const bucket = Math.floor((random.nextBelow(n) / n) * buckets);
        counts[bucket] = (counts[bucket] ?? 0) + 1;
      }
      const expected = samples / buckets;
      // chi-square with < 7 degrees of freedom: 30 is far beyond the 99.99th percentile
      const chiSquare = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
      expect(chiSquare).toBeLessThan(30);
    }
  });
});

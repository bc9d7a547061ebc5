/**
 * Seeded randomness for the samplers: one pseudo-random stream per (seed, epoch), identical on every
 * machine, rank, worker count and prefetch depth, because it depends on nothing but those two numbers.
 *
 * Seed derivation: the stream of epoch `e` under seed `s` is seedrandom's `xor4096` generator seeded
 * with the string `${s}:${e}` (both decimal integers, e.g. `"42:0"`, `"-7:12"`); see {@link epochSeedKey}.
 * The string keeps neighbouring seeds and epochs unrelated (the generator mixes every character into its
 * 4096-bit state and runs 512 warm-up steps) and lets a human reproduce a stream from a log line.
 * xor4096 (Brent's xorgens) passes BigCrush, has period 2^4128 − 2^32, and is among seedrandom's fastest.
 * seedrandom is pure JavaScript integer arithmetic, so the stream is the same on every platform; a
 * golden test pins the first rows of one order so a dependency upgrade that changes it is noticed.
 *
 * Bounded integers ({@link Random.nextBelow}) are exactly unbiased: draws falling in the incomplete
 * last block of 2^31 (or 2^32) are rejected and redrawn, so every value in [0, n) is equally likely.
 */
import seedrandom from 'seedrandom';

/** A deterministic stream of uniformly distributed integers. */
export interface Random {
  /** The next integer in [0, 2^32). */
  nextUint32(): number;
  /** The next integer in [0, n), every value equally likely; `n` is an integer in [1, 2^32]. */
  nextBelow(n: number): number;
}

const TWO_31 = 0x80000000;
const TWO_32 = 0x100000000;

/** The seedrandom key of the stream for `epoch` under `seed`: `${seed}:${epoch}`. */
export function epochSeedKey(seed: number, epoch: number): string {
  return `${seed}:${epoch}`;
}

/** A stream seeded with `key` (use {@link epochSeedKey}); the same key always gives the same stream. */
export function createRandom(key: string): Random {
  const nextInt32 = seedrandom.xor4096(key).int32;
  return {
    nextUint32: () => nextInt32() >>> 0,
    nextBelow(n: number): number {
      if (n <= TWO_31) {
        // 31-bit draws keep `%` on small integers, which V8 compiles to an integer division.
        for (;;) {
          const draw = nextInt32() & 0x7fffffff;
          const value = draw % n;
          if (draw - value <= TWO_31 - n) return value; // draw lies in a complete block of n values
        }
      }
      for (;;) {
        const draw = nextInt32() >>> 0;
        const value = draw % n;
        if (draw - value <= TWO_32 - n) return value;
      }
    },
  };
}

/** Coalescing of byte-range reads: every requested range gets exactly its bytes, in any order of the ranges. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCoalescedReads, viewsOfRanges } from '../../io/coalesce.js';
import type { ByteRange } from '../../format/file-metadata.js';

const FILE_BYTES = 4096;
/** A file whose byte i is i mod 251, so a view at the wrong offset shows. */
const file = Uint8Array.from({ length: FILE_BYTES }, (_, i) => i % 251);

/** The views of `ranges` through their merged reads, each read copied out of the file into a buffer of its own. */
function readThroughPlan(ranges: ByteRange[], maxGapBytes: number, maxReadBytes: number): Uint8Array[] {
  const plan = planCoalescedReads(ranges, { maxGapBytes, maxReadBytes });
  return viewsOfRanges(
    ranges,
    plan,
    plan.reads.map((read) => file.slice(read.offset, read.offset + read.size)),
  );
}

const range = fc
  .tuple(fc.nat({ max: FILE_BYTES - 1 }), fc.nat({ max: 300 }))
  .map(([offset, size]): ByteRange => ({ offset, size: Math.min(size, FILE_BYTES - offset) }));

describe('planCoalescedReads and viewsOfRanges', () => {
  it('give each requested range its bytes, for ranges in file order, in any order and repeated', () => {
    fc.assert(
      fc.property(
        fc.array(range, { maxLength: 40 }),
        fc.boolean(),
        fc.nat({ max: 512 }),
        fc.integer({ min: 1, max: 2048 }),
        (drawn, ascending, maxGapBytes, maxReadBytes) => {
          const ranges = ascending ? [...drawn].sort((a, b) => a.offset - b.offset) : drawn;
          const views = readThroughPlan(ranges, maxGapBytes, maxReadBytes);
          expect(views.map((v) => [...v])).toEqual(ranges.map((r) => [...file.subarray(r.offset, r.offset + r.size)]));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('plan the same reads for ranges in file order as for the same ranges shuffled', () => {
    const ranges: ByteRange[] = [
      { offset: 0, size: 10 },
      { offset: 12, size: 4 },
      { offset: 100, size: 50 },
      { offset: 3000, size: 8 },
    ];
    const shuffled = [ranges[2], ranges[0], ranges[3], ranges[1]] as ByteRange[];
    const options = { maxGapBytes: 8, maxReadBytes: 1024 };
    expect(planCoalescedReads(ranges, options).reads).toEqual([
      { offset: 0, size: 16 },
      { offset: 100, size: 50 },
      { offset: 3000, size: 8 },
    ]);
    expect(planCoalescedReads(shuffled, options).reads).toEqual(planCoalescedReads(ranges, options).reads);
  });
});

/**
 * Coalescing of byte-range reads: sorts the requested ranges, merges neighbours whose gap is at most
 * `maxGapBytes` while the merged read stays within `maxReadBytes`, and remembers where each requested
 * range lies inside its merged read, so the caller gets back exactly one view per requested range
 * (duplicates and overlaps included), as Lance's scheduler does.
 *
 *   requested:  [a )   [b  )      [c )                [d   )
 *   merged:     [a ......... b ...... c )             [d   )      (gaps ≤ maxGapBytes)
 */
import type { ByteRange } from '../format/file-metadata.js';
import { InvalidArgumentError } from '../errors.js';

export interface CoalesceOptions {
  /** Largest gap of unrequested bytes read to merge two ranges. */
  maxGapBytes: number;
  /** Largest merged read (a single requested range larger than this is read alone). */
  maxReadBytes: number;
}

export const defaultCoalesceOptions: CoalesceOptions = { maxGapBytes: 64 * 1024, maxReadBytes: 16 * 1024 * 1024 };

interface CoalescedPlan {
  /** The reads to issue, ascending and non-overlapping. */
  reads: ByteRange[];
  /** For requested range i: the read that holds it. */
  readOf: Uint32Array;
  /** For requested range i: its byte offset within that read. */
  offsetInRead: Float64Array;
}

/** Plans the merged reads for `ranges` (any order). */
export function planCoalescedReads(
  ranges: readonly ByteRange[],
  options: CoalesceOptions = defaultCoalesceOptions,
): CoalescedPlan {
  if (!(options.maxGapBytes >= 0) || !(options.maxReadBytes > 0)) {
    throw new InvalidArgumentError(
      `coalesce options need maxGapBytes >= 0 and maxReadBytes > 0, got ${JSON.stringify(options)}`,
    );
  }
  const n = ranges.length;
  // The planners' ranges mostly come in file order (pages in order, a page's rows ascending): then no sort.
  let ascending = true;
  for (let i = 1; i < n && ascending; i++)
    ascending = (ranges[i - 1] as ByteRange).offset <= (ranges[i] as ByteRange).offset;
  const order = ascending ? null : new Uint32Array(n);
  if (order) {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (ranges[a] as ByteRange).offset - (ranges[b] as ByteRange).offset);
  }
  const reads: ByteRange[] = [];
  const readOf = new Uint32Array(n);
  const offsetInRead = new Float64Array(n);
  let start = -1;
  let end = -1;
  for (let k = 0; k < n; k++) {
    const i = order ? (order[k] as number) : k;
    const r = ranges[i] as ByteRange;
    const rEnd = r.offset + r.size;
    const fits =
      start >= 0 && r.offset <= end + options.maxGapBytes && Math.max(end, rEnd) - start <= options.maxReadBytes;
    const contained = start >= 0 && rEnd <= end;
    if (fits || contained) {
      end = Math.max(end, rEnd);
      (reads[reads.length - 1] as ByteRange).size = end - start;
    } else {
      start = r.offset;
      end = rEnd;
      reads.push({ offset: start, size: end - start });
    }
    readOf[i] = reads.length - 1;
    offsetInRead[i] = r.offset - start;
  }
  return { reads, readOf, offsetInRead };
}

/**
 * The view of each requested range, given the bytes of each merged read: a range that is its whole read
 * (the usual case for a shuffled batch's far-apart rows) gets that read's view itself, not a second one.
 */
export function viewsOfRanges(
  ranges: readonly ByteRange[],
  plan: CoalescedPlan,
  readBytes: readonly Uint8Array[],
): Uint8Array[] {
  const views = new Array<Uint8Array>(ranges.length);
  for (let i = 0; i < ranges.length; i++) {
    const bytes = readBytes[plan.readOf[i] as number] as Uint8Array;
    const at = plan.offsetInRead[i] as number;
    const size = (ranges[i] as ByteRange).size;
    views[i] = at === 0 && size === bytes.length ? bytes : bytes.subarray(at, at + size);
  }
  return views;
}

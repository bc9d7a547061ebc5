/**
 * Sparse FastLanes extraction: reads single values out of InlineBitpacking blocks without unpacking the
 * whole block. A shuffled take needs a handful of rows from each 1024-value chunk, so extracting them
 * one by one (≈ w / 8 byte reads each) beats unpacking 1024 values per wanted row.
 *
 * Inverse of the layout in bitpack.ts: value v of a block sits in row r, lane l, where with
 * g = v >> 7 and rem = v & 127, l = rem mod LANES (LANES = 1024 / B) and r = FL_INV[(rem − l) / 16]·8 + g.
 * Its bits are [r·w, (r+1)·w) of lane l, whose word k is packed word LANES·k + l (little endian).
 */
import { CorruptFileError } from '../../errors.js';
import { blockByteLength, readWidthWord, type BitWidthElem, type UnsignedOutput } from './bitpack.js';

/** Inverse of FastLanes' FL_ORDER = [0, 4, 2, 6, 1, 5, 3, 7]. */
const FL_INV = [0, 4, 2, 6, 1, 5, 3, 7] as const;

/**
 * Writes values `items[i] - base` (i in [from, to), ascending, within [0, numValues)) of an
 * InlineBitpacking buffer into `out` at the same value index; other entries of `out` are left untouched.
 * 64-bit values are written as (lo, hi) u32 pairs.
 */
export function extractInlineBitpacked(
  src: Uint8Array,
  elemBits: BitWidthElem,
  numValues: number,
  items: Uint32Array,
  from: number,
  to: number,
  base: number,
  out: UnsignedOutput,
  where: string,
): void {
  const wordBytes = elemBits / 8;
  const lanes = 1024 / elemBits;
  let blockStart = 0;
  let block = 0;
  let width = readWidthWord(src, 0, elemBits);
  for (let i = from; i < to; i++) {
    const item = (items[i] as number) - base;
    if (item < 0 || item >= numValues)
      throw new CorruptFileError(`${where}: value ${item} is outside the chunk's ${numValues} values`);
    const wantBlock = item >>> 10;
    while (block < wantBlock) {
      blockStart += wordBytes + blockByteLength(width);
      block++;
      width = readWidthWord(src, blockStart, elemBits);
    }
    if (width > elemBits || blockStart + wordBytes + blockByteLength(width) > src.length) {
      throw new CorruptFileError(
        `${where}: bit-packed block ${block} (width ${width}) runs past the ${src.length}-byte chunk`,
      );
    }
    const v = item & 1023;
    const rem = v & 127;
    const lane = rem % lanes;
    const row = (FL_INV[(rem - lane) >>> 4] as number) * 8 + (v >>> 7);
    extractOne(src, blockStart + wordBytes, elemBits, lanes, lane, row * width, width, out, item);
  }
}

/** Reads `width` bits starting at lane bit `bit` of lane `lane` and stores them as value `index` of `out`. */
function extractOne(
  src: Uint8Array,
  at: number,
  elemBits: number,
  lanes: number,
  lane: number,
  bit: number,
  width: number,
  out: UnsignedOutput,
  index: number,
): void {
  let lo = 0;
  let hi = 0;
  let got = 0;
  let p = bit;
  while (got < width) {
    const k = Math.floor(p / elemBits);
    const b = p - k * elemBits;
    const byte = src[at + (lanes * k + lane) * (elemBits / 8) + (b >>> 3)] as number;
    const shift = b & 7;
    const take = Math.min(8 - shift, width - got);
    const chunk = (byte >>> shift) & ((1 << take) - 1);
    if (got < 32) {
      lo |= chunk << got;
      if (got + take > 32) hi |= chunk >>> (32 - got);
    } else {
      hi |= chunk << (got - 32);
    }
    got += take;
    p += take;
  }
  if (elemBits === 64) {
    out[2 * index] = lo >>> 0;
    out[2 * index + 1] = hi >>> 0;
  } else {
    out[index] = lo >>> 0;
  }
}

/**
 * FastLanes bit-packing for `InlineBitpacking` mini-block values and for blocks (`InlineBitpacking` /
 * `OutOfLineBitpacking` block compression) of definition levels and of 64-bit page dictionaries, the
 * inverse of decode-workers/encodings/bitpack.ts (whose module comment draws the block layout):
 *
 *   chunk = [w as one T word][1024 values of T packed at w bits: 128·w bytes]
 *   word k of lane l = packed word LANES·k + l, LANES = 1024 / B; row r of lane l (value
 *   FL_ORDER[r >> 3]·16 + (r & 7)·128 + l) takes bits [r·w, (r+1)·w) of the lane's words
 *
 * Each 1024 values get the width of their largest value; the last chunk is zero-padded to 1024. Like
 * LanceDB, the page is bit-packed only when that takes fewer bytes than the plain values (random
 * full-range integers stay Flat; row ids, small categories, dates and timestamps shrink). 64-bit values
 * are handled as (lo, hi) u32 halves, without BigInt.
 */
import type { CompressiveEncodingProto } from '../format/proto/messages.js';

const FL_ORDER = [0, 4, 2, 6, 1, 5, 3, 7];
const BLOCK = 1024;

/** The value words of `bytes` as u32 units: one per value for B ≤ 32, (lo, hi) pairs for B = 64. */
function unitsOf(bytes: Uint8Array, elemBits: number): Uint8Array | Uint16Array | Uint32Array {
  const aligned = bytes.byteOffset % (elemBits / 8) === 0 ? bytes : bytes.slice();
  if (elemBits === 8) return aligned;
  if (elemBits === 16) return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
  return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
}

const bitLength = (x: number): number => 32 - Math.clz32(x);

/** The bit width of each 1024-value block of `count` values (B-bit words). */
function blockWidths(units: ArrayLike<number>, count: number, elemBits: number): number[] {
  const widths: number[] = [];
  const pairs = elemBits === 64 ? 2 : 1;
  for (let start = 0; start < count; start += BLOCK) {
    const end = Math.min(count, start + BLOCK);
    let lo = 0;
    let hi = 0;
    for (let i = start; i < end; i++) {
      lo |= units[i * pairs] as number;
      if (pairs === 2) hi |= units[i * pairs + 1] as number;
    }
    widths.push(hi !== 0 ? 32 + bitLength(hi) : bitLength(lo));
  }
  return widths;
}

/** Bits [from, from + take) of value `v` (take ≤ 32), from its (lo, hi) halves. */
function bitsOf(lo: number, hi: number, from: number, take: number): number {
  const mask = take === 32 ? 0xffffffff : (1 << take) - 1;
  if (from >= 32) return (hi >>> (from - 32)) & mask;
  const low = lo >>> from;
  return (from === 0 ? low : low | (hi << (32 - from))) & mask;
}

/** Packs one block (values `start`…, zero past `count`) at width `width` into `out` (S-bit units). */
function packBlock(
  units: ArrayLike<number>,
  start: number,
  count: number,
  elemBits: number,
  width: number,
  out: Uint8Array | Uint16Array | Uint32Array,
): void {
  const lanes = BLOCK / elemBits;
  const unitBits = Math.min(elemBits, 32);
  const pairs = elemBits === 64 ? 2 : 1;
  for (let r = 0; r < elemBits; r++) {
    const base = (FL_ORDER[r >> 3] as number) * 16 + (r & 7) * 128;
    for (let l = 0; l < lanes; l++) {
      const index = start + base + l;
      if (index >= count) continue;
      const lo = units[index * pairs] as number;
      const hi = pairs === 2 ? (units[index * pairs + 1] as number) : 0;
      let position = r * width;
      for (let done = 0; done < width;) {
        const unit = Math.floor(position / unitBits);
        const offset = position % unitBits;
        const take = Math.min(unitBits - offset, width - done);
        // For B = 64 a lane's u64 word k is two u32 units: (lo, hi) of packed word LANES·k + l.
        const at = pairs === 2 ? 2 * (lanes * (unit >> 1) + l) + (unit & 1) : lanes * unit + l;
        out[at] = (out[at] as number) | (bitsOf(lo, hi, done, take) << offset);
        position += take;
        done += take;
      }
    }
  }
}

/** One FastLanes block: values `start`… (zero past `count`) packed at `width` bits, 128·width bytes. */
function packedBlock(
  units: ArrayLike<number>,
  start: number,
  count: number,
  elemBits: number,
  width: number,
): Uint8Array {
  const bytes = new Uint8Array(128 * width);
  const out =
    elemBits === 8
      ? bytes
      : elemBits === 16
        ? new Uint16Array(bytes.buffer, 0, bytes.length / 2)
        : new Uint32Array(bytes.buffer, 0, bytes.length / 4);
  packBlock(units, start, count, elemBits, width, out);
  return bytes;
}

/** `count` values as InlineBitpacking chunks, each 1024 values as [width word][block]. */
function inlineChunks(units: ArrayLike<number>, count: number, elemBits: number, widths: number[]): Uint8Array[] {
  const wordBytes = elemBits / 8;
  return widths.map((width, b) => {
    const chunk = new Uint8Array(wordBytes + 128 * width);
    chunk[0] = width;
    chunk.set(packedBlock(units, b * BLOCK, count, elemBits, width), wordBytes);
    return chunk;
  });
}

/**
 * The page's values as InlineBitpacking chunks (one per 1024 values), or undefined when packing would
 * not make them smaller. `bytes` holds `count` little-endian values of `elemBits` (8, 16, 32 or 64).
 */
export function bitpackChunks(bytes: Uint8Array, count: number, elemBits: number): Uint8Array[] | undefined {
  const units = unitsOf(bytes, elemBits);
  const widths = blockWidths(units, count, elemBits);
  const packedBytes = widths.reduce((sum, w) => sum + elemBits / 8 + 128 * w, 0);
  if (packedBytes >= (count * elemBits) / 8) return undefined;
  return inlineChunks(units, count, elemBits, widths);
}

/** How a page's u16 definition levels are compressed, chunk by chunk, and the encoding that says so. */
export interface LevelCodec {
  encoding: CompressiveEncodingProto;
  compress(levels: Uint16Array): Uint8Array;
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/**
 * The bytes LanceDB estimates bit-packing a page's u16 levels takes (`estimate_block_bitpacking_bytes`),
 * or undefined when that is no smaller than the raw levels: one inline block for at most 1024 levels,
 * otherwise out-of-line blocks at the widest width, a last partial block padded only when that is smaller.
 */
export function packedLevelBytes(levels: Uint16Array): number | undefined {
  const width = Math.max(0, ...blockWidths(levels, levels.length, 16));
  const n = levels.length;
  let words: number;
  if (n <= BLOCK) words = 1 + (BLOCK * width) / 16;
  else {
    if (width >= 16) return undefined;
    const whole = Math.floor(n / BLOCK);
    const tail = n - whole * BLOCK;
    const perBlock = (BLOCK * width) / 16;
    words = whole * perBlock + (tail === 0 ? 0 : width * (BLOCK - tail) < (16 - width) * tail ? perBlock : tail);
  }
  return words * 2 < n * 2 ? words * 2 : undefined;
}

/** How LanceDB bit-packs a block of values, chosen for a whole page of them, and the encoding that says so. */
interface BlockPacking {
  encoding: CompressiveEncodingProto;
  /** Packs `count` values of `units` (any part of the page; levels are packed chunk by chunk). */
  pack(units: Uint8Array | Uint16Array | Uint32Array, count: number): Uint8Array;
}

/**
 * LanceDB 0.39's block bit-packing (`try_bitpack_for_block`) of `count` B-bit values, or undefined when it
 * leaves them as they are: when every value is 0, or when one block of 1024 packed values (128·w bytes)
 * would be no smaller than the values. InlineBitpacking for at most 1024 values; otherwise
 * OutOfLineBitpacking at the widest block's width, whose last partial block is padded and packed only when
 * that is smaller than storing its values raw. Blocks of all-zero values are packed at that width too: the
 * 0.39 binary does so, although the `try_bitpack_for_block` source leaves a page with such a block unpacked.
 */
function blockPacking(units: ArrayLike<number>, count: number, elemBits: number): BlockPacking | undefined {
  const widths = blockWidths(units, count, elemBits);
  const width = Math.max(...widths);
  if (width === 0 || (widths.length === 1 && 128 * width >= (count * elemBits) / 8)) return undefined;
  if (count <= BLOCK) {
    return {
      encoding: { inline_bitpacking: { uncompressed_bits_per_value: elemBits } },
      pack: (part, n) => concat(inlineChunks(part, n, elemBits, blockWidths(part, n, elemBits))),
    };
  }
  const pairs = elemBits === 64 ? 2 : 1;
  return {
    encoding: {
      out_of_line_bitpacking: {
        uncompressed_bits_per_value: elemBits,
        values: { flat: { bits_per_value: width } },
      },
    },
    pack: (part, n) => {
      const whole = Math.floor(n / BLOCK);
      const parts: Uint8Array[] = [];
      for (let b = 0; b < whole; b++) parts.push(packedBlock(part, b * BLOCK, n, elemBits, width));
      const tail = n - whole * BLOCK;
      if (tail > 0) {
        const padded = width * (BLOCK - tail) < (elemBits - width) * tail;
        const rest = part.subarray(whole * BLOCK * pairs, n * pairs);
        parts.push(
          padded
            ? packedBlock(part, whole * BLOCK, n, elemBits, width)
            : new Uint8Array(rest.buffer, rest.byteOffset, rest.byteLength),
        );
      }
      return concat(parts);
    },
  };
}

/**
 * LanceDB's choice for a page's u16 levels: raw Flat(16b) unless block bit-packing (`blockPacking`)
 * shrinks them. Each mini-block chunk's levels are packed as the page's choice says.
 */
export function levelCodec(levels: Uint16Array): LevelCodec {
  const packing = blockPacking(levels, levels.length, 16);
  if (!packing) {
    return {
      encoding: { flat: { bits_per_value: 16 } },
      compress: (chunk) => new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    };
  }
  return { encoding: packing.encoding, compress: (chunk) => packing.pack(chunk, chunk.length) };
}

/**
 * `count` little-endian values of `elemBits` (8, 16, 32 or 64) as one bit-packed block, as LanceDB
 * compresses a page's dictionary of fixed-width items (`blockPacking`), or undefined when it would not.
 */
export function bitpackBlock(
  bytes: Uint8Array,
  count: number,
  elemBits: number,
): { bytes: Uint8Array; encoding: CompressiveEncodingProto } | undefined {
  const units = unitsOf(bytes, elemBits);
  const packing = blockPacking(units, count, elemBits);
  return packing && { bytes: packing.pack(units, count), encoding: packing.encoding };
}

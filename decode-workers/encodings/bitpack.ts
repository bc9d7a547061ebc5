/**
 * FastLanes bit-unpacking, the kernel behind Lance 2.1's `InlineBitpacking` (mini-block values,
 * small rep/def level buffers) and `OutOfLineBitpacking` (larger rep/def level buffers).
 *
 * Guarantees: every length is checked against the input before the first read, so a kernel reads
 * only the bytes the layout gives a block and never past `src`; it writes only the requested values
 * `[outIndex, outIndex + count)` of `out`; a short or inconsistent buffer is a `CorruptFileError`
 * naming the expected and actual byte counts. Values are unsigned words of T = u8/u16/u32/u64
 * (`elemBits` = B = 8/16/32/64); 64-bit values come out as (lo, hi) u32 pairs, so there is no BigInt.
 * Input words are read through a Uint16Array/Uint32Array view when the block is aligned; an
 * unaligned block is copied once into a module scratch buffer. Nothing is allocated per value.
 *
 * ## FastLanes block (facts from rust/compression/bitpacking/src/lib.rs, the `pack!`/`unpack!`
 * ## macros, `FL_ORDER` and `BitPacking::unchecked_{pack,unpack}`)
 *
 * 1024 values of T packed at w bits (0 ≤ w ≤ B) fill 1024·w/B words of T = 128·w bytes, little
 * endian. The block is cut into LANES = 1024/B lanes; word k of lane l is packed word LANES·k + l.
 * Within a lane, row r (0 ≤ r < B) occupies bits [r·w, (r+1)·w) of the lane's words taken as one
 * little-endian bit string (low bits first; a row may straddle two words). Row r of lane l is value
 *
 *     index(r, l) = FL_ORDER[r >> 3]·16 + (r & 7)·128 + l        FL_ORDER = [0, 4, 2, 6, 1, 5, 3, 7]
 *
 * w = 0 stores nothing (all values 0); w = B is a plain transposed copy. Example, T = u16, w = 3:
 * LANES = 64, each lane owns w = 3 words, 192 packed words = 384 bytes in all.
 *
 *     packed word │ 0    1   …  63  │ 64   65  … 127  │ 128  129 … 191
 *     (lane, k)   │ 0,0  1,0 … 63,0 │ 0,1  1,1 … 63,1 │ 0,2  1,2 … 63,2
 *
 *     lane 0, word k = 0 (bit 15 on the left):
 *       bits   15 │ 14..12 │ 11..9  │ 8..6   │ 5..3   │ 2..0
 *       row    r5 │ r4     │ r3     │ r2     │ r1     │ r0
 *       value v640│ v512   │ v384   │ v256   │ v128   │ v0
 *     r5 continues in bits 1..0 of word k = 1 (word 64); rows 0..7 are values r·128 + l, rows
 *     8..15 are 64 + (r − 8)·128 + l (FL_ORDER[1] = 4, 4·16 = 64).
 *
 * Every row sits at the same bit position in every lane, so the kernels below take one row at a
 * time for all lanes: LANES consecutive packed words → LANES consecutive values
 * out[index(r, 0) .. index(r, 0) + LANES).
 *
 * ## InlineBitpacking (rust/lance-encoding/src/encodings/physical/bitpacking.rs,
 * ## `bitpack_chunked` / `unchunk`; proto `encodings_v2_1.InlineBitpacking`)
 *
 *     ┌───────────┬──────────────────────┬───────────┬──────────────────────┬─ …
 *     │ w₀ (one T)│ block 0: 128·w₀ bytes│ w₁ (one T)│ block 1: 128·w₁ bytes│
 *     └───────────┴──────────────────────┴───────────┴──────────────────────┴─ …
 *
 * Each 1024 values get their own width w (a little-endian T word), then a FastLanes block. The last
 * block is zero-padded to 1024 values and packed whole. As a mini-block compressor every chunk holds
 * one block (`log_num_values` 10 for each chunk but the last, which stores 0); as a block compressor
 * (rep/def levels when a page has ≤ 1024 levels, `compression.rs` `try_bitpack_for_block`) it is the
 * same bytes. Lance's decoder (`unchunk`) takes one block of ≤ 1024 values and asserts exactly
 * 128·w bytes follow the width word; this decoder also walks several blocks, returns the bytes it
 * used and leaves the check of trailing bytes to the caller.
 *
 * ## OutOfLineBitpacking (same file, `bitpack_out_of_line` / `unpack_out_of_line`; w comes from
 * ## the nested `values = Flat{bits_per_value}`, `compression.rs` `create_block_decompressor`)
 *
 *     │ block 0: 128·w bytes │ … │ block F−1 │ tail │
 *
 * n values = F whole blocks + t tail values (t = n mod 1024), no width words. The writer packs the
 * tail zero-padded to a full block iff w·(1024 − t) < (B − w)·t, i.e. iff that is shorter than
 * storing the t values raw as T words; otherwise it appends them raw. The reader cannot see the
 * choice: the tail is raw iff t > 0 and the buffer holds exactly F·128·w + t·sizeof(T) bytes. When
 * both layouts have the same length the writer chose raw (equality is not "shorter"), so the rule
 * is unambiguous. Like Lance, bytes after the padded block are ignored.
 */
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../../errors.js';

/** Bit width of the unsigned element type T. */
export type BitWidthElem = 8 | 16 | 32 | 64;

/** Output array for values of elemBits: Uint8Array (8), Uint16Array (16), Uint32Array (32), Uint32Array holding (lo, hi) word pairs for 64 (value i at [2i], [2i+1]). */
export type UnsignedOutput = Uint8Array | Uint16Array | Uint32Array;

/** Values in one FastLanes block. */
const FASTLANES_BLOCK_VALUES = 1024;

/** FastLanes' row-group order (lance-bitpacking `FL_ORDER`). */
const FL_ORDER = [0, 4, 2, 6, 1, 5, 3, 7] as const;

/** `ROW_BASE_B[r]` = index(r, 0): the output index of row r of lane 0 for a B-bit element type. */
function rowBases(elemBits: BitWidthElem): Uint16Array {
  const bases = new Uint16Array(elemBits);
  for (let r = 0; r < elemBits; r++) bases[r] = (FL_ORDER[r >> 3] ?? 0) * 16 + (r & 7) * 128;
  return bases;
}
const ROW_BASE_8 = rowBases(8);
const ROW_BASE_16 = rowBases(16);
const ROW_BASE_32 = rowBases(32);
const ROW_BASE_64 = rowBases(64);

/** Largest block (1024 × 64 bits) and largest raw tail (1023 × 8 bytes) both fit. */
const SCRATCH = new ArrayBuffer(8192);
const SCRATCH_U8 = new Uint8Array(SCRATCH);
const SCRATCH_U16 = new Uint16Array(SCRATCH);
const SCRATCH_U32 = new Uint32Array(SCRATCH);

/** Typed-array views read in host byte order; Lance data is little endian. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of one block packed at `bitWidth`: 1024·w bits. */
export function blockByteLength(bitWidth: number): number {
  return 128 * bitWidth;
}

/**
 * Unpacks one FastLanes block (1024 values, packed at bitWidth bits, 0 <= bitWidth <= elemBits)
 * starting at src[srcByteOffset], writing values [0, count) of the block (count <= 1024) to out
 * starting at value index outIndex.
 */
export function unpackFastLanesBlock(
  src: Uint8Array,
  srcByteOffset: number,
  elemBits: BitWidthElem,
  bitWidth: number,
  count: number,
  out: UnsignedOutput,
  outIndex: number,
): void {
  checkElemBits(elemBits);
  checkBitWidth(elemBits, bitWidth, { srcByteOffset });
  checkCount('count', count, FASTLANES_BLOCK_VALUES);
  checkOutput(elemBits, out, outIndex, count);
  if (!Number.isInteger(srcByteOffset) || srcByteOffset < 0) {
    throw new InvalidArgumentError(`srcByteOffset must be a non-negative integer, got ${srcByteOffset}`, {
      srcByteOffset,
    });
  }
  const byteLength = blockByteLength(bitWidth);
  if (srcByteOffset + byteLength > src.length) {
    throw new CorruptFileError(
      `FastLanes block truncated: ${elemBits}-bit values at ${bitWidth} bits need ${byteLength} bytes at byte offset ${srcByteOffset}, ` +
        `but the buffer has ${Math.max(0, src.length - srcByteOffset)}`,
      {
        elemBits,
        bitWidth,
        byteOffset: srcByteOffset,
        expectedBytes: byteLength,
        actualBytes: Math.max(0, src.length - srcByteOffset),
      },
    );
  }
  unpackChecked(src, srcByteOffset, elemBits, bitWidth, count, out, outIndex);
}

/**
 * Decodes an InlineBitpacking mini-block chunk buffer: consecutive 1024-value blocks, each one T
 * word holding the bit width, followed by 1024*w/8 bytes of packed data. Decodes numValues values
 * (the last block is padded to 1024). Returns the number of bytes consumed. With `first`, values
 * [first, numValues) are written and the ones before may not be (FastLanes rows holding none of them
 * are skipped, so a list's values cost about their own share of the block).
 */
export function decodeInlineBitpacking(
  src: Uint8Array,
  elemBits: BitWidthElem,
  numValues: number,
  out: UnsignedOutput,
  outIndex: number,
  first = 0,
): number {
  checkElemBits(elemBits);
  checkCount('numValues', numValues, Number.MAX_SAFE_INTEGER);
  checkOutput(elemBits, out, outIndex, numValues);
  const wordBytes = elemBits >> 3;
  let byteOffset = 0;
  let done = 0;
  for (let blockIndex = 0; done < numValues; blockIndex++) {
    if (byteOffset + wordBytes > src.length) {
      throw new CorruptFileError(
        `InlineBitpacking buffer truncated: block ${blockIndex} (values ${done}..${Math.min(numValues, done + FASTLANES_BLOCK_VALUES)} of ${numValues}) ` +
          `needs a ${wordBytes}-byte bit-width word at byte offset ${byteOffset}, but the buffer has ${src.length} bytes`,
        { elemBits, blockIndex, byteOffset, expectedBytes: byteOffset + wordBytes, actualBytes: src.length },
      );
    }
    const bitWidth = readWidthWord(src, byteOffset, elemBits);
    if (bitWidth > elemBits) {
      throw new CorruptFileError(
        `InlineBitpacking block ${blockIndex} at byte offset ${byteOffset} has bit width ${bitWidth}, more than the ${elemBits}-bit values it packs`,
        { elemBits, blockIndex, byteOffset, bitWidth },
      );
    }
    const dataOffset = byteOffset + wordBytes;
    const byteLength = blockByteLength(bitWidth);
    if (dataOffset + byteLength > src.length) {
      throw new CorruptFileError(
        `InlineBitpacking buffer truncated: block ${blockIndex} at ${bitWidth} bits needs ${byteLength} bytes at byte offset ${dataOffset}, ` +
          `but the buffer has ${src.length - dataOffset}`,
        {
          elemBits,
          blockIndex,
          bitWidth,
          byteOffset: dataOffset,
          expectedBytes: byteLength,
          actualBytes: src.length - dataOffset,
        },
      );
    }
    const count = Math.min(FASTLANES_BLOCK_VALUES, numValues - done);
    if (first < done + count)
      unpackChecked(src, dataOffset, elemBits, bitWidth, count, out, outIndex + done, Math.max(0, first - done));
    done += count;
    byteOffset = dataOffset + byteLength;
  }
  return byteOffset;
}

/**
 * Decodes an OutOfLineBitpacking buffer (block compressor used for rep/def levels): whole
 * 1024-value blocks at bitWidth; the tail is either padded+packed as a full block, or stored raw as
 * T words. Raw iff buffer length == fullBlocks*bytesPerBlock + tail*sizeof(T).
 */
export function decodeOutOfLineBitpacking(
  src: Uint8Array,
  elemBits: BitWidthElem,
  bitWidth: number,
  numValues: number,
  out: UnsignedOutput,
  outIndex: number,
): void {
  checkElemBits(elemBits);
  checkBitWidth(elemBits, bitWidth, {});
  checkCount('numValues', numValues, Number.MAX_SAFE_INTEGER);
  checkOutput(elemBits, out, outIndex, numValues);
  const wordBytes = elemBits >> 3;
  const bytesPerBlock = blockByteLength(bitWidth);
  const fullBlocks = Math.floor(numValues / FASTLANES_BLOCK_VALUES);
  const tail = numValues - fullBlocks * FASTLANES_BLOCK_VALUES;
  const fullBytes = fullBlocks * bytesPerBlock;
  const rawTailLength = fullBytes + tail * wordBytes;
  const tailIsRaw = tail > 0 && src.length === rawTailLength;
  const packedLength = fullBytes + (tail > 0 ? bytesPerBlock : 0);
  if (!tailIsRaw && src.length < packedLength) {
    const rawNote = tail > 0 ? ` (or exactly ${rawTailLength} with the ${tail}-value tail stored raw)` : '';
    throw new CorruptFileError(
      `OutOfLineBitpacking buffer truncated: ${numValues} ${elemBits}-bit values at ${bitWidth} bits need ${packedLength} bytes${rawNote}, ` +
        `but the buffer has ${src.length}`,
      {
        elemBits,
        bitWidth,
        numValues,
        expectedBytes: packedLength,
        rawTailBytes: tail > 0 ? rawTailLength : undefined,
        actualBytes: src.length,
      },
    );
  }
  for (let block = 0; block < fullBlocks; block++) {
    const valueIndex = block * FASTLANES_BLOCK_VALUES;
    unpackChecked(src, block * bytesPerBlock, elemBits, bitWidth, FASTLANES_BLOCK_VALUES, out, outIndex + valueIndex);
  }
  if (tail === 0) return;
  const tailIndex = outIndex + fullBlocks * FASTLANES_BLOCK_VALUES;
  if (tailIsRaw) {
    copyRawWords(src, fullBytes, elemBits, tail, out, tailIndex);
  } else {
    unpackChecked(src, fullBytes, elemBits, bitWidth, tail, out, tailIndex);
  }
}

// ── boundary checks (once per call, never per value) ─────────────────────────────────────────────

function checkElemBits(elemBits: number): void {
  if (elemBits !== 8 && elemBits !== 16 && elemBits !== 32 && elemBits !== 64) {
    throw new InvalidArgumentError(`elemBits must be 8, 16, 32 or 64, got ${elemBits}`, { elemBits });
  }
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new UnsupportedError('FastLanes bit-unpacking needs a little-endian host', { encoding: 'bitpacking' });
  }
}

/** A width from the file (proto field or width word): corrupt if it does not fit T. */
function checkBitWidth(elemBits: BitWidthElem, bitWidth: number, details: Record<string, unknown>): void {
  if (!Number.isInteger(bitWidth) || bitWidth < 0 || bitWidth > elemBits) {
    throw new CorruptFileError(`bit width ${bitWidth} is not an integer in 0..${elemBits} for ${elemBits}-bit values`, {
      ...details,
      elemBits,
      bitWidth,
    });
  }
}

function checkCount(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in 0..${max}, got ${value}`, { [name]: value });
  }
}

/** The output must be the array type for elemBits and hold values [outIndex, outIndex + count). */
function checkOutput(elemBits: BitWidthElem, out: UnsignedOutput, outIndex: number, count: number): void {
  const expected = elemBits === 8 ? Uint8Array : elemBits === 16 ? Uint16Array : Uint32Array;
  if (!(out instanceof expected)) {
    throw new InvalidArgumentError(
      `out must be a ${expected.name} for ${elemBits}-bit values, got ${out.constructor.name}`,
      {
        elemBits,
        out: out.constructor.name,
      },
    );
  }
  if (!Number.isInteger(outIndex) || outIndex < 0) {
    throw new InvalidArgumentError(`outIndex must be a non-negative integer, got ${outIndex}`, { outIndex });
  }
  const wordsPerValue = elemBits === 64 ? 2 : 1;
  const needed = (outIndex + count) * wordsPerValue;
  if (needed > out.length) {
    throw new InvalidArgumentError(
      `out has room for ${Math.floor(out.length / wordsPerValue)} values, but values ${outIndex}..${outIndex + count} were requested`,
      { elemBits, outIndex, count, outLength: out.length },
    );
  }
}

/** The little-endian T word holding a block's bit width; a u64 word with high bits set reads as > 64. */
export function readWidthWord(src: Uint8Array, byteOffset: number, elemBits: BitWidthElem): number {
  const b0 = src[byteOffset] ?? 0;
  if (elemBits === 8) return b0;
  let value = b0 | ((src[byteOffset + 1] ?? 0) << 8);
  if (elemBits === 16) return value;
  value = (value | ((src[byteOffset + 2] ?? 0) << 16) | ((src[byteOffset + 3] ?? 0) << 24)) >>> 0;
  if (elemBits === 32) return value;
  for (let i = 4; i < 8; i++) {
    if ((src[byteOffset + i] ?? 0) !== 0) return Number.MAX_SAFE_INTEGER;
  }
  return value;
}

// ── kernels (all lengths already checked) ───────────────────────────────────────────────────────

/**
 * Dispatches one block whose 128·bitWidth bytes at src[byteOffset] are known to be present; values
 * before `first` may be left unwritten (8-, 16- and 32-bit values skip them).
 */
function unpackChecked(
  src: Uint8Array,
  byteOffset: number,
  elemBits: BitWidthElem,
  bitWidth: number,
  count: number,
  out: UnsignedOutput,
  outIndex: number,
  first = 0,
): void {
  if (count === 0) return;
  if (bitWidth === 0) {
    const wordsPerValue = elemBits === 64 ? 2 : 1;
    out.fill(0, outIndex * wordsPerValue, (outIndex + count) * wordsPerValue);
    return;
  }
  const byteLength = blockByteLength(bitWidth);
  switch (elemBits) {
    case 8:
      unpackNarrow(src, byteOffset, 8, ROW_BASE_8, bitWidth, count, out, outIndex, first);
      return;
    case 16:
      unpackNarrow(u16Words(src, byteOffset, byteLength), 0, 16, ROW_BASE_16, bitWidth, count, out, outIndex, first);
      return;
    case 32:
      unpackNarrow(u32Words(src, byteOffset, byteLength), 0, 32, ROW_BASE_32, bitWidth, count, out, outIndex, first);
      return;
    case 64:
      unpackWide(u32Words(src, byteOffset, byteLength), bitWidth, count, out, outIndex);
      return;
  }
}

/** A u16 view of src[byteOffset, +byteLength): zero-copy when aligned, else one copy into scratch. */
function u16Words(src: Uint8Array, byteOffset: number, byteLength: number): Uint16Array {
  const start = src.byteOffset + byteOffset;
  if ((start & 1) === 0) return new Uint16Array(src.buffer, start, byteLength >> 1);
  SCRATCH_U8.set(src.subarray(byteOffset, byteOffset + byteLength));
  return SCRATCH_U16;
}

/** A u32 view of src[byteOffset, +byteLength): zero-copy when aligned, else one copy into scratch. */
function u32Words(src: Uint8Array, byteOffset: number, byteLength: number): Uint32Array {
  const start = src.byteOffset + byteOffset;
  if ((start & 3) === 0) return new Uint32Array(src.buffer, start, byteLength >> 2);
  SCRATCH_U8.set(src.subarray(byteOffset, byteOffset + byteLength));
  return SCRATCH_U32;
}

/**
 * B = 8/16/32: for each row r, the row's w bits sit at the same (word k, shift) in every lane, so
 * one pass over LANES consecutive words yields LANES consecutive values starting at index(r, 0).
 * Only values [first, count) are written: rows whose values all lie outside are skipped, so a partial
 * block reads less.
 */
function unpackNarrow(
  words: Uint8Array | Uint16Array | Uint32Array,
  wordIndex: number,
  elemBits: 8 | 16 | 32,
  rowBase: Uint16Array,
  bitWidth: number,
  count: number,
  out: UnsignedOutput,
  outIndex: number,
  first: number,
): void {
  const lanes = FASTLANES_BLOCK_VALUES / elemBits;
  const mask = (2 ** bitWidth - 1) | 0; // all ones for w = 32
  for (let row = 0; row < elemBits; row++) {
    const base = rowBase[row] ?? 0;
    let n = count - base;
    const from = first > base ? first - base : 0;
    if (n > lanes) n = lanes;
    if (n <= from) continue;
    const bit = row * bitWidth;
    const shift = bit & (elemBits - 1);
    const lo = wordIndex + ((bit - shift) / elemBits) * lanes;
    const o = outIndex + base;
    if (shift + bitWidth <= elemBits) {
      for (let l = from; l < n; l++) out[o + l] = ((words[lo + l] ?? 0) >>> shift) & mask;
    } else {
      // Straddles into word k+1 (shift > 0 here, so elemBits - shift < elemBits).
      const hi = lo + lanes;
      const up = elemBits - shift;
      for (let l = from; l < n; l++)
        out[o + l] = (((words[lo + l] ?? 0) >>> shift) | ((words[hi + l] ?? 0) << up)) & mask;
    }
  }
}

/**
 * B = 64 on u32 halves. Lane l's u64 word k is halves (2·(16k + l), +1); as a bit string the lane is
 * the sequence of halves j = 0, 1, …, 2w−1 with half j at 32·(j >> 1) + (j & 1) + 2l. A row at bit
 * p = r·w starts in half j = p >> 5 at shift s = p & 31 and spans up to three halves: lo takes
 * min(w, 32) bits from halves j, j+1 and hi takes w − 32 bits from halves j+1, j+2. A half is read
 * only if the row has bits in it, so reads stay inside the block.
 */
function unpackWide(words: Uint32Array, bitWidth: number, count: number, out: UnsignedOutput, outIndex: number): void {
  const lanes = 16;
  const loBits = bitWidth < 32 ? bitWidth : 32;
  const hiBits = bitWidth - loBits;
  const loMask = (2 ** loBits - 1) | 0;
  const hiMask = (2 ** hiBits - 1) | 0;
  for (let row = 0; row < 64; row++) {
    const base = ROW_BASE_64[row] ?? 0;
    let n = count - base;
    if (n <= 0) continue;
    if (n > lanes) n = lanes;
    const bit = row * bitWidth;
    const half = bit >>> 5;
    const s = bit & 31;
    const up = 32 - s;
    const a0 = 32 * (half >>> 1) + (half & 1);
    const a1 = 32 * ((half + 1) >>> 1) + ((half + 1) & 1);
    const a2 = a0 + 32;
    const o = 2 * (outIndex + base);
    if (hiBits === 0) {
      if (s + loBits <= 32) {
        for (let l = 0; l < n; l++) {
          out[o + 2 * l] = ((words[a0 + 2 * l] ?? 0) >>> s) & loMask;
          out[o + 2 * l + 1] = 0;
        }
      } else {
        for (let l = 0; l < n; l++) {
          out[o + 2 * l] = (((words[a0 + 2 * l] ?? 0) >>> s) | ((words[a1 + 2 * l] ?? 0) << up)) & loMask;
          out[o + 2 * l + 1] = 0;
        }
      }
    } else if (s === 0) {
      // lo is all of half j; hi is the low hiBits of half j+1.
      for (let l = 0; l < n; l++) {
        out[o + 2 * l] = words[a0 + 2 * l] ?? 0;
        out[o + 2 * l + 1] = (words[a1 + 2 * l] ?? 0) & hiMask;
      }
    } else if (s + hiBits <= 32) {
      for (let l = 0; l < n; l++) {
        const x1 = words[a1 + 2 * l] ?? 0;
        out[o + 2 * l] = ((words[a0 + 2 * l] ?? 0) >>> s) | (x1 << up);
        out[o + 2 * l + 1] = (x1 >>> s) & hiMask;
      }
    } else {
      for (let l = 0; l < n; l++) {
        const x1 = words[a1 + 2 * l] ?? 0;
        out[o + 2 * l] = ((words[a0 + 2 * l] ?? 0) >>> s) | (x1 << up);
        out[o + 2 * l + 1] = ((x1 >>> s) | ((words[a2 + 2 * l] ?? 0) << up)) & hiMask;
      }
    }
  }
}

/** Copies `count` raw little-endian T words (an OutOfLine raw tail) from src[byteOffset]. */
function copyRawWords(
  src: Uint8Array,
  byteOffset: number,
  elemBits: BitWidthElem,
  count: number,
  out: UnsignedOutput,
  outIndex: number,
): void {
  const byteLength = count * (elemBits >> 3);
  switch (elemBits) {
    case 8:
      out.set(src.subarray(byteOffset, byteOffset + byteLength), outIndex);
      return;
    case 16:
      out.set(u16Words(src, byteOffset, byteLength).subarray(0, count), outIndex);
      return;
    case 32:
      out.set(u32Words(src, byteOffset, byteLength).subarray(0, count), outIndex);
      return;
    case 64:
      out.set(u32Words(src, byteOffset, byteLength).subarray(0, 2 * count), 2 * outIndex);
      return;
  }
}

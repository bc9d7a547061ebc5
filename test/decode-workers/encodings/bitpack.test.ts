/**
 * Tests for the FastLanes kernels. A deliberately slow, bit-by-bit reference packer written from the
 * layout facts (not from the kernel) produces the inputs; vectors made by Lance's own packer
 * (lance-bitpacking `BitPacking::unchecked_pack`) pin the layout to the real format.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeInlineBitpacking,
  decodeOutOfLineBitpacking,
  unpackFastLanesBlock,
  type BitWidthElem,
  type UnsignedOutput,
} from '../../../decode-workers/encodings/bitpack.js';
import { CorruptFileError, InvalidArgumentError } from '../../../errors.js';

// ── reference packer (layout from rust/compression/bitpacking/src/lib.rs) ─────────────────────────

const FL_ORDER = [0, 4, 2, 6, 1, 5, 3, 7];

/** The value held by row `row` of lane `lane`. */
function valueIndexOf(row: number, lane: number): number {
  return FL_ORDER[Math.floor(row / 8)]! * 16 + (row % 8) * 128 + lane;
}

/**
 * Packs 1024 values at `bitWidth` bits: lane l's packed word k is word (1024/B)·k + l; row r of a
 * lane takes bits [r·w, (r+1)·w) of the lane's little-endian bit string. One bit at a time.
 */
function referencePack(values: readonly bigint[], elemBits: BitWidthElem, bitWidth: number): Uint8Array {
  expect(values.length).toBe(1024);
  const lanes = 1024 / elemBits;
  const wordBytes = elemBits / 8;
  const packed = new Uint8Array((1024 * bitWidth) / 8);
  for (let lane = 0; lane < lanes; lane++) {
    for (let row = 0; row < elemBits; row++) {
      const value = values[valueIndexOf(row, lane)]!;
      for (let b = 0; b < bitWidth; b++) {
        if (((value >> BigInt(b)) & 1n) === 0n) continue;
        const laneBit = row * bitWidth + b;
        const word = lanes * Math.floor(laneBit / elemBits) + lane;
        const bitInWord = laneBit % elemBits;
        packed[word * wordBytes + (bitInWord >> 3)]! |= 1 << (bitInWord & 7);
      }
    }
  }
  return packed;
}

/** Little-endian T word. */
function wordBytes(value: bigint, elemBits: BitWidthElem): Uint8Array {
  const bytes = new Uint8Array(elemBits / 8);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The same xorshift64 (13, 7, 17) as the lance-bitpacking unit tests, seed 123456789. */
function xorShift(seed = 123456789n): () => bigint {
  let state = seed;
  return () => {
    state = BigInt.asUintN(64, state ^ (state << 13n));
    state ^= state >> 7n;
    state = BigInt.asUintN(64, state ^ (state << 17n));
    return state;
  };
}

function randomValues(count: number, bitWidth: number, seed?: bigint): bigint[] {
  const next = xorShift(seed);
  const mask = (1n << BigInt(bitWidth)) - 1n;
  return Array.from({ length: count }, () => next() & mask);
}

function padTo1024(values: readonly bigint[]): bigint[] {
  return [...values, ...new Array<bigint>(1024 - values.length).fill(0n)];
}

function newOutput(elemBits: BitWidthElem, numValues: number, fill = 0): UnsignedOutput {
  if (elemBits === 8) return new Uint8Array(numValues).fill(fill);
  if (elemBits === 16) return new Uint16Array(numValues).fill(fill);
  return new Uint32Array(elemBits === 64 ? 2 * numValues : numValues).fill(fill);
}

/** Output values [start, start + count) as bigints (64-bit: lo | hi << 32). */
function readValues(out: UnsignedOutput, elemBits: BitWidthElem, start: number, count: number): bigint[] {
  const word = (i: number): bigint => {
    const value = out[i];
    if (value === undefined) throw new Error(`output word ${i} is out of range`);
    return BigInt(value);
  };
  const values: bigint[] = [];
  for (let i = start; i < start + count; i++)
    values.push(elemBits === 64 ? word(2 * i) | (word(2 * i + 1) << 32n) : word(i));
  return values;
}

function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Places `bytes` at an odd address: a fresh buffer whose view starts at byte 1. */
function atOddOffset(bytes: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(bytes.length + 1);
  buffer.set(bytes, 1);
  return buffer.subarray(1);
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

const ELEM_BITS: BitWidthElem[] = [8, 16, 32, 64];

function widthsFor(elemBits: BitWidthElem): number[] {
  const some = [0, 1, 3, elemBits / 2 - 1, elemBits / 2, elemBits / 2 + 3, elemBits - 1, elemBits];
  if (elemBits === 64) some.push(31, 32, 33, 37, 60);
  if (elemBits === 32) some.push(10, 17, 29);
  return [...new Set(some)].sort((a, b) => a - b);
}

// ── ground truth from Lance's packer ───────────────────────────────────────────────────────────────
// Made by compiling the unmodified rust/compression/bitpacking/src/lib.rs (lance 1.0.0-beta.1 snapshot,
// commit d2039d75) against stand-ins for its three macro crates, running `BitPacking::unchecked_pack`
// on the inputs of its own unit tests (`pack_unpack_u16(3)`: xorshift values mod 8;
// `test_unchecked_pack`: u32 values i at 10 bits), and printing the packed words as little-endian bytes.

const LANCE_U16_W3_XORSHIFT =
  'c708a848520836a300d4ea8af7f53442aef0b6fa7ee08c3816ef3c9429590fcec1a54a7fc7ef597bcc5fcc442cd059ec' +
  'e5dc20e47994fd2fe52ded7c71a0efd612e5aeff62586bdcf75ef362be8089cff0f29a6dfcea26ff2e939c02860ed9ca' +
  '2f98c40360e01fbe07e05eae2eebabf7af8102b4f7da3f1f1b8600f17dc3402350605d8324d03d9a76ffdbd520cd650b' +
  'dd55a46404c3f7ba3107959a4825854ce872619ac1312694be3c9b563bf10ebf74884a76fb33f9944855959e73fdd68a' +
  '9fad82bb732613f80a525e5036b9bc9bc622e8e6edb00d93f7414f1de21d09d5b46f74e0886c8b8e190a9fabdd8b778f' +
  '7b0ba615202a2fc3997ac4048d7f48e9a54e300153b1d0653af606aa2eb64b7e59b539f8453115166d917feb63742ab6' +
  'ae264aa69660fa38b664256dc97ec96a3f88b77d5ea560fb1d0cff368121b69fffa81acb67d6eda36d475348d7d9faaa' +
  'de0a808e05b8d86f861dd044a0848a739851a32879426f86f6e667d8d55a5a886379f8657b666b9f87cc97588a5380b9';

describe('ground truth from the Lance packer', () => {
  it('unpacks the block Lance packs from its own u16 3-bit test values', () => {
    const packed = hexBytes(LANCE_U16_W3_XORSHIFT);
    const out = newOutput(16, 1024);
    unpackFastLanesBlock(packed, 0, 16, 3, 1024, out, 0);
    expect(readValues(out, 16, 0, 1024)).toEqual(randomValues(1024, 3));
  });

  it('the reference packer makes the same bytes as Lance for u16 values at 3 bits', () => {
    expect(referencePack(randomValues(1024, 3), 16, 3)).toEqual(hexBytes(LANCE_U16_W3_XORSHIFT));
  });

  it('the reference packer makes the same bytes as Lance for u32 values i at 10 bits', () => {
    const packed = referencePack(
      Array.from({ length: 1024 }, (_, i) => BigInt(i)),
      32,
      10,
    );
    expect(packed.length).toBe(1280);
    // Lane 0, word 0 holds rows 0, 1, 2 (values 0, 128, 256) and the low 2 bits of row 3 (384):
    // 0 | 128 << 10 | 256 << 20 | (384 & 3) << 30 = 0x10020000. Lane 1, word 0: 1 | 129 << 10 | 257 << 20 | (385 & 3) << 30.
    const words = new DataView(packed.buffer);
    expect(words.getUint32(0, true)).toBe(0x10020000);
    expect(words.getUint32(4, true)).toBe((1 | (129 << 10) | (257 << 20) | ((385 & 3) << 30)) >>> 0);
    expect(fnv1a(packed)).toBe(0xd77c3bf5); // FNV-1a of Lance's 1280 packed bytes
  });

  it('the reference packer makes the same bytes as Lance for u64 xorshift values at 37 bits', () => {
    const packed = referencePack(randomValues(1024, 37), 64, 37);
    expect(packed.length).toBe(4736);
    expect(fnv1a(packed)).toBe(0xb90ab926); // FNV-1a of Lance's 4736 packed bytes
  });
});

// ── one block ──────────────────────────────────────────────────────────────────────────────────────

describe.each(ELEM_BITS)('unpackFastLanesBlock with %i-bit values', (elemBits) => {
  it.each(widthsFor(elemBits))('round-trips 1024 random values packed at %i bits', (bitWidth) => {
    const values = randomValues(1024, bitWidth, BigInt(1000 + bitWidth));
    const packed = referencePack(values, elemBits, bitWidth);
    const out = newOutput(elemBits, 1024, 0xaa);
    unpackFastLanesBlock(packed, 0, elemBits, bitWidth, 1024, out, 0);
    expect(readValues(out, elemBits, 0, 1024)).toEqual(values);
  });

  it.each([1, 100, 700, 1023])(
    'writes only values [0, %i) of a partial block at the requested output index',
    (count) => {
      const bitWidth = elemBits - 1;
      const values = randomValues(1024, bitWidth, 77n);
      const packed = referencePack(values, elemBits, bitWidth);
      const outIndex = 5;
      const out = newOutput(elemBits, outIndex + count + 3, 0x5c);
      const sentinel = readValues(out, elemBits, 0, 1)[0];
      unpackFastLanesBlock(packed, 0, elemBits, bitWidth, count, out, outIndex);
      expect(readValues(out, elemBits, outIndex, count)).toEqual(values.slice(0, count));
      expect(readValues(out, elemBits, 0, outIndex)).toEqual(new Array(outIndex).fill(sentinel));
      expect(readValues(out, elemBits, outIndex + count, 3)).toEqual(new Array(3).fill(sentinel));
    },
  );

  it('reads a block at an unaligned byte offset', () => {
    const bitWidth = Math.max(1, elemBits - 3);
    const values = randomValues(1024, bitWidth, 5n);
    const src = atOddOffset(concat(new Uint8Array(2), referencePack(values, elemBits, bitWidth)));
    const out = newOutput(elemBits, 1024);
    unpackFastLanesBlock(src, 2, elemBits, bitWidth, 1024, out, 0);
    expect(readValues(out, elemBits, 0, 1024)).toEqual(values);
  });

  it('writes zeros for a zero-width block without reading any byte', () => {
    const out = newOutput(elemBits, 1024, 0xff);
    unpackFastLanesBlock(new Uint8Array(0), 0, elemBits, 0, 1024, out, 0);
    expect(readValues(out, elemBits, 0, 1024)).toEqual(new Array(1024).fill(0n));
  });

  it('throws CorruptFileError when the buffer is shorter than the block', () => {
    const bitWidth = 3;
    const packed = referencePack(randomValues(1024, bitWidth), elemBits, bitWidth).subarray(0, 128 * bitWidth - 1);
    const error = catchError(() =>
      unpackFastLanesBlock(packed, 0, elemBits, bitWidth, 1024, newOutput(elemBits, 1024), 0),
    );
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { expectedBytes: 384, actualBytes: 383 } });
    expect((error as Error).message).toBe(
      `FastLanes block truncated: ${elemBits}-bit values at 3 bits need 384 bytes at byte offset 0, but the buffer has 383`,
    );
  });

  it('throws CorruptFileError for a bit width wider than the values', () => {
    const error = catchError(() =>
      unpackFastLanesBlock(new Uint8Array(9000), 0, elemBits, elemBits + 1, 1024, newOutput(elemBits, 1024), 0),
    );
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { bitWidth: elemBits + 1 } });
    expect((error as Error).message).toBe(
      `bit width ${elemBits + 1} is not an integer in 0..${elemBits} for ${elemBits}-bit values`,
    );
  });
});

describe('unpackFastLanesBlock arguments', () => {
  it('refuses an output array of the wrong type for the element width', () => {
    const error = catchError(() => unpackFastLanesBlock(new Uint8Array(128), 0, 16, 1, 1024, new Uint32Array(1024), 0));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe('out must be a Uint16Array for 16-bit values, got Uint32Array');
  });

  it('refuses an output too small for the requested values', () => {
    const error = catchError(() =>
      unpackFastLanesBlock(new Uint8Array(1024), 0, 64, 8, 1024, new Uint32Array(2047), 0),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toBe('out has room for 1023 values, but values 0..1024 were requested');
  });

  it('refuses a count beyond one block', () => {
    const error = catchError(() => unpackFastLanesBlock(new Uint8Array(1024), 0, 8, 1, 1025, new Uint8Array(2048), 0));
    expect((error as Error).message).toBe('count must be an integer in 0..1024, got 1025');
  });
});

// ── InlineBitpacking ──────────────────────────────────────────────────────────────────────────────

/** Builds an InlineBitpacking buffer: per 1024 values, a T width word then the block (last one padded). */
function inlineBuffer(values: readonly bigint[], elemBits: BitWidthElem, widths: readonly number[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let block = 0; block * 1024 < values.length; block++) {
    const bitWidth = widths[block]!;
    parts.push(
      wordBytes(BigInt(bitWidth), elemBits),
      referencePack(padTo1024(values.slice(block * 1024, block * 1024 + 1024)), elemBits, bitWidth),
    );
  }
  return concat(...parts);
}

describe.each(ELEM_BITS)('decodeInlineBitpacking with %i-bit values', (elemBits) => {
  const widths = [elemBits, 0, 1, 3, elemBits - 1];
  const numValues = 4 * 1024 + 300;
  const values = widths.flatMap((bitWidth, block) =>
    randomValues(block === 4 ? 300 : 1024, bitWidth, BigInt(block + 1)),
  );

  it('decodes several blocks of different widths and a partial last block', () => {
    const src = inlineBuffer(values, elemBits, widths);
    const out = newOutput(elemBits, numValues);
    decodeInlineBitpacking(src, elemBits, numValues, out, 0);
    expect(readValues(out, elemBits, 0, numValues)).toEqual(values);
  });

  it('decodes values from `first` on, skipping the rows and blocks before it', () => {
    const src = inlineBuffer(values, elemBits, widths);
    for (const first of [0, 1, 31, 129, 1023, 1024, 2100, numValues - 1]) {
      const out = newOutput(elemBits, numValues);
      decodeInlineBitpacking(src, elemBits, numValues, out, 0, first);
      expect(readValues(out, elemBits, first, numValues - first), `first ${first}`).toEqual(values.slice(first));
    }
  });

  it('returns the bytes consumed, width words and padded last block included', () => {
    const src = concat(inlineBuffer(values, elemBits, widths), new Uint8Array(8).fill(0xfe));
    const consumed = decodeInlineBitpacking(src, elemBits, numValues, newOutput(elemBits, numValues), 0);
    expect(consumed).toBe(5 * (elemBits / 8) + widths.reduce((n, w) => n + 128 * w, 0));
  });

  it('decodes a buffer that starts at an unaligned address into an offset output', () => {
    const src = atOddOffset(inlineBuffer(values, elemBits, widths));
    const out = newOutput(elemBits, numValues + 7);
    decodeInlineBitpacking(src, elemBits, numValues, out, 7);
    expect(readValues(out, elemBits, 7, numValues)).toEqual(values);
  });

  it('throws CorruptFileError when the last block is cut short', () => {
    const src = inlineBuffer(values, elemBits, widths);
    const cut = src.subarray(0, src.length - 1);
    const error = catchError(() => decodeInlineBitpacking(cut, elemBits, numValues, newOutput(elemBits, numValues), 0));
    expect(error).toBeInstanceOf(CorruptFileError);
    const dataOffset = src.length - 128 * (elemBits - 1);
    expect((error as Error).message).toBe(
      `InlineBitpacking buffer truncated: block 4 at ${elemBits - 1} bits needs ${128 * (elemBits - 1)} bytes at byte offset ${dataOffset}, ` +
        `but the buffer has ${128 * (elemBits - 1) - 1}`,
    );
  });

  it('throws CorruptFileError when a block has no room for its width word', () => {
    const src = inlineBuffer(values.slice(0, 1024), elemBits, widths);
    const error = catchError(() => decodeInlineBitpacking(src, elemBits, 1025, newOutput(elemBits, 1025), 0));
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { blockIndex: 1, byteOffset: src.length } });
    expect((error as Error).message).toBe(
      `InlineBitpacking buffer truncated: block 1 (values 1024..1025 of 1025) needs a ${elemBits / 8}-byte bit-width word ` +
        `at byte offset ${src.length}, but the buffer has ${src.length} bytes`,
    );
  });

  it('throws CorruptFileError for a width word larger than the value width', () => {
    const src = concat(wordBytes(BigInt(elemBits + 1), elemBits), new Uint8Array(128 * (elemBits + 1)));
    const error = catchError(() => decodeInlineBitpacking(src, elemBits, 10, newOutput(elemBits, 10), 0));
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { bitWidth: elemBits + 1 } });
    expect((error as Error).message).toBe(
      `InlineBitpacking block 0 at byte offset 0 has bit width ${elemBits + 1}, more than the ${elemBits}-bit values it packs`,
    );
  });
});

describe('decodeInlineBitpacking edge cases', () => {
  it('reads a hand-built u8 block at 1 bit, where value r·128 + l is bit r of byte l', () => {
    // u8, w = 1: LANES = 128 and row r of lane l is value r·128 + l, at bit r of byte l.
    const src = new Uint8Array(1 + 128);
    src[0] = 1; // bit-width word
    src[1 + 5] = 0b0000_0101; // lane 5: rows 0 and 2 → values 5 and 261 are 1
    const out = new Uint8Array(1024);
    expect(decodeInlineBitpacking(src, 8, 1024, out, 0)).toBe(129);
    const ones = [...out.keys()].filter((i) => out[i] === 1);
    expect(ones).toEqual([5, 261]);
  });

  it('treats a u64 width word with high bits set as corrupt', () => {
    const src = concat(wordBytes((1n << 32n) | 3n, 64), new Uint8Array(384));
    const error = catchError(() => decodeInlineBitpacking(src, 64, 10, new Uint32Array(20), 0));
    expect(error).toMatchObject({ code: 'CORRUPT_FILE' });
  });

  it('consumes nothing for zero values', () => {
    expect(decodeInlineBitpacking(new Uint8Array(0), 32, 0, new Uint32Array(0), 0)).toBe(0);
  });
});

// ── OutOfLineBitpacking ───────────────────────────────────────────────────────────────────────────

/** The writer's choice (bitpacking.rs `bitpack_out_of_line`): pack the padded tail iff that costs fewer bits. */
function writerPacksTail(elemBits: BitWidthElem, bitWidth: number, tail: number): boolean {
  return bitWidth * (1024 - tail) < (elemBits - bitWidth) * tail;
}

/** Builds an OutOfLineBitpacking buffer the way the writer does. */
function outOfLineBuffer(values: readonly bigint[], elemBits: BitWidthElem, bitWidth: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const fullBlocks = Math.floor(values.length / 1024);
  for (let block = 0; block < fullBlocks; block++) {
    parts.push(referencePack(values.slice(block * 1024, block * 1024 + 1024), elemBits, bitWidth));
  }
  const tail = values.slice(fullBlocks * 1024);
  if (tail.length > 0) {
    if (writerPacksTail(elemBits, bitWidth, tail.length))
      parts.push(referencePack(padTo1024(tail), elemBits, bitWidth));
    else parts.push(...tail.map((value) => wordBytes(value, elemBits)));
  }
  return concat(...parts);
}

describe.each(ELEM_BITS)('decodeOutOfLineBitpacking with %i-bit values', (elemBits) => {
  const bitWidth = Math.max(1, elemBits / 2 - 1);

  it('decodes whole blocks with no tail', () => {
    const values = randomValues(2048, bitWidth, 11n);
    const src = outOfLineBuffer(values, elemBits, bitWidth);
    expect(src.length).toBe(2 * 128 * bitWidth);
    const out = newOutput(elemBits, 2048);
    decodeOutOfLineBitpacking(src, elemBits, bitWidth, 2048, out, 0);
    expect(readValues(out, elemBits, 0, 2048)).toEqual(values);
  });

  it('decodes a tail that was padded and packed as a full block', () => {
    const numValues = 1024 + 1000;
    expect(writerPacksTail(elemBits, bitWidth, 1000)).toBe(true);
    const values = randomValues(numValues, bitWidth, 12n);
    const src = outOfLineBuffer(values, elemBits, bitWidth);
    expect(src.length).toBe(2 * 128 * bitWidth);
    const out = newOutput(elemBits, numValues + 2);
    decodeOutOfLineBitpacking(src, elemBits, bitWidth, numValues, out, 2);
    expect(readValues(out, elemBits, 2, numValues)).toEqual(values);
  });

  it('decodes a tail that was stored raw as T words', () => {
    const numValues = 2048 + 3;
    expect(writerPacksTail(elemBits, bitWidth, 3)).toBe(false);
    const values = randomValues(numValues, bitWidth, 13n);
    const src = outOfLineBuffer(values, elemBits, bitWidth);
    expect(src.length).toBe(2 * 128 * bitWidth + 3 * (elemBits / 8));
    const out = newOutput(elemBits, numValues);
    decodeOutOfLineBitpacking(src, elemBits, bitWidth, numValues, out, 0);
    expect(readValues(out, elemBits, 0, numValues)).toEqual(values);
  });

  it('decodes a raw tail from an unaligned buffer', () => {
    const numValues = 1024 + 5;
    const values = randomValues(numValues, bitWidth, 14n);
    const src = atOddOffset(outOfLineBuffer(values, elemBits, bitWidth));
    const out = newOutput(elemBits, numValues);
    decodeOutOfLineBitpacking(src, elemBits, bitWidth, numValues, out, 0);
    expect(readValues(out, elemBits, 0, numValues)).toEqual(values);
  });

  it('reads the tail as raw when both layouts have the same length, as the writer chose', () => {
    // tail·sizeof(T) = 128·w makes the padded and raw buffers equally long; the writer's "<" picks raw.
    const tail = (128 * bitWidth) / (elemBits / 8);
    expect(writerPacksTail(elemBits, bitWidth, tail)).toBe(false);
    const values = randomValues(1024 + tail, bitWidth, 15n);
    const src = outOfLineBuffer(values, elemBits, bitWidth);
    expect(src.length).toBe(2 * 128 * bitWidth);
    const out = newOutput(elemBits, values.length);
    decodeOutOfLineBitpacking(src, elemBits, bitWidth, values.length, out, 0);
    expect(readValues(out, elemBits, 0, values.length)).toEqual(values);
  });

  it('throws CorruptFileError when the buffer fits neither tail layout', () => {
    const numValues = 1024 + 1000;
    const src = outOfLineBuffer(randomValues(numValues, bitWidth, 16n), elemBits, bitWidth).subarray(
      0,
      2 * 128 * bitWidth - 1,
    );
    const error = catchError(() =>
      decodeOutOfLineBitpacking(src, elemBits, bitWidth, numValues, newOutput(elemBits, numValues), 0),
    );
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error).toMatchObject({ details: { expectedBytes: 2 * 128 * bitWidth, actualBytes: src.length } });
    expect((error as Error).message).toBe(
      `OutOfLineBitpacking buffer truncated: ${numValues} ${elemBits}-bit values at ${bitWidth} bits need ${2 * 128 * bitWidth} bytes ` +
        `(or exactly ${128 * bitWidth + 1000 * (elemBits / 8)} with the 1000-value tail stored raw), but the buffer has ${src.length}`,
    );
  });
});

describe('decodeOutOfLineBitpacking edge cases', () => {
  it("decodes Lance's raw-tail unit test: u32 values i % 200 for i < 1025 at 8 bits are 256 + 1 words", () => {
    const values = Array.from({ length: 1025 }, (_, i) => BigInt(i % 200));
    const src = outOfLineBuffer(values, 32, 8);
    expect(src.length).toBe((256 + 1) * 4);
    const out = new Uint32Array(1025);
    decodeOutOfLineBitpacking(src, 32, 8, 1025, out, 0);
    expect(readValues(out, 32, 0, 1025)).toEqual(values);
  });

  it('throws CorruptFileError for whole blocks cut short', () => {
    const error = catchError(() =>
      decodeOutOfLineBitpacking(new Uint8Array(2 * 128 * 4 - 8), 16, 4, 2048, new Uint16Array(2048), 0),
    );
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { expectedBytes: 1024, actualBytes: 1016 } });
    expect((error as Error).message).toBe(
      'OutOfLineBitpacking buffer truncated: 2048 16-bit values at 4 bits need 1024 bytes, but the buffer has 1016',
    );
  });

  it('throws CorruptFileError for a bit width wider than the values', () => {
    const error = catchError(() => decodeOutOfLineBitpacking(new Uint8Array(0), 16, 17, 10, new Uint16Array(10), 0));
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', details: { bitWidth: 17, elemBits: 16 } });
  });
});

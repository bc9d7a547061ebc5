import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { decompress as fzstdDecompress } from 'fzstd';

import {
  decompressBuffer,
  decompressBufferInto,
  zstdDeclaredLength,
} from '../../../decode-workers/encodings/compression.js';
import { CorruptFileError, InvalidArgumentError } from '../../../errors.js';
import {
  concat,
  FOX,
  FOX_FRAME_CHECKSUM,
  FOX_FRAME_NO_SIZE,
  HELLO_WORLD_FRAMES,
  hex,
  PATTERN,
  PATTERN_FRAME,
  SIMPLE_CONTENT,
  SIMPLE_FRAME,
  u64,
} from '../../fixtures/zstd-frames.js';

/** lz4js ships no types; only its block compressor is used here, as an independent encoder. */
interface Lz4js {
  compressBound(n: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
}
const lz4js = createRequire(import.meta.url)('lz4js') as Lz4js;

const u32 = (n: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n, true);
  return bytes;
};

/**
 * A `General(zstd)` mini-block chunk buffer cut from a LanceDB 0.39 data file (storage version 2.1,
 * `lance-encoding:compression=zstd` on a utf8 column): u64 prefix 868, then the frame. It holds a
 * `Variable` chunk (33 u32 offsets, then "value-…" strings). The digest is of `zstd -d` output.
 */
const LANCE_CHUNK = hex(`
  640300000000000028b52ffd6064022d09008650322c705592c68007ae908a0d030821c53c02c016cfc7828c02b5cffc93ea4172ef2da5
  dcabf10efccdef18b2650a210022002c0007e0efe38fe32fe3cfe26fe24fe12fe1cfe0afe06fe00ff083fc1dbfc67ff15304af485e3978
  255f217825e04fc81f8f3f1b7f30fe54fc91f8d3fc41f8c3fe2c7f043e0c512e94abac65324cb854d3a48994c26daa694ac85442b87675
  2d938866b2340c0d0e91a632d23c2c4820020cc3605add968b212e8556134b94b8a8a9c6124ba42bb1d5d65219aab5d46a5a89507157b5
  95023e20f0a5034610c819d1b8209033e28c20306744e3828cb904724634deb23322819c118d0b32e612c819d1b820d35c0239231a1704
  e6388fb9047296685c90319740ce88c605197309ec9c2971d634989d69b94d2334494829`);
const LANCE_CHUNK_SHA256 = '639658db10fe18b9458d070819d5e4abd976b20177dee9c61fcec973da91107d';

function lz4Compress(data: Uint8Array): Uint8Array {
  const dst = new Uint8Array(lz4js.compressBound(data.length));
  const size = lz4js.compressBlock(data, dst, 0, data.length, new Uint32Array(1 << 16));
  expect(size).toBeGreaterThan(0);
  return concat(u32(data.length), dst.subarray(0, size));
}

describe('zstd frames of raw and RLE blocks', () => {
  it('decode by copying to what fzstd decodes', () => {
    expect(fzstdDecompress(SIMPLE_FRAME)).toEqual(SIMPLE_CONTENT);
    expect(decompressBuffer('zstd', concat(u64(400), SIMPLE_FRAME), 1 << 20)).toEqual(SIMPLE_CONTENT);
  });

  it('decode straight into a region of the output', () => {
    const out = new Uint8Array(410).fill(1);
    decompressBufferInto('zstd', concat(u64(400), SIMPLE_FRAME), out, 10, 400);
    expect(out.subarray(10)).toEqual(SIMPLE_CONTENT);
    expect(out.subarray(0, 10)).toEqual(new Uint8Array(10).fill(1));
  });
});

describe('zstdDeclaredLength', () => {
  it('reads the Lance length prefix', () => {
    expect(zstdDeclaredLength(concat(u64(4096), PATTERN_FRAME))).toBe(4096);
  });

  it('adds up the content sizes of raw frames', () => {
    expect(zstdDeclaredLength(concat(PATTERN_FRAME, SIMPLE_FRAME))).toBe(4096 + 400);
  });

  it('is undefined when a frame has no content size', () => {
    expect(zstdDeclaredLength(FOX_FRAME_NO_SIZE)).toBeUndefined();
  });
});

describe('decompressBuffer zstd', () => {
  it('decodes the Lance framing: u64 length prefix and one frame', () => {
    const src = concat(u64(4096), PATTERN_FRAME);
    const out = decompressBuffer('zstd', src, 1 << 20);
    expect(out).toEqual(PATTERN);
    expect(out.buffer).not.toBe(src.buffer);
  });

  it('decodes a chunk written by LanceDB', () => {
    const out = decompressBuffer('zstd', LANCE_CHUNK, 1 << 20);
    expect(out.length).toBe(868);
    expect(createHash('sha256').update(out).digest('hex')).toBe(LANCE_CHUNK_SHA256);
    expect(new DataView(out.buffer, out.byteOffset).getUint32(0, true)).toBe(132); // first offset = 33 × 4
  });

  it('decodes an older raw frame without the prefix', () => {
    expect(decompressBuffer('zstd', PATTERN_FRAME, 1 << 20)).toEqual(PATTERN);
  });

  it('decodes a raw frame without a content size', () => {
    expect(decompressBuffer('zstd', FOX_FRAME_NO_SIZE, 1 << 20)).toEqual(FOX);
  });

  it('decodes a prefixed frame without a content size', () => {
    expect(decompressBuffer('zstd', concat(u64(360), FOX_FRAME_NO_SIZE), 1 << 20)).toEqual(FOX);
  });

  it('skips the content checksum of a frame that has one', () => {
    expect(decompressBuffer('zstd', concat(u64(360), FOX_FRAME_CHECKSUM), 1 << 20)).toEqual(FOX);
  });

  it('decodes concatenated raw frames', () => {
    expect(new TextDecoder().decode(decompressBuffer('zstd', HELLO_WORLD_FRAMES, 100))).toBe('hello world');
  });

  it('decodes an empty buffer to zero bytes', () => {
    expect(decompressBuffer('zstd', new Uint8Array(0), 0)).toEqual(new Uint8Array(0));
  });

  it('refuses a declared length over the limit before decoding', () => {
    const run = () => decompressBuffer('zstd', concat(u64(4096), PATTERN_FRAME), 4000);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd buffer declares 4096 uncompressed bytes, more than the limit of 4000');
  });

  it('refuses a huge declared length without allocating it', () => {
    const run = () => decompressBuffer('zstd', concat(u64(2 ** 52), PATTERN_FRAME), 1 << 30);
    expect(run).toThrow(`zstd buffer declares ${2 ** 52} uncompressed bytes, more than the limit of ${1 << 30}`);
  });

  it('refuses raw frames without a content size that decode to more than the limit', () => {
    const run = () => decompressBuffer('zstd', FOX_FRAME_NO_SIZE, 359);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd frames decode to at least 360 bytes, more than the limit of 359');
  });

  it('refuses a raw frame whose content size is over the limit', () => {
    const run = () => decompressBuffer('zstd', PATTERN_FRAME, 100);
    expect(run).toThrow('zstd buffer declares 4096 uncompressed bytes, more than the limit of 100');
  });

  it('rejects a prefix that disagrees with the frame content size', () => {
    const run = () => decompressBuffer('zstd', concat(u64(4095), PATTERN_FRAME), 1 << 20);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd frames declare 4096 content bytes, expected 4095 (from the length prefix)');
  });

  it('rejects a prefix that the blocks of a frame without content size cannot produce', () => {
    const run = () => decompressBuffer('zstd', concat(u64(20), HELLO_WORLD_FRAMES.subarray(0, 15)), 1 << 20);
    expect(run).toThrow('zstd frames decode to between 6 and 6 bytes, expected 20 (from the length prefix)');
  });

  it('rejects a truncated frame, naming its byte after the prefix', () => {
    const run = () => decompressBuffer('zstd', concat(u64(4096), PATTERN_FRAME.subarray(0, 50)), 1 << 20);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow(
      'zstd frame at byte 8 is truncated: its compressed block needs 46 bytes at byte 18, only 40 remain',
    );
  });

  it('turns a codec failure into CorruptFileError with the cause', () => {
    const src = concat(u64(4096), PATTERN_FRAME);
    src[8 + 10] = (src[8 + 10] ?? 0) ^ 0x5a;
    let caught: unknown;
    try {
      decompressBuffer('zstd', src, 1 << 20);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorruptFileError);
    expect((caught as CorruptFileError).code).toBe('CORRUPT_FILE');
    expect((caught as CorruptFileError).message).toBe(
      'zstd frame at byte 8 (56 bytes) could not be decoded: FSE accuracy too high',
    );
    expect((caught as CorruptFileError).cause).toBeInstanceOf(Error);
  });
});

describe('decompressBufferInto', () => {
  it('decodes zstd straight into a region of the output', () => {
    const out = new Uint8Array(4100).fill(0xee);
    decompressBufferInto('zstd', concat(u64(4096), PATTERN_FRAME), out, 2, 4096);
    expect(out.subarray(2, 4098)).toEqual(PATTERN);
    expect(Array.from(out.subarray(0, 2))).toEqual([0xee, 0xee]);
    expect(Array.from(out.subarray(4098))).toEqual([0xee, 0xee]);
  });

  it('decodes lz4 straight into a region of the output', () => {
    const out = new Uint8Array(FOX.length + 8);
    decompressBufferInto('lz4', lz4Compress(FOX), out, 8, FOX.length);
    expect(out.subarray(8)).toEqual(FOX);
  });

  it('rejects a declared length other than the expected one', () => {
    const run = () => decompressBufferInto('zstd', concat(u64(4096), PATTERN_FRAME), new Uint8Array(5000), 0, 4000);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd buffer declares 4096 uncompressed bytes, expected 4000');
    const lz4 = () => decompressBufferInto('lz4', lz4Compress(FOX), new Uint8Array(5000), 0, 361);
    expect(lz4).toThrow('lz4 buffer declares 360 uncompressed bytes, expected 361');
  });

  it('checks a raw frame against the expected length', () => {
    const run = () => decompressBufferInto('zstd', PATTERN_FRAME, new Uint8Array(5000), 0, 5000);
    expect(run).toThrow('zstd frames declare 4096 content bytes, expected 5000 (from the caller)');
  });

  it('refuses an output region that is too small', () => {
    const run = () => decompressBufferInto('zstd', PATTERN_FRAME, new Uint8Array(4096), 1, 4096);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow('output too small: 4096 bytes at offset 1 do not fit in 4096 bytes');
  });
});

describe('decompressBuffer lz4', () => {
  it('decodes a hand-built block with an overlapping match', () => {
    // prefix 13 | token 0x35: 3 literals "abc", match length 5 + 4 = 9 at offset 3 | token 0x10: literal "d"
    const src = Uint8Array.of(13, 0, 0, 0, 0x35, 0x61, 0x62, 0x63, 3, 0, 0x10, 0x64);
    expect(new TextDecoder().decode(decompressBuffer('lz4', src, 100))).toBe('abcabcabcabcd');
  });

  it('round-trips blocks made by lz4js, including long literal and match lengths', () => {
    const mixed = new Uint8Array(100_000);
    let x = 1;
    for (let i = 0; i < mixed.length; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      mixed[i] = i % 5000 < 3000 ? x >>> 24 : 65 + (i % 7);
    }
    for (const data of [FOX, PATTERN, mixed]) {
      expect(decompressBuffer('lz4', lz4Compress(data), data.length)).toEqual(data);
    }
  });

  it('decodes the empty block lz4 writes for empty input', () => {
    expect(decompressBuffer('lz4', Uint8Array.of(0, 0, 0, 0, 0), 0)).toEqual(new Uint8Array(0));
  });

  it('rejects a buffer shorter than the size prefix', () => {
    const run = () => decompressBuffer('lz4', Uint8Array.of(1, 0, 0), 100);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('lz4 buffer is 3 bytes, expected at least the 4-byte size prefix');
  });

  it('rejects a size prefix that is negative as an i32', () => {
    const run = () => decompressBuffer('lz4', Uint8Array.of(0, 0, 0, 0x80, 0), 1 << 30);
    expect(run).toThrow('lz4 size prefix 2147483648 is negative as an i32, expected 0..2147483647');
  });

  it('refuses a declared size over the limit', () => {
    const run = () => decompressBuffer('lz4', lz4Compress(FOX), 359);
    expect(run).toThrow('lz4 buffer declares 360 uncompressed bytes, more than the limit of 359');
  });

  it('rejects a block that decodes to fewer bytes than declared', () => {
    const run = () =>
      decompressBuffer('lz4', Uint8Array.of(14, 0, 0, 0, 0x35, 0x61, 0x62, 0x63, 3, 0, 0x10, 0x64), 100);
    expect(run).toThrow('lz4 block decoded to 13 bytes, expected 14 (from the size prefix)');
  });

  it('rejects a block that decodes to more bytes than declared', () => {
    const run = () =>
      decompressBuffer('lz4', Uint8Array.of(12, 0, 0, 0, 0x35, 0x61, 0x62, 0x63, 3, 0, 0x10, 0x64), 100);
    expect(run).toThrow('lz4 block expands past the expected 12 bytes (sequence at byte 6, 12 bytes decoded so far)');
  });
});

import { describe, expect, it } from 'vitest';

import {
  decodeByteStreamSplit,
  type ByteStreamSplitWidth,
} from '../../../decode-workers/encodings/byte-stream-split.js';
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../../../errors.js';

/** Reference split of one chunk: byte j of value i goes to j * n + i. */
function split(bytes: Uint8Array, width: number): Uint8Array {
  const n = bytes.length / width;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[j * n + i] = bytes[i * width + j] ?? 0;
  return out;
}

function sampleBytes(count: number, width: number): Uint8Array {
  const bytes = new Uint8Array(count * width);
  let x = 0x12345678;
  for (let i = 0; i < bytes.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

describe('decodeByteStreamSplit', () => {
  it('rejoins the f32 example from byte_stream_split.rs', () => {
    // 1.0, 2.0, 3.0, 4.0 split into 4 byte streams of 4 bytes each
    const src = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0x40, 0x80, 0x3f, 0x40, 0x40, 0x40);
    const out = new Uint8Array(16);
    decodeByteStreamSplit(src, 4, 4, out, 0);
    expect(Array.from(new Float32Array(out.buffer))).toEqual([1, 2, 3, 4]);
  });

  for (const width of [4, 8] as const) {
    for (const [count, offset] of [
      [1024 / (width / 4), 0],
      [477, 0],
      [33, 4],
      [33, 3],
      [1, 1],
    ] as const) {
      it(`round-trips ${count} ${width * 8}-bit values at output offset ${offset}`, () => {
        const original = sampleBytes(count, width);
        const out = new Uint8Array(offset + original.length + 3).fill(0xcc);
        decodeByteStreamSplit(split(original, width), width, count, out, offset);
        expect(out.subarray(offset, offset + original.length)).toEqual(original);
        expect(Array.from(out.subarray(0, offset)).every((b) => b === 0xcc)).toBe(true);
        expect(Array.from(out.subarray(offset + original.length))).toEqual([0xcc, 0xcc, 0xcc]);
      });
    }
  }

  it('keeps NaN payloads bit for bit', () => {
    const original = Uint8Array.of(0x01, 0x00, 0xf8, 0x7f, 0x00, 0x00, 0xc0, 0xff, 0x55, 0x55, 0xa0, 0x7f);
    const out = new Uint8Array(12);
    decodeByteStreamSplit(split(original, 4), 4, 3, out, 0);
    expect(out).toEqual(original);
  });

  it('writes through an unaligned view', () => {
    const original = sampleBytes(10, 8);
    const out = new Uint8Array(81).subarray(1);
    decodeByteStreamSplit(split(original, 8), 8, 10, out, 0);
    expect(out).toEqual(original);
  });

  it('accepts an empty chunk', () => {
    expect(() => decodeByteStreamSplit(new Uint8Array(0), 8, 0, new Uint8Array(0), 0)).not.toThrow();
  });

  it('rejects a chunk whose length is not numValues × width', () => {
    const run = () => decodeByteStreamSplit(new Uint8Array(15), 4, 4, new Uint8Array(16), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('ByteStreamSplit chunk is 15 bytes, expected 16 (4 values of 4 bytes)');
  });

  it('refuses an output too small for the chunk', () => {
    const run = () => decodeByteStreamSplit(new Uint8Array(16), 8, 2, new Uint8Array(20), 8);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow('ByteStreamSplit output too small: 2 values need 16 bytes at offset 8, out has 20 bytes');
  });

  it('refuses 16-bit values, which Lance never splits', () => {
    const run = () => decodeByteStreamSplit(new Uint8Array(4), 2 as ByteStreamSplitWidth, 2, new Uint8Array(4), 0);
    expect(run).toThrow(UnsupportedError);
    expect(run).toThrow('ByteStreamSplit with 16-bit values is not supported (Lance writes 32 or 64 bits)');
  });
});

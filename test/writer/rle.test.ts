/**
 * Run-length chunks as the mini-block layout needs them, checked against the reader's Rle decoder.
 */
import { describe, expect, it } from 'vitest';
import { decodeRle } from '../../decode-workers/encodings/rle.js';
import { rleBytes, rleChunks } from '../../writer/rle.js';

function decodeAll(bytes: Uint8Array, count: number, byteWidth: 1 | 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(count * byteWidth);
  for (const chunk of rleChunks(bytes, count, byteWidth)) {
    const [values, lengths] = chunk.buffers;
    decodeRle(values, lengths, byteWidth, chunk.rowEnd - chunk.rowStart, out, chunk.rowStart * byteWidth);
  }
  return out;
}

const runsOf = (lengths: number[]): Int32Array =>
  Int32Array.from(lengths.flatMap((length, i) => Array<number>(length).fill(i * 1_000_003)));

describe('rleChunks', () => {
  it('splits runs longer than 255 and decodes back to the same values', () => {
    const values = runsOf([1000, 3, 255, 256, 1]);
    const bytes = new Uint8Array(values.buffer);
    expect(decodeAll(bytes, values.length, 4)).toEqual(bytes);
    const [first] = rleChunks(bytes, values.length, 4);
    expect(Array.from(first?.buffers[1] ?? []).slice(0, 4)).toEqual([255, 255, 255, 235]);
  });

  it('cuts chunks of at most 2048 values, a power of two of them in every chunk but the last', () => {
    const values = runsOf(Array.from({ length: 3000 }, (_, i) => 1 + (i % 5)));
    const chunks = rleChunks(new Uint8Array(values.buffer), values.length, 4);
    const sizes = chunks.map((c) => c.rowEnd - c.rowStart);
    for (const size of sizes.slice(0, -1)) expect(Math.log2(size) % 1).toBe(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2048);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(values.length);
    expect(decodeAll(new Uint8Array(values.buffer), values.length, 4)).toEqual(new Uint8Array(values.buffer));
  });

  it('keeps each chunk of 64-bit values without runs under 8186 bytes', () => {
    const values = BigInt64Array.from({ length: 5000 }, (_, i) => BigInt(i) * 0x1_0000_0001n);
    const bytes = new Uint8Array(values.buffer);
    for (const chunk of rleChunks(bytes, values.length, 8)) {
      expect(chunk.buffers[0].length + chunk.buffers[1].length).toBeLessThanOrEqual(8186);
    }
    expect(decodeAll(bytes, values.length, 8)).toEqual(bytes);
  });

  it('counts a run of 600 equal bytes as three stored runs', () => {
    expect(rleBytes(new Uint8Array(600), 600, 1)).toBe(3 * 2);
  });
});

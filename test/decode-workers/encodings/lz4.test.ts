import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { decodeLz4Block } from '../../../decode-workers/encodings/lz4.js';
import { CorruptFileError, InvalidArgumentError } from '../../../errors.js';

/** lz4js ships no types; only its block compressor is used here, as an independent encoder. */
interface Lz4js {
  compressBound(n: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
}
const lz4js = createRequire(import.meta.url)('lz4js') as Lz4js;

function compressBlock(data: Uint8Array): Uint8Array {
  const dst = new Uint8Array(lz4js.compressBound(data.length));
  const size = lz4js.compressBlock(data, dst, 0, data.length, new Uint32Array(1 << 16));
  expect(size).toBeGreaterThan(0);
  return dst.subarray(0, size);
}

// token 0x35: 3 literals "abc", match length 5 + 4 = 9 at offset 3 | token 0x10: 1 literal "d"
const ABC_BLOCK = Uint8Array.of(0x35, 0x61, 0x62, 0x63, 3, 0, 0x10, 0x64);

describe('decodeLz4Block', () => {
  it('repeats the last bytes for a match that overlaps its own output', () => {
    const out = new Uint8Array(13);
    expect(decodeLz4Block(ABC_BLOCK, out, 0)).toBe(13);
    expect(new TextDecoder().decode(out)).toBe('abcabcabcabcd');
  });

  it('reads extended literal and match lengths', () => {
    // token 0xff: 15 + 5 = 20 literals, then offset 20, match 15 + 255 + 10 + 4 = 284 | token 0x00: no literals
    const literals = Uint8Array.from({ length: 20 }, (_, i) => 65 + i);
    const block = Uint8Array.of(0xff, 5, ...literals, 20, 0, 255, 10, 0x00);
    const out = new Uint8Array(304);
    expect(decodeLz4Block(block, out, 0)).toBe(304);
    for (let i = 0; i < 304; i++) expect(out[i]).toBe(65 + (i % 20));
  });

  it('round-trips blocks made by lz4js', () => {
    const data = new Uint8Array(50_000);
    let x = 1;
    for (let i = 0; i < data.length; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      data[i] = i % 4000 < 2500 ? x >>> 24 : 65 + (i % 7);
    }
    const out = new Uint8Array(data.length);
    expect(decodeLz4Block(compressBlock(data), out, 0)).toBe(data.length);
    expect(out).toEqual(data);
  });

  it('writes from the output offset and leaves the rest of the output alone', () => {
    const out = new Uint8Array(20).fill(0xee);
    expect(decodeLz4Block(ABC_BLOCK, out, 5)).toBe(13);
    expect(new TextDecoder().decode(out.subarray(5, 18))).toBe('abcabcabcabcd');
    expect(Array.from(out.subarray(0, 5))).toEqual(Array(5).fill(0xee));
    expect(Array.from(out.subarray(18))).toEqual([0xee, 0xee]);
  });

  it('does not let a match reach back before the output offset', () => {
    const run = () => decodeLz4Block(Uint8Array.of(0x15, 0x61, 2, 0, 0x00), new Uint8Array(20), 5);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('lz4 match offset 2 at byte 2 is invalid, expected 1..1');
  });

  it('rejects a match offset of zero', () => {
    const run = () => decodeLz4Block(Uint8Array.of(0x35, 0x61, 0x62, 0x63, 0, 0, 0x10, 0x64), new Uint8Array(13), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('lz4 match offset 0 at byte 4 is invalid, expected 1..3');
  });

  it('rejects literals that run past the end of the block', () => {
    const run = () => decodeLz4Block(Uint8Array.of(0x50, 0x61, 0x62), new Uint8Array(5), 0);
    expect(run).toThrow('lz4 sequence at byte 0 has 5 literals, only 2 bytes remain');
  });

  it('rejects a length extension that runs past the end of the block', () => {
    const run = () => decodeLz4Block(Uint8Array.of(0xf0, 255, 255), new Uint8Array(1000), 0);
    expect(run).toThrow('lz4 literal length of the sequence at byte 0 runs past the end of the block');
  });

  it('rejects a truncated match offset', () => {
    const run = () => decodeLz4Block(Uint8Array.of(0x14, 0x61, 1), new Uint8Array(10), 0);
    expect(run).toThrow('lz4 match offset of the sequence at byte 0 is truncated');
  });

  it('rejects a block that ends right after a match', () => {
    const run = () => decodeLz4Block(ABC_BLOCK.subarray(0, 6), new Uint8Array(12), 0);
    expect(run).toThrow('lz4 block ends after a match at byte 6, expected a final literals-only sequence');
  });

  it('rejects an empty block', () => {
    const run = () => decodeLz4Block(new Uint8Array(0), new Uint8Array(0), 0);
    expect(run).toThrow('lz4 block is empty, expected at least one token byte');
  });

  it('rejects output past the end of out, for literals and for matches', () => {
    const literals = () => decodeLz4Block(ABC_BLOCK, new Uint8Array(2), 0);
    expect(literals).toThrow(
      'lz4 block expands past the expected 2 bytes (sequence at byte 0, 0 bytes decoded so far)',
    );
    const match = () => decodeLz4Block(ABC_BLOCK, new Uint8Array(10), 0);
    expect(match).toThrow('lz4 block expands past the expected 10 bytes (sequence at byte 0, 3 bytes decoded so far)');
  });

  it('refuses an output offset outside out', () => {
    const run = () => decodeLz4Block(ABC_BLOCK, new Uint8Array(4), 5);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow('lz4 outByteOffset must be an integer in [0, 4], got 5');
  });
});

/**
 * Sparse extraction must agree with the full FastLanes unpacker on the same bytes. Any bytes after a
 * width word are a valid packed block, so random bytes serve as input.
 */
import { describe, expect, it } from 'vitest';
import { decodeInlineBitpacking, type BitWidthElem } from '../../../decode-workers/encodings/bitpack.js';
import { extractInlineBitpacked } from '../../../decode-workers/encodings/bitpack-sparse.js';
import { CorruptFileError } from '../../../errors.js';

function randomInline(elemBits: BitWidthElem, widths: number[], seed: number): Uint8Array {
  const parts: number[] = [];
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  for (const w of widths) {
    for (let b = 0; b < elemBits / 8; b++) parts.push(b === 0 ? w : 0);
    for (let b = 0; b < 128 * w; b++) parts.push(next());
  }
  return Uint8Array.from(parts);
}

function output(elemBits: BitWidthElem, n: number): Uint8Array | Uint16Array | Uint32Array {
  return elemBits === 8
    ? new Uint8Array(n)
    : elemBits === 16
      ? new Uint16Array(n)
      : new Uint32Array(elemBits === 64 ? 2 * n : n);
}

describe('extractInlineBitpacked', () => {
  it.each([
    [8, [0, 3, 8]],
    [16, [1, 7, 16]],
    [32, [5, 17, 32]],
    [64, [1, 31, 33, 64]],
  ] as [BitWidthElem, number[]][])(
    'extracts the same %i-bit values as the full unpacker at widths %j',
    (elemBits, widths) => {
      const numValues = widths.length * 1024 - 100;
      const src = randomInline(elemBits, widths, elemBits * 7 + widths.length);
      const full = output(elemBits, numValues);
      decodeInlineBitpacking(src, elemBits, numValues, full, 0);
      const items = Uint32Array.from({ length: numValues }, (_, i) => i).filter(
        (i) => i % 13 === 0 || i % 1024 === 1023,
      );
      const sparse = output(elemBits, numValues);
      extractInlineBitpacked(src, elemBits, numValues, items, 0, items.length, 0, sparse, 'test');
      const per = elemBits === 64 ? 2 : 1;
      for (const item of items) {
        for (let k = 0; k < per; k++) expect(sparse[item * per + k], `value ${item}`).toBe(full[item * per + k]);
      }
    },
  );

  it('rejects a block that runs past the chunk with CorruptFileError', () => {
    const src = randomInline(32, [20], 1).subarray(0, 1000);
    const out = new Uint32Array(1024);
    expect(() => extractInlineBitpacked(src, 32, 1024, Uint32Array.of(5), 0, 1, 0, out, 'chunk')).toThrow(
      CorruptFileError,
    );
  });
});

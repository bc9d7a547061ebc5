/** concatBytes (format/bytes.ts): the pieces of a body or of decoded frames joined into one buffer. */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../format/bytes.js';

describe('concatBytes', () => {
  it('joins pieces in order into one buffer of their total length', () => {
    const joined = concatBytes([Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3), Uint8Array.of(4, 5, 6)]);
    expect(joined).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6));
  });

  it('joins views of one buffer by their own bytes, not the whole buffer', () => {
    const buffer = Uint8Array.of(9, 1, 2, 9, 3, 9);
    expect(concatBytes([buffer.subarray(1, 3), buffer.subarray(4, 5)])).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('returns a single piece itself, without a copy', () => {
    const only = Uint8Array.of(7, 8);
    expect(concatBytes([only])).toBe(only);
  });

  it('returns an empty buffer for no pieces', () => {
    expect(concatBytes([])).toEqual(new Uint8Array(0));
  });
});

/**
 * The writer's LZ4 block compressor against the reader's LZ4 decoder: every input comes back byte for
 * byte, and compressible input shrinks.
 */
import { describe, expect, it } from 'vitest';
import { decodeLz4Block } from '../../decode-workers/encodings/lz4.js';
import { compressLz4Block, lz4Bound } from '../../writer/lz4.js';
import { Rng } from '../fixtures/random.js';

function roundTrip(input: Uint8Array): number {
  const compressed = new Uint8Array(lz4Bound(input.length));
  const end = compressLz4Block(input, compressed, 0);
  const out = new Uint8Array(input.length);
  expect(decodeLz4Block(compressed.subarray(0, end), out, 0)).toBe(input.length);
  expect(out).toEqual(input);
  return end;
}

const rng = new Rng(14);
const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.nextU32() & 255);
const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(2000));

describe('compressLz4Block', () => {
  it.each([0, 1, 5, 12, 13, 100])('round-trips %i random bytes', (n) => {
    roundTrip(randomBytes(n));
  });

  it('round-trips repetitive text and makes it at least 10 times smaller', () => {
    expect(roundTrip(text)).toBeLessThan(text.length / 10);
  });

  it('round-trips a long run of one byte (match lengths past 15 + 255)', () => {
    expect(roundTrip(new Uint8Array(70_000).fill(7))).toBeLessThan(400);
  });

  it('round-trips incompressible bytes longer than the 64 KiB match window, within its bound', () => {
    const input = randomBytes(100_000);
    expect(roundTrip(input)).toBeLessThanOrEqual(lz4Bound(input.length));
  });

  it('round-trips a repeat farther back than the match window allows', () => {
    const head = randomBytes(1000);
    const input = new Uint8Array(70_000 + 1000);
    input.set(head, 0);
    input.set(randomBytes(69_000), 1000);
    input.set(head, 70_000);
    roundTrip(input);
  });
});

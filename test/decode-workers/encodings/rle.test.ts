import { describe, expect, it } from 'vitest';

import {
  decodeRle,
  decodeRleBlock,
  type RleRunLengthWidth,
  type RleValueWidth,
} from '../../../decode-workers/encodings/rle.js';
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../../../errors.js';

/** Reference encoder: little-endian values, runs split at the run-length type's maximum (as Lance does). */
function encodeRle(
  values: readonly bigint[],
  bytesPerValue: RleValueWidth,
  runLengthBytes: RleRunLengthWidth = 1,
): { values: Uint8Array; runLengths: Uint8Array } {
  const maxRun = 2 ** (8 * runLengthBytes) - 1;
  const runValues: bigint[] = [];
  const runLengths: number[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    for (let left = j - i; left > 0; left -= Math.min(left, maxRun)) {
      runValues.push(values[i] ?? 0n);
      runLengths.push(Math.min(left, maxRun));
    }
    i = j;
  }
  const valueBytes = new Uint8Array(runValues.length * bytesPerValue);
  runValues.forEach((v, r) => {
    for (let b = 0; b < bytesPerValue; b++) valueBytes[r * bytesPerValue + b] = Number((v >> BigInt(8 * b)) & 0xffn);
  });
  const lengthBytes = new Uint8Array(runLengths.length * runLengthBytes);
  runLengths.forEach((n, r) => {
    for (let b = 0; b < runLengthBytes; b++) lengthBytes[r * runLengthBytes + b] = (n >>> (8 * b)) & 0xff;
  });
  return { values: valueBytes, runLengths: lengthBytes };
}

function readValues(out: Uint8Array, at: number, count: number, bytesPerValue: number): bigint[] {
  const result: bigint[] = [];
  for (let i = 0; i < count; i++) {
    let v = 0n;
    for (let b = bytesPerValue - 1; b >= 0; b--) v = (v << 8n) | BigInt(out[at + i * bytesPerValue + b] ?? 0);
    result.push(v);
  }
  return result;
}

/** Values with runs of varying length (some over 255) for a given width. */
function sampleValues(bytesPerValue: RleValueWidth): bigint[] {
  const mask = (1n << BigInt(8 * bytesPerValue)) - 1n;
  const values: bigint[] = [];
  const runs = [1, 3, 300, 2, 1, 17, 256, 255, 5];
  runs.forEach((n, r) => {
    const v = (BigInt(r) * 0x9e3779b97f4a7c15n + 0x0123456789abcdefn) & mask;
    for (let k = 0; k < n; k++) values.push(v);
  });
  return values;
}

describe('decodeRle', () => {
  it('expands a hand-built chunk of 32-bit runs', () => {
    // values: 1, 2, 3 as i32 LE; lengths: 3, 2, 4 (the example in rle.rs)
    const values = Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0);
    const runLengths = Uint8Array.of(3, 2, 4);
    const out = new Uint8Array(36);
    decodeRle(values, runLengths, 4, 9, out, 0);
    expect(Array.from(new Int32Array(out.buffer))).toEqual([1, 1, 1, 2, 2, 3, 3, 3, 3]);
  });

  for (const width of [1, 2, 4, 8] as const) {
    for (const offset of [0, 1, 8]) {
      it(`round-trips ${width * 8}-bit values at output offset ${offset}`, () => {
        const expected = sampleValues(width);
        const { values, runLengths } = encodeRle(expected, width);
        const out = new Uint8Array(offset + expected.length * width + 5).fill(0xaa);
        decodeRle(values, runLengths, width, expected.length, out, offset);
        expect(readValues(out, offset, expected.length, width)).toEqual(expected);
        expect(Array.from(out.subarray(0, offset)).every((b) => b === 0xaa)).toBe(true);
        expect(Array.from(out.subarray(offset + expected.length * width)).every((b) => b === 0xaa)).toBe(true);
      });
    }
  }

  for (const runLengthBytes of [2, 4] as const) {
    it(`reads ${runLengthBytes * 8}-bit run lengths`, () => {
      const expected = [...Array<bigint>(1000).fill(42n), ...Array<bigint>(70000).fill(7n), 9n];
      const { values, runLengths } = encodeRle(expected, 4, runLengthBytes);
      const out = new Uint8Array(expected.length * 4);
      decodeRle(values, runLengths, 4, expected.length, out, 0, runLengthBytes);
      expect(readValues(out, 0, expected.length, 4)).toEqual(expected);
    });
  }

  it('writes into a view whose buffer offset is unaligned', () => {
    const expected = sampleValues(8);
    const { values, runLengths } = encodeRle(expected, 8);
    const backing = new Uint8Array(3 + expected.length * 8);
    const out = backing.subarray(3);
    decodeRle(values, runLengths, 8, expected.length, out, 0);
    expect(readValues(out, 0, expected.length, 8)).toEqual(expected);
  });

  it('accepts zero values with empty buffers', () => {
    expect(() => decodeRle(new Uint8Array(0), new Uint8Array(0), 4, 0, new Uint8Array(0), 0)).not.toThrow();
  });

  it('rejects run lengths that sum to fewer values than expected', () => {
    const run = () => decodeRle(Uint8Array.of(5), Uint8Array.of(3), 1, 4, new Uint8Array(4), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle run lengths sum to 3 values, expected 4');
  });

  it('rejects run lengths that sum to more values than expected, writing nothing past the output region', () => {
    const out = new Uint8Array(6).fill(0xee);
    const run = () => decodeRle(Uint8Array.of(5, 6), Uint8Array.of(2, 3), 1, 4, out, 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle run lengths sum to more than 4 values (run 1 of length 3 starts at value 2)');
    expect(Array.from(out.subarray(4))).toEqual([0xee, 0xee]);
  });

  it('rejects a zero run length', () => {
    const run = () => decodeRle(Uint8Array.of(1, 2), Uint8Array.of(1, 0), 1, 1, new Uint8Array(1), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle run 1 has length 0, expected at least 1');
  });

  it('rejects buffers with different run counts', () => {
    const run = () => decodeRle(Uint8Array.of(1, 0, 0, 0), Uint8Array.of(5, 10), 4, 15, new Uint8Array(60), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle holds 1 run values but 2 run lengths, expected equal counts');
  });

  it('rejects a values buffer that is not a whole number of values', () => {
    const run = () => decodeRle(Uint8Array.of(1, 0, 0), Uint8Array.of(1), 2, 1, new Uint8Array(2), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle values buffer is 3 bytes, expected a multiple of the 2-byte value width');
  });

  it('rejects a run-lengths buffer that is not a whole number of lengths', () => {
    const run = () => decodeRle(Uint8Array.of(1), Uint8Array.of(1, 0, 0), 1, 1, new Uint8Array(1), 0, 2);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle run-lengths buffer is 3 bytes, expected a multiple of the 2-byte run-length width');
  });

  it('refuses an output too small for the values', () => {
    const run = () => decodeRle(Uint8Array.of(1), Uint8Array.of(4), 1, 4, new Uint8Array(5), 2);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow('Rle output too small: 4 values need 4 bytes at offset 2, out has 5 bytes');
  });

  it('refuses value widths Lance does not write', () => {
    const run = () => decodeRle(new Uint8Array(3), Uint8Array.of(1), 3 as RleValueWidth, 1, new Uint8Array(3), 0);
    expect(run).toThrow(UnsupportedError);
    expect(run).toThrow('Rle with 24-bit values is not supported (8, 16, 32 or 64 bits)');
  });
});

describe('decodeRleBlock', () => {
  it('splits the buffer at the u64 values length', () => {
    // u64 values_bytes = 4 | values u16 7, u16 0 | lengths u8 2, 3 (a 2.2 definition-level block)
    const buf = Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 3);
    const out = new Uint8Array(10);
    decodeRleBlock(buf, 2, 5, out, 0);
    expect(Array.from(new Uint16Array(out.buffer))).toEqual([7, 7, 0, 0, 0]);
  });

  it('round-trips a long block of 16-bit levels', () => {
    const expected = sampleValues(2);
    const { values, runLengths } = encodeRle(expected, 2);
    const buf = new Uint8Array(8 + values.length + runLengths.length);
    new DataView(buf.buffer).setBigUint64(0, BigInt(values.length), true);
    buf.set(values, 8);
    buf.set(runLengths, 8 + values.length);
    const out = new Uint8Array(expected.length * 2);
    decodeRleBlock(buf, 2, expected.length, out, 0);
    expect(readValues(out, 0, expected.length, 2)).toEqual(expected);
  });

  it('rejects a block shorter than its header', () => {
    const run = () => decodeRleBlock(new Uint8Array(7), 2, 0, new Uint8Array(0), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle block is 7 bytes, expected at least the 8-byte values length');
  });

  it('rejects a values length past the end of the block', () => {
    const run = () => decodeRleBlock(Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0, 1, 2), 1, 1, new Uint8Array(1), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle block declares 9 bytes of run values, but only 2 bytes follow its header');
  });

  it('rejects a values length above 2^32', () => {
    const run = () => decodeRleBlock(Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 1, 2), 1, 1, new Uint8Array(1), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Rle block declares 1 * 2^32 + 0 bytes of run values, but only 2 bytes follow its header');
  });
});

import { describe, expect, it } from 'vitest';
import { decodeConstant } from '../../../decode-workers/encodings/constant.js';
import {
  compactVariable,
  createFixedOutput,
  createVariableOutput,
  type VariableOutput,
} from '../../../decode-workers/encodings/output.js';
import type { DecodeTask } from '../../../io/plan-steps.js';
import { caught } from '../../caught.js';

type ConstantTask = DecodeTask & { kind: 'constant' };

function task(fields: Partial<ConstantTask> & { slots: Uint32Array }): ConstantTask {
  return { kind: 'constant', where: 'f.lance column 3 page 0', inlineValue: null, ...fields };
}

/** A 2.2 value buffer: u32 2 | u32 offsets bytes | u32 data bytes | 2 offsets | data. */
function valueBuffer(text: string, offsetBytes: 4 | 8): Uint8Array {
  const data = new TextEncoder().encode(text);
  const out = new Uint8Array(12 + 2 * offsetBytes + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 2, true);
  view.setUint32(4, 2 * offsetBytes, true);
  view.setUint32(8, data.length, true);
  if (offsetBytes === 4) view.setUint32(16, data.length, true);
  else view.setBigUint64(20, BigInt(data.length), true);
  out.set(data, 12 + 2 * offsetBytes);
  return out;
}

function strings(out: VariableOutput): (string | null)[] {
  const { offsets, data } = compactVariable(out);
  return Array.from(out.lengths, (_, i) =>
    out.validity?.[i] === 0 ? null : new TextDecoder().decode(data.subarray(offsets[i], offsets[i + 1])),
  );
}

describe('decodeConstant', () => {
  it('writes an inline value into every slot', () => {
    const out = createFixedOutput(3, 4, false);
    decodeConstant(task({ slots: Uint32Array.of(2, 0, 1), inlineValue: Uint8Array.of(7, 0, 0, 0) }), out);
    expect(Array.from(new Int32Array(out.values.buffer))).toEqual([7, 7, 7]);
  });

  it.each([4, 8] as const)('reads a string from a value buffer with %i-byte offsets', (offsetBytes) => {
    const out = createVariableOutput(2, false);
    decodeConstant(task({ slots: Uint32Array.of(0, 1), valueBuffer: valueBuffer('the same', offsetBytes) }), out);
    expect(strings(out)).toEqual(['the same', 'the same']);
  });

  it('marks the rows whose raw definition level is not 0 as null', () => {
    const out = createVariableOutput(3, true);
    const levels = new Uint8Array(Uint16Array.of(0, 1, 0, 1).buffer); // page rows 0..3, rows 1 and 3 null
    decodeConstant(
      task({
        slots: Uint32Array.of(0, 1, 2),
        valueBuffer: valueBuffer('x', 4),
        levels: { bytes: levels, compression: undefined, numLevels: 4, rows: Uint32Array.of(3, 2, 1) },
      }),
      out,
    );
    expect(strings(out)).toEqual([null, 'x', null]);
  });

  it('reads run-length compressed definition levels', () => {
    const out = createFixedOutput(2, 1, true);
    // Rle block: u64 values bytes (4) | values u16 [0, 1] | run lengths u8 [2, 3]: levels 0 0 1 1 1
    const rle = Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 3);
    const compression = {
      compression: 'rle' as const,
      rle: {
        values: { compression: 'flat' as const, flat: { bits_per_value: 16 } },
        run_lengths: { compression: 'flat' as const, flat: { bits_per_value: 8 } },
      },
    };
    decodeConstant(
      task({
        slots: Uint32Array.of(0, 1),
        inlineValue: Uint8Array.of(1),
        levels: { bytes: rle, compression, numLevels: 5, rows: Uint32Array.of(1, 4) },
      }),
      out,
    );
    expect(Array.from(out.validity ?? [])).toEqual([1, 0]);
  });

  it('refuses a value buffer whose offsets point past its data with a CorruptFileError naming the page', () => {
    const buffer = valueBuffer('abc', 4);
    new DataView(buffer.buffer).setUint32(16, 9, true); // end offset 9 of 3 data bytes
    const error = caught(() =>
      decodeConstant(task({ slots: Uint32Array.of(0), valueBuffer: buffer }), createVariableOutput(1, false)),
    );
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toContain(
      'f.lance column 3 page 0: constant value buffer of 23 bytes has value offsets 0..9',
    );
  });

  it('refuses an inline value narrower than the column with a CorruptFileError', () => {
    const error = caught(() =>
      decodeConstant(
        task({ slots: Uint32Array.of(0), inlineValue: Uint8Array.of(1, 2) }),
        createFixedOutput(1, 4, false),
      ),
    );
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toContain('constant value is 2 bytes, the column');
  });
});

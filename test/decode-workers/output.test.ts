import { describe, expect, it } from 'vitest';
import { appendVariable, compactVariable, createVariableOutput } from '../../decode-workers/output.js';

/** Three values appended out of slot order: slot 2, then 0, then 1. */
function shuffledOutput() {
  const out = createVariableOutput(3, false, 4);
  const bytes = new TextEncoder().encode('ccccccc' + 'a' + 'bbb');
  appendVariable(out, 2, bytes, 0, 7);
  appendVariable(out, 0, bytes, 7, 8);
  appendVariable(out, 1, bytes, 8, 11);
  return out;
}

describe('compactVariable', () => {
  it('puts values written out of order in slot order', () => {
    const { offsets, data } = compactVariable(shuffledOutput());
    expect(Array.from(offsets)).toEqual([0, 1, 4, 11]);
    expect(new TextDecoder().decode(data)).toBe('abbbccccccc');
  });

  it('orders values in the staging memory, then copies them into shared memory in one piece', () => {
    const shared = new SharedArrayBuffer(32);
    const staging = new Uint8Array(16);
    const { offsets, data } = compactVariable(
      shuffledOutput(),
      (bytes) => new Uint8Array(shared, 0, bytes),
      () => staging,
    );
    expect(data.buffer).toBe(shared);
    expect(Array.from(offsets)).toEqual([0, 1, 4, 11]);
    expect(Buffer.from(data).toString()).toBe('abbbccccccc');
    expect(Buffer.from(staging.subarray(0, 11)).toString()).toBe('abbbccccccc');
  });
});

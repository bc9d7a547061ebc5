import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendVariable,
  compactVariable,
  createVariableOutput,
  reserveVariable,
} from '../../../decode-workers/encodings/output.js';
import { importWithAddon } from '../../fixtures/addon.js';

type Output = typeof import('../../../decode-workers/encodings/output.js');

/** A fresh copy of output.ts, with or without the addon. */
const loadOutput = (native: boolean): Promise<Output> =>
  importWithAddon(native, () => import('../../../decode-workers/encodings/output.js'));

const addonBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node'));

/** Three values appended out of slot order: slot 2, then 0, then 1. */
function shuffledOutput(create = createVariableOutput, append = appendVariable) {
  const out = create(3, false, 4);
  const bytes = new TextEncoder().encode('ccccccc' + 'a' + 'bbb');
  append(out, 2, bytes, 0, 7);
  append(out, 0, bytes, 7, 8);
  append(out, 1, bytes, 8, 11);
  return out;
}

describe('compactVariable', () => {
  it('puts values written out of order in slot order', () => {
    const { offsets, data } = compactVariable(shuffledOutput());
    expect(Array.from(offsets)).toEqual([0, 1, 4, 11]);
    expect(new TextDecoder().decode(data)).toBe('abbbccccccc');
  });

  it('without the addon, orders values in the staging memory, then copies them into shared memory in one piece', async () => {
    const output = await loadOutput(false);
    const shared = new SharedArrayBuffer(32);
    const staging = new Uint8Array(16);
    const { offsets, data } = output.compactVariable(
      shuffledOutput(output.createVariableOutput, output.appendVariable),
      (bytes) => new Uint8Array(shared, 0, bytes),
      () => staging,
    );
    expect(data.buffer).toBe(shared);
    expect(Array.from(offsets)).toEqual([0, 1, 4, 11]);
    expect(Buffer.from(data).toString()).toBe('abbbccccccc');
    expect(Buffer.from(staging.subarray(0, 11)).toString()).toBe('abbbccccccc');
  });

  it.runIf(addonBuilt)(
    'with the addon, copies values into shared memory in slot order without touching the staging memory',
    async () => {
      const output = await loadOutput(true);
      const shared = new SharedArrayBuffer(32);
      const out = shuffledOutput(output.createVariableOutput, output.appendVariable);
      const { offsets, data } = output.compactVariable(
        out,
        (bytes) => new Uint8Array(shared, 3, bytes),
        () => {
          throw new Error('staging memory asked for');
        },
      );
      expect(Array.from(offsets)).toEqual([0, 1, 4, 11]);
      expect(Buffer.from(data).toString()).toBe('abbbccccccc');
      expect(new Uint8Array(shared, 0, 3)).toEqual(new Uint8Array(3));
    },
  );

  it.each([
    ['the native addon', true],
    ['the staging copy', false],
  ])(
    'gives the same shared bytes through %s for many values of random lengths, nulls among them',
    async (_name, native) => {
      if (native && !addonBuilt) return;
      const output = await loadOutput(native);
      const slots = 300;
      const out = output.createVariableOutput(slots, true, 16);
      const source = new Uint8Array(500_000).map((_, i) => (i * 31 + 7) & 0xff);
      const order = Array.from({ length: slots }, (_, i) => (i * 7919) % slots);
      const expected: number[][] = [];
      let at = 0;
      for (const slot of order) {
        if (slot % 13 === 0) {
          output.setNull(out, slot);
          expected[slot] = [];
          continue;
        }
        const length = (slot * 97) % 1500;
        output.appendVariable(out, slot, source, at, at + length);
        expected[slot] = Array.from(source.subarray(at, at + length));
        at += length;
      }
      const { offsets, data } = output.compactVariable(
        out,
        (bytes) => new Uint8Array(new SharedArrayBuffer(bytes + 5), 5, bytes),
        (bytes) => new Uint8Array(bytes),
      );
      for (let slot = 0; slot < slots; slot++) {
        expect(Array.from(data.subarray(offsets[slot], offsets[slot + 1])), `slot ${slot}`).toEqual(expected[slot]);
      }
    },
  );
});

describe('a variable-width output with a scratch budget', () => {
  it('grows by doubling while the budget allows, charging the growth to it', () => {
    const budget = { bytesLeft: 100, source: 'a test budget' };
    const out = createVariableOutput(2, false, 16, budget);
    reserveVariable(out, 0, 20);
    expect(out.data.length).toBe(32);
    expect(budget.bytesLeft).toBe(84);
  });

  it('grows to exactly what it needs when doubling would pass the budget', () => {
    const budget = { bytesLeft: 10, source: 'a test budget' };
    const out = createVariableOutput(2, false, 16, budget);
    reserveVariable(out, 0, 20);
    expect(out.data.length).toBe(20);
    expect(budget.bytesLeft).toBe(6);
  });

  it('refuses to grow past the budget with MEMORY_BUDGET, naming the budget', () => {
    const out = createVariableOutput(2, false, 16, { bytesLeft: 3, source: 'a test budget' });
    expect(() => reserveVariable(out, 0, 20)).toThrow(
      expect.objectContaining({ code: 'MEMORY_BUDGET', message: expect.stringContaining('a test budget has 3 left') }),
    );
  });
});

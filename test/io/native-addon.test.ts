import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddon, type NativeAddon } from '../../io/native-addon.js';

const addonBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node'));

describe.runIf(addonBuilt)('the addon\'s gatherValues', () => {
  const addon = nativeAddon() as NativeAddon;
  const source = Uint8Array.from({ length: 64 }, (_, i) => i);

  it('copies the ranges one after the other into shared memory and returns the bytes', () => {
    const target = new Uint8Array(new SharedArrayBuffer(16), 1, 10);
    const copied = addon.gatherValues(target, source.subarray(8), Float64Array.of(5, 0, 60 - 8), Uint32Array.of(3, 2, 4));
    expect(copied).toBe(9);
    expect(Array.from(target.subarray(0, 9))).toEqual([13, 14, 15, 8, 9, 60, 61, 62, 63]);
  });

  it('throws a RangeError and copies nothing when a range runs past the source', () => {
    const target = new Uint8Array(8);
    expect(() => addon.gatherValues(target, source, Float64Array.of(0, 62), Uint32Array.of(2, 3))).toThrow(RangeError);
    expect(target).toEqual(new Uint8Array(8));
  });

  it('throws a RangeError and copies nothing when the values do not fit the target', () => {
    const target = new Uint8Array(4);
    expect(() => addon.gatherValues(target, source, Float64Array.of(0, 10), Uint32Array.of(3, 3))).toThrow(RangeError);
    expect(target).toEqual(new Uint8Array(4));
  });

  it.each([
    ['a negative start', Float64Array.of(-1), Uint32Array.of(1)],
    ['a fractional start', Float64Array.of(1.5), Uint32Array.of(1)],
    ['a NaN start', Float64Array.of(Number.NaN), Uint32Array.of(1)],
    ['starts and lengths of different counts', Float64Array.of(0, 1), Uint32Array.of(1)],
  ])('throws a RangeError for %s', (_name, starts, lengths) => {
    expect(() => addon.gatherValues(new Uint8Array(8), source, starts, lengths)).toThrow(RangeError);
  });

  it('throws a TypeError for arguments of the wrong types', () => {
    expect(() => addon.gatherValues(new Uint8Array(8), source, Float64Array.of(0), Float64Array.of(1) as unknown as Uint32Array)).toThrow(TypeError);
  });
});

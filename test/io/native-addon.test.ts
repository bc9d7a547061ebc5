import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddon, readMemory, type NativeAddon } from '../../io/native-addon.js';
import { importWithAddon } from '../fixtures/addon.js';

const addonBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node'));

describe.runIf(addonBuilt)("the addon's gatherValues", () => {
  const addon = nativeAddon() as NativeAddon;
  const source = Uint8Array.from({ length: 64 }, (_, i) => i);

  it('copies the ranges one after the other into shared memory and returns the bytes', () => {
    const target = new Uint8Array(new SharedArrayBuffer(16), 1, 10);
    const copied = addon.gatherValues(
      target,
      source.subarray(8),
      Float64Array.of(5, 0, 60 - 8),
      Uint32Array.of(3, 2, 4),
    );
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
    expect(() =>
      addon.gatherValues(new Uint8Array(8), source, Float64Array.of(0), Float64Array.of(1) as unknown as Uint32Array),
    ).toThrow(TypeError);
  });
});

describe.runIf(addonBuilt)("the addon's hugePageBuffer", () => {
  const addon = nativeAddon() as NativeAddon;

  it('gives zeroed plain memory rounded up to whole 2 MiB pages', () => {
    const buffer = addon.hugePageBuffer(3 * 1024 * 1024 + 1) as ArrayBuffer;
    expect(buffer).toBeInstanceOf(ArrayBuffer);
    expect(buffer.byteLength).toBe(4 * 1024 * 1024);
    const bytes = new Uint8Array(buffer);
    expect(bytes.every((b) => b === 0)).toBe(true);
    bytes.fill(7);
    expect(bytes[bytes.length - 1]).toBe(7);
  });

  it.each([0, -1, Number.NaN, 2 ** 32 + 1])('throws a TypeError for a byte count of %s', (bytes) => {
    expect(() => addon.hugePageBuffer(bytes)).toThrow(TypeError);
  });
});

it('readMemory gives a plain ArrayBuffer of the size asked for without the addon', async () => {
  const { readMemory: withoutAddon } = await importWithAddon(false, () => import('../../io/native-addon.js'));
  const buffer = withoutAddon(5000);
  expect(buffer).toBeInstanceOf(ArrayBuffer);
  expect(buffer.byteLength).toBe(5000);
});

it.runIf(addonBuilt)('readMemory gives at least the bytes asked for with the addon', () => {
  expect(readMemory(5000).byteLength).toBeGreaterThanOrEqual(5000);
});

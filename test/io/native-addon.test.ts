import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nativeAddon, readMemory, type NativeAddon } from '../../io/native-addon.js';
import { importWithAddon } from '../fixtures/addon.js';

const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
const addonBuilt = existsSync(addonPath);

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

describe('LANCE_LOADER_NATIVE_ADDON', () => {
  /** nativeAddon and nativeAddonReason of a fresh native-addon.ts, loaded with LANCE_LOADER_NATIVE_ADDON=path. */
  async function withOverride(path: string): Promise<typeof import('../../io/native-addon.js')> {
    vi.resetModules();
    vi.stubEnv('LANCE_LOADER_NATIVE', '');
    vi.stubEnv('LANCE_LOADER_NATIVE_ADDON', path);
    return import('../../io/native-addon.js');
  }
  afterEach(() => vi.unstubAllEnvs());

  it.runIf(addonBuilt)('loads the addon at the absolute path it names and says so in the reason', async () => {
    const { nativeAddon: load, nativeAddonReason } = await withOverride(addonPath);
    expect(typeof load()?.readBatchAsync).toBe('function');
    expect(nativeAddonReason()).toMatch(`, LANCE_LOADER_NATIVE_ADDON=${addonPath})`);
  });

  it.each([
    ['a relative path', 'build/Release/lance_loader_native.node', 'must be an absolute path to a .node file'],
    ['a path that is no .node file', '/etc/hostname', 'must be an absolute path to a .node file'],
    ['a file that does not exist', '/nonexistent/addon.node', 'no such file'],
  ])('refuses %s with an InvalidArgumentError that names it', async (_name, path, why) => {
    const { nativeAddon: load } = await withOverride(path);
    expect(load).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(load).toThrow(`LANCE_LOADER_NATIVE_ADDON=${path}: ${why}`);
  });

  it('refuses a .node file that is not a loadable addon with an InvalidArgumentError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'native-addon-'));
    try {
      const path = join(dir, 'garbage.node');
      writeFileSync(path, 'not an ELF file');
      const { nativeAddon: load } = await withOverride(path);
      expect(load).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(load).toThrow(`LANCE_LOADER_NATIVE_ADDON=${path}: does not load: `);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives way to LANCE_LOADER_NATIVE=0, which turns the addon off', async () => {
    vi.resetModules();
    vi.stubEnv('LANCE_LOADER_NATIVE', '0');
    vi.stubEnv('LANCE_LOADER_NATIVE_ADDON', 'not even absolute');
    const { nativeAddon: load } = await import('../../io/native-addon.js');
    expect(load()).toBeNull();
  });
});

import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOnTmpfs, probeDirectAlignment, PROBE_READ_BYTES, PROBE_SCAN_BYTES } from '../../io/align.js';
import { Rng } from '../fixtures/random.js';
import { importWithAddon } from '../fixtures/addon.js';

type NativeRead = typeof import('../../io/native-read.js');

/** A fresh copy of native-read.ts, loaded with or without the addon (LANCE_LOADER_NATIVE=0). */
const loadEngine = (native: boolean): Promise<NativeRead> => importWithAddon(native, () => import('../../io/native-read.js'));

const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const FILE_BYTES = 3 * 1024 * 1024 + 777; // ends inside a sector
const addonBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node'));
const ioUringEnabled = process.platform === 'linux' && (!existsSync('/proc/sys/kernel/io_uring_disabled') || readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0');

let dir = '';
let path = '';
let bytes: Uint8Array = new Uint8Array(0);
let fd = -1;
beforeAll(() => {
  dir = mkdtempSync(join(root, 'native-read-'));
  path = join(dir, 'data.bin');
  bytes = new Rng(7).bytes(FILE_BYTES);
  writeFileSync(path, bytes);
  fd = openSync(path, 'r');
});
afterAll(() => {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

it.runIf(ioUringEnabled)('reads through io_uring on Linux where io_uring is enabled (the addon is built at install)', async () => {
  const { readEngine } = await loadEngine(true);
  expect(readEngine()).toMatchObject({ engine: 'io_uring' });
});

it('falls back to fs.readSync when LANCE_LOADER_NATIVE=0', async () => {
  const { readEngine } = await loadEngine(false);
  expect(readEngine()).toEqual({ engine: 'fs.readSync', reason: 'LANCE_LOADER_NATIVE=0' });
});

describe.each([
  ['the native addon', true],
  ['fs.readSync', false],
])('readBatchSync with %s', (_name, native) => {
  let engine: NativeRead;
  beforeAll(async () => {
    engine = await loadEngine(native);
  });

  it('reads every target at its position, into ArrayBuffer and SharedArrayBuffer memory', () => {
    const rng = new Rng(3);
    const count = 700; // more than the ring's 256 entries
    const positions = new Float64Array(count);
    const targets: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const size = rng.int(1, 20_000);
      positions[i] = rng.int(0, FILE_BYTES - size + 1);
      targets.push(i % 2 === 0 ? new Uint8Array(size) : new Uint8Array(new SharedArrayBuffer(size + 5), 5, size));
    }
    const results = new Float64Array(count);
    engine.readBatchSync(fd, positions, targets, 32, false, results);
    targets.forEach((target, i) => {
      expect(results[i]).toBe(target.byteLength);
      const at = positions[i] as number;
      expect(Buffer.from(target).equals(Buffer.from(bytes.subarray(at, at + target.byteLength)))).toBe(true);
    });
  });

  it('reports fewer bytes for a target that runs past the end of the file', () => {
    const results = new Float64Array(2);
    engine.readBatchSync(fd, Float64Array.of(FILE_BYTES - 10, FILE_BYTES + 100), [new Uint8Array(64), new Uint8Array(8)], 4, false, results);
    expect(Array.from(results)).toEqual([10, 0]);
  });

  it('reads nothing into empty targets', () => {
    const results = Float64Array.of(-1, -1);
    engine.readBatchSync(fd, Float64Array.of(0, 5), [new Uint8Array(0), new Uint8Array(0)], 4, false, results);
    expect(Array.from(results)).toEqual([0, 0]);
  });

  it('reports a negative errno for each target of a bad file descriptor', () => {
    const bad = openSync(path, 'r');
    closeSync(bad);
    const results = new Float64Array(3);
    engine.readBatchSync(bad, Float64Array.of(0, 10, 20), [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)], 4, false, results);
    expect(Array.from(results)).toEqual([-osConstants.errno.EBADF, -osConstants.errno.EBADF, -osConstants.errno.EBADF]);
  });

  it.skipIf(isOnTmpfs(root))('stops an O_DIRECT read at the short read inside the last sector', () => {
    const direct = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const memory = new SharedArrayBuffer(PROBE_SCAN_BYTES + PROBE_READ_BYTES + 3 * 4096);
      const phase = probeDirectAlignment(direct, memory);
      expect(phase).not.toBeNull();
      const start = phase as number;
      const lastSector = Math.floor(FILE_BYTES / 512) * 512;
      const targets = [new Uint8Array(memory, start, 4096), new Uint8Array(memory, start + 4096, 4096)];
      const results = new Float64Array(2);
      engine.readBatchSync(direct, Float64Array.of(4096, lastSector - 1024), targets, 2, true, results);
      expect(Array.from(results)).toEqual([4096, FILE_BYTES - (lastSector - 1024)]);
      expect(Buffer.from(targets[1]?.subarray(0, results[1]) ?? []).equals(Buffer.from(bytes.subarray(lastSector - 1024)))).toBe(true);
    } finally {
      closeSync(direct);
    }
  });
});

it.runIf(addonBuilt)('rejects targets that are not Uint8Arrays, bad positions and a non-integer fd with a TypeError (native addon)', async () => {
  const { readBatchSync } = await loadEngine(true);
  expect(() => readBatchSync(fd, Float64Array.of(0), [new Float32Array(2) as unknown as Uint8Array], 1, false, new Float64Array(1))).toThrow(TypeError);
  expect(() => readBatchSync(fd, Float64Array.of(-1), [new Uint8Array(2)], 1, false, new Float64Array(1))).toThrow(TypeError);
  expect(() => readBatchSync(Number.NaN, Float64Array.of(0), [new Uint8Array(2)], 1, false, new Float64Array(1))).toThrow(TypeError);
});

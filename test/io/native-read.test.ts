import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOnTmpfs, probeDirectAlignment, PROBE_READ_BYTES, PROBE_SCAN_BYTES } from '../../io/align.js';
import { Rng } from '../fixtures/random.js';
import { importWithAddon } from '../fixtures/addon.js';

type NativeRead = typeof import('../../io/native-read.js');

/** A fresh copy of native-read.ts, loaded with or without the addon (LANCE_LOADER_NATIVE=0). */
const loadEngine = (native: boolean): Promise<NativeRead> =>
  importWithAddon(native, () => import('../../io/native-read.js'));

const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const FILE_BYTES = 3 * 1024 * 1024 + 777; // ends inside a sector
const addonBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node'));
const ioUringEnabled =
  process.platform === 'linux' &&
  (!existsSync('/proc/sys/kernel/io_uring_disabled') ||
    readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0');

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

/** Every target read whole, with the file's bytes at its position. */
function expectWholeReads(positions: Float64Array, targets: Uint8Array[], results: Float64Array): void {
  targets.forEach((target, i) => {
    expect(results[i]).toBe(target.byteLength);
    const at = positions[i] as number;
    expect(Buffer.from(target).equals(Buffer.from(bytes.subarray(at, at + target.byteLength)))).toBe(true);
  });
}

it.runIf(ioUringEnabled)(
  'reads through io_uring on Linux where io_uring is enabled (the addon is built at install)',
  async () => {
    const { readEngine } = await loadEngine(true);
    expect(readEngine()).toMatchObject({ engine: 'io_uring' });
  },
);

it('falls back to fs.readSync when LANCE_LOADER_NATIVE=0', async () => {
  const { readEngine } = await loadEngine(false);
  expect(readEngine()).toEqual({ engine: 'fs.readSync', reason: 'LANCE_LOADER_NATIVE=0' });
});

/** readBatchSync or readBatchQueued, as a promise. */
type BatchRead = (
  fd: number,
  positions: Float64Array,
  targets: Uint8Array[],
  queueDepth: number,
  direct: boolean,
  results: Float64Array,
) => Promise<void>;

describe.each([
  ['readBatchSync', 'the native addon', true],
  ['readBatchQueued', 'the native addon', true],
  ['readBatchSync', 'fs.readSync', false],
  ['readBatchQueued', 'fs.readSync', false],
] as const)('%s with %s', (form, _name, native) => {
  let read: BatchRead;
  beforeAll(async () => {
    const engine = await loadEngine(native);
    read = form === 'readBatchSync' ? async (...args) => engine.readBatchSync(...args) : engine.readBatchQueued;
  });

  it('reads every target at its position, into ArrayBuffer and SharedArrayBuffer memory', async () => {
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
    await read(fd, positions, targets, 32, false, results);
    expectWholeReads(positions, targets, results);
  });

  it('reports fewer bytes for a target that runs past the end of the file', async () => {
    const results = new Float64Array(2);
    await read(
      fd,
      Float64Array.of(FILE_BYTES - 10, FILE_BYTES + 100),
      [new Uint8Array(64), new Uint8Array(8)],
      4,
      false,
      results,
    );
    expect(Array.from(results)).toEqual([10, 0]);
  });

  it('reads nothing into empty targets', async () => {
    const results = Float64Array.of(-1, -1);
    await read(fd, Float64Array.of(0, 5), [new Uint8Array(0), new Uint8Array(0)], 4, false, results);
    expect(Array.from(results)).toEqual([0, 0]);
  });

  it('reports a negative errno for each target of a bad file descriptor', async () => {
    const bad = openSync(path, 'r');
    closeSync(bad);
    const results = new Float64Array(3);
    await read(
      bad,
      Float64Array.of(0, 10, 20),
      [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)],
      4,
      false,
      results,
    );
    expect(Array.from(results)).toEqual([-osConstants.errno.EBADF, -osConstants.errno.EBADF, -osConstants.errno.EBADF]);
  });

  it.skipIf(isOnTmpfs(root))('stops an O_DIRECT read at the short read inside the last sector', async () => {
    const direct = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const memory = new SharedArrayBuffer(PROBE_SCAN_BYTES + PROBE_READ_BYTES + 3 * 4096);
      const phase = probeDirectAlignment(direct, memory);
      expect(phase).not.toBeNull();
      const start = phase as number;
      const lastSector = Math.floor(FILE_BYTES / 512) * 512;
      const targets = [new Uint8Array(memory, start, 4096), new Uint8Array(memory, start + 4096, 4096)];
      const results = new Float64Array(2);
      await read(direct, Float64Array.of(4096, lastSector - 1024), targets, 2, true, results);
      expect(Array.from(results)).toEqual([4096, FILE_BYTES - (lastSector - 1024)]);
      expect(
        Buffer.from(targets[1]?.subarray(0, results[1]) ?? []).equals(Buffer.from(bytes.subarray(lastSector - 1024))),
      ).toBe(true);
    } finally {
      closeSync(direct);
    }
  });
});

it.runIf(addonBuilt)(
  'rejects targets that are not Uint8Arrays, bad positions and a non-integer fd with a TypeError (native addon)',
  async () => {
    const { readBatchSync } = await loadEngine(true);
    expect(() =>
      readBatchSync(
        fd,
        Float64Array.of(0),
        [new Float32Array(2) as unknown as Uint8Array],
        1,
        false,
        new Float64Array(1),
      ),
    ).toThrow(TypeError);
    expect(() => readBatchSync(fd, Float64Array.of(-1), [new Uint8Array(2)], 1, false, new Float64Array(1))).toThrow(
      TypeError,
    );
    expect(() =>
      readBatchSync(Number.NaN, Float64Array.of(0), [new Uint8Array(2)], 1, false, new Float64Array(1)),
    ).toThrow(TypeError);
  },
);

describe.runIf(addonBuilt && ioUringEnabled)('readBatchQueued on the ring', () => {
  it('resolves each of several batches queued together with its own bytes, at a queue depth below their total', async () => {
    const { readBatchQueued } = await loadEngine(true);
    const rng = new Rng(9);
    const batches = [300, 1, 0, 40, 257].map((count) => {
      const positions = new Float64Array(count);
      const targets: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const size = rng.int(1, 9000);
        positions[i] = rng.int(0, FILE_BYTES - size + 1);
        targets.push(new Uint8Array(new SharedArrayBuffer(size)));
      }
      return { positions, targets, results: new Float64Array(count) };
    });
    await Promise.all(batches.map((b) => readBatchQueued(fd, b.positions, b.targets, 16, false, b.results)));
    for (const { positions, targets, results } of batches) {
      expectWholeReads(positions, targets, results);
    }
  });

  it('lets the process exit after a batch with nothing to read (the ring is not watched without reads)', () => {
    const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
    const source = `const addon = require(${JSON.stringify(addonPath)}); addon.readBatchAsync(0, new Float64Array(0), [], 4, false, new Float64Array(0), 0, () => console.log('settled'));`;
    expect(execFileSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 20_000 }).trim()).toBe(
      'settled',
    );
  });

  it('keeps at most maxBytesInFlight bytes in flight and still reads every target', async () => {
    const { readBatchQueued } = await loadEngine(true);
    const positions = Float64Array.of(0, 100_000, 2_000_000, 7);
    const targets = [new Uint8Array(50_000), new Uint8Array(3), new Uint8Array(900_000), new Uint8Array(10)];
    const results = new Float64Array(4);
    await readBatchQueued(fd, positions, targets, 32, false, results, 1);
    expectWholeReads(positions, targets, results);
  });

  it.skipIf(isOnTmpfs(root))(
    'settles batches whose reads miss the page cache while its pages are being evicted',
    async () => {
      // A buffered read that misses the page cache completes in the kernel after the call returned, and
      // when its pages are evicted under it (memory pressure) it is retried there: the ring must post
      // its completion without the thread asking. A worker evicts the file's pages over and over by
      // rewriting it with O_DIRECT while this thread is blocked and every read completes.
      const { readBatchQueued } = await loadEngine(true);
      const count = 64;
      const stride = 256 * 1024;
      const evicted = join(dir, 'evicted.bin');
      writeFileSync(evicted, new Rng(11).bytes(count * stride));
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
      const evictor = new Worker(
        `
        const { workerData } = require('node:worker_threads');
        const { openSync, readFileSync, writeSync, constants } = require('node:fs');
        const content = readFileSync(workerData.path);
        const memory = new Uint8Array(require(workerData.addonPath).hugePageBuffer(content.byteLength));
        memory.set(content);
        const fd = openSync(workerData.path, constants.O_WRONLY | constants.O_DIRECT);
        while (Atomics.load(workerData.stop, 0) === 0) writeSync(fd, memory, 0, memory.byteLength, 0);
        `,
        { eval: true, workerData: { path: evicted, addonPath, stop } },
      );
      const reader = openSync(evicted, 'r');
      try {
        const content = readFileSync(evicted);
        for (let round = 0; round < 10; round++) {
          const positions = new Float64Array(count).map((_, i) => i * stride);
          const targets = Array.from({ length: count }, () => new Uint8Array(4096));
          const results = new Float64Array(count);
          const settled = readBatchQueued(reader, positions, targets, count, false, results);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
          await settled;
          targets.forEach((target, i) => {
            const at = positions[i] as number;
            expect(results[i]).toBe(4096);
            expect(Buffer.from(target).equals(content.subarray(at, at + 4096))).toBe(true);
          });
        }
      } finally {
        Atomics.store(stop, 0, 1);
        closeSync(reader);
        await new Promise((resolve) => evictor.once('exit', resolve));
      }
    },
  );

  it('rejects a negative or non-numeric maxBytesInFlight with a TypeError', async () => {
    const { readBatchQueued } = await loadEngine(true);
    await expect(
      readBatchQueued(fd, Float64Array.of(0), [new Uint8Array(2)], 1, false, new Float64Array(1), -1),
    ).rejects.toThrow(TypeError);
    await expect(
      readBatchQueued(
        fd,
        Float64Array.of(0),
        [new Uint8Array(2)],
        1,
        false,
        new Float64Array(1),
        'x' as unknown as number,
      ),
    ).rejects.toThrow(TypeError);
  });

  it.skipIf(isOnTmpfs(root))(
    'lets a worker thread that is terminated with O_DIRECT reads in flight end cleanly',
    async () => {
      const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
      const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { openSync, constants } = require('node:fs');
      const addon = require(workerData.addonPath);
      const fd = openSync(workerData.path, constants.O_RDONLY | constants.O_DIRECT);
      const memory = addon.hugePageBuffer(200 * 8192); // 2 MiB-aligned: fit for O_DIRECT
      const targets = Array.from({ length: 200 }, (_, i) => new Uint8Array(memory, i * 8192, 8192));
      const positions = new Float64Array(200).map((_, i) => ((i * 7919) % Math.floor((workerData.size - 8192) / 4096)) * 4096);
      let batches = 0;
      const loop = async () => {
        for (;;) {
          const results = new Float64Array(200);
          await Promise.all([0, 1, 2].map(() => new Promise((done) => addon.readBatchAsync(fd, positions, targets, 64, true, results, 0, done))));
          if (results[0] !== 8192) throw new Error('read failed: ' + results[0]);
          if (++batches === 3) parentPort.postMessage('reading');
        }
      };
      loop();
    `;
      const worker = new Worker(source, { eval: true, workerData: { addonPath, path, size: FILE_BYTES } });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(await worker.terminate()).toBe(1);
    },
  );
});

/**
 * The lifetime rules of queued native reads (native/async_read.c, module comment): targets detached
 * before their batch settles, and batches still pending when their thread or process ends. Real reads
 * of a real file through the ring; `npm run sanitize` runs the same situations under AddressSanitizer.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidStateError } from '../../errors.js';
import { nativeAddon, type NativeAddon } from '../../io/native-addon.js';
import { readBatchQueued, readBatchSync } from '../../io/native-read.js';
import { Rng } from '../fixtures/random.js';

const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
const ioUringEnabled =
  process.platform === 'linux' &&
  (!existsSync('/proc/sys/kernel/io_uring_disabled') ||
    readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0');
const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const FILE_BYTES = 4 * 1024 * 1024;
const READ_BYTES = 8192;
const READS = 256;

let dir = '';
let path = '';
let bytes: Uint8Array = new Uint8Array(0);
let fd = -1;
beforeAll(() => {
  dir = mkdtempSync(join(root, 'native-lifetime-'));
  path = join(dir, 'data.bin');
  bytes = new Rng(11).bytes(FILE_BYTES);
  writeFileSync(path, bytes);
  fd = openSync(path, 'r');
});
afterAll(() => {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

/** READS reads of READ_BYTES at scattered positions, into plain ArrayBuffer targets, results preset to -7. */
function batch() {
  const positions = new Float64Array(READS).map((_, i) => ((i * 97) % (FILE_BYTES / READ_BYTES)) * READ_BYTES);
  const targets: Uint8Array<ArrayBuffer>[] = Array.from({ length: READS }, () => new Uint8Array(READ_BYTES));
  return { positions, targets, results: new Float64Array(READS).fill(-7) };
}

describe.runIf(existsSync(addonPath) && ioUringEnabled)(
  'a queued batch whose memory is detached before it settles',
  () => {
    it('rejects with an InvalidStateError naming the detached target and leaves results unwritten', async () => {
      const { positions, targets, results } = batch();
      const settled = readBatchQueued(fd, positions, targets, 4, false, results);
      const buffer = (targets[5] as Uint8Array<ArrayBuffer>).buffer;
      const moved = structuredClone(buffer, { transfer: [buffer] });
      await expect(settled).rejects.toThrow(InvalidStateError);
      await expect(settled).rejects.toThrow('readBatchAsync: target 5 was detached before its read completed');
      expect(results.every((r) => r === -7)).toBe(true);
      // The memory moved with the transfer and was read into there.
      expect(
        Buffer.from(moved).equals(Buffer.from(bytes.subarray(positions[5], (positions[5] as number) + READ_BYTES))),
      ).toBe(true);
    });

    it('rejects with an InvalidStateError when results is detached, and writes nothing into it', async () => {
      const { positions, targets, results } = batch();
      const settled = readBatchQueued(fd, positions, targets, 4, false, results);
      const moved = new Float64Array(structuredClone(results.buffer, { transfer: [results.buffer] }));
      await expect(settled).rejects.toThrow('readBatchAsync: results was detached before the batch completed');
      expect(moved.every((r) => r === -7)).toBe(true);
    });

    it('cannot lose read memory from hugePageBuffer to a transfer: the buffer is copied, not detached', async () => {
      const memory = (nativeAddon() as NativeAddon).hugePageBuffer(READS * READ_BYTES) as ArrayBuffer;
      const { positions, results } = batch();
      const targets = Array.from({ length: READS }, (_, i) => new Uint8Array(memory, i * READ_BYTES, READ_BYTES));
      const settled = readBatchQueued(fd, positions, targets, 4, false, results);
      const copy = structuredClone(memory, { transfer: [memory] });
      expect([memory.byteLength, copy.byteLength]).toEqual([READS * READ_BYTES, READS * READ_BYTES]);
      await settled;
      const at = positions[9] as number;
      expect(Buffer.from(targets[9] as Uint8Array).equals(Buffer.from(bytes.subarray(at, at + READ_BYTES)))).toBe(true);
    });

    it('reads into the targets it was given when the array that listed them changes meanwhile', async () => {
      const { positions, targets, results } = batch();
      const given = targets.slice();
      const settled = readBatchQueued(fd, positions, targets, 4, false, results);
      targets.fill(new Uint8Array(READ_BYTES));
      targets.length = 0;
      await settled;
      given.forEach((target, i) => {
        expect(results[i]).toBe(READ_BYTES);
        const at = positions[i] as number;
        expect(Buffer.from(target).equals(Buffer.from(bytes.subarray(at, at + READ_BYTES)))).toBe(true);
      });
    });
  },
);

it.runIf(existsSync(addonPath))(
  'refuses a batch whose targets getter detaches the positions, before any read, with a TypeError',
  () => {
    const { positions, targets, results } = batch();
    Object.defineProperty(targets, 1, {
      get: () => {
        structuredClone(positions.buffer, { transfer: [positions.buffer] });
        return new Uint8Array(READ_BYTES);
      },
    });
    expect(() => readBatchSync(fd, positions, targets, 4, false, results)).toThrow(
      'positions or results were detached while the targets were fetched',
    );
    expect(results.every((r) => r === -7)).toBe(true);
  },
);

describe.runIf(existsSync(addonPath) && ioUringEnabled)('batches pending when their thread ends', () => {
  /** A worker that keeps four batches of READS reads queued into `memory`, and says when the first settled. */
  const workerSource = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { openSync } = require('node:fs');
    const addon = require(workerData.addonPath);
    const fd = openSync(workerData.path, 'r');
    const { memory, reads, readBytes, positions } = workerData;
    const targets = Array.from({ length: reads }, (_, i) => new Uint8Array(memory, i * readBytes, readBytes));
    let said = false;
    const again = () => addon.readBatchAsync(fd, positions, targets, 2, false, new Float64Array(reads), 0, () => {
      if (!said) parentPort.postMessage('reading');
      said = true;
      again();
    });
    for (let i = 0; i < 4; i++) again();
  `;

  it('ends a terminated worker, each target holding its whole read or none of it', async () => {
    const { positions } = batch();
    for (let round = 0; round < 8; round++) {
      const memory = new SharedArrayBuffer(READS * READ_BYTES);
      new Uint8Array(memory).fill(0xee);
      const worker = new Worker(workerSource, {
        eval: true,
        workerData: { addonPath, path, memory, reads: READS, readBytes: READ_BYTES, positions },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(await worker.terminate()).toBe(1);
      for (let i = 0; i < READS; i++) {
        const target = Buffer.from(memory, i * READ_BYTES, READ_BYTES);
        const at = positions[i] as number;
        const whole = target.equals(Buffer.from(bytes.subarray(at, at + READ_BYTES)));
        expect(whole || target.every((b) => b === 0xee)).toBe(true);
      }
    }
  });

  /** Source that queues eight batches of READS reads on this thread's ring. */
  const queueBatches = () => `
    const addon = require(${JSON.stringify(addonPath)});
    const fd = require('node:fs').openSync(${JSON.stringify(path)}, 'r');
    const targets = Array.from({ length: ${READS} }, () => new Uint8Array(${READ_BYTES}));
    const positions = new Float64Array(${READS}).map((_, i) => i * ${READ_BYTES});
    for (let i = 0; i < 8; i++) addon.readBatchAsync(fd, positions, targets, 2, false, new Float64Array(${READS}), 0, () => {});
  `;

  it.each([
    ['the main thread calls process.exit', () => `${queueBatches()}; process.exit(0);`],
    [
      'a worker calls process.exit',
      () => `const { Worker } = require('node:worker_threads');
       new Worker(${JSON.stringify(`${queueBatches()}; process.exit(0);`)}, { eval: true }).on('exit', (code) => process.exit(code));`,
    ],
  ])('lets the process end cleanly when %s with batches queued', async (_name, source) => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['-e', source()], { timeout: 20_000 });
    expect({ stdout, stderr }).toEqual({ stdout: '', stderr: '' });
  });

  it("fails a batch on a stale fd number that now names the ring's own eventfd with EBADF instead of hanging", async () => {
    const source = `
      const { readdirSync, readlinkSync, openSync } = require('node:fs');
      const addon = require(${JSON.stringify(addonPath)});
      const eventfds = () => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[eventfd]'; } catch { return false; } });
      const before = new Set(eventfds());
      const fd = openSync(${JSON.stringify(path)}, 'r');
      addon.readBatchAsync(fd, Float64Array.of(0), [new Uint8Array(8)], 1, false, new Float64Array(1), 0, () => {
        const ours = Number(eventfds().find((fd) => !before.has(fd)));
        const results = new Float64Array(2);
        addon.readBatchAsync(ours, Float64Array.of(0, 0), [new Uint8Array(8), new Uint8Array(8)], 2, false, results, 0, () => console.log(results.join(' ')));
      });
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', source], { timeout: 20_000 });
    expect(stdout.trim()).toBe(`${-osConstants.errno.EBADF} ${-osConstants.errno.EBADF}`);
  });
});

/**
 * One storm of `npm run sanitize` (scripts/sanitize.ts), run in a child process whose addon is the
 * sanitizer build (LANCE_LOADER_NATIVE_ADDON, checked first): the parent reads the sanitizers' reports
 * from this process's stderr. Every storm checks what it can see as well: bytes read equal the file's,
 * refused calls throw, detached memory is reported. The last stdout line is the storm's counts as JSON.
 *
 *   node --expose-gc --import tsx scripts/sanitize-storm.ts STORM ROUNDS SEED DATA_FILE
 *
 * Storms: concurrent (batches at once, queued and blocking, buffered and O_DIRECT, gatherValues),
 * workers (reader threads terminated or exiting mid-read), close (a queued DirectFileSource closed with
 * reads queued), detach (targets, results and positions detached or replaced before a batch settles),
 * teardown (processes that end with batches pending), arguments (every function called with bad values),
 * jpeg (decodeJpeg on random JPEGs, whole, cut short or with bytes flipped, with random crops, resizes,
 * kept boxes, filters, channels and scratch sizes; none where the addon has no libjpeg-turbo).
 */
import { Transformer } from '@napi-rs/image';
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { LanceLoaderError } from '../errors.js';
import { DirectFileSource } from '../io/direct-source.js';
import { nativeAddon, nativeAddonReason, type NativeAddon } from '../io/native-addon.js';
import { readBatchQueued } from '../io/native-read.js';
import { Rng } from '../test/fixtures/random.js';

const SECTOR = 4096;
/** Calls of the arguments storm per round. */
const CALLS_PER_ROUND = 100;

/** What a storm did, for the summary line: reads checked, child processes ended, calls made (and refused). */
export interface Counts {
  rounds: number;
  reads?: number;
  processes?: number;
  calls?: number;
  refused?: number;
  /** decodeJpeg calls that decoded, and those that threw ERR_JPEG for bad bytes. */
  decodes?: number;
  corrupt?: number;
}

/** The data file, read whole once to check every byte read from it. */
interface Data {
  path: string;
  bytes: Uint8Array;
}

function fail(message: string): never {
  throw new Error(`sanitize storm: ${message}`);
}

function addon(): NativeAddon {
  const loaded = nativeAddon();
  if (!loaded || !nativeAddonReason().includes('LANCE_LOADER_NATIVE_ADDON='))
    fail(`the sanitizer build is not loaded (${nativeAddonReason()})`);
  return loaded;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Checks each read against the file: the bytes it could read at its position, and those bytes. */
function check(data: Data, positions: Float64Array, targets: Uint8Array[], results: Float64Array): void {
  targets.forEach((target, i) => {
    const at = positions[i] as number;
    const expected = Math.max(0, Math.min(target.byteLength, data.bytes.byteLength - at));
    if (results[i] !== expected)
      fail(`read ${i} at ${at} of ${target.byteLength} bytes: ${results[i]}, not ${expected}`);
    if (
      expected > 0 &&
      !Buffer.from(target.buffer, target.byteOffset, expected).equals(data.bytes.subarray(at, at + expected))
    )
      fail(`read ${i} at ${at}: wrong bytes`);
  });
}

/** A batch of random reads: buffered into mixed memory, or O_DIRECT (sector-aligned) into huge-page memory. */
function randomBatch(rng: Rng, data: Data, direct: boolean) {
  const count = rng.int(0, 300);
  const positions = new Float64Array(count);
  const targets: Uint8Array[] = [];
  const memory = direct ? (addon().hugePageBuffer(count * 5 * SECTOR + 1) as ArrayBuffer) : undefined;
  for (let i = 0; i < count; i++) {
    if (memory) {
      const size = rng.int(1, 6) * SECTOR;
      positions[i] = rng.int(0, Math.floor(data.bytes.byteLength / SECTOR) + 2) * SECTOR;
      targets.push(new Uint8Array(memory, i * 5 * SECTOR, size));
      continue;
    }
    const size = rng.int(0, 40_000);
    positions[i] = rng.int(0, data.bytes.byteLength + 100);
    const kind = rng.int(0, 3);
    const offset = rng.int(0, 9);
    const buffer = kind === 0 ? new ArrayBuffer(size + offset) : new SharedArrayBuffer(size + offset);
    targets.push(
      kind === 2
        ? new Uint8Array(addon().hugePageBuffer(size + 1) as ArrayBuffer, 0, size)
        : new Uint8Array(buffer, offset, size),
    );
  }
  return { positions, targets, results: new Float64Array(count) };
}

/** Batches queued at once on this thread's ring (plus blocking ones meanwhile), every byte checked. */
async function concurrent(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  const native = addon();
  const buffered = openSync(data.path, 'r');
  const direct = openSync(data.path, constants.O_RDONLY | constants.O_DIRECT);
  let reads = 0;
  for (let round = 0; round < rounds; round++) {
    const batches = Array.from({ length: rng.int(1, 9) }, () => {
      const isDirect = rng.int(0, 3) === 0;
      return { direct: isDirect, ...randomBatch(rng, data, isDirect) };
    });
    const maxBytes = rng.int(0, 2) === 0 ? 0 : rng.int(1, 1 << 20);
    const settled = batches.map((b) =>
      readBatchQueued(
        b.direct ? direct : buffered,
        b.positions,
        b.targets,
        rng.int(1, 65),
        b.direct,
        b.results,
        maxBytes,
      ),
    );
    const blocking = randomBatch(rng, data, false);
    native.readBatch(buffered, blocking.positions, blocking.targets, rng.int(1, 65), false, blocking.results);
    check(data, blocking.positions, blocking.targets, blocking.results);
    await Promise.all(settled);
    for (const b of batches) check(data, b.positions, b.targets, b.results);
    reads += blocking.targets.length + batches.reduce((sum, b) => sum + b.targets.length, 0);
    const source = data.bytes.subarray(rng.int(0, 1000), rng.int(1000, 100_000));
    const starts = Float64Array.from({ length: rng.int(0, 50) }, () => rng.int(0, source.byteLength));
    const lengths = Uint32Array.from(starts, (start) => rng.int(0, source.byteLength - start + 1));
    const target = new Uint8Array(new SharedArrayBuffer(lengths.reduce((sum, n) => sum + n, 0) + rng.int(0, 9)));
    native.gatherValues(target, source, starts, lengths);
  }
  closeSync(buffered);
  closeSync(direct);
  return { rounds, reads };
}

/** A reader thread: queued batches (buffered and O_DIRECT) one after another, checked, counted to the parent. */
async function readerThread(): Promise<void> {
  const { seed, path, exitAfter } = workerData as { seed: number; path: string; exitAfter: number };
  const data = { path, bytes: new Uint8Array(readFileSync(path)) };
  const rng = new Rng(seed);
  const buffered = openSync(path, 'r');
  const direct = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  for (let n = 0; ; n++) {
    const batches = [randomBatch(rng, data, false), randomBatch(rng, data, true)];
    const settled = batches.map((b, k) =>
      readBatchQueued(k ? direct : buffered, b.positions, b.targets, 8, k === 1, b.results),
    );
    if (n === exitAfter) process.exit(0); // with both batches pending
    await Promise.all(settled);
    for (const b of batches) check(data, b.positions, b.targets, b.results);
    parentPort?.postMessage(batches[0]!.targets.length + batches[1]!.targets.length);
  }
}

/** Reader threads terminated, or exiting by themselves, with reads in flight. */
async function workers(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  let reads = 0;
  for (let round = 0; round < rounds; round++) {
    const threads = Array.from({ length: rng.int(1, 5) }, () => {
      // Loaded through tsx's API from an eval'd entry: a .ts worker file, even with --import tsx, is refused
      // by extension before tsx's hooks are in place in the new thread.
      const url = JSON.stringify(import.meta.url);
      const worker = new Worker(`import('tsx/esm/api').then(({ tsImport }) => tsImport(${url}, ${url}))`, {
        eval: true,
        workerData: { seed: rng.nextU32(), path: data.path, exitAfter: rng.int(0, 4) === 0 ? rng.int(0, 3) : -1 },
      });
      worker.on('message', (n: number) => (reads += n));
      const ended = new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('exit', () => resolve());
      });
      const reading = new Promise((resolve) => {
        worker.once('message', resolve);
        worker.once('exit', resolve);
      });
      return { worker, ended, reading };
    });
    // Terminated once reading (threads that exit by themselves may be gone already), at a random moment after.
    await Promise.all(threads.map((t) => t.reading));
    await new Promise((resolve) => setTimeout(resolve, rng.int(0, 30)));
    for (const { worker } of threads) await worker.terminate();
    await Promise.all(threads.map((t) => t.ended));
  }
  return { rounds, reads };
}

/** A queued-read source closed while its reads are queued: each call gives checked data or an IoError. */
async function close(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  let reads = 0;
  for (let round = 0; round < rounds; round++) {
    const source = await DirectFileSource.open(data.path, { reads: 'queued', queueDepth: rng.int(1, 33) });
    const calls = Array.from({ length: rng.int(1, 20) }, async () => {
      const ranges = Array.from({ length: rng.int(1, 40) }, () => {
        const size = rng.int(0, 30_000);
        return { offset: rng.int(0, data.bytes.byteLength - size), size };
      });
      try {
        const leased = await source.readRangesLeased(ranges);
        leased.views.forEach((view, k) => {
          const { offset, size } = ranges[k]!;
          if (!Buffer.from(view).equals(data.bytes.subarray(offset, offset + size))) fail(`close storm: wrong bytes`);
        });
        leased.release();
        reads += ranges.length;
      } catch (error) {
        if (!(error instanceof LanceLoaderError && error.code === 'IO_ERROR')) throw error;
      }
    });
    for (let turns = rng.int(0, 4); turns > 0; turns--) await new Promise(setImmediate);
    await source.close();
    await Promise.all(calls);
  }
  return { rounds, reads };
}

/** What a detach case expects: a synchronous TypeError, done(ERR_TARGET_DETACHED), or a clean read. */
type Expect = 'throws' | 'detached' | 'reads';

/** Batches whose memory is detached or replaced before they settle (moved memory kept alive, as the contract asks). */
async function detach(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  const native = addon();
  const fd = openSync(data.path, 'r');
  const kept: unknown[] = [];
  let reads = 0;
  const transfer = (buffer: ArrayBufferLike) =>
    kept.push(structuredClone(buffer, { transfer: [buffer as ArrayBuffer] }));
  for (let round = 0; round < rounds; round++) {
    const b = randomBatch(rng, data, false);
    b.targets = b.targets.map((t) => new Uint8Array(Math.max(1, t.byteLength))); // detachable, non-empty
    b.positions = b.positions.map((p) => Math.min(p, data.bytes.byteLength - 1));
    b.results = new Float64Array(b.targets.length);
    const k = rng.int(0, Math.max(1, b.targets.length));
    const first = b.targets[0];
    const getter = (detachWhat: () => unknown) => () =>
      Object.defineProperty(b.targets, k, { get: () => (detachWhat(), new Uint8Array(1)) });
    // [what the batch should do, before the call, after the call, whether its bytes can be checked]
    const cases: Array<[Expect, () => unknown, () => unknown, boolean]> = [
      ['detached', () => {}, () => transfer((b.targets[k] as Uint8Array).buffer), false],
      ['detached', () => {}, () => transfer(b.results.buffer), false],
      ['reads', () => {}, () => b.targets.splice(0, b.targets.length), true],
      ['throws', getter(() => transfer(b.positions.buffer)), () => {}, false],
      ['throws', getter(() => transfer(b.results.buffer)), () => {}, false],
      // Detached before its pointer is taken, target 0 is an empty view: nothing is written to it.
      ['reads', getter(() => first && first.byteLength > 0 && transfer(first.buffer)), () => {}, false],
    ];
    const which = rng.int(0, cases.length);
    const [expected, before, after, checkBytes] = cases[which] as (typeof cases)[number];
    if (b.targets.length === 0) continue;
    const given = b.targets.slice();
    before();
    let outcome: Expect | undefined;
    const done = new Promise<void>((resolve) => {
      try {
        native.readBatchAsync(fd, b.positions, b.targets, rng.int(1, 17), false, b.results, 0, (error) => {
          outcome = error?.code === 'ERR_TARGET_DETACHED' ? 'detached' : error ? fail(String(error)) : 'reads';
          resolve();
        });
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        outcome = 'throws';
        resolve();
      }
    });
    after();
    gc();
    await done;
    if (outcome !== expected) fail(`detach case ${which}: ${outcome}, not ${expected}`);
    if (checkBytes) check(data, b.positions, given, b.results);
    reads += given.length;
    kept.length = 0;
    gc();
  }
  closeSync(fd);
  return { rounds, reads };
}

/** Processes that end with batches queued: exit, a worker's exit or termination, an uncaught exception. */
async function teardown(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  const queue = `
    const addon = require(process.env.LANCE_LOADER_NATIVE_ADDON);
    const fd = require('node:fs').openSync(${JSON.stringify(data.path)}, 'r');
    const targets = Array.from({ length: 200 }, () => new Uint8Array(8192));
    const positions = new Float64Array(200).map((_, i) => i * 8192);
    for (let i = 0; i < 6; i++) addon.readBatchAsync(fd, positions, targets, 4, false, new Float64Array(200), 0, () => {});
  `;
  const inWorker = (end: string) =>
    `const w = new (require('node:worker_threads').Worker)(${JSON.stringify(`${queue}; ${end}`)}, { eval: true });`;
  const endings: Array<[string, number]> = [
    [`${queue}; process.exit(0);`, 0],
    [`${queue}; setImmediate(() => process.exit(0));`, 0],
    [`${queue}; throw new Error('teardown storm');`, 1],
    [`${inWorker('process.exit(0)')} w.on('exit', (code) => process.exit(code));`, 0],
    [
      `${inWorker("require('node:worker_threads').parentPort.postMessage(1)")} w.once('message', () => w.terminate());`,
      0,
    ],
    [`${queue}; ${inWorker('')} setImmediate(() => process.exit(0));`, 0],
  ];
  for (let round = 0; round < rounds; round++) {
    const [source, code] = endings[rng.int(0, endings.length)]!;
    const ended = await promisify(execFile)(process.execPath, ['-e', source], { timeout: 60_000 }).then(
      ({ stderr }) => ({ code: 0, stderr }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: error.stderr ?? '' }),
    );
    // The parent looks for sanitizer reports on this process's stderr; the rest (the expected uncaught error) is noise.
    if (/Sanitizer|runtime error/.test(ended.stderr)) process.stderr.write(ended.stderr);
    if (ended.code !== code) fail(`teardown child exited with ${ended.code}, not ${code}: ${source}`);
  }
  return { rounds, processes: rounds };
}

/** Every function of the addon called with values drawn from a pool of bad and odd ones: a throw or a result, never a crash. */
async function badArguments(rounds: number, rng: Rng, data: Data): Promise<Counts> {
  const native = addon();
  const open = openSync(data.path, 'r');
  const closed = openSync(data.path, 'r');
  closeSync(closed);
  const directory = openSync('/', 'r');
  const numbers = [0, -1, 1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e300, -0];
  const fds = [open, closed, directory, 2 ** 31 - 1, ...numbers];
  const others = [undefined, null, '3', {}, [], () => {}, Symbol('x'), 3n, new Proxy([], {}), new Float32Array(2)];
  const pick = <T>(values: readonly T[]): T => values[rng.int(0, values.length)] as T;
  const positionsOf = (n: number) =>
    Float64Array.from({ length: n }, () =>
      pick([...numbers, data.bytes.byteLength, data.bytes.byteLength - 1, 9007199254740991, 9007199254740992]),
    );
  const targetsOf = (n: number) => {
    const targets: unknown[] = Array.from({ length: n }, () =>
      rng.int(0, 8) === 0 ? pick(others) : new Uint8Array(pick([0, 1, 7, 4096, 65536])),
    );
    if (rng.int(0, 6) === 0) targets.length += 1; // a hole, or more targets than positions
    return targets as Uint8Array[];
  };
  let calls = 0;
  let refused = 0;
  for (; calls < rounds * CALLS_PER_ROUND; calls++) {
    const n = rng.int(0, 6);
    const args = [
      rng.int(0, 3) === 0 ? pick(fds) : open,
      rng.int(0, 8) === 0 ? pick(others) : positionsOf(n),
      rng.int(0, 8) === 0 ? pick(others) : targetsOf(n),
      rng.int(0, 3) === 0 ? pick([...numbers, ...others]) : rng.int(1, 300),
      rng.int(0, 8) === 0 ? pick(others) : rng.int(0, 2) === 0,
      rng.int(0, 8) === 0 ? pick(others) : new Float64Array(Math.max(0, n + pick([0, 0, 1, -1]))),
      rng.int(0, 4) === 0 ? pick([...numbers, ...others]) : 0,
    ] as const;
    const arity = rng.int(0, 10) === 0 ? rng.int(0, 9) : 8;
    try {
      switch (rng.int(0, 5)) {
        case 0:
          (native.readBatch as (...a: unknown[]) => void)(...args.slice(0, Math.min(arity, 6)));
          break;
        case 1:
          await new Promise<void>((resolve, reject) => {
            try {
              (native.readBatchAsync as (...a: unknown[]) => void)(...[...args, () => resolve()].slice(0, arity));
            } catch (error) {
              reject(error as Error);
            }
          });
          break;
        case 2: {
          const source = new Uint8Array(pick([0, 1, 100]));
          const starts = rng.int(0, 4) === 0 ? pick(others) : positionsOf(n);
          const lengths = Uint32Array.from({ length: n }, () => pick([0, 1, 99, 0xffffffff]));
          native.gatherValues(new Uint8Array(pick([0, 100, 1 << 16])), source, starts as Float64Array, lengths);
          break;
        }
        case 3: {
          const mapping = native.mapFile(
            args[0] as number,
            rng.int(0, 2) === 0 ? data.bytes.byteLength : pick(numbers),
          );
          if (typeof mapping === 'string') break;
          try {
            const target = rng.int(0, 8) === 0 ? (pick(others) as object) : mapping;
            native.copyMapped(target, args[1] as Float64Array, args[2] as Uint8Array[], args[5] as Float64Array);
          } finally {
            native.unmapFile(mapping);
          }
          break;
        }
        default:
          native.hugePageBuffer(pick([...numbers, ...others, 2 ** 32 + 1]) as number);
      }
    } catch (error) {
      if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
      refused++;
    }
  }
  for (const fd of [open, directory]) closeSync(fd);
  return { rounds, calls, refused };
}

/** A random JPEG (smooth gradients and noise) of `width` × `height` from @napi-rs/image's encoder. */
function randomJpeg(rng: Rng, width: number, height: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  const noise = rng.int(0, 80);
  for (let i = 0; i < width * height; i++) {
    const [x, y] = [i % width, Math.floor(i / width)];
    rgba.set([(x * 255) / width + rng.int(0, noise + 1), (y * 255) / height, (x ^ y) & 255, 255], i * 4);
  }
  return new Uint8Array(Transformer.fromRgbaPixels(rgba, width, height).jpegSync(rng.int(10, 101)));
}

/**
 * decodeJpeg on random JPEGs, whole, cut short or with bytes flipped, each with a random crop, resize,
 * kept box, filter, channels, channel order, IDCT scaling and output type, and a scratch of the size it
 * asks for or smaller. A whole JPEG must decode; damaged bytes may decode or throw ERR_JPEG.
 */
async function jpeg(rounds: number, rng: Rng): Promise<Counts> {
  const decodeJpeg = addon().decodeJpeg;
  if (!decodeJpeg) return { rounds: 0, decodes: 0, corrupt: 0 };
  let decodes = 0;
  let corrupt = 0;
  const box = (size: number): [number, number] => {
    const length = rng.int(1, size + 1);
    return [rng.int(0, size - length + 1), length];
  };
  for (let round = 0; round < rounds; round++) {
    const [width, height] = [rng.int(1, 300), rng.int(1, 300)];
    const whole = randomJpeg(rng, width, height);
    for (let call = 0; call < 20; call++) {
      const kind = rng.int(0, 3); // whole, cut short, bytes flipped
      let bytes = whole;
      if (kind === 1) bytes = whole.subarray(0, rng.int(2, whole.length));
      if (kind === 2) {
        bytes = whole.slice();
        for (let k = rng.int(1, 20); k > 0; k--) bytes[rng.int(0, bytes.length)] = rng.int(0, 256);
      }
      const [left, cropWidth] = box(width);
      const [top, cropHeight] = box(height);
      const [resizeWidth, resizeHeight] = [rng.int(1, 260), rng.int(1, 260)];
      const [keepLeft, keepWidth] = box(resizeWidth);
      const [keepTop, keepHeight] = box(resizeHeight);
      const channels = [1, 3, 4][rng.int(0, 3)] as number;
      const params = Float64Array.of(
        width,
        height,
        left,
        top,
        cropWidth,
        cropHeight,
        resizeWidth,
        resizeHeight,
        keepLeft,
        keepTop,
        keepWidth,
        keepHeight,
        rng.int(0, 3),
        rng.int(0, 2),
        channels,
        rng.int(0, 2),
        [1, 2, 4, 8][rng.int(0, 4)] as number,
        0.5,
        1,
        2,
        3,
        -1,
        0,
        1,
        2,
      );
      const values = keepWidth * keepHeight * channels;
      const out = rng.int(0, 2) === 0 ? new Uint8Array(values) : new Float32Array(values);
      try {
        let result = decodeJpeg(bytes, params, new Uint8Array(rng.int(0, 64)), out);
        if (result > 0) result = decodeJpeg(bytes, params, new Uint8Array(result + rng.int(0, 2) * 16), out);
        if (result !== 0) fail(`decodeJpeg returned ${result} for a ${width} × ${height} JPEG`);
        decodes++;
      } catch (error) {
        if (kind === 0 || (error as { code?: string }).code !== 'ERR_JPEG') throw error;
        corrupt++;
      }
    }
    gc();
  }
  return { rounds, decodes, corrupt };
}

const STORMS = { concurrent, workers, close, detach, teardown, arguments: badArguments, jpeg };

if (!isMainThread) {
  await readerThread();
} else {
  const [storm, rounds, seed, path] = process.argv.slice(2);
  const run = STORMS[storm as keyof typeof STORMS];
  if (!run || path === undefined) fail(`usage: sanitize-storm.ts ${Object.keys(STORMS).join('|')} ROUNDS SEED FILE`);
  addon();
  const counts = await run(Number(rounds), new Rng(Number(seed)), { path, bytes: new Uint8Array(readFileSync(path)) });
  console.log(JSON.stringify({ storm, ...counts }));
}

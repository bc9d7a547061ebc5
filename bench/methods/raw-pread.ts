/**
 * The raw ceiling: the suite's shuffled rows read as plain positional reads of the row's stored size,
 * with no format, planning or decoding, from Node worker threads (`fs.readSync`, one read per row, the
 * threads taking batches from a shared counter), and from `fio` when it is installed.
 *
 * Where a row's bytes are: the dataset's data files are taken as one row-major byte space of
 * `rowBytes = data bytes / rows` per row, so row r is read at r × rowBytes, rowBytes long. That is the
 * row's real size (exact for fixed-width rows up to page headers, the mean for images) and its region of
 * the file, without asking the library where pages are.
 *
 *   pread buffered warm ×T   files read into the page cache first; T threads; the suite's warm protocol
 *                            (an untimed warm-up epoch, then whole epochs until MIN_WARM_TIMED_SECONDS)
 *   pread O_DIRECT ×T        O_DIRECT, each read widened to 4 KiB boundaries (the alignment O_DIRECT
 *                            needs); the buffer's offset is probed as io/align.ts does
 *   fio qd32 / qd1           fio randread, libaio, direct=1, on the largest data file, time-based; rows/s =
 *                            reads/s (one read per row). bs = rowBytes rounded up to the device's O_DIRECT
 *                            block (probed as the loader does: 512 here, else 4096), at offsets aligned to
 *                            that block: the reads a row costs the loader
 *   fio qd32 4K-aligned      the same with bs rounded up to 4 KiB at 4 KiB-aligned offsets: the disk's rate
 *                            for whole aligned pages, which rows that straddle 4 KiB boundaries do not get
 *
 * fio is optional: without it the fio rows are reported as skipped (`apt-get install -y fio`).
 * Run by bench/run.ts: `node --import tsx bench/methods/raw-pread.ts <task.json>`.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { probeDirectAlignment, probeDirectBlockBytes, PROBE_READ_BYTES, PROBE_SCAN_BYTES } from '../../io/align.js';
import { warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  procIoSince,
  rate,
  readProcIo,
  runMethodProcess,
  warmUpDeadline,
  MIN_WARM_TIMED_SECONDS,
  WARM_UP_EPOCH_OFFSET,
  type Measurement,
  type MethodTask,
} from '../suite.js';

/** The worker: plain JavaScript (eval), so it needs no TypeScript loader in the thread. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { files, fileStarts, rowBytes, warmUpOrder, order, batchSize, counter, direct, control } = workerData;
const fds = files.map((f) => fs.openSync(f.path, direct ? fs.constants.O_RDONLY | fs.constants.O_DIRECT : 'r'));
const maxLength = direct ? Math.ceil((rowBytes + 4096) / 4096) * 4096 + 4096 : rowBytes;
const sab = new SharedArrayBuffer(maxLength + 8192);
let base = 0;
if (direct) {
  // Find a view offset whose address is 512-byte aligned: a full 4 KiB read at a 4 KiB file position.
  base = -1;
  for (let off = 0; off < 4096 && base < 0; off += 16) {
    try { fs.readSync(fds[0], new Uint8Array(sab, off, 4096), 0, 4096, 0); base = off; } catch {}
  }
  if (base < 0) throw new Error('no O_DIRECT-aligned offset found in the buffer');
}
const view = new Uint8Array(sab, base, maxLength);
const next = new Int32Array(counter);
const numBatches = Math.ceil(order.byteLength / 4 / batchSize);
// control, set by the main thread: Int32 [0] = phase (0 wait, 1 warm-up, 2 timed), [1] = no batch from
// this index on; Float64 [1] = deadline (Date.now() ms), [2] = when the timed phase started, [3] = timed
// ms after which the end of an epoch stops it.
const phase = new Int32Array(control, 0, 2);
const times = new Float64Array(control, 8, 3);
let reads = 0, bytes = 0, cut = false;
function readRow(row) {
  const at = row * rowBytes;
  let f = 0;
  while (f + 1 < fileStarts.length && fileStarts[f + 1] <= at) f++;
  let position = at - fileStarts[f];
  let length = Math.min(rowBytes, files[f].size - position);
  if (direct) {
    const start = Math.floor(position / 4096) * 4096;
    length = Math.ceil((position + length) / 4096) * 4096 - start;
    position = start;
  }
  const n = fs.readSync(fds[f], view, 0, length, position);
  if (n <= 0) throw new Error('read of ' + length + ' bytes at ' + position + ' returned ' + n);
  reads++;
  bytes += n;
}
// Takes batches from the shared counter until the deadline or the limit; a batch index past one epoch
// wraps around (whole epochs repeat the order). Returns the rows read.
function run(rows, deadline, timed) {
  let done = 0;
  for (;;) {
    if (Date.now() > deadline) {
      cut = true;
      break;
    }
    const b = Atomics.add(next, 0, 1);
    if (b >= Atomics.load(phase, 1)) break;
    if (timed && b > 0 && b % numBatches === 0 && Date.now() - times[1] >= times[2]) {
      // An epoch ended with enough time timed: no batch from here on (other threads may be one batch past).
      let limit = Atomics.load(phase, 1);
      while (b < limit) {
        const seen = Atomics.compareExchange(phase, 1, limit, b);
        if (seen === limit) break;
        limit = seen;
      }
      break;
    }
    const start = (b % numBatches) * batchSize;
    const end = Math.min(rows.length, start + batchSize);
    for (let i = start; i < end; i++) readRow(rows[i]);
    done += end - start;
  }
  return done;
}
parentPort.postMessage({ ready: true });
Atomics.wait(phase, 0, 0);
if (Atomics.load(phase, 0) === 1) {
  run(new Uint32Array(warmUpOrder), times[0], false);
  parentPort.postMessage({ warmedUp: true });
  Atomics.wait(phase, 0, 1);
}
reads = 0;
bytes = 0;
cut = false;
const done = run(new Uint32Array(order), times[0], true);
for (const fd of fds) fs.closeSync(fd);
parentPort.postMessage({ done, reads, bytes, cut });
`;

interface WorkerReport {
  done: number;
  reads: number;
  bytes: number;
  /** The deadline stopped the worker before the last epoch ended. */
  cut: boolean;
}

/** The rows of every batch of `epoch`, one after another. */
function epochOrder(task: MethodTask, epoch: number): SharedArrayBuffer {
  const sampler = createSampler(task.dataset, task.seed);
  const order = new SharedArrayBuffer(task.dataset.rows * 4);
  const view = new Uint32Array(order);
  let at = 0;
  for (let b = 0; b < sampler.numBatches(); b++) {
    const rows = sampler.batch(epoch, b);
    view.set(rows, at);
    at += rows.length;
  }
  return order;
}

async function preadRun(
  task: MethodTask,
  threads: number,
  direct: boolean,
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  const { dataset } = task;
  const files = dataset.dataFiles;
  const fileStarts: number[] = [];
  let total = 0;
  for (const f of files) {
    fileStarts.push(total);
    total += f.sizeBytes;
  }
  const rowBytes = Math.floor(dataset.dataBytes / dataset.rows);
  if (!direct) warmFiles(files.map((f) => f.path));
  const numBatches = createSampler(dataset, task.seed).numBatches();
  const counter = new SharedArrayBuffer(4);
  const control = new SharedArrayBuffer(32);
  const phase = new Int32Array(control, 0, 2);
  const times = new Float64Array(control, 8, 3);
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const warmedUp: Promise<void>[] = [];
  const reports: Promise<WorkerReport>[] = [];
  for (let t = 0; t < threads; t++) {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        files: files.map((f) => ({ path: f.path, size: f.sizeBytes })),
        fileStarts,
        rowBytes,
        warmUpOrder: epochOrder(task, task.epoch + WARM_UP_EPOCH_OFFSET),
        order: epochOrder(task, task.epoch),
        batchSize: dataset.batchSize,
        counter,
        direct,
        control,
      },
    });
    workers.push(worker);
    let resolveReady!: () => void;
    let resolveWarmedUp!: () => void;
    ready.push(new Promise<void>((r) => (resolveReady = r)));
    warmedUp.push(new Promise<void>((r) => (resolveWarmedUp = r)));
    reports.push(
      new Promise<WorkerReport>((resolve, reject) => {
        worker.on('message', (m: { ready?: boolean; warmedUp?: boolean } & WorkerReport) =>
          m.ready ? resolveReady() : m.warmedUp ? resolveWarmedUp() : resolve(m),
        );
        worker.on('error', reject);
        worker.on('exit', (code) => (code !== 0 ? reject(new Error(`pread worker exited with ${code}`)) : undefined));
      }),
    );
  }
  let done: WorkerReport[];
  let ms: number;
  let io: ReturnType<typeof readProcIo>;
  try {
    await Promise.race([Promise.all(ready), Promise.all(reports)]);
    const start = (which: 1 | 2) => {
      Atomics.store(phase, 0, which);
      Atomics.notify(phase, 0);
    };
    // Warm: the suite's warm protocol (suite.ts measureWarm), in the threads: one untimed epoch of
    // another epoch's order, then whole epochs timed until MIN_WARM_TIMED_SECONDS (later epochs repeat
    // the suite's order: a read from the page cache costs the same in any order). O_DIRECT: one epoch.
    if (!direct) {
      Atomics.store(phase, 1, numBatches);
      times[0] = warmUpDeadline(task) - performance.now() + Date.now();
      start(1);
      await Promise.race([Promise.all(warmedUp), Promise.all(reports)]);
    }
    Atomics.store(new Int32Array(counter), 0, 0);
    Atomics.store(phase, 1, direct ? numBatches : 0x7fffffff);
    times[2] = direct ? 0 : MIN_WARM_TIMED_SECONDS * 1000;
    io = readProcIo();
    rss.reset();
    const t0 = performance.now();
    times[1] = Date.now();
    times[0] = times[1] + task.maxSeconds * 1000;
    start(2);
    done = await Promise.all(reports);
    ms = performance.now() - t0;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const rows = done.reduce((s, r) => s + r.done, 0);
  const m: Measurement = {
    method: 'raw-pread',
    variant: `pread ${direct ? 'O_DIRECT' : 'buffered warm'} ×${threads}`,
    cache: direct ? 'direct' : 'warm',
    rows,
    ms,
    rowsPerSecond: rate(rows, ms),
    complete: !done.some((r) => r.cut),
    bytesRead: done.reduce((s, r) => s + r.bytes, 0),
    readsIssued: done.reduce((s, r) => s + r.reads, 0),
    peakRssBytes: rss.peak(),
    proc: procIoSince(io),
    note: `${threads} worker thread${threads > 1 ? 's' : ''}, one readSync of ${rowBytes} bytes per row${direct ? ' widened to 4 KiB boundaries' : ''}`,
  };
  log(task, describe(m));
  return m;
}

function fioVersion(): string | undefined {
  try {
    return execFileSync('fio', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The O_DIRECT offset granularity of `path`'s device, probed as DirectFileSource does (512 or 4096). */
function directBlockBytes(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  try {
    const probe = new SharedArrayBuffer(PROBE_SCAN_BYTES + PROBE_READ_BYTES);
    return probeDirectAlignment(fd, probe) === null ? 4096 : probeDirectBlockBytes(fd, probe);
  } finally {
    closeSync(fd);
  }
}

function fioRun(task: MethodTask, iodepth: number, block: 'device' | 4096): Measurement {
  const { dataset } = task;
  const file = [...dataset.dataFiles].sort((a, b) => b.sizeBytes - a.sizeBytes)[0];
  if (!file) throw new Error('no data file');
  const rowBytes = Math.floor(dataset.dataBytes / dataset.rows);
  const blockBytes = block === 'device' ? directBlockBytes(file.path) : block;
  const bs = Math.ceil(rowBytes / blockBytes) * blockBytes;
  const size = Math.floor(file.sizeBytes / bs) * bs;
  if (size < bs) throw new Error(`data file of ${file.sizeBytes} bytes is smaller than one ${bs}-byte read`);
  const runtime = task.quick ? 2 : 10;
  const args = [
    '--name=rowread',
    `--filename=${file.path}`,
    '--readonly',
    '--rw=randread',
    `--bs=${bs}`,
    `--blockalign=${blockBytes}`,
    `--iodepth=${iodepth}`,
    '--ioengine=libaio',
    '--direct=1',
    `--size=${size}`,
    `--runtime=${runtime}`,
    '--time_based',
    '--norandommap',
    '--numjobs=1',
    '--output-format=json',
  ];
  const out = execFileSync('fio', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const json = JSON.parse(out.slice(out.indexOf('{'))) as {
    jobs: { read: { iops: number; io_bytes: number; runtime: number; total_ios: number } }[];
  };
  const read = json.jobs[0]?.read;
  if (!read) throw new Error('fio printed no read job');
  const m: Measurement = {
    method: 'raw-pread',
    variant: `fio qd${iodepth}${block === 4096 ? ' 4K-aligned' : ''}`,
    cache: 'direct',
    rows: read.total_ios,
    ms: read.runtime,
    rowsPerSecond: read.iops,
    complete: true,
    bytesRead: read.io_bytes,
    readsIssued: read.total_ios,
    note: `fio randread libaio direct=1 bs=${bs} blockalign=${blockBytes} iodepth=${iodepth} ${runtime} s on ${file.path.split('/').slice(-3).join('/')}`,
  };
  log(task, describe(m));
  return m;
}

await runMethodProcess(async (task, result) => {
  const rss = createRssSampler();
  const attempt = async (what: string, fn: () => Promise<Measurement> | Measurement) => {
    try {
      result.measurements.push(await fn());
    } catch (error) {
      result.errors.push(`${what}: ${(error as Error).message}`);
      log(task, `${what} failed: ${(error as Error).message}`);
    }
  };
  for (const threads of [1, 4]) await attempt(`pread buffered ×${threads}`, () => preadRun(task, threads, false, rss));
  for (const threads of [1, 4]) await attempt(`pread O_DIRECT ×${threads}`, () => preadRun(task, threads, true, rss));
  const fio = fioVersion();
  if (!fio) result.skipped.push('fio is not installed (optional: apt-get install -y fio)');
  else {
    for (const qd of [32, 1]) await attempt(`fio qd${qd}`, () => fioRun(task, qd, 'device'));
    await attempt('fio qd32 4K-aligned', () => fioRun(task, 32, 4096));
  }
  rss.stop();
});

/**
 * Random 4 KiB reads per second: DirectFileSource with O_DIRECT at several queue depths, next to buffered
 * reads from a cold and a warm page cache, on a 1 GiB file of random bytes in bench/.data.
 *
 *   npx tsx bench/direct-read.ts [--reads N] [--batch B] [--gib G]
 *   UV_THREADPOOL_SIZE=32 npx tsx bench/direct-read.ts      (libuv runs at most 4 reads at once by default)
 *
 * Each run reads N ranges of 4096 bytes at random 4096-aligned offsets, B ranges per readRangesLeased call
 * (no coalescing). "Cold" buffered runs first evict the file from the page cache with
 * `dd iflag=nocache count=0` (posix_fadvise DONTNEED on the whole file; `fincore` confirms), else with
 * the global drop_caches (needs root). O_DIRECT runs bypass the cache, so they are cold.
 * A baseline of synchronous O_DIRECT readSync in one thread shows the cost of the async machinery.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DirectFileSource } from '../io/direct-source.js';
import { createSlabPool } from '../io/slab.js';

const { values: args } = parseArgs({
  options: {
    reads: { type: 'string', default: '40000' },
    batch: { type: 'string', default: '1024' },
    gib: { type: 'string', default: '1' },
  },
});
const reads = Number(args.reads);
const batch = Number(args.batch);
const fileBytes = Number(args.gib) * 1024 ** 3;
const dataDir = join(import.meta.dirname, '.data');
mkdirSync(dataDir, { recursive: true });
const path = join(dataDir, `random-${args.gib}g.bin`);

if (!existsSync(path) || statSync(path).size !== fileBytes) {
  console.log(`writing ${path} (${fileBytes} bytes of random data)...`);
  const fd = openSync(path, 'w');
  const chunk = new Uint8Array(16 * 1024 * 1024);
  for (let at = 0; at < fileBytes; at += chunk.length)
    writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, fileBytes - at));
  closeSync(fd);
}

function evict(): string {
  // Per file first: the global drop_caches would also cool everyone else's page cache.
  try {
    execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
    if (cachedPercent() === '0.0%') return 'dd iflag=nocache';
  } catch {
    // dd without nocache support: fall through to dropping the whole page cache.
  }
  execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
  return 'drop_caches';
}

function cachedPercent(): string {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], {
      encoding: 'utf8',
    }).trim();
    return `${((100 * Number(out)) / fileBytes).toFixed(1)}%`;
  } catch {
    return '?';
  }
}

function warm(): void {
  execFileSync('sh', ['-c', `cat '${path}' > /dev/null`]);
}

let seed = 12345;
function randomOffsets(n: number): number[] {
  const blocks = fileBytes / 4096;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const hi = seed;
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out.push(Math.floor(((hi * 65536 + (seed >>> 16)) / 2 ** 48) * blocks) * 4096);
  }
  return out;
}

async function runSource(direct: boolean, queueDepth: number): Promise<number> {
  const pool = createSlabPool({ slabBytes: 8 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  const source = await DirectFileSource.open(path, {
    direct,
    queueDepth,
    pool,
    coalesce: { maxGapBytes: 0, maxReadBytes: 4096 },
  });
  if (source.mode !== (direct ? 'direct' : 'buffered'))
    throw new Error(`expected ${direct ? 'direct' : 'buffered'} mode, got ${source.mode}: ${source.stats.modeReason}`);
  const offsets = randomOffsets(reads);
  const started = performance.now();
  for (let at = 0; at < reads; at += batch) {
    const ranges = offsets.slice(at, at + batch).map((offset) => ({ offset, size: 4096 }));
    const { release } = await source.readRangesLeased(ranges);
    release();
  }
  const seconds = (performance.now() - started) / 1000;
  await source.close();
  return reads / seconds;
}

function runSyncDirect(): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  const sab = new SharedArrayBuffer(16384);
  let phase = -1;
  for (let off = 0; off < 4096 && phase < 0; off += 16) {
    try {
      readSync(fd, new Uint8Array(sab, off, 4096), 0, 4096, 0);
      phase = off;
    } catch {
      // EINVAL: this view offset is not aligned for O_DIRECT; try the next one.
    }
  }
  const view = new Uint8Array(sab, phase, 4096);
  const offsets = randomOffsets(reads);
  const started = performance.now();
  for (const offset of offsets) readSync(fd, view, 0, 4096, offset);
  const seconds = (performance.now() - started) / 1000;
  closeSync(fd);
  return reads / seconds;
}

const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
console.log(
  `random 4 KiB reads, ${reads} per run, ${batch} per call, file ${fileBytes} bytes, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
);
console.log(`O_DIRECT readSync, one thread (baseline): ${fmt(runSyncDirect())}`);
for (const qd of [1, 8, 32])
  console.log(`O_DIRECT DirectFileSource, queue depth ${qd}: ${fmt(await runSource(true, qd))}`);
for (const qd of [1, 8, 32]) {
  const how = evict();
  const before = cachedPercent();
  const rate = await runSource(false, qd);
  console.log(
    `buffered, cold cache (${how}; cached before ${before}, after ${cachedPercent()}), queue depth ${qd}: ${fmt(rate)}`,
  );
}
warm();
for (const qd of [1, 8, 32])
  console.log(
    `buffered, warm cache (${cachedPercent()} cached), queue depth ${qd}: ${fmt(await runSource(false, qd))}`,
  );

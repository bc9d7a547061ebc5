/**
 * The remote part of the benchmarks: lance-loader reading s3:// datasets from a local S3 server (s3rver)
 * behind a proxy that delays every request by --latency-ms (20 by default), against LanceDB's
 * `takeOffsets` on the same URLs through the same proxy, on the same shuffled batches.
 *
 *   shuffled   emb 2.1 and images: the first --batches batches of epoch 1 (seed 42, 256 rows), lance-loader
 *              (createLoader not timed) vs LanceDB takeOffsets with 1 and 4 batches in flight
 *   bandwidth  seed000 (500 × 422 KB): a whole shuffled epoch's bytes per second against the link's own
 *              rate (every data file fetched in 8 MiB ranges, 16 at a time, through the same proxy)
 *   cache      emb with io.remote.cacheDir: epoch 0 fills the cache, epoch 1 is timed, against the same
 *              loader on the local copy (warm page cache, epoch 0 untimed)
 *
 * Datasets come from bench/.data (bench/datasets.ts writes them once; bench/README.md says how to link
 * another checkout's) and are uploaded to the server, whose objects live in a temporary directory.
 * Run alone: `npx tsx bench/remote.ts [--latency-ms 20] [--batches 30] [--workers 2] [--emb-rows 200000]
 * [--images-rows 20000] [--cache-rows 10000] [--only shuffled,bandwidth,cache]`. Prints a markdown table;
 * numbers go in bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import * as lancedb from '@lancedb/lancedb';
import { AwsClient } from 'aws4fetch';
import { createLoader, type LoaderOptions } from '../index.js';
import { ensureBenchDataset, type BenchKind } from './datasets.js';

const argv = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}
const LATENCY_MS = option('latency-ms', 20);
const BATCHES = option('batches', 30);
const WORKERS = option('workers', 2);
const ONLY = new Set((argv[argv.indexOf('--only') + 1] ?? '').split(','));
/** Whether part `name` runs (all of them without --only). */
const runs = (name: 'shuffled' | 'bandwidth' | 'cache') => !argv.includes('--only') || ONLY.has(name);
const KEY = { awsAccessKeyId: 'S3RVER', awsSecretAccessKey: 'S3RVER', region: 'us-east-1' };

/** Starts bench/remote-server.ts; resolves to its endpoints and a stop function. */
async function startServer(): Promise<{ endpoint: string; delayed: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'remote-server.ts'), String(LATENCY_MS)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench/remote-server.ts exited with ${code}`)));
  });
  const { endpoint, delayed } = JSON.parse(line) as { endpoint: string; delayed: string };
  return { endpoint, delayed, stop: () => child.kill('SIGTERM') };
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** Uploads the dataset at `local` to s3://bench/db/<name> straight to the server (no delay). */
async function upload(local: string, endpoint: string): Promise<string> {
  const client = new AwsClient({
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    service: 's3',
  });
  const files = filesUnder(local);
  const name = basename(local);
  for (let i = 0; i < files.length; i += 8) {
    await Promise.all(
      files.slice(i, i + 8).map(async (file) => {
        const response = await client.fetch(`${endpoint}/bench/db/${name}/${file}`, {
          method: 'PUT',
          body: readFileSync(join(local, file)),
        });
        if (!response.ok) throw new Error(`upload of ${file}: HTTP ${response.status}`);
      }),
    );
  }
  return `s3://bench/db/${name}`;
}

interface LoaderRun {
  rowsPerSecond: number;
  batches: number[][];
  bytesRead: number;
  bytesDelivered: number;
}

/** Times `limit` batches (all when undefined) of `epoch`, after `untimed` whole epochs. */
async function runLoader(
  location: string,
  options: LoaderOptions,
  epoch: number,
  limit: number | undefined,
  untimed: number[] = [],
): Promise<LoaderRun> {
  const loader = await createLoader(location, { seed: 42, workers: WORKERS, ...options });
  try {
    for (const e of untimed) for await (const batch of loader.epoch(e)) batch.release();
    const before = loader.metrics();
    const batches: number[][] = [];
    let rows = 0;
    const started = performance.now();
    for await (const batch of loader.epoch(epoch)) {
      batches.push(Array.from(batch.rowOffsets));
      rows += batch.numRows;
      batch.release();
      if (limit !== undefined && batches.length >= limit) break;
    }
    const seconds = (performance.now() - started) / 1000;
    const after = loader.metrics();
    return {
      rowsPerSecond: rows / seconds,
      batches,
      bytesRead: after.bytesRead - before.bytesRead,
      bytesDelivered: after.bytesDelivered - before.bytesDelivered,
    };
  } finally {
    await loader.close();
  }
}

/** LanceDB `takeOffsets` of `batches` with `inFlight` batches at once, through `endpoint`; rows/s. */
async function runLanceDb(url: string, endpoint: string, batches: number[][], inFlight: number): Promise<number> {
  const storageOptions = { ...KEY, endpoint, allowHttp: 'true' };
  const db = await lancedb.connect('s3://bench/db', { storageOptions });
  const table = await db.openTable(basename(url).replace(/\.lance$/, ''));
  try {
    await table.takeOffsets(batches[0] as number[]).toArrow();
    let next = 0;
    let rows = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < batches.length) {
          const batch = batches[next++] as number[];
          rows += (await table.takeOffsets(batch).toArrow()).numRows;
        }
      }),
    );
    return rows / ((performance.now() - started) / 1000);
  } finally {
    table.close();
    db.close();
  }
}

/**
 * The link's rate through `endpoint`: every data file of `local` fetched in 8 MiB ranges, 1, 4 and 16 at a
 * time; the best, in bytes/s (s3rver serves parallel large ranges far more slowly than one at a time).
 */
async function linkBytesPerSecond(local: string, url: string, endpoint: string): Promise<number> {
  const client = new AwsClient({
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    service: 's3',
  });
  const key = url.replace('s3://bench/', '');
  const ranges: { file: string; start: number; end: number }[] = [];
  for (const file of readdirSync(join(local, 'data'))) {
    const size = statSync(join(local, 'data', file)).size;
    for (let start = 0; start < size; start += 8 << 20)
      ranges.push({ file, start, end: Math.min(size, start + (8 << 20)) - 1 });
  }
  let best = 0;
  for (const inFlight of [1, 4, 16]) {
    let next = 0;
    let bytes = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < ranges.length) {
          const { file, start, end } = ranges[next++] as (typeof ranges)[number];
          const response = await client.fetch(`${endpoint}/bench/${key}/data/${file}`, {
            headers: { range: `bytes=${start}-${end}` },
          });
          if (response.status !== 206)
            throw new Error(`link measurement: ${file} bytes ${start}-${end}: HTTP ${response.status}`);
          bytes += (await response.arrayBuffer()).byteLength;
        }
      }),
    );
    best = Math.max(best, bytes / ((performance.now() - started) / 1000));
  }
  return best;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const server = await startServer();
const cacheDir = mkdtempSync(join(tmpdir(), 'lance-loader-bench-cache-'));
const lines: string[] = [];
try {
  const storage = { ...KEY, endpoint: server.delayed, allowHttp: 'true' };
  lines.push(`latency ${LATENCY_MS} ms per request, ${WORKERS} workers, first ${BATCHES} batches of epoch 1`, '');
  lines.push(
    '| dataset | lance-loader rows/s | LanceDB take ×1 | ×4 | ratio (best) | bytes read ÷ delivered |',
    '|---|---:|---:|---:|---:|---:|',
  );
  const shuffled: [BenchKind, number][] = runs('shuffled')
    ? [
        ['emb', option('emb-rows', 200_000)],
        ['images', option('images-rows', 20_000)],
      ]
    : [];
  for (const [kind, rows] of shuffled) {
    const local = await ensureBenchDataset(kind, rows, '2.1');
    const url = await upload(local, server.endpoint);
    const ours = await runLoader(url, { batchSize: 256, storage }, 1, BATCHES);
    const one = await runLanceDb(url, server.delayed, ours.batches, 1);
    const four = await runLanceDb(url, server.delayed, ours.batches, 4);
    lines.push(
      `| ${basename(local)} | ${fmt(ours.rowsPerSecond)} | ${fmt(one)} | ${fmt(four)} | ${(ours.rowsPerSecond / Math.max(one, four)).toFixed(2)}× | ${(ours.bytesRead / ours.bytesDelivered).toFixed(2)} |`,
    );
    console.error(lines.at(-1));
  }
  if (runs('bandwidth')) {
    const seed = await ensureBenchDataset('seed000', 500, '2.1');
    const seedUrl = await upload(seed, server.endpoint);
    const link = await linkBytesPerSecond(seed, seedUrl, server.delayed);
    lines.push('', `seed000: the link (best of 1, 4, 16 ranges of 8 MiB in flight) ${fmt(link / 1e6)} MB/s`);
    for (const bytesInFlight of [undefined, 8 << 20]) {
      const remote = bytesInFlight === undefined ? {} : { bytesInFlight };
      const epoch = await runLoader(seedUrl, { batchSize: 16, storage, io: { remote } }, 1, undefined, [0]);
      const rate = (epoch.rowsPerSecond * epoch.bytesDelivered) / epoch.batches.flat().length;
      lines.push(
        `seed000 shuffled epoch, io.remote.bytesInFlight ${bytesInFlight ?? 'default (256 MiB)'}: ${fmt(rate / 1e6)} MB/s delivered (${fmt(epoch.rowsPerSecond)} rows/s), ${(rate / link).toFixed(2)}× the link`,
      );
      console.error(lines.at(-1));
    }
  }
  if (runs('cache')) {
    const small = await ensureBenchDataset('emb', option('cache-rows', 10_000), '2.1');
    const smallUrl = await upload(small, server.endpoint);
    const cached = await runLoader(
      smallUrl,
      { batchSize: 256, storage, io: { remote: { cacheDir } } },
      1,
      undefined,
      [0],
    );
    const local = await runLoader(small, { batchSize: 256 }, 1, undefined, [0]);
    lines.push(
      `${basename(small)} epoch 1 from the range cache: ${fmt(cached.rowsPerSecond)} rows/s (network bytes ${fmt(cached.bytesRead)}), local warm ${fmt(local.rowsPerSecond)} rows/s: ${(cached.rowsPerSecond / local.rowsPerSecond).toFixed(2)}×`,
    );
  }
  console.log(lines.join('\n'));
} finally {
  server.stop();
  rmSync(cacheDir, { recursive: true, force: true });
}

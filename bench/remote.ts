/**
 * The remote part of the benchmarks: lance-loader reading s3:// datasets from a local object store that
 * answers every request after --latency-ms (20 by default), against LanceDB's `takeOffsets` on the same
 * URLs and store, on the same shuffled batches. The store (bench/remote-server.ts) runs in processes of its
 * own: by default a lean S3 read endpoint over bench/.data with --server-processes cluster workers
 * (`--store s3rver`: s3rver behind a delaying proxy, the datasets uploaded to it first).
 *
 *   shuffled   emb (2.1 and 2.2) and images (2.1): the first --batches batches of epoch 1 (seed 42, 256 rows), lance-loader
 *              (createLoader not timed; default options, then with --prefetch batches ahead, with a
 *              --gap-kib merge gap, and with --prefetch and --concurrency requests in flight) vs LanceDB takeOffsets with 1 and 4 batches in flight; for each, the
 *              requests per row, the store's CPU per request and the reading process's CPU per request
 *   bandwidth  seed000 (500 × 422 KB): a whole shuffled epoch's bytes per second against the link's own
 *              rate (every data file fetched in 8 MiB ranges, 1, 4 or 16 at a time, the best)
 *   cache      emb with io.remote.cacheDir: epoch 0 fills the cache, epochs 1 to --cache-epochs are timed,
 *              against the same loader (prefetch 4 both) on the local copy (warm page cache, epoch 0 untimed); --cache-pairs
 *              pairs run alternately (the cache stays filled after the first), each with its CPU per row
 *
 * Datasets come from bench/.data (bench/datasets.ts writes them once; bench/README.md says how to link
 * another checkout's). Run alone: `npx tsx bench/remote.ts [--latency-ms 20] [--batches 120] [--workers 2]
 * [--store lean|s3rver] [--server-processes 2] [--prefetch 16] [--gap-kib 1024] [--concurrency 1024] [--emb-rows 200000]
 * [--images-rows 20000] [--cache-rows 10000] [--cache-epochs 20] [--cache-pairs 3] [--only shuffled,bandwidth,cache]`, or as part of the suite
 * (`npm run bench -- --only remote`). Prints a markdown table; numbers go in bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import * as lancedb from '@lancedb/lancedb';
import { AwsClient } from 'aws4fetch';
import { request } from 'undici';
import { createLoader, type LoaderOptions } from '../index.js';
import { uploadDirectory } from '../test/io/remote/servers.js';
import { dataDir, ensureBenchDataset, type BenchKind } from './datasets.js';

const argv = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}
const LATENCY_MS = option('latency-ms', 20);
const BATCHES = option('batches', 120);
const WORKERS = option('workers', 2);
const PREFETCH = option('prefetch', 16);
const GAP_KIB = option('gap-kib', 1024);
const CONCURRENCY = option('concurrency', 1024);
/**
 * The cache part's prefetch for both loaders: a local dataset's default. A remote dataset's default (16)
 * keeps round trips in flight; an epoch from the range cache has none, and the part compares reading
 * from the cache with reading the local copy, so both loaders get the same options but the URL.
 */
const LOCAL_PREFETCH = 4;
const STORE = argv.includes('--store') ? argv[argv.indexOf('--store') + 1] : 'lean';
const ONLY = new Set((argv[argv.indexOf('--only') + 1] ?? '').split(','));
/** Whether part `name` runs (all of them without --only). */
const runs = (name: 'shuffled' | 'bandwidth' | 'cache') => !argv.includes('--only') || ONLY.has(name);
const KEY = { awsAccessKeyId: 'S3RVER', awsSecretAccessKey: 'S3RVER', region: 'us-east-1' };

interface Server {
  /** The store without the added latency (uploads), and with it (what the readers use). */
  endpoint: string;
  delayed: string;
  /** Requests served and CPU spent by the store so far (lean store; zeros for s3rver). */
  stats: () => Promise<{ requests: number; cpuMs: number }>;
  stop: () => void;
}

/** Starts bench/remote-server.ts over bench/.data. */
async function startServer(): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'remote-server.ts'),
      ...['--store', String(STORE), '--dir', dataDir, '--bucket', 'bench'],
      ...['--delay-ms', String(LATENCY_MS), '--processes', String(option('server-processes', 2))],
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error(`bench/remote-server.ts exited with ${child.exitCode}`);
    return JSON.parse(line.value) as unknown;
  };
  const { endpoint, delayed } = (await next()) as { endpoint: string; delayed: string };
  return {
    endpoint,
    delayed,
    stats: async () => {
      if (STORE === 's3rver') return { requests: 0, cpuMs: 0 };
      child.stdin.write('stats\n');
      return (await next()) as { requests: number; cpuMs: number };
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/** What one measured run cost: requests and the store's and this process's CPU milliseconds. */
interface Cost {
  requests: number;
  serverCpuMs: number;
  clientCpuMs: number;
}

/** Starts measuring the cost of what follows on `server`; the function returned ends it. */
async function startCost(server: Server): Promise<() => Promise<Cost>> {
  const before = await server.stats();
  const cpu = process.cpuUsage();
  return async () => {
    const { user, system } = process.cpuUsage(cpu);
    const after = await server.stats();
    return {
      requests: after.requests - before.requests,
      serverCpuMs: after.cpuMs - before.cpuMs,
      clientCpuMs: (user + system) / 1000,
    };
  };
}

/** Requests per row, and the store's and the reader's CPU ms per request, as table cells. */
function costCells(cost: Cost, rows: number): string {
  if (cost.requests === 0) return '– | – | –';
  return `${(cost.requests / rows).toFixed(2)} | ${(cost.serverCpuMs / cost.requests).toFixed(3)} | ${(cost.clientCpuMs / cost.requests).toFixed(3)}`;
}

/**
 * The s3:// URL of the dataset at `local`: the lean store serves bench/.data as it is; s3rver gets it
 * uploaded to s3://bench/db/<name>, straight to the server (no delay).
 */
async function upload(local: string, endpoint: string): Promise<string> {
  if (STORE !== 's3rver') return `s3://bench/${relative(dataDir, local)}`;
  const name = basename(local);
  await uploadDirectory(endpoint, local, 'bench', `db/${name}`);
  return `s3://bench/db/${name}`;
}

interface LoaderRun {
  rowsPerSecond: number;
  batches: number[][];
  bytesRead: number;
  bytesDelivered: number;
  /** Of the timed epoch, up to its last batch. */
  cost: Cost;
}

/** Times `limit` batches (all when undefined) of each of `epochs`, after `untimed` whole epochs. */
async function runLoader(
  location: string,
  options: LoaderOptions,
  epochs: readonly number[],
  limit: number | undefined,
  untimed: number[] = [],
): Promise<LoaderRun> {
  const server = await serverStarted;
  const loader = await createLoader(location, { seed: 42, workers: WORKERS, ...options });
  try {
    for (const e of untimed) for await (const batch of loader.epoch(e)) batch.release();
    const before = loader.metrics();
    const endCost = await startCost(server);
    const batches: number[][] = [];
    let rows = 0;
    const started = performance.now();
    for (const epoch of epochs)
      for await (const batch of loader.epoch(epoch)) {
        batches.push(Array.from(batch.rowOffsets));
        rows += batch.numRows;
        batch.release();
        if (limit !== undefined && batches.length >= limit) break;
      }
    const seconds = (performance.now() - started) / 1000;
    const cost = await endCost();
    const after = loader.metrics();
    return {
      cost,
      rowsPerSecond: rows / seconds,
      batches,
      bytesRead: after.bytesRead - before.bytesRead,
      bytesDelivered: after.bytesDelivered - before.bytesDelivered,
    };
  } finally {
    await loader.close();
  }
}

/** LanceDB `takeOffsets` of `batches` with `inFlight` batches at once, through `endpoint`; rows/s and cost. */
async function runLanceDb(
  url: string,
  endpoint: string,
  batches: number[][],
  inFlight: number,
): Promise<{ rowsPerSecond: number; cost: Cost }> {
  const server = await serverStarted;
  const storageOptions = { ...KEY, endpoint, allowHttp: 'true' };
  const db = await lancedb.connect(dirname(url), { storageOptions });
  const table = await db.openTable(basename(url).replace(/\.lance$/, ''));
  try {
    await table.takeOffsets(batches[0] as number[]).toArrow();
    let next = 0;
    let rows = 0;
    const endCost = await startCost(server);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < batches.length) {
          const batch = batches[next++] as number[];
          rows += (await table.takeOffsets(batch).toArrow()).numRows;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { rowsPerSecond: rows / seconds, cost: await endCost() };
  } finally {
    table.close();
    db.close();
  }
}

/**
 * The link's rate through `endpoint`: every data file of `local` fetched in 8 MiB ranges (undici requests,
 * signed as lance-loader signs them), 1, 4 and 16 at a time after an untimed pass (the store's files then come from the page cache, as they do for the loader's
 * timed epoch after its untimed one); the best, in bytes/s (s3rver serves parallel large ranges far more
 * slowly than one at a time).
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
  for (const [pass, inFlight] of [16, 1, 4, 16].entries()) {
    let next = 0;
    let bytes = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < ranges.length) {
          const { file, start, end } = ranges[next++] as (typeof ranges)[number];
          const object = `${endpoint}/bench/${key}/data/${file}`;
          const signed = Object.fromEntries((await client.sign(object, { method: 'GET' })).headers);
          const response = await request(object, { headers: { ...signed, range: `bytes=${start}-${end}` } });
          if (response.statusCode !== 206)
            throw new Error(`link measurement: ${file} bytes ${start}-${end}: HTTP ${response.statusCode}`);
          bytes += (await response.body.arrayBuffer()).byteLength;
        }
      }),
    );
    if (pass > 0) best = Math.max(best, bytes / ((performance.now() - started) / 1000));
  }
  return best;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const serverStarted = startServer();
const server = await serverStarted;
const cacheDir = mkdtempSync(join(tmpdir(), 'lance-loader-bench-cache-'));
const lines: string[] = [];
try {
  const storage = { ...KEY, endpoint: server.delayed, allowHttp: 'true' };
  lines.push(
    `store ${STORE} (${STORE === 's3rver' ? 'one process' : `${option('server-processes', 2)} processes`}), latency ${LATENCY_MS} ms per request, ${WORKERS} workers, first ${BATCHES} batches of epoch 1`,
    '',
    '| dataset | reader | rows/s | requests/row | store CPU ms/request | reader CPU ms/request | bytes read ÷ delivered |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  const shuffled: [BenchKind, number, '2.1' | '2.2'][] = runs('shuffled')
    ? [
        ['emb', option('emb-rows', 200_000), '2.1'],
        ['emb', option('emb-rows', 200_000), '2.2'],
        ['images', option('images-rows', 20_000), '2.1'],
      ]
    : [];
  for (const [kind, rows, version] of shuffled) {
    const local = await ensureBenchDataset(kind, rows, version);
    const url = await upload(local, server.endpoint);
    const name = basename(local);
    const variants: [string, Partial<LoaderOptions>][] = [
      ['lance-loader', {}],
      [`lance-loader prefetch ${PREFETCH}`, { prefetch: PREFETCH }],
      [`lance-loader gap ${GAP_KIB} KiB`, { io: { remote: { maxGapBytes: GAP_KIB << 10 } } }],
      [
        `lance-loader prefetch ${PREFETCH}, concurrency ${CONCURRENCY}`,
        { prefetch: PREFETCH, io: { remote: { concurrency: CONCURRENCY } } },
      ],
    ];
    let batches: number[][] = [];
    let best = 0;
    for (const [label, options] of variants) {
      const ours = await runLoader(url, { memoryBytes: 1 << 30, ...options, batchSize: 256, storage }, [1], BATCHES);
      batches = ours.batches;
      best = Math.max(best, ours.rowsPerSecond);
      const delivered = ours.batches.flat().length;
      lines.push(
        `| ${name} | ${label} | ${fmt(ours.rowsPerSecond)} | ${costCells(ours.cost, delivered)} | ${(ours.bytesRead / ours.bytesDelivered).toFixed(2)} |`,
      );
      console.error(lines.at(-1));
    }
    let lanceDb = 0;
    for (const inFlight of [1, 4]) {
      const { rowsPerSecond: rate, cost } = await runLanceDb(url, server.delayed, batches, inFlight);
      lanceDb = Math.max(lanceDb, rate);
      lines.push(
        `| ${name} | LanceDB takeOffsets ×${inFlight} | ${fmt(rate)} | ${costCells(cost, batches.flat().length)} | – |`,
      );
      console.error(lines.at(-1));
    }
    lines.push(`| ${name} | **best lance-loader ÷ best LanceDB** | **${(best / lanceDb).toFixed(2)}×** | | | | |`);
  }
  if (runs('bandwidth')) {
    const seed = await ensureBenchDataset('seed000', 500, '2.1');
    const seedUrl = await upload(seed, server.endpoint);
    const link = await linkBytesPerSecond(seed, seedUrl, server.delayed);
    lines.push('', `seed000: the link (best of 1, 4, 16 ranges of 8 MiB in flight) ${fmt(link / 1e6)} MB/s`);
    for (const bytesInFlight of [undefined, 8 << 20]) {
      const remote = bytesInFlight === undefined ? {} : { bytesInFlight };
      const epoch = await runLoader(seedUrl, { batchSize: 16, storage, io: { remote } }, [1], undefined, [0]);
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
    const timed = Array.from({ length: option('cache-epochs', 20) }, (_, e) => e + 1);
    lines.push(
      '',
      `${basename(small)}, epochs 1–${timed.length} timed after epoch 0 (which fills the cache in the first pair), alternately:`,
      '',
      '| pair | range cache rows/s | local warm rows/s | ratio | range cache CPU µs/row | local CPU µs/row |',
      '|---|---:|---:|---:|---:|---:|',
    );
    const ratios: number[] = [];
    for (let pair = 1; pair <= option('cache-pairs', 3); pair++) {
      const cached = await runLoader(
        smallUrl,
        { batchSize: 256, prefetch: LOCAL_PREFETCH, storage, io: { remote: { cacheDir } } },
        timed,
        undefined,
        [0],
      );
      const local = await runLoader(small, { batchSize: 256, prefetch: LOCAL_PREFETCH }, timed, undefined, [0]);
      if (cached.bytesRead > 0) throw new Error(`the range cache epochs read ${cached.bytesRead} bytes from the store`);
      ratios.push(cached.rowsPerSecond / local.rowsPerSecond);
      const cpu = (run: LoaderRun) => ((run.cost.clientCpuMs * 1000) / run.batches.flat().length).toFixed(2);
      lines.push(
        `| ${pair} | ${fmt(cached.rowsPerSecond)} | ${fmt(local.rowsPerSecond)} | ${(ratios.at(-1) as number).toFixed(2)}× | ${cpu(cached)} | ${cpu(local)} |`,
      );
      console.error(lines.at(-1));
    }
    ratios.sort((a, b) => a - b);
    lines.push(`| **median ratio** | | | **${(ratios[ratios.length >> 1] as number).toFixed(2)}×** | | |`);
  }
  console.log(lines.join('\n'));
} finally {
  server.stop();
  rmSync(cacheDir, { recursive: true, force: true });
}

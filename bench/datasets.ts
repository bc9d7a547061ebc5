/**
 * Benchmark datasets, generated once with LanceDB into bench/.data and reused (the directory name holds
 * the kind, row count and file version, so quick and full sizes live side by side):
 *
 *   emb      id int64, label int32, x fixed_size_list<float32>[768]             (3 KiB rows)
 *   mnist    label int32, pixels fixed_size_list<uint8>[784]                    (MNIST-like 28×28 rings)
 *   seed000  id int64, tensor fixed_size_list<float32>[105600]                  (~422 KB rows, the shape
 *            of the published Lance-vs-NumPy investigation)
 *   images   id int64, label int32, image binary of 20–120 KB                   (JPEG-*like*: random bytes
 *            between a JPEG SOI/APP0 marker FF D8 FF E0 and an EOI marker FF D9, not decodable images;
 *            the loader never decodes them, so only their sizes matter)
 *   mixed    id int64, i32, f64, bool, timestamp, utf8, nullable int32          (bench/scan.ts)
 *   tokens   id int64, tokens list<int32> of 64–1024 items (mean ~300)          (token sequences: ids drawn
 *            from a Zipf law over a 32k vocabulary, as a tokenizer's output is distributed)
 *
 * Each dataset is written by one `createTable` call from one multi-batch Arrow table (or, for the
 * `-ours` variants, one lance-loader `writeDataset` call: the loader bench then reads our files beside
 * LanceDB's), so it is one fragment with one data file (the row counts stay under LanceDB's 1M-rows-per-file default). Values
 * are deterministic (seeded), except the image bytes, which are random (only their seeded sizes matter).
 *
 * Cold-cache runs evict every file of the dataset (datasetFiles) with posix_fadvise(POSIX_FADV_DONTNEED) —
 * one python3 call for many files, else `dd iflag=nocache count=0` per file — after `sync`, and check the
 * result with `fincore`. This
 * drops only the benchmark's own files, never the whole page cache of a shared machine.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { writeDataset } from '../index.js';
import { writeNpyBatchFiles } from '../examples/npy.js';

export const dataDir = join(import.meta.dirname, '.data');

export type BenchKind = 'emb' | 'mixed' | 'mnist' | 'seed000' | 'images' | 'tokens';
export type FileVersion = '2.0' | '2.1' | '2.2';

/** Rows per dimension of the vector-like column of each kind (for the NumPy store and reports). */
export const SEED000_DIM = 105_600;
export const EMB_DIM = 768;
export const MNIST_PIXELS = 784;
/** Token ids of the tokens kind: a vocabulary of this many ids. */
export const TOKENS_VOCABULARY = 32_000;

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fsl(values: Float32Array | Uint8Array, dim: number, n: number): arrow.Vector {
  const child =
    values instanceof Float32Array
      ? arrow.makeData({ type: new arrow.Float32(), length: n * dim, data: values })
      : arrow.makeData({ type: new arrow.Uint8(), length: n * dim, data: values });
  const type: arrow.DataType = child.type;
  return arrow.makeVector(
    arrow.makeData({
      type: new arrow.FixedSizeList(dim, new arrow.Field('item', type, true)),
      length: n,
      nullCount: 0,
      child,
    }),
  );
}

function int64s(start: number, n: number): arrow.Vector {
  return arrow.makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(start + i)));
}

function labels(start: number, n: number): arrow.Vector {
  return arrow.makeVector(Int32Array.from({ length: n }, (_, i) => (start + i) % 10));
}

/** MNIST-like pixels: one bright ring per row (centre, radius and brightness from the row number), zeros elsewhere (~20% lit). */
function mnistPixels(start: number, n: number): Uint8Array {
  const out = new Uint8Array(n * MNIST_PIXELS);
  for (let r = 0; r < n; r++) {
    const random = createRandom(start + r);
    const cx = 9 + random() * 10;
    const cy = 9 + random() * 10;
    const radius = 4 + random() * 5;
    const peak = 180 + Math.floor(random() * 75);
    const base = r * MNIST_PIXELS;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const d = Math.abs(Math.hypot(x - cx, y - cy) - radius);
        if (d < 1.6) out[base + y * 28 + x] = Math.round(peak * (1 - d / 1.6));
      }
    }
  }
  return out;
}

/**
 * Cumulative Zipf(s = 1.1) weights of token ids 0..vocabulary−1, rank k weighing (k + 1)^−s, as a
 * tokenizer's output is distributed (a few ids very common, a long tail).
 */
function zipfCdf(vocabulary: number): Float64Array {
  const cdf = new Float64Array(vocabulary);
  let sum = 0;
  for (let k = 0; k < vocabulary; k++) cdf[k] = sum += (k + 1) ** -1.1;
  for (let k = 0; k < vocabulary; k++) cdf[k] = (cdf[k] as number) / sum;
  return cdf;
}

let tokenCdf: Float64Array | undefined;

/**
 * Token sequences: per row a length of 64–1024 (64 plus an exponential of mean 236, capped: mean ~300,
 * skewed short like real documents) and that many Zipf-distributed ids.
 */
function tokenLists(start: number, n: number): arrow.Vector {
  const cdf = (tokenCdf ??= zipfCdf(TOKENS_VOCABULARY));
  const random = createRandom(0x70c5 + start);
  const valueOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const length = Math.min(1024, 64 + Math.floor(-236 * Math.log(1 - random())));
    valueOffsets[i + 1] = (valueOffsets[i] as number) + length;
  }
  const ids = new Int32Array(valueOffsets[n] as number);
  for (let i = 0; i < ids.length; i++) {
    const u = random();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  const child = arrow.makeData({ type: new arrow.Int32(), length: ids.length, data: ids });
  return arrow.makeVector(
    arrow.makeData({
      type: new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
      length: n,
      nullCount: 0,
      valueOffsets,
      child,
    }),
  );
}

function makeTable(kind: BenchKind, start: number, n: number): arrow.Table {
  if (kind === 'tokens') return new arrow.Table({ id: int64s(start, n), tokens: tokenLists(start, n) });
  if (kind === 'emb') {
    const x = new Float32Array(n * EMB_DIM);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(start * EMB_DIM + i);
    return new arrow.Table({ id: int64s(start, n), label: labels(start, n), x: fsl(x, EMB_DIM, n) });
  }
  if (kind === 'mnist') {
    return new arrow.Table({ label: labels(start, n), pixels: fsl(mnistPixels(start, n), MNIST_PIXELS, n) });
  }
  if (kind === 'seed000') {
    const values = new Float32Array(n * SEED000_DIM);
    const random = createRandom(0x5eed + start);
    for (let i = 0; i < values.length; i++) values[i] = random() * 2 - 1;
    return new arrow.Table({ id: int64s(start, n), tensor: fsl(values, SEED000_DIM, n) });
  }
  if (kind === 'images') {
    const random = createRandom(0x1a9e + start);
    const sizes = Array.from({ length: n }, () => 20_000 + Math.floor(random() * 100_001));
    const valueOffsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) valueOffsets[i + 1] = (valueOffsets[i] as number) + (sizes[i] as number);
    const data = new Uint8Array(valueOffsets[n] as number);
    randomFillSync(data);
    for (let i = 0; i < n; i++) {
      const at = valueOffsets[i] as number;
      const end = valueOffsets[i + 1] as number;
      data.set([0xff, 0xd8, 0xff, 0xe0], at); // SOI + APP0
      data.set([0xff, 0xd9], end - 2); // EOI
    }
    const image = arrow.makeVector(
      arrow.makeData({ type: new arrow.Binary(), length: n, nullCount: 0, valueOffsets, data }),
    );
    return new arrow.Table({ id: int64s(start, n), label: labels(start, n), image });
  }
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  return new arrow.Table({
    id: int64s(start, n),
    i32: arrow.makeVector(Int32Array.from({ length: n }, (_, i) => Math.imul(start + i, 2654435761) | 0)),
    f64: arrow.makeVector(Float64Array.from({ length: n }, (_, i) => Math.cos(start + i))),
    flag: arrow.vectorFromArray(
      Array.from({ length: n }, (_, i) => (start + i) % 3 === 0),
      new arrow.Bool(),
    ),
    ts: arrow.vectorFromArray(
      Array.from({ length: n }, (_, i) => 1_700_000_000_000 + (start + i) * 1000),
      new arrow.TimestampMillisecond(),
    ),
    text: arrow.vectorFromArray(
      Array.from({ length: n }, (_, i) => `${words[(start + i) % 8]} ${words[((start + i) * 7) % 8]} ${start + i}`),
      new arrow.Utf8(),
    ),
    maybe: arrow.vectorFromArray(
      Array.from({ length: n }, (_, i) => ((start + i) % 10 === 0 ? null : start + i)),
      new arrow.Int32(),
    ),
  });
}

/** Rows per generated Arrow batch, so a batch holds ~32 MB. */
function chunkRows(kind: BenchKind): number {
  const bytesPerRow = {
    emb: 3100,
    mnist: 790,
    seed000: SEED000_DIM * 4,
    images: 70_000,
    mixed: 60,
    tokens: 1210,
  }[kind];
  return Math.max(1, Math.floor((32 << 20) / bytesPerRow));
}

/** The rows of a benchmark dataset, generated in memory as record batches of ~32 MB. */
export function benchBatches(kind: BenchKind, rows: number): arrow.RecordBatch[] {
  const batches: arrow.RecordBatch[] = [];
  const step = chunkRows(kind);
  for (let start = 0; start < rows; start += step)
    batches.push(...makeTable(kind, start, Math.min(step, rows - start)).batches);
  return batches;
}

/** Who writes a benchmark dataset: LanceDB (`createTable`) or lance-loader (`writeDataset`). */
export type DatasetWriter = 'lancedb' | 'lance-loader';

/** The table name of a benchmark dataset (`-ours` when lance-loader wrote it). */
export function benchTableName(
  kind: BenchKind,
  rows: number,
  version: FileVersion,
  writer: DatasetWriter = 'lancedb',
): string {
  return `${kind}-${rows}-v${version.replace('.', '')}${writer === 'lance-loader' ? '-ours' : ''}`;
}

/** Writes the dataset if it is not cached yet; returns its directory. */
export async function ensureBenchDataset(
  kind: BenchKind,
  rows: number,
  version: FileVersion,
  writer: DatasetWriter = 'lancedb',
): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  const name = benchTableName(kind, rows, version, writer);
  const path = join(dataDir, `${name}.lance`);
  if (existsSync(join(path, '_versions'))) return path;
  if (writer === 'lance-loader') {
    if (version === '2.0') throw new Error('lance-loader writes file versions 2.1 and 2.2');
    await writeDataset(path, new arrow.Table(benchBatches(kind, rows)), { fileVersion: version });
    return path;
  }
  const db = await lancedb.connect(dataDir);
  const table = await db.createTable(name, new arrow.Table(benchBatches(kind, rows)), {
    mode: 'overwrite',
    storageOptions: { new_table_data_storage_version: version },
  });
  table.close();
  db.close();
  execFileSync('sync');
  return path;
}

/** The data files (`data/*.lance`) of a dataset directory with their sizes. */
export function dataFilesOf(path: string): { path: string; sizeBytes: number }[] {
  return readdirSync(join(path, 'data'))
    .filter((f) => f.endsWith('.lance'))
    .sort()
    .map((f) => ({ path: join(path, 'data', f), sizeBytes: statSync(join(path, 'data', f)).size }));
}

let python: boolean | undefined;

/**
 * Drops files from the page cache (posix_fadvise DONTNEED). Returns how: 'posix_fadvise (python3)' or
 * 'dd iflag=nocache'. Dirty pages cannot be dropped, so call after the files were synced.
 */
export function evictFiles(paths: readonly string[]): string {
  if (paths.length === 0) return 'nothing to evict';
  if (python === undefined) {
    try {
      execFileSync('python3', ['-c', 'import os; os.posix_fadvise'], { stdio: 'ignore' });
      python = true;
    } catch {
      python = false;
    }
  }
  if (python) {
    const script =
      'import os,sys\nfor p in sys.stdin.read().split("\\0"):\n  if p:\n    fd=os.open(p,os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)\n';
    execFileSync('python3', ['-c', script], { input: paths.join('\0') });
    return 'posix_fadvise(DONTNEED) via python3';
  }
  for (const file of paths) execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  return 'dd iflag=nocache count=0 (posix_fadvise DONTNEED)';
}

/**
 * Every file under a directory: for a dataset, its manifests (`_versions/`, `_latest.manifest`),
 * transactions, data files, deletion files and indexes. lance-loader offers no list of the files a loader
 * opened, so cold runs evict all of these: a superset of what opening and reading can touch.
 */
export function datasetFiles(path: string): string[] {
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile())
    .sort();
}

/** Drops every file of a dataset from the page cache. */
export function evictDataset(path: string): string {
  return evictFiles(datasetFiles(path));
}

/** Bytes of `paths` in the page cache (fincore), or undefined when fincore is missing. */
export function cachedBytes(paths: readonly string[]): number | undefined {
  if (paths.length === 0) return 0;
  try {
    let total = 0;
    // fincore takes many files per call; split to stay far below the argument-length limit.
    for (let i = 0; i < paths.length; i += 500) {
      const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...paths.slice(i, i + 500)], {
        encoding: 'utf8',
      });
      for (const line of out.split('\n')) if (line.trim() !== '') total += Number(line.trim());
    }
    return total;
  } catch {
    return undefined;
  }
}

/** Reads files whole into the page cache (`cat > /dev/null`, in batches of files). */
export function warmFiles(paths: readonly string[]): void {
  for (let i = 0; i < paths.length; i += 500)
    execFileSync('cat', paths.slice(i, i + 500), { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * The NumPy batch-file store of a dataset's float32 vector column (examples/npy.ts: NPY v1.0 files of
 * `rowsPerFile` rows plus index.json, row ids = row offsets), written once next to the dataset from
 * LanceDB's own scan. Returns the store directory.
 */
export async function ensureNpyStore(
  datasetPath: string,
  tableName: string,
  column: string,
  dim: number,
  rows: number,
  rowsPerFile = 100,
): Promise<string> {
  const dir = datasetPath.replace(/\.lance$/, `.npy${rowsPerFile}`);
  if (existsSync(join(dir, 'index.json'))) return dir;
  const db = await lancedb.connect(dataDir);
  const table = await db.openTable(tableName);
  const values = new Float32Array(rows * dim);
  let at = 0;
  for await (const batch of table.query().select([column])) {
    const vector = batch.getChildAt(0);
    if (!vector) throw new Error(`${tableName}: no column ${column}`);
    for (const data of vector.data) {
      const child = data.children[0];
      const flat = child?.values as Float32Array | undefined;
      if (!child || !(flat instanceof Float32Array))
        throw new Error(`${tableName}.${column} is not a fixed-size list of float32`);
      // A list's offset counts lists, its child's offset counts values.
      const start = child.offset + data.offset * dim;
      values.set(flat.subarray(start, start + data.length * dim), at);
      at += data.length * dim;
    }
  }
  table.close();
  db.close();
  if (at !== values.length) throw new Error(`${tableName}: scanned ${at / dim} rows of ${column}, expected ${rows}`);
  const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
  await writeNpyBatchFiles(dir, ids, values, dim, rowsPerFile);
  execFileSync('sync');
  return dir;
}

/** fsyncs every file under `dir` (what a writer that does not fsync leaves to the page cache). */
export function fsyncAll(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const fd = openSync(join(entry.parentPath, entry.name), 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
}

/**
 * Random access to stored inference results by id: lance-loader next to the "NumPy batch-file" layout of
 * a published Lance-vs-NumPy investigation, on the same rows, measured side by side in one run.
 *
 *   npm run example:random-access [-- --repeat K --seed S]
 *
 * Data (generated once, seeded, into examples/.data/; reused when present):
 *   500 rows × (id int64, tensor fixed_size_list<float32>[105600]) ≈ 422 KB per row, 211 MB in all,
 *   (a) a Lance dataset written by LanceDB, file version 2.1, one fragment;
 *   (b) 5 NPY files of 100 rows each plus index.json (id → file, row): see ./npy.ts.
 *
 * Every pass reads all 500 rows in the same seeded random order, 16 ids at a time:
 *   lance-loader           createLoader(batchSize 16, shuffle, seed, io.direct 'auto'): the order it yields
 *                          is the order every other method reads in the same round. 'auto' reads through
 *                          the page cache unless the dataset outgrows half the memory (so buffered for
 *                          these 211 MB on the 24 GB development machine)
 *   lance-loader O_DIRECT  the same with io.direct true: every read bypasses the page cache, warm or not
 *                          (skipped where O_DIRECT is unusable, e.g. tmpfs)
 *   dataset.take           ids → row offsets (a Map built from the id column) → take(16 offsets)
 *   NumPy batch files      per id: load its whole .npy file (100 rows), copy out the row, keep nothing
 * A first untimed pass warms the page cache and checks that every row is bit-identical across the three
 * readers and equal to the generator. Timed rounds follow (best of K reported). Then, if the files' pages
 * can be evicted (dd iflag=nocache count=0, i.e. posix_fadvise DONTNEED, checked with fincore), one cold
 * pass per method, each after evicting every file of both stores.
 *
 * Takes about 2 minutes, almost all of it in the NPY reader (21 GB of whole-file loads per pass).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { createLoader, IoError, openDataset, type Dataset, type DataLoader } from '../index.js';
import { openNpyBatchStore, writeNpyBatchFiles, type NpyBatchStore } from './npy.js';

const ROWS = 500;
const DIM = 105_600;
const ROWS_PER_FILE = 100;
const BATCH_SIZE = 16;
/** Bytes of one row as stored: the int64 id plus the float32 tensor. */
const ROW_BYTES = 8 + DIM * 4;

const { values: args } = parseArgs({
  options: { repeat: { type: 'string', default: '3' }, seed: { type: 'string', default: '42' } },
});
const repeat = Number(args.repeat);
const seed = Number(args.seed);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, got ${args.repeat}`);
if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
  throw new Error(`--seed must be an integer from 0 to 2^32-1, got ${args.seed}`);

// ---------------------------------------------------------------------------------------------------
// Data: seeded per row, so any row can be regenerated to check a read against.

/** mulberry32: a small seeded 32-bit generator, uniform in [0, 1). */
function mulberry32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Row `row`'s tensor: floats in [-4, 4), as float32 "activations". */
function fillRow(out: Float32Array, row: number): void {
  const random = mulberry32(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(row + 1, 0x85ebca6b));
  for (let i = 0; i < out.length; i++) out[i] = random() * 8 - 4;
}

/** Distinct ids that are not the row offsets: a seeded permutation of 0..ROWS-1, spread out. */
function makeIds(): BigInt64Array {
  const random = mulberry32(seed ^ 0x1d5);
  const perm = Array.from({ length: ROWS }, (_, i) => i);
  for (let i = ROWS - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
  }
  return BigInt64Array.from(perm, (p) => 7_000_000_000n + BigInt(p) * 7919n);
}

const dataDir = join(import.meta.dirname, '.data', `random-access-${ROWS}x${DIM}-seed${seed}`);
const lancePath = join(dataDir, 'results.lance');
const npyDir = join(dataDir, 'npy');
const doneMarker = join(dataDir, 'complete.json');

async function ensureData(): Promise<void> {
  const config = JSON.stringify({ rows: ROWS, dim: DIM, rowsPerFile: ROWS_PER_FILE, seed, lanceFileVersion: '2.1' });
  if (existsSync(doneMarker) && (await readFile(doneMarker, 'utf8')) === config) {
    console.log(`reusing ${dataDir}`);
    return;
  }
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  console.log(`writing ${ROWS} rows × ${DIM} float32 (${((ROWS * ROW_BYTES) / 1e6).toFixed(0)} MB) to ${dataDir} ...`);
  const ids = makeIds();
  const values = new Float32Array(ROWS * DIM);
  for (let r = 0; r < ROWS; r++) fillRow(values.subarray(r * DIM, (r + 1) * DIM), r);

  const tensor = arrow.makeVector(
    arrow.makeData({
      type: new arrow.FixedSizeList(DIM, new arrow.Field('item', new arrow.Float32(), true)),
      length: ROWS,
      nullCount: 0,
      child: arrow.makeData({ type: new arrow.Float32(), length: ROWS * DIM, data: values }),
    }),
  );
  const db = await lancedb.connect(dataDir);
  await db.createTable('results', new arrow.Table({ id: arrow.makeVector(ids), tensor }), {
    mode: 'overwrite',
    storageOptions: { new_table_data_storage_version: '2.1' },
  });
  db.close();
  await writeNpyBatchFiles(npyDir, ids, values, DIM, ROWS_PER_FILE);
  await writeFile(doneMarker, config);
}

// ---------------------------------------------------------------------------------------------------
// The readers. Each pass hands every row to `sink(id, values)` in read order.

type Sink = (id: bigint, values: Float32Array) => void;
type MethodName = 'lance-loader' | 'lance-loader O_DIRECT' | 'dataset.take' | 'NumPy batch files';

interface PassResult {
  method: MethodName;
  rows: number;
  ms: number;
  /** Bytes read from files, where the reader counts them. */
  bytesRead: number | null;
}

function column<T extends arrow.DataType>(table: arrow.Table, name: string): arrow.Vector<T> {
  const vector = table.getChild(name) as arrow.Vector<T> | null;
  if (!vector) throw new Error(`take returned no column ${name}`);
  return vector;
}

/** One epoch of the loader; returns the ids of each batch in order (the order of this round). */
async function loaderPass(
  loader: DataLoader,
  epoch: number,
  method: MethodName,
  sink: Sink,
): Promise<{ result: PassResult; order: BigInt64Array[] }> {
  const order: BigInt64Array[] = [];
  const before = loader.metrics().bytesRead;
  const started = performance.now();
  let rows = 0;
  for await (const batch of loader.epoch(epoch)) {
    const ids = batch.columns.id?.values;
    const tensor = batch.columns.tensor?.values;
    if (!(ids instanceof BigInt64Array) || !(tensor instanceof Float32Array))
      throw new Error('loader batch lacks id (int64) or tensor (float32)');
    for (let r = 0; r < batch.numRows; r++) sink(ids[r] as bigint, tensor.subarray(r * DIM, (r + 1) * DIM));
    order.push(ids.slice());
    rows += batch.numRows;
    batch.release();
  }
  const ms = performance.now() - started;
  return { result: { method, rows, ms, bytesRead: loader.metrics().bytesRead - before }, order };
}

async function takePass(
  dataset: Dataset,
  offsetOfId: Map<bigint, number>,
  order: BigInt64Array[],
  sink: Sink,
): Promise<PassResult> {
  const started = performance.now();
  let rows = 0;
  for (const ids of order) {
    const offsets = Array.from(ids, (id) => {
      const offset = offsetOfId.get(id);
      if (offset === undefined) throw new Error(`no row with id ${id}`);
      return offset;
    });
    const table = await dataset.take(offsets, { columns: ['id', 'tensor'] });
    const idColumn = column<arrow.Int64>(table, 'id');
    const tensorColumn = column<arrow.FixedSizeList<arrow.Float32>>(table, 'tensor');
    for (let r = 0; r < table.numRows; r++) {
      const values = tensorColumn.get(r)?.toArray();
      if (!(values instanceof Float32Array)) throw new Error(`take returned no tensor for row ${r}`);
      sink(idColumn.get(r) as bigint, values);
    }
    rows += table.numRows;
  }
  return { method: 'dataset.take', rows, ms: performance.now() - started, bytesRead: null };
}

async function npyPass(store: NpyBatchStore, order: BigInt64Array[], sink: Sink): Promise<PassResult> {
  const before = store.stats.bytesRead;
  const started = performance.now();
  let rows = 0;
  for (const ids of order) {
    const values = await store.fetchRows(ids);
    values.forEach((v, r) => sink(ids[r] as bigint, v));
    rows += values.length;
  }
  return {
    method: 'NumPy batch files',
    rows,
    ms: performance.now() - started,
    bytesRead: store.stats.bytesRead - before,
  };
}

// ---------------------------------------------------------------------------------------------------
// Checking and eviction.

function bytesOf(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Collects each method's rows of one batch and compares them once all three have delivered it. */
function checkBatch(
  expected: BigInt64Array,
  got: Map<MethodName, { id: bigint; values: Float32Array }[]>,
  truth: Float32Array,
  rowOfId: Map<bigint, number>,
): void {
  const reference = [...got.values()][0];
  if (!reference) throw new Error('nothing to compare');
  expected.forEach((id, r) => {
    const row = rowOfId.get(id);
    if (row === undefined) throw new Error(`unknown id ${id}`);
    fillRow(truth, row);
    for (const [method, rows] of got) {
      const mine = rows[r];
      if (!mine || mine.id !== id)
        throw new Error(`${method}: row ${r} of the batch has id ${String(mine?.id)}, expected ${id}`);
      if (!bytesOf(mine.values).equals(bytesOf(truth)))
        throw new Error(`${method}: values of id ${id} differ from the generated row`);
    }
  });
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Bytes of `files` resident in the page cache (fincore), or null when fincore is unavailable. */
function residentBytes(files: string[]): number | null {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .reduce((sum, l) => sum + Number(l.trim()), 0);
  } catch {
    return null;
  }
}

/** Drops `files` from the page cache with posix_fadvise(DONTNEED) via dd; true when fincore confirms. */
function evict(files: string[]): boolean {
  try {
    execFileSync('sync', files); // only clean pages can be dropped
    for (const file of files) execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  } catch {
    return false;
  }
  return residentBytes(files) === 0;
}

// ---------------------------------------------------------------------------------------------------

await ensureData();
const dataset = await openDataset(lancePath);
console.log(
  `dataset: ${dataset.numRows} rows, ${dataset.fragments.length} fragment(s), schema ${dataset.schema.fields.map((f) => `${f.name}: ${f.type}`).join(', ')}`,
);
for (const file of await dataset.describeFiles()) {
  console.log(
    `data file ${file.path.split('/').pop()} (version ${file.version}, ${(file.fileSize / 1e6).toFixed(1)} MB)`,
  );
  for (const c of file.columns) {
    const layouts = new Map<string, number>();
    for (const p of c.pages) layouts.set(p.layout, (layouts.get(p.layout) ?? 0) + 1);
    console.log(
      `  ${c.field ?? `column ${c.index}`}: ${[...layouts].map(([layout, n]) => `${n} × ${layout}`).join(', ')}`,
    );
  }
}

// The id → row-offset index a by-id lookup over Lance needs (the NPY store has index.json for that).
const offsetOfId = new Map<bigint, number>();
for await (const batch of dataset.scan({ columns: ['id'] })) {
  const ids = batch.getChild('id');
  for (let r = 0; r < batch.numRows; r++) offsetOfId.set(ids?.get(r) as bigint, offsetOfId.size);
}
const rowOfId = new Map(Array.from(makeIds(), (id, row) => [id, row] as const));
const store = await openNpyBatchStore(npyDir);

const loaderOptions = { columns: ['id', 'tensor'], batchSize: BATCH_SIZE, shuffle: true, seed } as const;
const loader = await createLoader(dataset, { ...loaderOptions, io: { direct: 'auto' } });
let direct: DataLoader | null = await createLoader(dataset, { ...loaderOptions, io: { direct: true } });
const allFiles = [...listFiles(lancePath), ...listFiles(npyDir)];

try {
  // Untimed pass (epoch 0): warms the cache and checks every row across the three readers, batch by batch.
  {
    const truth = new Float32Array(DIM);
    const order: BigInt64Array[] = [];
    for await (const batch of loader.epoch(0)) {
      const ids = batch.columns.id?.values;
      const tensor = batch.columns.tensor?.values;
      if (!(ids instanceof BigInt64Array) || !(tensor instanceof Float32Array))
        throw new Error('loader batch lacks id (int64) or tensor (float32)');
      const expected = ids.slice();
      order.push(expected);
      const got = new Map<MethodName, { id: bigint; values: Float32Array }[]>([
        ['lance-loader', []],
        ['dataset.take', []],
        ['NumPy batch files', []],
      ]);
      for (let r = 0; r < batch.numRows; r++)
        got.get('lance-loader')?.push({ id: ids[r] as bigint, values: tensor.subarray(r * DIM, (r + 1) * DIM) });
      await takePass(dataset, offsetOfId, [expected], (id, values) => got.get('dataset.take')?.push({ id, values }));
      await npyPass(store, [expected], (id, values) => got.get('NumPy batch files')?.push({ id, values }));
      checkBatch(expected, got, truth, rowOfId);
      batch.release();
    }
    const seen = new Set(order.flatMap((ids) => Array.from(ids)));
    if (seen.size !== ROWS) throw new Error(`the loader's epoch covered ${seen.size} distinct ids, expected ${ROWS}`);
    try {
      await loaderPass(direct, 0, 'lance-loader O_DIRECT', (id, values) => {
        fillRow(truth, rowOfId.get(id) ?? -1);
        if (!bytesOf(values).equals(bytesOf(truth)))
          throw new Error(`lance-loader O_DIRECT: values of id ${id} differ from the generated row`);
      });
    } catch (error) {
      if (!(error instanceof IoError)) throw error;
      console.log(`lance-loader O_DIRECT skipped: ${error.message}`);
      await direct.close();
      direct = null;
    }
    console.log(
      `checked: all ${ROWS} rows bit-identical across lance-loader ('auto'${direct ? ' and O_DIRECT' : ''}), dataset.take and the NPY reader, and equal to the generator`,
    );
  }

  let checksum = 0; // keeps the consumer honest: every pass touches one value of every row
  const sink: Sink = (_id, values) => {
    checksum += values[DIM - 1] as number;
  };

  /** One round: the loader sets the order, the others read the same ids in the same order. */
  async function round(epoch: number, beforeEach: () => void): Promise<PassResult[]> {
    beforeEach();
    const auto = await loaderPass(loader, epoch, 'lance-loader', sink);
    const results = [auto.result];
    if (direct) {
      beforeEach();
      const viaDirect = await loaderPass(direct, epoch, 'lance-loader O_DIRECT', sink);
      const sameOrder =
        viaDirect.order.length === auto.order.length &&
        viaDirect.order.every((ids, b) =>
          Buffer.from(ids.buffer).equals(Buffer.from(auto.order[b]?.buffer ?? new ArrayBuffer(0))),
        );
      if (!sameOrder) throw new Error('the two loaders disagree on the order');
      results.push(viaDirect.result);
    }
    beforeEach();
    results.push(await takePass(dataset, offsetOfId, auto.order, sink));
    beforeEach();
    results.push(await npyPass(store, auto.order, sink));
    return results;
  }

  const best = new Map<MethodName, PassResult>();
  for (let r = 1; r <= repeat; r++) {
    for (const result of await round(r, () => {})) {
      const prev = best.get(result.method);
      if (!prev || result.ms < prev.ms) best.set(result.method, result);
    }
  }

  let cold: PassResult[] | null = null;
  let evicted = false;
  if (evict(allFiles)) {
    evicted = true;
    cold = await round(repeat + 1, () => {
      if (!evict(allFiles)) throw new Error('eviction stopped working');
    });
  }

  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  const print = (label: string, results: PassResult[]) => {
    const numpy = results.find((x) => x.method === 'NumPy batch files');
    for (const x of results) {
      const rate = (x.rows / x.ms) * 1000;
      const ratio = numpy ? rate / ((numpy.rows / numpy.ms) * 1000) : NaN;
      console.log(
        `| ${label} | ${x.method} | ${x.rows} | ${x.ms.toFixed(0)} | ${rate.toFixed(0)} | ${((rate * ROW_BYTES) / 1e6).toFixed(0)} | ${x.bytesRead === null ? '—' : mb(x.bytesRead)} | ${ratio.toFixed(2)} |`,
      );
    }
  };
  console.log(
    `\n${ROWS} rows × ${ROW_BYTES} B, random order, ${BATCH_SIZE} ids per request; MB = 10^6 bytes of rows delivered; warm = best of ${repeat}`,
  );
  console.log('| cache | method | rows | total ms | rows/s | MB/s | MB read | × NumPy |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  print('warm', [...best.values()]);
  if (cold) print('cold', cold);
  console.log(
    evicted
      ? '\ncold: before each method every file of both stores was dropped from the page cache with `dd if=FILE iflag=nocache count=0` (posix_fadvise DONTNEED), fincore confirmed 0 bytes resident'
      : '\ncold: skipped, the files could not be evicted from the page cache (dd iflag=nocache / fincore unavailable or ineffective)',
  );
  const datasetBytes = dataset.fragments.reduce(
    (sum, f) => sum + f.files.reduce((s, file) => s + file.sizeBytes, 0),
    0,
  );
  console.log(
    `io.direct 'auto' reads through the page cache unless the dataset outgrows half the memory: here ${mb(datasetBytes)} MB vs ${mb(totalmem() / 2)} MB, so ${datasetBytes > totalmem() / 2 ? 'O_DIRECT' : 'buffered'}`,
  );
  const m = loader.metrics();
  console.log(
    `loader metrics: ${m.readsIssued} reads for ${m.rangesRequested} ranges, ${mb(m.bytesRead)} MB read, decode ${m.decodeMs.toFixed(0)} ms; checksum ${checksum.toFixed(3)}`,
  );
  console.log(`data: ${dataDir} (${mb(allFiles.reduce((s, f) => s + statSync(f).size, 0))} MB on disk)`);
} finally {
  await loader.close();
  await direct?.close();
  await dataset.close();
}

/**
 * The NumPy batch-file loader of the published Lance-vs-NumPy investigation, on the suite's batches:
 * the dataset's float32 vector column stored as NPY v1.0 files of 100 rows plus index.json
 * (examples/npy.ts writes and reads them; bench/datasets.ts `ensureNpyStore` builds the store once from
 * LanceDB's scan). For each batch, every file holding one of its rows is loaded whole (one read of the
 * file into a fresh buffer, header parsed) and the batch's rows are copied out in batch order into one
 * (batchSize × dim) Float32Array, one file after another, as `np.load(file)` in a Python loop would.
 *
 *   epoch warm   the store's files read into the page cache first (cat)
 *   epoch cold   the store's files evicted first
 *
 * Only float32 vector datasets have a store (emb, seed000); mnist (uint8) and images (binary) are
 * reported as skipped, since examples/npy.ts stores `<f4` only; emb-2.0 has the same values as emb-2.1, so
 * only emb-2.1 gets a store.
 *
 * Warm runs load 2 untimed batches of another epoch first (JIT), like the other methods.
 * Run by bench/run.ts: `node --import tsx bench/methods/numpy-files.ts <task.json>`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fetchNpyFile, openNpyBatchStore } from '../../examples/npy.js';
import { cachedBytes, evictFiles, warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  procIoSince,
  rate,
  readProcIo,
  runMethodProcess,
  type Measurement,
  type MethodTask,
} from '../suite.js';

async function epochRun(
  task: MethodTask,
  dir: string,
  cache: 'warm' | 'cold',
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  const store = await openNpyBatchStore(dir);
  const { dim, files, rows: where } = store.index;
  const paths = readdirSync(dir)
    .filter((f) => f.endsWith('.npy'))
    .map((f) => join(dir, f));
  const sampler = createSampler(task.dataset, task.seed);
  const numBatches = sampler.numBatches();
  const batches = Array.from({ length: numBatches }, (_, i) => sampler.batch(task.epoch, i));
  const loadBatch = async (batch: Uint32Array): Promise<{ filesLoaded: number; bytesRead: number }> => {
    const out = new Float32Array(batch.length * dim);
    // file index → positions in the batch of the rows it holds
    const byFile = new Map<number, number[]>();
    for (let i = 0; i < batch.length; i++) {
      const at = where[String(batch[i])];
      if (!at) throw new Error(`${dir}: no row ${batch[i]} in the index`);
      const list = byFile.get(at[0]);
      if (list) list.push(i);
      else byFile.set(at[0], [i]);
    }
    let bytesRead = 0;
    for (const [file, positions] of byFile) {
      const name = files[file];
      if (name === undefined) throw new Error(`${dir}: index names no file ${file}`);
      const array = await fetchNpyFile(join(dir, name));
      bytesRead += array.fileBytes;
      for (const i of positions) {
        const row = (where[String(batch[i])] as [number, number])[1];
        out.set(array.values.subarray(row * dim, (row + 1) * dim), i * dim);
      }
    }
    return { filesLoaded: byFile.size, bytesRead };
  };
  let cachedBeforeBytes: number | undefined;
  if (cache === 'warm') {
    warmFiles(paths);
    for (let i = 0; i < Math.min(2, numBatches); i++) await loadBatch(sampler.batch(task.epoch + 1000, i));
  } else {
    evictFiles(paths);
    cachedBeforeBytes = cachedBytes(paths);
  }
  const io = readProcIo();
  rss.reset();
  const t0 = performance.now();
  const deadline = t0 + task.maxSeconds * 1000;
  let rows = 0;
  let bytesRead = 0;
  let filesLoaded = 0;
  let firstBatchMs = NaN;
  let done = 0;
  for (const batch of batches) {
    const loaded = await loadBatch(batch);
    filesLoaded += loaded.filesLoaded;
    bytesRead += loaded.bytesRead;
    if (done === 0) firstBatchMs = performance.now() - t0;
    rows += batch.length;
    done++;
    if (performance.now() > deadline) break;
  }
  const ms = performance.now() - t0;
  const m: Measurement = {
    method: 'numpy-files',
    variant: `epoch ${cache}`,
    cache,
    rows,
    ms,
    rowsPerSecond: rate(rows, ms),
    complete: done === numBatches,
    firstBatchMs,
    bytesRead,
    bytesDelivered: rows * dim * 4,
    readsIssued: filesLoaded,
    peakRssBytes: rss.peak(),
    proc: procIoSince(io),
    note: `${filesLoaded} whole-file loads of ${store.index.rowsPerFile}-row NPY files; vector column only`,
    ...(cachedBeforeBytes !== undefined ? { cachedBeforeBytes } : {}),
  };
  log(task, describe(m));
  return m;
}

await runMethodProcess(async (task, result) => {
  const dir = task.dataset.npyDir;
  if (!dir) {
    result.skipped.push(
      task.dataset.key === 'emb-2.0'
        ? 'emb-2.0 holds the same values as emb-2.1: see the NumPy numbers of emb-2.1'
        : `${task.dataset.key} has no float32 vector column (examples/npy.ts stores <f4 only)`,
    );
    return;
  }
  const rss = createRssSampler();
  for (const cache of ['warm', 'cold'] as const) {
    try {
      result.measurements.push(await epochRun(task, dir, cache, rss));
    } catch (error) {
      result.errors.push(`epoch ${cache}: ${(error as Error).message}`);
    }
  }
  rss.stop();
});

/**
 * The NumPy batch-file loader of the published Lance-vs-NumPy investigation, on the suite's batches:
 * the dataset's float32 vector column stored as NPY v1.0 files of 100 rows plus index.json
 * (examples/npy.ts writes and reads them; bench/datasets.ts `ensureNpyStore` builds the store once from
 * LanceDB's scan). For each batch, every file holding one of its rows is loaded whole (one read of the
 * file into a fresh buffer, header parsed) and the batch's rows are copied out in batch order into one
 * (batchSize × dim) Float32Array, one file after another, as `np.load(file)` in a Python loop would.
 *
 *   epoch warm   the store's files read into the page cache first (cat), the index opened, the suite's warm
 *                protocol (suite.ts measureWarm: one untimed warm-up epoch, then whole epochs timed)
 *   epoch cold   the store's files (index.json included) evicted, then the index opened and the epoch timed
 *                together (createMs: the open's share), as LanceDB's cold takes and lance-loader's
 *                "incl. creation" variants
 *
 * Only float32 vector datasets have a store (emb, seed000); mnist (uint8) and images (binary) are
 * reported as skipped, since examples/npy.ts stores `<f4` only; emb-2.0 has the same values as emb-2.1, so
 * only emb-2.1 gets a store.
 *
 * Run by bench/run.ts: `node --import tsx bench/methods/numpy-files.ts <task.json>`.
 */
import { join } from 'node:path';
import { fetchNpyFile, openNpyBatchStore, type NpyBatchStore } from '../../examples/npy.js';
import { datasetFiles, warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  measureCold,
  measureWarm,
  runMethodProcess,
  type Measurement,
  type MethodTask,
  type PassResult,
} from '../suite.js';

/**
 * One epoch of the suite's batches from the store; `counts` adds up the whole-file loads and their bytes.
 * Stops after the batch that crosses `deadline`.
 */
async function loadEpoch(
  task: MethodTask,
  store: NpyBatchStore,
  epoch: number,
  deadline: number,
  counts: { filesLoaded: number; bytesRead: number },
): Promise<PassResult> {
  const { dir } = store;
  const { dim, files, rows: where } = store.index;
  const sampler = createSampler(task.dataset, task.seed);
  const numBatches = sampler.numBatches();
  const t0 = performance.now();
  const run: PassResult = { rows: 0, complete: true, firstBatchMs: NaN, bytes: 0 };
  for (let b = 0; b < numBatches; b++) {
    if (b > 0 && performance.now() > deadline) {
      run.complete = false;
      break;
    }
    const batch = sampler.batch(epoch, b);
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
    for (const [file, positions] of byFile) {
      const name = files[file];
      if (name === undefined) throw new Error(`${dir}: index names no file ${file}`);
      const array = await fetchNpyFile(join(dir, name));
      counts.bytesRead += array.fileBytes;
      for (const i of positions) {
        const row = (where[String(batch[i])] as [number, number])[1];
        out.set(array.values.subarray(row * dim, (row + 1) * dim), i * dim);
      }
    }
    counts.filesLoaded += byFile.size;
    if (b === 0) run.firstBatchMs = performance.now() - t0;
    run.rows += batch.length;
    run.bytes = (run.bytes ?? 0) + out.byteLength;
  }
  return run;
}

async function epochRun(
  task: MethodTask,
  dir: string,
  cache: 'warm' | 'cold',
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  const files = datasetFiles(dir);
  const counts = { filesLoaded: 0, bytesRead: 0 };
  let rowsPerFile = NaN;
  const open = async () => {
    const store = await openNpyBatchStore(dir);
    rowsPerFile = store.index.rowsPerFile;
    return store;
  };
  let timing;
  if (cache === 'warm') {
    warmFiles(files);
    const store = await open();
    timing = await measureWarm(
      task,
      rss,
      (epoch, deadline) => loadEpoch(task, store, epoch, deadline, counts),
      () => Object.assign(counts, { filesLoaded: 0, bytesRead: 0 }),
    );
  } else {
    timing = await measureCold(task, rss, {
      files,
      creation: 'timed',
      open,
      pass: (store, deadline) => loadEpoch(task, store, task.epoch, deadline, counts),
      close: () => undefined,
    });
  }
  const m: Measurement = {
    method: 'numpy-files',
    variant: `epoch ${cache}`,
    cache,
    ...timing,
    bytesRead: counts.bytesRead,
    readsIssued: counts.filesLoaded,
    note: `${counts.filesLoaded} whole-file loads of ${rowsPerFile}-row NPY files; vector column only`,
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

/**
 * The loader's worker (Piscina task functions): `prepare` opens the dataset and decodes its small columns
 * when the loader is created; `loadJob` loads one batch — plan, read, decode — with that dataset
 * (decode-workers/worker-dataset.ts). Fixed-width columns land straight in the batch slot's shared memory;
 * variable-width columns come back in shared memory (the slot's previous buffer for the column when it
 * is big enough). Errors come back as records (structured clone would drop their class and code).
 */
import { threadId } from 'node:worker_threads';
import { toErrorRecord } from '../errors.js';
import { allSettledOrFirstError } from '../io/settle.js';
import { nativeAddon } from '../io/native-addon.js';
import { readEngine } from '../io/native-read.js';
import { WorkerDataset } from './worker-dataset.js';
import type { DatasetRef, LoadJob, LoadJobResult, PrepareJob, WorkerReads } from './messages.js';

/** The dataset of the loader this worker serves, by its ref (one loader per pool, so one entry). */
const datasets = new Map<string, Promise<WorkerDataset>>();

function datasetFor(ref: DatasetRef): Promise<WorkerDataset> {
  const key = JSON.stringify(ref);
  let dataset = datasets.get(key);
  if (!dataset) {
    dataset = WorkerDataset.open(ref);
    dataset.catch(() => datasets.delete(key));
    datasets.set(key, dataset);
  }
  return dataset;
}

/** Loads one batch. */
export async function loadJob(job: LoadJob): Promise<LoadJobResult> {
  try {
    const loaded = await (await datasetFor(job.dataset)).load(job.rows, job.outputs, job.variableMemory, job.epoch);
    // Asked after the load: the thread's io_uring is made on first use, and one that fails falls back to pread.
    const native: WorkerReads = { addon: nativeAddon() !== null, engine: readEngine().engine };
    return { ok: true, native, ...loaded };
  } catch (error) {
    return { ok: false, error: toErrorRecord(error) };
  }
}

/** How long a `prepare` task waits for the other workers to take theirs. */
const PREPARE_WAIT_MS = 5000;

/**
 * Opens the dataset ahead of the first batch (Piscina task `prepare`), so that batch does not wait for
 * the manifest, file metadata and descriptors, keeps the small columns decoded
 * (WorkerDataset.keepSmallColumns), runs a few rows of every column through it (warmUp), and readies
 * each lane's files and read memory. Then it holds this worker until every worker has taken a `prepare`
 * task (or PREPARE_WAIT_MS passed): Piscina gives a task to an idle worker, so without the wait a worker
 * that started first could take two and leave another to do all this on its first batch, from a disk
 * the caller may just have evicted. Resolves to this worker's threadId when the work succeeded, else
 * null: a failure is left for the first batch to report, since it retries what failed and throws the
 * same typed error with the batch's context.
 */
export async function prepare(job: PrepareJob): Promise<number | null> {
  const arrived = new Int32Array(job.arrived);
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  let ok = true;
  try {
    const dataset = await datasetFor(job.dataset);
    // Side by side: on a cold disk both wait for reads round after round, and each has its own lane when
    // the worker has two (with one, they take turns). A failure of one is reported only once the other has
    // settled, so no read of this task is still on a lane when prepare reports.
    await allSettledOrFirstError<void>([dataset.keepSmallColumns(), dataset.warmUp()]);
    await dataset.prepareLanes();
    await dataset.prepareTransforms();
  } catch {
    ok = false;
  }
  const deadline = Date.now() + PREPARE_WAIT_MS;
  for (let n = Atomics.load(arrived, 0); n < job.workers && Date.now() < deadline; n = Atomics.load(arrived, 0)) {
    await Atomics.waitAsync(arrived, 0, n, deadline - Date.now()).value;
  }
  return ok ? threadId : null;
}

export default loadJob;

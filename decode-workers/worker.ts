/**
 * The loader's worker (Piscina task functions; `prepare` opens the dataset ahead of time): loads one batch — plan, read, decode — with the
 * dataset this worker opened on its first job (loader/worker-dataset.ts). Fixed-width columns land
 * straight in the batch slot's shared memory; variable-width columns come back in shared memory (the
 * slot's previous buffer for the column when it is big enough). Errors come back as records
 * (structured clone would drop their class and code).
 */
import { toErrorRecord } from '../errors.js';
import { WorkerDataset } from '../loader/worker-dataset.js';
import type { DatasetRef, LoadJob, LoadJobResult } from './messages.js';

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
    const loaded = await (await datasetFor(job.dataset)).load(job.rows, job.outputs);
    return { ok: true, ...loaded };
  } catch (error) {
    return { ok: false, error: toErrorRecord(error) };
  }
}

/**
 * Opens the dataset ahead of the first batch (Piscina task `prepare`), so that batch does not wait for
 * the manifest, file metadata and descriptors. True when it opened; a failure is left for the first batch
 * to report, since it retries the open and throws the same typed error with the batch's context.
 */
export async function prepare(ref: DatasetRef): Promise<boolean> {
  try {
    await datasetFor(ref);
    return true;
  } catch {
    return false;
  }
}

export default loadJob;

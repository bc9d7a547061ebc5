/**
 * The loader's worker (a Piscina task function): loads one batch — plan, read, decode — with the
 * dataset this worker opened on its first job (loader/worker-dataset.ts). Fixed-width columns land
 * straight in the batch slot's shared memory; variable-width columns come back in shared memory (the
 * slot's previous buffer for the column when it is big enough). Errors come back as records
 * (structured clone would drop their class and code).
 */
import { toErrorRecord } from '../errors.js';
import { WorkerDataset } from '../loader/worker-dataset.js';
import type { LoadJob, LoadJobResult } from './messages.js';

/** The dataset of the loader this worker serves, by its ref (one loader per pool, so one entry). */
const datasets = new Map<string, Promise<WorkerDataset>>();

function datasetFor(job: LoadJob): Promise<WorkerDataset> {
  const key = JSON.stringify(job.dataset);
  let dataset = datasets.get(key);
  if (!dataset) {
    dataset = WorkerDataset.open(job.dataset);
    dataset.catch(() => datasets.delete(key));
    datasets.set(key, dataset);
  }
  return dataset;
}

/** Loads one batch. */
export async function loadJob(job: LoadJob): Promise<LoadJobResult> {
  try {
    const loaded = await (await datasetFor(job)).load(job.rows, job.outputs);
    return { ok: true, ...loaded };
  } catch (error) {
    return { ok: false, error: toErrorRecord(error) };
  }
}

export default loadJob;

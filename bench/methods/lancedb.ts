/**
 * LanceDB (@lancedb/lancedb, the reference reader) in the suite: `table.takeOffsets(batchRows).toArrow()`
 * on the suite's shuffled batches with 1 and 4 batches in flight, warm and cold, and its full scan
 * (`for await (const batch of table.query())`, every column, Arrow record batches).
 *
 *   take ×N warm   files read into the page cache (cat), a connection opened, the suite's warm protocol
 *                  (suite.ts measureWarm: one untimed warm-up epoch, then whole epochs timed)
 *   take ×N cold   every file of the dataset evicted, then connect + openTable and the epoch's takes timed
 *                  together (createMs: the open's share), as lance-loader's "incl. creation" variants
 *   scan warm      files in the page cache, the same warm protocol over whole scans
 *
 * Each variant opens its own connection, so no variant inherits another's caches. takeOffsets returns
 * rows sorted by offset rather than in the asked order; only throughput is measured here.
 * Run by bench/run.ts: `node --import tsx bench/methods/lancedb.ts <task.json>`.
 */
import { dirname } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { datasetFiles, warmFiles } from '../datasets.js';
import {
  createRssSampler,
  createSampler,
  describe,
  log,
  measureCold,
  measureWarm,
  recordBatchBytes,
  runMethodProcess,
  scanPass,
  type ArrowDataLike,
  type Measurement,
  type MethodTask,
  type PassResult,
} from '../suite.js';

interface ArrowLike {
  numRows: number;
  batches: { data: ArrowDataLike }[];
}

function tableBytes(table: ArrowLike): number {
  return table.batches.reduce((sum, b) => sum + recordBatchBytes(b.data), 0);
}

type Opened = { db: lancedb.Connection; table: lancedb.Table };

async function openTable(task: MethodTask): Promise<Opened> {
  const db = await lancedb.connect(dirname(task.dataset.path));
  const table = await db.openTable(task.dataset.tableName);
  return { db, table };
}

function closeTable({ db, table }: Opened): void {
  table.close();
  db.close();
}

/** One epoch's batches taken with `inFlight` takes at a time, stopping after the batch that crosses `deadline`. */
async function takeEpoch(
  task: MethodTask,
  table: lancedb.Table,
  epoch: number,
  inFlight: number,
  deadline: number,
): Promise<PassResult> {
  const sampler = createSampler(task.dataset, task.seed);
  const batches = Array.from({ length: sampler.numBatches() }, (_, i) => Array.from(sampler.batch(epoch, i)));
  const t0 = performance.now();
  const run: PassResult = { rows: 0, complete: true, bytes: 0, firstBatchMs: NaN };
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      if (performance.now() > deadline) {
        run.complete = false;
        return;
      }
      const result = (await table.takeOffsets(batches[next++] as number[]).toArrow()) as unknown as ArrowLike;
      if (Number.isNaN(run.firstBatchMs)) run.firstBatchMs = performance.now() - t0;
      run.rows += result.numRows;
      run.bytes = (run.bytes ?? 0) + tableBytes(result);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return run;
}

async function takeRun(
  task: MethodTask,
  inFlight: number,
  cache: 'warm' | 'cold',
  rss: ReturnType<typeof createRssSampler>,
): Promise<Measurement> {
  const files = datasetFiles(task.dataset.path);
  let timing;
  if (cache === 'warm') {
    warmFiles(files);
    const opened = await openTable(task);
    try {
      timing = await measureWarm(task, rss, (epoch, deadline) =>
        takeEpoch(task, opened.table, epoch, inFlight, deadline),
      );
    } finally {
      closeTable(opened);
    }
  } else {
    timing = await measureCold(task, rss, {
      files,
      creation: 'timed',
      open: () => openTable(task),
      pass: ({ table }, deadline) => takeEpoch(task, table, task.epoch, inFlight, deadline),
      close: closeTable,
    });
  }
  const m: Measurement = { method: 'lancedb', variant: `take ×${inFlight} ${cache}`, cache, ...timing };
  log(task, describe(m));
  return m;
}

async function scanRun(task: MethodTask, rss: ReturnType<typeof createRssSampler>): Promise<Measurement> {
  warmFiles(datasetFiles(task.dataset.path));
  const opened = await openTable(task);
  try {
    const timing = await measureWarm(task, rss, (_epoch, deadline) =>
      scanPass(
        task,
        (async function* () {
          for await (const batch of opened.table.query()) {
            yield { rows: batch.numRows, bytes: recordBatchBytes(batch.data as unknown as ArrowDataLike) };
          }
        })(),
        deadline,
      ),
    );
    const m: Measurement = { method: 'lancedb', variant: 'scan warm', cache: 'warm', ...timing };
    log(task, describe(m));
    return m;
  } finally {
    closeTable(opened);
  }
}

await runMethodProcess(async (task, result) => {
  const rss = createRssSampler();
  const attempt = async (what: string, fn: () => Promise<Measurement>) => {
    try {
      result.measurements.push(await fn());
    } catch (error) {
      result.errors.push(`${what}: ${(error as Error).message}`);
      log(task, `${what} failed: ${(error as Error).message}`);
    }
  };
  for (const cache of ['warm', 'cold'] as const) {
    for (const inFlight of [1, 4])
      await attempt(`take ×${inFlight} ${cache}`, () => takeRun(task, inFlight, cache, rss));
  }
  await attempt('scan warm', () => scanRun(task, rss));
  rss.stop();
});

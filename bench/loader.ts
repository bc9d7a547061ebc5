/**
 * Shuffled-epoch throughput: lance-loader's DataLoader next to LanceDB's `takeOffsets` on the same
 * dataset and the same shuffled batches, one after the other in one run, with the page cache warm (an
 * untimed pass first) and cold (every file of the dataset evicted before each run, then opening —
 * createLoader, connect + openTable — and the epoch timed together, as bench/run.ts's fair cold figure).
 *
 *   npm run bench:loader [-- --rows N --batch B --kinds emb,mixed]
 */
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import { openDataset } from '../dataset/dataset.js';
import { createLoader } from '../loader/loader.js';
import { BatchSampler } from '../samplers/index.js';
import { benchTableName, dataDir, ensureBenchDataset, evictDataset, type BenchKind } from './datasets.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '256' },
    kinds: { type: 'string', default: 'emb,mixed' },
  },
});
const rows = Number(args.rows);
const batchSize = Number(args.batch);
const seed = 7;

/** One timed epoch of the loader; cold, createLoader is timed with it (warm, it is not). */
async function ours(path: string, cache: 'warm' | 'cold'): Promise<{ rows: number; ms: number; metrics: unknown }> {
  if (cache === 'cold') evictDataset(path);
  const created = performance.now();
  const loader = await createLoader(path, {
    batchSize,
    seed,
    prefetch: 8,
    io: { direct: process.env.LL_DIRECT === '1' ? true : 'auto' },
  });
  const drain = async (epoch: number) => {
    let n = 0;
    for await (const batch of loader.epoch(epoch)) {
      n += batch.numRows;
      batch.release();
    }
    return n;
  };
  if (cache === 'warm') await drain(0);
  const t0 = cache === 'cold' ? created : performance.now();
  const n = await drain(1);
  const ms = performance.now() - t0;
  const metrics = loader.metrics();
  await loader.close();
  return { rows: n, ms, metrics };
}

async function lancedbTake(
  path: string,
  name: string,
  numRows: number,
  inFlight: number,
): Promise<{ rows: number; ms: number }> {
  const t0 = performance.now();
  const db = await lancedb.connect(dataDir);
  const table = await db.openTable(name);
  const sampler = new BatchSampler({
    numRows,
    batchSize,
    shuffle: 'global',
    seed,
    dropLast: false,
    rank: 0,
    worldSize: 1,
  });
  let n = 0;
  let next = 0;
  const worker = async () => {
    while (next < sampler.numBatches()) {
      const rowsOfBatch = sampler.batch(0, next++);
      const result = await table.takeOffsets(Array.from(rowsOfBatch)).toArrow();
      n += result.numRows;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  table.close();
  return { rows: n, ms: performance.now() - t0 };
}

const rate = (r: { rows: number; ms: number }) => (r.rows / r.ms) * 1000;
console.log(`rows ${rows}, batch ${batchSize}, seed ${seed}; rows/s (best of warm runs; cold = files evicted first)\n`);
console.log(
  '| dataset | cache | lance-loader | LanceDB takeOffsets ×1 | LanceDB takeOffsets ×4 | ratio vs best LanceDB |',
);
console.log('|---|---|---:|---:|---:|---:|');
for (const kind of String(args.kinds).split(',') as BenchKind[]) {
  for (const version of ['2.1', '2.0'] as const) {
    if (kind === 'mixed' && version === '2.0') continue;
    const path = await ensureBenchDataset(kind, rows, version);
    const name = benchTableName(kind, rows, version);
    const ds = await openDataset(path);
    const numRows = ds.numRows;
    await ds.close();
    for (const cache of ['warm', 'cold'] as const) {
      const run = async <T>(fn: () => Promise<T>) => {
        if (cache === 'cold') evictDataset(path);
        else await fn();
        return fn();
      };
      const a = await ours(path, cache);
      const b = await run(() => lancedbTake(path, name, numRows, 1));
      const c = await run(() => lancedbTake(path, name, numRows, 4));
      const best = Math.max(rate(b), rate(c));
      console.log(
        `| ${kind} ${version} | ${cache} | ${rate(a).toFixed(0)} | ${rate(b).toFixed(0)} | ${rate(c).toFixed(0)} | ${(rate(a) / best).toFixed(2)} |`,
      );
      if (cache === 'warm') console.error(JSON.stringify(a.metrics));
    }
  }
}

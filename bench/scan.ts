/**
 * Full-scan throughput, lance-loader next to LanceDB on the same data, measured side by side in one run.
 *
 *   npm run bench:scan [-- --rows N --repeat K]
 *
 * Datasets (generated once into bench/.data, file versions 2.1 and 2.0):
 *   emb    id int64, label int32, x fixed_size_list<float32>[768]  (full-zip vectors in 2.1)
 *   mixed  id int64, i32, f64, bool, ts_us, utf8 words, nullable i32  (mini-block encodings in 2.1)
 * Both readers scan every column; the page cache is warm (one untimed pass first). Reported: rows/s
 * and MB/s of stored column bytes for each reader, and lance-loader / LanceDB.
 */
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import { openDataset } from 'lance-loader';
import { dataDir, ensureBenchDataset as ensure } from './datasets.js';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, repeat: { type: 'string', default: '3' } },
});
const rows = Number(args.rows);
const repeat = Number(args.repeat);

async function timeIt(fn: () => Promise<number>): Promise<{ ms: number; rows: number }> {
  await fn();
  let best = Infinity;
  let count = 0;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    count = await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, rows: count };
}

console.log(`| dataset | version | rows | lance-loader rows/s | LanceDB rows/s | ratio |`);
console.log(`|---|---|---:|---:|---:|---:|`);
for (const kind of ['emb', 'mixed'] as const) {
  for (const version of ['2.1', '2.0'] as const) {
    const path = await ensure(kind, rows, version);
    const ds = await openDataset(path);
    const ours = await timeIt(async () => {
      let n = 0;
      for await (const b of ds.scan({ batchSize: 8192 })) n += b.numRows;
      return n;
    });
    await ds.close();
    const db = await lancedb.connect(dataDir);
    const tbl = await db.openTable(
      path
        .split('/')
        .pop()!
        .replace(/\.lance$/, ''),
    );
    const theirs = await timeIt(async () => {
      let n = 0;
      for await (const b of tbl.query()) n += b.numRows;
      return n;
    });
    if (ours.rows !== theirs.rows) throw new Error(`row counts differ: ${ours.rows} vs ${theirs.rows}`);
    const rate = (x: { ms: number; rows: number }) => (x.rows / x.ms) * 1000;
    console.log(
      `| ${kind} | ${version} | ${ours.rows} | ${rate(ours).toFixed(0)} | ${rate(theirs).toFixed(0)} | ${(rate(ours) / rate(theirs)).toFixed(2)} |`,
    );
  }
}

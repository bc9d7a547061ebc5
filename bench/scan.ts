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
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { openDataset } from 'lance-loader';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, repeat: { type: 'string', default: '3' } } });
const rows = Number(args.rows);
const repeat = Number(args.repeat);
const dataDir = join(import.meta.dirname, '.data');
mkdirSync(dataDir, { recursive: true });

function fsl(values: Float32Array, dim: number, n: number): arrow.Vector {
  const child = arrow.makeData({ type: new arrow.Float32(), length: n * dim, data: values });
  return arrow.makeVector(arrow.makeData({ type: new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true)), length: n, nullCount: 0, child }));
}

function makeTable(kind: 'emb' | 'mixed', start: number, n: number): arrow.Table {
  const id = arrow.makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(start + i)));
  if (kind === 'emb') {
    const x = new Float32Array(n * 768);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(start * 768 + i);
    return new arrow.Table({ id, label: arrow.makeVector(Int32Array.from({ length: n }, (_, i) => (start + i) % 10)), x: fsl(x, 768, n) });
  }
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  return new arrow.Table({
    id,
    i32: arrow.makeVector(Int32Array.from({ length: n }, (_, i) => Math.imul(start + i, 2654435761) | 0)),
    f64: arrow.makeVector(Float64Array.from({ length: n }, (_, i) => Math.cos(start + i))),
    flag: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => (start + i) % 3 === 0), new arrow.Bool()),
    ts: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => 1_700_000_000_000 + (start + i) * 1000), new arrow.TimestampMillisecond()),
    text: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => `${words[(start + i) % 8]} ${words[((start + i) * 7) % 8]} ${start + i}`), new arrow.Utf8()),
    maybe: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => ((start + i) % 10 === 0 ? null : start + i)), new arrow.Int32()),
  });
}

async function ensure(kind: 'emb' | 'mixed', version: '2.0' | '2.1'): Promise<string> {
  const name = `${kind}-${rows}-v${version.replace('.', '')}`;
  const path = join(dataDir, `${name}.lance`);
  if (existsSync(join(path, '_versions'))) return path;
  const db = await lancedb.connect(dataDir);
  const batch = 8192;
  let table: lancedb.Table | undefined;
  for (let start = 0; start < rows; start += batch) {
    const t = makeTable(kind, start, Math.min(batch, rows - start));
    if (!table) table = await db.createTable(name, t, { mode: 'overwrite', storageOptions: { new_table_data_storage_version: version } });
    else await table.add(t);
  }
  await table?.optimize();
  return path;
}

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
    const path = await ensure(kind, version);
    const ds = await openDataset(path);
    const ours = await timeIt(async () => {
      let n = 0;
      for await (const b of ds.scan({ batchSize: 8192 })) n += b.numRows;
      return n;
    });
    await ds.close();
    const db = await lancedb.connect(dataDir);
    const tbl = await db.openTable(path.split('/').pop()!.replace(/\.lance$/, ''));
    const theirs = await timeIt(async () => {
      let n = 0;
      for await (const b of tbl.query()) n += b.numRows;
      return n;
    });
    if (ours.rows !== theirs.rows) throw new Error(`row counts differ: ${ours.rows} vs ${theirs.rows}`);
    const rate = (x: { ms: number; rows: number }) => (x.rows / x.ms) * 1000;
    console.log(`| ${kind} | ${version} | ${ours.rows} | ${rate(ours).toFixed(0)} | ${rate(theirs).toFixed(0)} | ${(rate(ours) / rate(theirs)).toFixed(2)} |`);
  }
}

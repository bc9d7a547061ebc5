/**
 * Benchmark datasets, generated once with LanceDB into bench/.data and reused:
 *   emb    id int64, label int32, x fixed_size_list<float32>[768]
 *   mixed  id int64, i32, f64, bool, timestamp, utf8, nullable int32
 * and page-cache eviction of a dataset's files (for cold-cache runs).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';

export const dataDir = join(import.meta.dirname, '.data');

export type BenchKind = 'emb' | 'mixed';

function fsl(values: Float32Array, dim: number, n: number): arrow.Vector {
  const child = arrow.makeData({ type: new arrow.Float32(), length: n * dim, data: values });
  return arrow.makeVector(arrow.makeData({ type: new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), true)), length: n, nullCount: 0, child }));
}

function makeTable(kind: BenchKind, start: number, n: number): arrow.Table {
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

/** The table name of a benchmark dataset. */
export function benchTableName(kind: BenchKind, rows: number, version: '2.0' | '2.1'): string {
  return `${kind}-${rows}-v${version.replace('.', '')}`;
}

/** Writes the dataset if it is not cached yet; returns its directory. */
export async function ensureBenchDataset(kind: BenchKind, rows: number, version: '2.0' | '2.1'): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  const name = benchTableName(kind, rows, version);
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

/** Drops a dataset's data files from the page cache (posix_fadvise DONTNEED through `dd iflag=nocache`). */
export function evictDataset(path: string): void {
  const dataFiles = readdirSync(join(path, 'data')).map((f) => join(path, 'data', f));
  for (const file of dataFiles) execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

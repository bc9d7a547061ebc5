/**
 * Quickstart: the reader on its own. It opens a Lance dataset (yours, or a small one it writes with
 * LanceDB, file version 2.1, into a temporary folder that it removes again, also on Ctrl-C) and prints
 * the schema, a few rows taken in shuffled order (one of them twice), and a full scan. Any number of
 * rows works, none included.
 *
 *   npm run quickstart [-- [--rows N] [--batch-size N] [dataset-dir]]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { openDataset } from '../index.js';
import { parseExampleArgs } from './command-line.js';
import { removeAfterWriting, removeOnExit } from './remove-on-exit.js';

const args = parseExampleArgs({
  name: 'quickstart',
  command: 'npm run quickstart --',
  positionals: { synopsis: '[dataset-dir]', max: 1 },
  about:
    'Reads a Lance dataset with lance-loader: its schema, a take of a few rows in shuffled order (one twice) and\n' +
    'a full scan. Without dataset-dir it writes an example table (id, label, embedding, caption; every\n' +
    '1000th row deleted) with LanceDB into a temporary folder, removed when it ends.',
  options: {
    rows: { value: 'N', default: '10000', description: 'rows of the example table it writes without dataset-dir' },
    'batch-size': { value: 'N', default: '4096', description: 'rows per record batch of the scan' },
  },
});
const [datasetDir] = args.positionals;
if (datasetDir !== undefined && args.given('rows')) args.fail('--rows sizes the example table: not with a dataset-dir');
const rows = args.integer('rows', 0);
const batchSize = args.integer('batch-size', 1);

async function writeExample(dir: string, n: number): Promise<string> {
  const db = await lancedb.connect(dir);
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const embeddings = Float32Array.from({ length: n * 8 }, (_, i) => Math.sin(i));
  const captions = arrow.vectorFromArray(
    Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `image ${i} of class ${i % 10}`)),
    new arrow.Utf8(),
  );
  const embedding = arrow.makeVector(
    arrow.makeData({
      type: new arrow.FixedSizeList(8, new arrow.Field('item', new arrow.Float32(), true)),
      length: n,
      nullCount: 0,
      child: arrow.makeData({ type: new arrow.Float32(), length: n * 8, data: embeddings }),
    }),
  );
  const table = new arrow.Table({
    id: arrow.makeVector(ids),
    label: arrow.makeVector(labels),
    embedding,
    caption: captions,
  });
  const options = { storageOptions: { new_table_data_storage_version: '2.1' } };
  // LanceDB cannot write a table of no rows (it trips over the empty fixed-size list), only create one.
  const tbl =
    n === 0
      ? await db.createEmptyTable('images', table.schema, options)
      : await db.createTable('images', table, options);
  await tbl.delete('id % 1000 = 999');
  tbl.close();
  db.close();
  return join(dir, 'images.lance');
}

/** A short rendering of one value of a row: long strings cut, vectors and bytes summarized. */
function describeValue(value: unknown): string {
  const number = (x: unknown) => (typeof x === 'number' && !Number.isInteger(x) ? x.toPrecision(4) : String(x));
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof arrow.Vector) {
    const head = Array.from({ length: Math.min(3, value.length) }, (_, i) => number(value.get(i)));
    return `[${head.join(', ')}${value.length > 3 ? `, … ${value.length} values` : ''}]`;
  }
  return number(value);
}

let path = datasetDir;
if (path === undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'lance-loader-quickstart-'));
  removeOnExit(dir);
  console.log(`writing ${rows} rows with LanceDB into ${dir} (removed when the quickstart ends)`);
  path = await removeAfterWriting(writeExample(dir, rows));
}
const dataset = await openDataset(path);
try {
  console.log(
    `dataset ${path}: version ${dataset.version}, ${dataset.numRows} rows, ${dataset.fragments.length} fragment(s)`,
  );
  console.log(`schema: ${dataset.schema.fields.map((f) => `${f.name}: ${f.type}`).join(', ')}`);

  // Rows come back in the order asked, duplicates included.
  const n = dataset.numRows;
  const offsets = n === 0 ? [] : [Math.floor(n / 2), n - 1, 0, Math.floor(n / 2)];
  if (offsets.length === 0) console.log('take → nothing to take: the dataset has no rows');
  else {
    const table = await dataset.take(offsets);
    let i = 0;
    for (const row of table) {
      const values = table.schema.fields.map((f) => `${f.name}=${describeValue(row[f.name])}`);
      console.log(`take → row ${offsets[i++]}: ${values.join(' ')}`);
    }
  }

  let scanned = 0;
  const started = performance.now();
  for await (const batch of dataset.scan({ batchSize })) scanned += batch.numRows;
  console.log(`scan → ${scanned} rows in ${(performance.now() - started).toFixed(1)} ms`);
} finally {
  await dataset.close();
}

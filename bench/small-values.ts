/**
 * Read amplification of a small variable-width column: bytes the loader reads ÷ bytes it delivers over
 * shuffled epochs of `png` alone, a binary column of 200–250 B values (a PNG signature and random bytes,
 * like tiny thumbnails), 20,000 rows written by LanceDB as file versions 2.1 and 2.0. Reads at loader
 * creation are not in the loader's metrics: its warm-up reads a few rows of every page, and a worker that
 * keeps the column's pages decoded (within io.cacheBytes) reads each page whole once, there or in the
 * first batch that touches it; the `stored` line gives the column's bytes in the file, which is what that
 * costs per worker.
 *
 *   npx tsx bench/small-values.ts [-- --rows 20000 --epochs 2 --cache-mb 16]
 */
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { openDataset } from '../dataset/dataset.js';
import { createLoader } from '../loader/loader.js';
import { createRandom, dataDir } from './datasets.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    epochs: { type: 'string', default: '2' },
    'cache-mb': { type: 'string', default: '16' },
  },
});
const rows = Number(args.rows);
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Writes the dataset if it is not there yet; returns its directory. */
async function ensureSmallValues(version: '2.0' | '2.1'): Promise<string> {
  mkdirSync(dataDir, { recursive: true });
  const name = `small-png-${rows}-v${version.replace('.', '')}`;
  const path = join(dataDir, `${name}.lance`);
  if (existsSync(join(path, '_versions'))) return path;
  const random = createRandom(0x9e9);
  const valueOffsets = new Int32Array(rows + 1);
  for (let i = 0; i < rows; i++) valueOffsets[i + 1] = (valueOffsets[i] as number) + 200 + Math.floor(random() * 51);
  const data = new Uint8Array(valueOffsets[rows] as number);
  randomFillSync(data);
  for (let i = 0; i < rows; i++) data.set(PNG_SIGNATURE, valueOffsets[i] as number);
  const png = arrow.makeVector(
    arrow.makeData({ type: new arrow.Binary(), length: rows, nullCount: 0, valueOffsets, data }),
  );
  const id = arrow.makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)));
  const db = await lancedb.connect(dataDir);
  const table = await db.createTable(name, new arrow.Table({ id, png }), {
    mode: 'overwrite',
    storageOptions: { new_table_data_storage_version: version },
  });
  table.close();
  db.close();
  return path;
}

/** Bytes of the column's pages in the files (every buffer of every page), how many pages, their layouts. */
async function storedBytes(path: string, column: string): Promise<{ bytes: number; pages: number; layout: string }> {
  const dataset = await openDataset(path);
  try {
    const plan = await dataset.planRead(Uint32Array.of(0), dataset.selectFields([column]));
    const pages = plan.files.flatMap((file) => file.columns.flatMap((c) => c.column.pages));
    return {
      bytes: pages.reduce((sum, p) => sum + p.buffers.reduce((s, b) => s + b.size, 0), 0),
      pages: pages.length,
      layout: [...new Set(pages.map((p) => p.layout.kind))].join(', '),
    };
  } finally {
    await dataset.close();
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

for (const version of ['2.1', '2.0'] as const) {
  const path = await ensureSmallValues(version);
  const stored = await storedBytes(path, 'png');
  console.log(`${version} stored: ${mb(stored.bytes)} MB in ${stored.pages} pages (${stored.layout})`);
  const loader = await createLoader(path, {
    columns: ['png'],
    batchSize: 256,
    shuffle: true,
    seed: 42,
    workers: 2,
    io: { cacheBytes: Number(args['cache-mb']) << 20 },
  });
  let last = loader.metrics();
  for (let epoch = 0; epoch < Number(args.epochs); epoch++) {
    for await (const batch of loader.epoch(epoch)) batch.release();
    const m = loader.metrics();
    const read = m.bytesRead - last.bytesRead;
    const delivered = m.bytesDelivered - last.bytesDelivered;
    console.log(
      `${version} epoch ${epoch}: read ${mb(read)} MB, delivered ${mb(delivered)} MB, read ÷ delivered ${(read / delivered).toFixed(2)}, ${m.readsIssued - last.readsIssued} reads`,
    );
    last = m;
  }
  await loader.close();
}

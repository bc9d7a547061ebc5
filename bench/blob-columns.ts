/**
 * CPU per row of the DataLoader over the same JPEGs stored three ways: a binary column (file version
 * 2.2), a 2.1 blob column (`lance-encoding:blob`, bytes in the data file) and a 2.2 blob v2 column (values
 * up to 64 KiB inline, larger ones in the packed sidecar), each written by writeDataset. Shuffled epochs,
 * one worker, warm (the files fit the page cache), the three kinds alternating in each round so that they
 * share the machine's load; CPU is process.cpuUsage over the epoch (every thread of the process), a
 * load-independent measure. `bytes`: the values only; `transforms`: decodeImage, randomResizedCrop(224),
 * flipHorizontal and normalize in the worker.
 *
 *   npx tsx bench/blob-columns.ts [-- --rows 1000 --rounds 3]
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as arrow from 'apache-arrow';
import sharp from 'sharp';
import { writeDataset } from '../writer/write-dataset.js';
import { createLoader } from '../loader/loader.js';
import { decodeImage, flipHorizontal, normalize, randomResizedCrop } from '../decode-workers/transforms/steps.js';
import { dataDir } from './datasets.js';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' } },
});
const rows = Number(args.rows);
const KINDS = ['binary', 'blob-2.1', 'blob-v2'] as const;
type Kind = (typeof KINDS)[number];

/** A JPEG of 360–520 × 280–400 px whose pixels depend on `seed` (gradients, noise and blocks: ~80 KB). */
async function jpeg(seed: number): Promise<Uint8Array> {
  const width = 360 + (seed % 5) * 40;
  const height = 280 + (seed % 7) * 20;
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      px[o] = (x * 255) / width + seed * 17 + ((x * y * 31 + seed) % 23);
      px[o + 1] = (y * 255) / height + seed * 29 + ((x * 7 + y * 13) % 19);
      px[o + 2] = ((x >> 3) + (y >> 3)) % 2 ? 200 : 40;
    }
  return new Uint8Array(
    await sharp(px, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
}

/** Writes the three datasets if they are not there yet; returns their paths by kind. */
async function ensureDatasets(): Promise<Record<Kind, string>> {
  mkdirSync(dataDir, { recursive: true });
  const paths = Object.fromEntries(KINDS.map((k) => [k, join(dataDir, `jpeg-${k}-${rows}.lance`)])) as Record<
    Kind,
    string
  >;
  if (KINDS.every((k) => existsSync(join(paths[k], '_versions')))) return paths;
  const images = await Promise.all(Array.from({ length: rows }, (_, i) => jpeg(i)));
  const label = arrow.vectorFromArray(
    images.map((_, i) => i % 10),
    new arrow.Int32(),
  );
  const large = arrow.vectorFromArray(images, new arrow.LargeBinary()).data[0] as arrow.Data;
  const table = (field: arrow.Field, data: arrow.Data) => {
    const schema = new arrow.Schema([field, new arrow.Field('label', new arrow.Int32(), false)]);
    const children = [data, label.data[0] as arrow.Data];
    const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows, children });
    return new arrow.Table([new arrow.RecordBatch(schema, struct)]);
  };
  const binary = arrow.vectorFromArray(images, new arrow.Binary()).data[0] as arrow.Data;
  await writeDataset(paths.binary, table(new arrow.Field('image', new arrow.Binary(), false), binary), {
    fileVersion: '2.2',
  });
  const blob = new Map([['lance-encoding:blob', 'true']]);
  await writeDataset(paths['blob-2.1'], table(new arrow.Field('image', new arrow.LargeBinary(), false, blob), large), {
    fileVersion: '2.1',
  });
  const v2 = new arrow.Struct([
    new arrow.Field('data', new arrow.LargeBinary(), true),
    new arrow.Field('uri', new arrow.Utf8(), true),
  ]);
  const uri = arrow.vectorFromArray(
    images.map(() => null),
    new arrow.Utf8(),
  ).data[0] as arrow.Data;
  const v2Data = arrow.makeData({ type: v2, length: rows, children: [large, uri] });
  const v2Field = new arrow.Field('image', v2, false, new Map([['ARROW:extension:name', 'lance.blob.v2']]));
  await writeDataset(paths['blob-v2'], table(v2Field, v2Data), { fileVersion: '2.2' });
  return paths;
}

/** CPU ms per row and rows/s of one shuffled epoch of `path`. */
async function epoch(path: string, transforms: boolean, round: number): Promise<{ cpuMs: number; rowsPerS: number }> {
  const loader = await createLoader(path, {
    columns: ['image', 'label'],
    batchSize: 64,
    workers: 1,
    seed: round,
    ...(transforms && {
      transforms: {
        image: { steps: [decodeImage(), randomResizedCrop(224), flipHorizontal(), normalize(0.5, 0.25)] },
      },
    }),
  });
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    let n = 0;
    for await (const batch of loader.epoch(round)) {
      n += batch.numRows;
      batch.release();
    }
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000 / n, rowsPerS: n / ((performance.now() - started) / 1000) };
  } finally {
    await loader.close();
  }
}

const paths = await ensureDatasets();
for (const transforms of [false, true]) {
  const results = new Map<Kind, { cpuMs: number; rowsPerS: number }[]>();
  for (let round = 0; round < Number(args.rounds); round++)
    for (const kind of KINDS)
      results.set(kind, [...(results.get(kind) ?? []), await epoch(paths[kind], transforms, round)]);
  for (const [kind, runs] of results)
    console.log(
      `${transforms ? 'transforms' : 'bytes'} ${kind.padEnd(9)} CPU ms/row ${runs.map((r) => r.cpuMs.toFixed(3)).join(' ')}   rows/s ${runs.map((r) => r.rowsPerS.toFixed(0)).join(' ')}`,
    );
}

/**
 * Images kept in blob columns through the loader's transforms: JPEGs written by LanceDB as a legacy blob
 * column (2.1) and as a blob v2 column (2.2, with thresholds that put them inline, in the packed sidecar
 * and in dedicated sidecars) come out of decodeImage and the random steps exactly as the same JPEGs do
 * from a plain binary column.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLoader,
  decodeImage,
  flipHorizontal,
  openDataset,
  randomResizedCrop,
  type BatchColumn,
  type LoaderOptions,
} from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { mixedJpegs, writeImageTable } from '../decode-workers/transforms/image-fixtures.js';

const ROWS = 24;
/** A row whose image is null in every table. */
const NULL_ROW = 5;

let jpegs: (Buffer | null)[];
let binary: string;
const dirs: string[] = [];

beforeAll(async () => {
  jpegs = (await mixedJpegs(ROWS)).map((jpeg, row) => (row === NULL_ROW ? null : jpeg));
  binary = await writeImageTable(jpegs);
  dirs.push(dirname(binary));
}, 60_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** `images` as a LargeBinary column's data (null where null). */
function largeBinary(images: (Uint8Array | null)[], nullable = true): arrow.Data<arrow.LargeBinary> {
  const offsets = new BigInt64Array(images.length + 1);
  images.forEach((image, i) => (offsets[i + 1] = (offsets[i] as bigint) + BigInt(image?.length ?? 0)));
  const data = new Uint8Array(Number(offsets[images.length]));
  images.forEach((image, i) => image && data.set(image, Number(offsets[i])));
  const valid = images.map((image) => image !== null);
  return arrow.makeData({
    type: new arrow.LargeBinary(),
    length: images.length,
    valueOffsets: offsets,
    data,
    ...(nullable && { nullBitmap: bitmap(valid), nullCount: valid.filter((v) => !v).length }),
  });
}

function bitmap(valid: boolean[]): Uint8Array {
  const bits = new Uint8Array((valid.length + 7) >>> 3);
  valid.forEach((v, i) => v && (bits[i >>> 3] = (bits[i >>> 3] as number) | (1 << (i & 7))));
  return bits;
}

/**
 * Writes `images` with LanceDB as column `image` of a blob column: legacy (`lance-encoding:blob`, file
 * version 2.1) or blob v2 (2.2) with thresholds a third and two thirds up the sizes, so that values are
 * inline, packed and dedicated. Returns the dataset's path.
 */
async function writeBlobTable(images: (Uint8Array | null)[], kind: 'blob' | 'blob-v2'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lance-loader-blob-images-'));
  dirs.push(dir);
  const n = images.length;
  const sizes = images.flatMap((image) => (image ? [image.length] : [])).sort((a, b) => a - b);
  const third = (k: number) => String(sizes[Math.floor((k * sizes.length) / 3)]);
  const valid = images.map((image) => image !== null);
  let field: arrow.Field;
  let data: arrow.Data;
  if (kind === 'blob') {
    field = new arrow.Field('image', new arrow.LargeBinary(), true, new Map([['lance-encoding:blob', 'true']]));
    data = largeBinary(images);
  } else {
    const type = new arrow.Struct([
      new arrow.Field('data', new arrow.LargeBinary(), true),
      new arrow.Field('uri', new arrow.Utf8(), true),
    ]);
    field = new arrow.Field(
      'image',
      type,
      true,
      new Map([
        ['ARROW:extension:name', 'lance.blob.v2'],
        ['lance-encoding:blob-inline-size-threshold', third(1)],
        ['lance-encoding:blob-dedicated-size-threshold', third(2)],
      ]),
    );
    const uri = arrow.vectorFromArray(
      images.map(() => null),
      new arrow.Utf8(),
    ).data[0] as arrow.Data;
    data = arrow.makeData({
      type,
      length: n,
      nullBitmap: bitmap(valid),
      nullCount: valid.filter((v) => !v).length,
      children: [largeBinary(images, false), uri],
    });
  }
  const id = arrow.makeData({ type: new arrow.Int32(), length: n, data: Int32Array.from(images, (_, i) => i) });
  const schema = new arrow.Schema([new arrow.Field('id', new arrow.Int32(), false), field]);
  const batch = new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, children: [id, data] }),
  );
  const db = await lancedb.connect(dir);
  const table = await db.createTable('images', toLanceDbArrow(new arrow.Table([batch])), {
    storageOptions: { new_table_data_storage_version: kind === 'blob' ? '2.1' : '2.2' },
  });
  table.close();
  db.close();
  return join(dir, 'images.lance');
}

const transforms: LoaderOptions['transforms'] = {
  image: { steps: [decodeImage(), randomResizedCrop(16), flipHorizontal()], onError: 'skip' },
};

/** Each row's transformed image in an epoch, by dataset row, as a string of its values. */
async function imagesByRow(path: string, workers: number): Promise<Map<number, string>> {
  const loader = await createLoader(path, { columns: ['image'], batchSize: 5, seed: 7, workers, transforms });
  const rows = new Map<number, string>();
  try {
    for await (const batch of loader.epoch(1)) {
      const image = batch.columns['image'] as BatchColumn;
      expect(image.shape).toEqual([batch.numRows, 16, 16, 3]);
      const per = image.values.length / batch.numRows;
      batch.rowOffsets.forEach((row, i) =>
        rows.set(row, (image.values as Uint8Array).subarray(i * per, (i + 1) * per).join()),
      );
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return rows;
}

describe.each(['blob', 'blob-v2'] as const)('JPEGs in a %s column through the loader', (kind) => {
  it('decode and augment to the same images as the same JPEGs in a binary column, the null row skipped', async () => {
    const path = await writeBlobTable(jpegs, kind);
    const expected = await imagesByRow(binary, 1);
    const given = await imagesByRow(path, 2);
    // onError 'skip' replaces the null row's place with another row, in both.
    expect(expected.has(NULL_ROW)).toBe(false);
    expect([...given.keys()].sort((a, b) => a - b)).toEqual([...expected.keys()].sort((a, b) => a - b));
    for (const [row, image] of expected) expect(given.get(row), `row ${row}`).toBe(image);
  });

  if (kind === 'blob-v2')
    it('is written with values inline, in the packed sidecar and in dedicated sidecars', async () => {
      const dataset = await openDataset(await writeBlobTable(jpegs, kind));
      try {
        const kinds = (
          await dataset.take(
            Array.from({ length: ROWS }, (_, i) => i),
            { columns: ['image'] },
          )
        )
          .getChild('image')
          ?.getChild('kind');
        expect(new Set(kinds?.toArray())).toEqual(new Set([0, 1, 2]));
      } finally {
        await dataset.close();
      }
    });
});

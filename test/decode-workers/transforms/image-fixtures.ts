/**
 * Images for the transform tests: drawn with sharp (gradients and blocks, so crops, flips and resizes
 * change values visibly) and written with LanceDB as `id int32`, `label int32`, `image binary` tables.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import sharp from 'sharp';

/** Raw RGB pixels of a `width` × `height` image whose values depend on x, y and `seed`. */
export function drawPixels(width: number, height: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      px[o] = (x * 255) / width + seed * 17;
      px[o + 1] = (y * 255) / height + seed * 29;
      px[o + 2] = ((x >> 3) + (y >> 3)) % 2 ? 200 : 40;
    }
  return px;
}

/** A JPEG (or `format`) of drawPixels. */
export function encodeImage(
  width: number,
  height: number,
  seed: number,
  format: 'jpeg' | 'png' | 'webp' = 'jpeg',
): Promise<Buffer> {
  const image = sharp(drawPixels(width, height, seed), { raw: { width, height, channels: 3 } });
  return (format === 'jpeg' ? image.jpeg({ quality: 92 }) : format === 'png' ? image.png() : image.webp()).toBuffer();
}

/**
 * Writes `images` (null for a null value) as a table `images.lance` in a new temporary folder; returns its
 * path. With `tokens`, row r also has `tokens: list<int32>` of r % 5 items [r, r + 1, …].
 */
export async function writeImageTable(
  images: (Uint8Array | null)[],
  labels?: number[],
  { tokens = false, tags = false } = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lance-loader-images-'));
  const table = new arrow.Table({
    ...(tokens && {
      tokens: arrow.vectorFromArray(
        images.map((_, r) => Array.from({ length: r % 5 }, (_, k) => r + k)),
        new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
      ),
    }),
    ...(tags && {
      tags: arrow.vectorFromArray(
        images.map((_, r) => Array.from({ length: r % 3 }, (_, k) => `tag-${r}-${k}`)),
        new arrow.List(new arrow.Field('item', new arrow.Utf8(), true)),
      ),
    }),
    id: arrow.makeVector(Int32Array.from(images, (_, i) => i)),
    label: arrow.makeVector(Int32Array.from(labels ?? images.map((_, i) => i % 10))),
    name: arrow.vectorFromArray(
      images.map((_, i) => `image-${i}`),
      new arrow.Utf8(),
    ),
    image: arrow.vectorFromArray(images, new arrow.Binary()),
  });
  const db = await lancedb.connect(dir);
  const written = await db.createTable('images', table, { storageOptions: { new_table_data_storage_version: '2.1' } });
  written.close();
  db.close();
  return join(dir, 'images.lance');
}

/** `count` JPEGs of mixed sizes (100–180 px per side), deterministic. */
export function mixedJpegs(count: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => encodeImage(100 + ((i * 37) % 81), 100 + ((i * 53) % 81), i)),
  );
}

/**
 * An image folder in the `class/*.jpg` layout → record batches of
 * `{ id: int64, label: int32, label_name: utf8, path: utf8, image: binary }`:
 *
 *   root/cat/001.jpg   → id 0, label 0, label_name "cat", path "cat/001.jpg", image: the file's bytes
 *   root/dog/a.png     → id 1, label 1, …
 *
 * Classes are the sub-directories in name order (label = index), files in name order within each; only
 * image files (jpg, jpeg, png, gif, bmp, webp, tif, tiff) count. Files are read a batch at a time, so
 * memory holds one batch of images. The bytes are stored as they are (no decoding).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';

const IMAGE_FILE = /\.(jpe?g|png|gif|bmp|webp|tiff?)$/i;

/** The schema of a converted image folder. */
export const imageFolderSchema = new arrow.Schema([
  new arrow.Field('id', new arrow.Int64(), false),
  new arrow.Field('label', new arrow.Int32(), false),
  new arrow.Field('label_name', new arrow.Utf8(), false),
  new arrow.Field('path', new arrow.Utf8(), false),
  new arrow.Field('image', new arrow.Binary(), false),
]);

/** One image of the folder: its class and its path relative to the root. */
export interface ImageEntry {
  label: number;
  labelName: string;
  path: string;
}

/** The images of `root`, in label then name order. */
export function listImageFolder(root: string): ImageEntry[] {
  const classes = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const entries = classes.flatMap((labelName, label) =>
    readdirSync(join(root, labelName))
      .filter((name) => IMAGE_FILE.test(name))
      .sort()
      .map((name) => ({ label, labelName, path: `${labelName}/${name}` })),
  );
  if (entries.length === 0)
    throw new InvalidArgumentError(
      `${root}: no images in class sub-directories (expected ${root}/<class>/<image>.jpg)`,
      {
        path: root,
      },
    );
  return entries;
}

/** The record batches of the images, `rowsPerBatch` images each. */
export async function* imageFolderBatches(
  root: string,
  entries: readonly ImageEntry[],
  rowsPerBatch = 256,
): AsyncGenerator<arrow.RecordBatch> {
  for (let start = 0; start < entries.length; start += rowsPerBatch) {
    const slice = entries.slice(start, start + rowsPerBatch);
    const images = slice.map((e) => readFileSync(join(root, e.path)));
    const children = [
      arrow.makeVector(BigInt64Array.from(slice, (_, i) => BigInt(start + i))).data[0],
      arrow.makeVector(Int32Array.from(slice, (e) => e.label)).data[0],
      arrow.vectorFromArray(
        slice.map((e) => e.labelName),
        new arrow.Utf8(),
      ).data[0],
      arrow.vectorFromArray(
        slice.map((e) => e.path),
        new arrow.Utf8(),
      ).data[0],
      arrow.vectorFromArray(images, new arrow.Binary()).data[0],
    ] as arrow.Data[];
    yield new arrow.RecordBatch(
      imageFolderSchema,
      arrow.makeData({
        type: new arrow.Struct(imageFolderSchema.fields),
        length: slice.length,
        nullCount: 0,
        children,
      }),
    );
  }
}

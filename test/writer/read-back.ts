/**
 * Reading back what a writer test wrote: the whole dataset through lance-loader's scan, blobs through
 * its takeBlobs, and the layouts of a one-file dataset's columns as `openFile().metadata()` describes them,
 * also beside LanceDB's for the same table.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { openDataset, openFile, writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';

/** Every row of the dataset at `path`, scanned by lance-loader. */
export async function scanOurs(path: string): Promise<arrow.Table> {
  const ds = await openDataset(path);
  try {
    const batches: arrow.RecordBatch[] = [];
    for await (const batch of ds.scan({ batchSize: 1000 })) batches.push(batch);
    return batches.length > 0 ? new arrow.Table(batches) : new arrow.Table(ds.schema);
  } finally {
    await ds.close();
  }
}

/** Bytes as hex, null for none. */
export const hex = (bytes: Uint8Array | null | undefined): string | null =>
  bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') : null;

/** Every row's blob of column `image` as lance-loader's `takeBlobs` returns it, as hex. */
export async function ourBlobs(path: string): Promise<(string | null)[]> {
  const ds = await openDataset(path);
  try {
    const handles = await ds.takeBlobs(
      Array.from({ length: ds.numRows }, (_, i) => i),
      'image',
    );
    // Awaited here: a returned promise would let the finally close the dataset under the reads.
    return await Promise.all(handles.map(async (h) => (h ? hex(new Uint8Array(await h.arrayBuffer())) : null)));
  } finally {
    await ds.close();
  }
}

/** One column: its pages' layouts (joined with ` | `) and its bytes in the data file. */
export interface ColumnLayout {
  layout: string;
  bytes: number;
}

/** Per column of the dataset's one data file: its pages' layouts and its bytes. */
export async function layouts(path: string): Promise<Record<string, ColumnLayout>> {
  const data = join(path, 'data');
  const [name] = fs.readdirSync(data);
  const file = await openFile(join(data, name as string));
  try {
    return Object.fromEntries(
      file
        .metadata()
        .columns.map((c) => [c.field, { layout: c.pages.map((p) => p.layout).join(' | '), bytes: c.bytes }]),
    );
  } finally {
    await file.close();
  }
}

/** One table written by lance-loader and by LanceDB: both datasets' paths and their columns' layouts. */
export interface SideBySide {
  ours: string;
  theirs: string;
  mine: Record<string, ColumnLayout>;
  lance: Record<string, ColumnLayout>;
}

/**
 * Writes `table` in file version `version` twice under `root`, as `ours-<name>.lance` by lance-loader's
 * writeDataset and as `<name>.lance` by LanceDB's createTable, and reads both datasets' layouts.
 */
export async function writeSideBySide(
  root: string,
  name: string,
  table: arrow.Table,
  version: '2.1' | '2.2',
): Promise<SideBySide> {
  const [ours, theirs] = [join(root, `ours-${name}.lance`), join(root, `${name}.lance`)];
  await writeDataset(ours, table, { fileVersion: version });
  const db = await lancedb.connect(root);
  try {
    const options = { storageOptions: { new_table_data_storage_version: version } };
    (await db.createTable(name, toLanceDbArrow(table), options)).close();
  } finally {
    db.close();
  }
  return { ours, theirs, mine: await layouts(ours), lance: await layouts(theirs) };
}

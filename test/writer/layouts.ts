/**
 * The page layouts of a one-file dataset, per column, as `openFile().metadata()` describes them: what
 * the writer tests compare with LanceDB's choices for the same table.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { openFile } from '../../index.js';

/** One column: its pages' layouts (joined with ` | `) and its bytes in the data file. */
export interface ColumnLayout {
  layout: string;
  bytes: number;
}

/** Per column of the dataset's only data file: its layouts and bytes. */
export async function columnLayouts(path: string): Promise<Record<string, ColumnLayout>> {
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

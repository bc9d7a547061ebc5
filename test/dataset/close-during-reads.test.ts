/**
 * Closing a dataset while its blob reads are in flight (a LanceDB-written blob v2 dataset: inline values
 * in the data file, larger ones in sidecars): the reads already started get their own bytes, the files
 * are closed once they are done, and a read started after the close is an IoError, never a read of a
 * descriptor number that the next open may have given to another file.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { openDataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { fdsUnder } from '../fixtures/fds.js';
import { specByName } from '../fixtures/matrix.js';
import { writtenBlobs } from './blob-fixtures.js';

let path: string;
beforeAll(async () => {
  path = await ensureDataset(specByName('blob_v2'), '2.2');
});

const hex = (bytes: ArrayBuffer): string => Buffer.from(bytes).toString('hex');

it('gives every blob read started before the dataset closes its own bytes, and closes the files after them', async () => {
  const ds = await openDataset(path);
  const handles = await ds.takeBlobs(
    Array.from({ length: ds.numRows }, (_, i) => i),
    'image',
  );
  const reads = handles.map((h) => (h ? h.arrayBuffer().then(hex) : null));
  await ds.close();
  expect(fdsUnder(fs.realpathSync(path))).toEqual([]);
  expect(await Promise.all(reads)).toEqual(writtenBlobs('blob_v2'));
});

it('refuses a blob read started after the dataset closed with an IoError naming the data file', async () => {
  const ds = await openDataset(path);
  const [handle] = await ds.takeBlobs([1], 'image');
  await ds.close();
  const [dataFile] = fs.readdirSync(join(path, 'data')).filter((name) => name.endsWith('.lance'));
  await expect(handle?.arrayBuffer()).rejects.toMatchObject({
    code: 'IO_ERROR',
    message: `${join(path, 'data', dataFile as string)}: source is closed`,
  });
});

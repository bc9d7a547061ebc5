/**
 * OpenFiles, the bound on the blob files a dataset keeps open, over the sidecars of the LanceDB-written
 * blob_v2 fixture: real files, real descriptors counted under the dataset's folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpenFiles } from '../../dataset/open-files.js';
import { FileSource } from '../../io/source.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { fdsUnder } from '../fixtures/fds.js';
import { specByName } from '../fixtures/matrix.js';

/** The fixture's folder and its sidecar files. */
async function sidecars(): Promise<{ root: string; files: string[] }> {
  const root = await ensureDataset(specByName('blob_v2'), '2.2');
  const files = fs
    .readdirSync(path.join(root, 'data'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.blob'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
  return { root, files };
}

const open = (file: string) => () => FileSource.open(file, { what: 'blob sidecar file' });

describe('the blob files a dataset keeps open', () => {
  it('are at most the bound once released, each read giving the bytes on disk', async () => {
    const { root, files } = await sidecars();
    expect(files.length).toBeGreaterThan(2);
    const before = fdsUnder(root).length;
    const opened = new OpenFiles(2);
    try {
      for (const file of files) {
        const source = await opened.acquire(file, open(file));
        const [head] = await source.readRanges([{ offset: 0, size: 16 }]);
        expect(Buffer.from(head as Uint8Array)).toEqual(fs.readFileSync(file).subarray(0, 16));
        opened.release(source);
        await new Promise((r) => setImmediate(r));
        expect(fdsUnder(root).length - before).toBeLessThanOrEqual(2);
      }
      expect((await opened.stats()).bytesRead).toBeGreaterThanOrEqual(16 * files.length);
    } finally {
      await opened.close();
    }
    expect(fdsUnder(root).length).toBe(before);
  });

  it('never closes a file still in use, however many others open past the bound', async () => {
    const { files } = await sidecars();
    const opened = new OpenFiles(1);
    try {
      const [first, ...rest] = files as [string, ...string[]];
      const held = await opened.acquire(first, open(first));
      for (const file of rest) opened.release(await opened.acquire(file, open(file)));
      const [head] = await held.readRanges([{ offset: 0, size: 8 }]);
      expect(Buffer.from(head as Uint8Array)).toEqual(fs.readFileSync(first).subarray(0, 8));
    } finally {
      await opened.close();
    }
  });
});

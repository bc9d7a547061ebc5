/**
 * A read that fails closes every file it opened before its promise rejects: once the typed error reaches
 * the caller, /proc/self/fd holds no descriptor of the damaged dataset, with no grace period. Damage is
 * done to copies of LanceDB-written fixtures (2 fragments, each with a deletion file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, openFile } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { fdsUnder } from '../fixtures/fds.js';
import { specByName } from '../fixtures/matrix.js';

let pristine: string;
const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'llclose-'));

beforeAll(async () => {
  pristine = await ensureDataset(specByName('deletions_arrow'), '2.1');
});
afterAll(() => fs.rmSync(temp, { recursive: true, force: true }));

let copies = 0;
function copyDataset(): string {
  const root = path.join(temp, String(copies++), path.basename(pristine));
  fs.cpSync(pristine, root, { recursive: true });
  return root;
}

/** Cuts `file` to half its length. */
function truncateHalf(file: string): void {
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
}

async function latestFiles(root: string): Promise<{ manifest: string; deletions: string[]; data: string[] }> {
  const dataset = await openDataset(root);
  try {
    const manifests = fs.readdirSync(path.join(root, '_versions')).filter((f) => f.endsWith('.manifest'));
    return {
      // V2 naming: u64::MAX − version, so the newest version sorts first.
      manifest: path.join(root, '_versions', manifests.sort()[0] as string),
      deletions: dataset.fragments.flatMap((f) => (f.deletionFile ? [path.join(root, f.deletionFile)] : [])),
      data: dataset.fragments.flatMap((f) => f.files.map((file) => path.join(root, 'data', file.path))),
    };
  } finally {
    await dataset.close();
  }
}

describe('a rejected read', () => {
  it('of a truncated manifest leaves no descriptor of it open', async () => {
    const root = copyDataset();
    const { manifest } = await latestFiles(root);
    truncateHalf(manifest);
    await expect(openDataset(root)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    expect(fdsUnder(root)).toEqual([]);
  });

  it("of the first fragment's truncated deletion file leaves no descriptor of the second fragment's open", async () => {
    const root = copyDataset();
    const { deletions } = await latestFiles(root);
    expect(deletions.length).toBe(2);
    truncateHalf(deletions[0] as string);
    await expect(openDataset(root)).rejects.toMatchObject({
      code: 'CORRUPT_FILE',
      message: expect.stringContaining(deletions[0] as string),
    });
    expect(fdsUnder(root)).toEqual([]);
  });

  it('of the versions of a dataset with a truncated older manifest leaves no manifest open', async () => {
    const root = copyDataset();
    const dataset = await openDataset(root);
    try {
      const oldest = fs
        .readdirSync(path.join(root, '_versions'))
        .filter((f) => f.endsWith('.manifest'))
        .sort()
        .at(-1) as string;
      truncateHalf(path.join(root, '_versions', oldest));
      await expect(dataset.versions()).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
      expect(fdsUnder(root)).toEqual([]);
    } finally {
      await dataset.close();
    }
  });

  it('of a truncated data file through openFile leaves no descriptor of it open', async () => {
    const root = copyDataset();
    const { data } = await latestFiles(root);
    truncateHalf(data[0] as string);
    await expect(openFile(data[0] as string)).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    expect(fdsUnder(root)).toEqual([]);
  });

  it('of a take from a truncated data file leaves no descriptor of that file open', async () => {
    const root = copyDataset();
    const { data } = await latestFiles(root);
    truncateHalf(data[1] as string);
    const dataset = await openDataset(root);
    try {
      await expect(dataset.take([dataset.numRows - 1])).rejects.toMatchObject({
        code: 'CORRUPT_FILE',
        message: expect.stringContaining(data[1] as string),
      });
      expect(fdsUnder(root)).not.toContain(data[1]);
    } finally {
      await dataset.close();
    }
    expect(fdsUnder(root)).toEqual([]);
  });
});

/**
 * Every file the reader opens is checked before it is read (io/regular-file.ts): a FIFO, an endless
 * character device, a directory or a file too large for its kind where a manifest, deletion file or data
 * file should be ends in a typed error naming the file, and symlinks out of the dataset directory are
 * refused unless `followSymlinks: 'all'`. Datasets are written by LanceDB (300 rows, 10 deleted, so with a
 * deletion file) and copied into temp directories to be damaged. FIFO cases run in a child process with a
 * timeout, so a regression that blocks in open(2) fails instead of hanging the suite.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, IoError, createLoader, openDataset, openFile } from '../../index.js';
import { NUM_ROWS, expectFailure, removeTempDirs, tempDir, writeDataset } from '../dataset/bad-input-helpers.js';

const DELETED = 10;
let pristine: string;

beforeAll(async () => {
  pristine = await writeDataset('2.1', (table) => table.delete(`id < ${DELETED}`));
});
afterAll(removeTempDirs);

interface Copy {
  root: string;
  manifest: string;
  deletionFile: string;
  dataFile: string;
}

/** A fresh copy of the dataset, with the paths of its latest manifest, deletion file and data file. */
function copyDataset(): Copy {
  const root = path.join(tempDir(), 't.lance');
  fs.cpSync(pristine, root, { recursive: true });
  const only = (dir: string, suffix: string, pick: (names: string[]) => string | undefined = (n) => n[0]) => {
    const names = fs
      .readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith(suffix))
      .sort();
    return path.join(root, dir, pick(names) as string);
  };
  return {
    root,
    // V2 naming: u64::MAX − version, so the newest version sorts first.
    manifest: only('_versions', '.manifest'),
    deletionFile: only('_deletions', '.arrow'),
    dataFile: only('data', '.lance'),
  };
}

/** Every visible row of the dataset at `root`, as JSON lines. */
async function readAll(root: string): Promise<string> {
  const dataset = await openDataset(root);
  try {
    const table = await dataset.take(Array.from({ length: dataset.numRows }, (_, i) => i));
    return table
      .toArray()
      .map((row) => JSON.stringify(row.toJSON()))
      .join('\n');
  } finally {
    await dataset.close();
  }
}

/** Replaces `file` with a symlink to `target`. */
function replaceWithSymlink(file: string, target: string): void {
  fs.rmSync(file);
  fs.symlinkSync(target, file);
}

/** Replaces `file` with a sparse file of `bytes` bytes. */
function replaceWithSparse(file: string, bytes: number): void {
  fs.rmSync(file);
  fs.writeFileSync(file, '');
  fs.truncateSync(file, bytes);
}

describe('a file that is not a regular file', () => {
  it('is refused as a manifest when it links to /dev/zero', async () => {
    const { root, manifest } = copyDataset();
    replaceWithSymlink(manifest, '/dev/zero');
    await expectFailure(
      () => openDataset(root, { followSymlinks: 'all' }),
      IoError,
      'IO_ERROR',
      `manifest ${manifest}`,
      'a character device',
    );
  });

  it('is refused as a deletion file when it links to /dev/zero', async () => {
    const { root, deletionFile } = copyDataset();
    replaceWithSymlink(deletionFile, '/dev/zero');
    await expectFailure(
      () => openDataset(root, { followSymlinks: 'all' }),
      IoError,
      'IO_ERROR',
      `deletion file ${deletionFile}`,
      'a character device',
    );
  });

  it('is refused as a data file when it links to /dev/zero', async () => {
    const { root, dataFile } = copyDataset();
    replaceWithSymlink(dataFile, '/dev/zero');
    const dataset = await openDataset(root, { followSymlinks: 'all' });
    await expectFailure(() => dataset.take([0]), IoError, 'IO_ERROR', `data file ${dataFile}`, 'a character device');
    await dataset.close();
  });

  it('is refused as a data file when it is a directory', async () => {
    const { root, dataFile } = copyDataset();
    fs.rmSync(dataFile);
    fs.mkdirSync(dataFile);
    const dataset = await openDataset(root);
    await expectFailure(() => dataset.take([0]), IoError, 'IO_ERROR', `data file ${dataFile}`, 'a directory');
    await dataset.close();
  });

  it('is refused as a manifest when it is a directory', async () => {
    const { root, manifest } = copyDataset();
    fs.rmSync(manifest);
    fs.mkdirSync(manifest);
    await expectFailure(() => openDataset(root), IoError, 'IO_ERROR', `manifest ${manifest}`, 'a directory');
  });
});

describe('a file too large for its kind', () => {
  it('is refused as a manifest before it is read', async () => {
    const { root, manifest } = copyDataset();
    replaceWithSparse(manifest, 300 * 1024 * 1024);
    await expectFailure(
      () => openDataset(root),
      CorruptFileError,
      'CORRUPT_FILE',
      `manifest ${manifest} is ${300 * 1024 * 1024} bytes, more than a manifest can be`,
    );
  });

  it('is refused as a deletion file of a 300-row fragment before it is read', async () => {
    const { root, deletionFile } = copyDataset();
    replaceWithSparse(deletionFile, 1024 * 1024);
    await expectFailure(
      () => openDataset(root),
      CorruptFileError,
      'CORRUPT_FILE',
      `deletion file ${deletionFile} is ${1024 * 1024} bytes, more than a deletion file can be`,
    );
  });
});

describe('symlinks', () => {
  it('to a data file outside the dataset are refused by default, naming the file and the option', async () => {
    const { root, dataFile } = copyDataset();
    const outside = path.join(tempDir(), 'outside.lance');
    fs.copyFileSync(dataFile, outside);
    replaceWithSymlink(dataFile, outside);
    const dataset = await openDataset(root);
    await expectFailure(
      () => dataset.take([0]),
      IoError,
      'IO_ERROR',
      `data file ${dataFile} resolves to ${fs.realpathSync(outside)}, outside the dataset directory`,
      "followSymlinks: 'all'",
    );
    await dataset.close();
  });

  it("to a data file outside the dataset are followed with followSymlinks: 'all'", async () => {
    const { root, dataFile } = copyDataset();
    const outside = path.join(tempDir(), 'outside.lance');
    fs.copyFileSync(dataFile, outside);
    replaceWithSymlink(dataFile, outside);
    const dataset = await openDataset(root, { followSymlinks: 'all' });
    const table = await dataset.take([0, NUM_ROWS - DELETED - 1]);
    expect(table.getChild('id')?.toArray()).toEqual(Int32Array.from([DELETED, NUM_ROWS - 1]));
    await dataset.close();
  });

  it('to a deletion file outside the dataset are refused by default', async () => {
    const { root, deletionFile } = copyDataset();
    const outside = path.join(tempDir(), 'outside.arrow');
    fs.copyFileSync(deletionFile, outside);
    replaceWithSymlink(deletionFile, outside);
    await expectFailure(() => openDataset(root), IoError, 'IO_ERROR', `deletion file ${deletionFile} resolves to`);
  });

  it('that stay inside the dataset directory are followed', async () => {
    const { root, dataFile, manifest } = copyDataset();
    const expected = await readAll(root);
    expect(expected.split('\n')).toHaveLength(NUM_ROWS - DELETED);
    for (const file of [dataFile, manifest]) {
      const moved = path.join(root, `moved-${path.basename(file)}`);
      fs.renameSync(file, moved);
      fs.symlinkSync(path.relative(path.dirname(file), moved), file);
    }
    expect(await readAll(root)).toBe(expected);
  });

  it('to the dataset directory itself are followed', async () => {
    const { root } = copyDataset();
    const link = path.join(tempDir(), 'link.lance');
    fs.symlinkSync(root, link);
    expect(await readAll(link)).toBe(await readAll(root));
  });

  it("out of the dataset reach the loader's workers only with a dataset opened with followSymlinks: 'all'", async () => {
    const { root, dataFile } = copyDataset();
    const outside = path.join(tempDir(), 'outside.lance');
    fs.copyFileSync(dataFile, outside);
    replaceWithSymlink(dataFile, outside);
    const dataset = await openDataset(root, { followSymlinks: 'all' });
    const loader = await createLoader(dataset, { batchSize: 16, workers: 1, shuffle: false, columns: ['id'] });
    try {
      for await (const batch of loader.epoch(0)) {
        expect(Array.from(batch.columns.id?.values as Int32Array).slice(0, 2)).toEqual([DELETED, DELETED + 1]);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
      await dataset.close();
    }
  });
});

describe('a FIFO', () => {
  const child = fileURLToPath(new URL('./hostile-files.child.ts', import.meta.url));

  /** Runs `op` on `target` in a child process; its outcome, or a failure when it does not end in time. */
  function runInChild(op: string, target: string): { ok?: true; name?: string; code?: string; message?: string } {
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, op, target], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (run.error || run.status !== 0) throw new Error(`${op} did not end: ${run.error?.message ?? run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').pop() as string) as ReturnType<typeof runInChild>;
  }

  function replaceWithFifo(file: string): void {
    fs.rmSync(file);
    execFileSync('mkfifo', [file]);
  }

  it.each([
    ['manifest', 'openDataset'],
    ['deletion file', 'openDataset'],
    ['data file', 'take'],
    ['data file', 'createLoader'],
  ] as const)('as the %s ends %s with an IoError naming it', (what, op) => {
    const copy = copyDataset();
    const file = { manifest: copy.manifest, 'deletion file': copy.deletionFile, 'data file': copy.dataFile }[what];
    replaceWithFifo(file);
    const outcome = runInChild(op, copy.root);
    expect(outcome.code).toBe('IO_ERROR');
    expect(outcome.message).toContain(`${what} ${file} is not a regular file (it is a FIFO)`);
  });

  it.each(['openFile', 'directSource'])('given to %s ends with an IoError naming it', (op) => {
    const fifo = path.join(tempDir(), 'pipe.lance');
    execFileSync('mkfifo', [fifo]);
    const outcome = runInChild(op, fifo);
    expect(outcome.code).toBe('IO_ERROR');
    expect(outcome.message).toContain(`${fifo} is not a regular file (it is a FIFO)`);
  });
});

describe('openFile', () => {
  it('refuses /dev/zero with an IoError naming it', async () => {
    await expectFailure(() => openFile('/dev/zero'), IoError, 'IO_ERROR', '/dev/zero is not a regular file');
  });
});

/**
 * Faults around a running DataLoader, on copies of LanceDB-written datasets with real worker threads:
 * data files truncated, renamed over, unlinked or given to another file mid-epoch; manifests changed or
 * removed after the loader opened them; close() at every stage; six loaders at once; consumers that never
 * release. Each test ends with an exact epoch or a typed error naming the file, settles well within vitest's
 * timeout (a hang fails as "did not settle"), and leaves no worker thread or descriptor once closed.
 *
 * What "exact" means: the rows of an undisturbed epoch of the same seed, with the values the files had
 * when the loader was created. Workers read through descriptors they opened then, so a file renamed over
 * or unlinked later does not change an epoch; a worker that starts later (a dead worker's replacement)
 * checks that it opens the same version, manifest and data files (device and inode) and fails with an
 * IoError naming what changed, rather than read another file's values.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanceLoaderError } from '../../errors.js';
import { createLoader, type DataLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch } from '../../loader/batch.js';
import { openDataset } from '../../dataset/dataset.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

/** Every test settles within this, far below vitest's testTimeout: a hang fails here with its name. */
const SETTLES_MS = 45_000;

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'llfaults-'));
let pristine: string;
/** A data file of another dataset: valid, of another length and row count. */
let foreignDataFile: string;
/** The undisturbed epoch 0 of `options` over the pristine dataset. */
let undisturbed: string[];

/** No page kept decoded (io.cacheBytes 0), so every batch reads its files. */
const options: LoaderOptions = {
  batchSize: 500,
  workers: 2,
  prefetch: 2,
  seed: 3,
  columns: ['idx', 'vec_f32_8', 'utf8_words'],
  io: { cacheBytes: 0 },
};

beforeAll(async () => {
  pristine = await ensureDataset(specByName('deletions_arrow'), '2.1');
  const other = await ensureDataset(specByName('multi_fragment'), '2.1');
  foreignDataFile = (await dataFilesOf(other))[0] as string;
  // The main thread keeps what its first loader opens for good (its read engine): counted fds start after.
  undisturbed = await epochOf(await createLoader(copyDataset(), options));
});
afterAll(() => fs.rmSync(temp, { recursive: true, force: true }));

let copies = 0;
function copyDataset(source = pristine): string {
  const root = path.join(temp, String(copies++), path.basename(source));
  fs.cpSync(source, root, { recursive: true });
  return root;
}

async function dataFilesOf(root: string): Promise<string[]> {
  const dataset = await openDataset(root);
  try {
    return dataset.fragments.flatMap((f) => f.files.map((file) => path.join(root, 'data', file.path)));
  } finally {
    await dataset.close();
  }
}

/** The latest manifest of `root` and an older one (V2 naming: u64::MAX − version, newest first). */
function manifestsOf(root: string): { latest: string; older: string } {
  const names = fs
    .readdirSync(path.join(root, '_versions'))
    .filter((f) => f.endsWith('.manifest'))
    .sort();
  return {
    latest: path.join(root, '_versions', names[0] as string),
    older: path.join(root, '_versions', names[1] as string),
  };
}

/** Worker threads and descriptors of this process (io_uring's kernel workers, iou-*, are the ring's, not ours). */
function running(): { threads: number; fds: number } {
  const tasks = fs.readdirSync('/proc/self/task').filter((tid) => {
    try {
      return !fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('iou-');
    } catch {
      return false; // ended between the listing and the look
    }
  });
  return { threads: tasks.length, fds: fs.readdirSync('/proc/self/fd').length };
}

/**
 * Checks that nothing started since `before` is left: as many descriptors, and no more threads (threads
 * of earlier work that were still ending when `before` was taken may be gone since).
 */
function expectNothingLeft(before: { threads: number; fds: number }): void {
  const now = running();
  expect(now.fds).toBe(before.fds);
  expect(now.threads).toBeLessThanOrEqual(before.threads);
}

/** `promise`, or a failure naming `what` when it has not settled within `ms`. */
async function settles<T>(promise: Promise<T>, what: string, ms = SETTLES_MS - 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A batch as text: its index and its rows' idx values (which rows, and what the files held for them). */
function summary(batch: Batch): string {
  return `${batch.index}: ${(batch.columns.idx?.values ?? []).join(',')}`;
}

/** Epoch 0 of `loader` as summaries, calling `disturb` after batch `at`; closes the loader. */
async function epochOf(
  loader: DataLoader,
  disturb: (loader: DataLoader) => unknown = () => undefined,
  at = 1,
): Promise<string[]> {
  const batches: string[] = [];
  try {
    await settles(
      (async () => {
        for await (const batch of loader.epoch(0)) {
          batches.push(summary(batch));
          batch.release();
          if (batch.index === at) await disturb(loader);
        }
      })(),
      'the epoch',
    );
    return batches;
  } finally {
    await settles(loader.close(), 'close()');
  }
}

/** The error `promise` rejects with (a failure if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<LanceLoaderError> {
  const outcome = await promise.then(
    () => new Error('resolved, but a typed error was expected'),
    (error: unknown) => error,
  );
  if (!(outcome instanceof LanceLoaderError)) throw outcome;
  return outcome;
}

async function killWorkers(loader: DataLoader): Promise<void> {
  await Promise.all(loader.decodePool.threads.map((thread) => thread.terminate()));
}

/** Writes `from`'s bytes to a temporary name beside `to`, then renames it over `to`. */
function renameOver(from: string, to: string): void {
  fs.copyFileSync(from, `${to}.tmp`);
  fs.renameSync(`${to}.tmp`, to);
}

/** Runs `test` on a fresh copy of the dataset and checks nothing it started is left once it is done. */
function faultTest(name: string, test: (root: string) => Promise<void>): void {
  it(
    name,
    async () => {
      const before = running();
      await test(copyDataset());
      expectNothingLeft(before);
    },
    SETTLES_MS,
  );
}

describe('a data file changed mid-epoch', () => {
  faultTest('truncated: the epoch ends with an IoError naming the file and the short read', async (root) => {
    const file = (await dataFilesOf(root))[1] as string;
    const loader = await createLoader(root, options);
    const error = await rejectionOf(epochOf(loader, () => fs.truncateSync(file, 1000)));
    expect(error).toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining(`${file}: short read`) });
  });

  faultTest('renamed over by another valid file of as many rows: the epoch is exact', async (root) => {
    const [first, second] = (await dataFilesOf(root)) as [string, string];
    const loader = await createLoader(root, options);
    expect(await epochOf(loader, () => renameOver(first, second))).toEqual(undisturbed);
  });

  faultTest('renamed over by a valid file of another length: the epoch is exact', async (root) => {
    const file = (await dataFilesOf(root))[1] as string;
    const loader = await createLoader(root, options);
    expect(await epochOf(loader, () => renameOver(foreignDataFile, file))).toEqual(undisturbed);
  });

  faultTest('unlinked while open: the epoch is exact', async (root) => {
    const file = (await dataFilesOf(root))[1] as string;
    const loader = await createLoader(root, options);
    expect(await epochOf(loader, () => fs.unlinkSync(file))).toEqual(undisturbed);
  });

  faultTest('unlinked and its name given to another file: the epoch is exact', async (root) => {
    const [first, second] = (await dataFilesOf(root)) as [string, string];
    const loader = await createLoader(root, options);
    const disturb = () => {
      fs.unlinkSync(second);
      fs.copyFileSync(first, second);
    };
    expect(await epochOf(loader, disturb)).toEqual(undisturbed);
  });

  faultTest(
    'renamed over, then every worker killed: the replacements refuse it with an IoError naming the file',
    async (root) => {
      const [first, second] = (await dataFilesOf(root)) as [string, string];
      const loader = await createLoader(root, options);
      const error = await rejectionOf(
        epochOf(loader, async () => {
          renameOver(first, second);
          await killWorkers(loader);
        }),
      );
      expect(error).toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringContaining(`data file ${second} was replaced after the loader opened the dataset`),
      });
    },
  );

  faultTest(
    'unlinked, then every worker killed: the replacements fail with an IoError naming the file',
    async (root) => {
      const file = (await dataFilesOf(root))[1] as string;
      const loader = await createLoader(root, options);
      const error = await rejectionOf(
        epochOf(loader, async () => {
          fs.unlinkSync(file);
          await killWorkers(loader);
        }),
      );
      expect(error).toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringContaining(`cannot open data file ${file}`),
      });
    },
  );
});

describe('a manifest changed after the loader opened the dataset', () => {
  faultTest('deleted: the epoch is exact', async (root) => {
    const loader = await createLoader(root, options);
    expect(await epochOf(loader, () => fs.unlinkSync(manifestsOf(root).latest))).toEqual(undisturbed);
  });

  faultTest('overwritten with an older version: the epoch is exact', async (root) => {
    const { latest, older } = manifestsOf(root);
    const loader = await createLoader(root, options);
    expect(await epochOf(loader, () => fs.copyFileSync(older, latest))).toEqual(undisturbed);
  });

  faultTest('deleted, then every worker killed: an IoError naming the version', async (root) => {
    const loader = await createLoader(root, options);
    const version = loader.dataset.version;
    const error = await rejectionOf(
      epochOf(loader, async () => {
        fs.unlinkSync(manifestsOf(root).latest);
        await killWorkers(loader);
      }),
    );
    expect(error).toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining(`${root}: the manifest of version ${version} was removed`),
    });
  });

  faultTest(
    'overwritten with an older version, then every worker killed: an IoError naming the change',
    async (root) => {
      const { latest, older } = manifestsOf(root);
      const loader = await createLoader(root, options);
      const version = loader.dataset.version;
      const error = await rejectionOf(
        epochOf(loader, async () => {
          fs.copyFileSync(older, latest);
          await killWorkers(loader);
        }),
      );
      expect(error).toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringContaining(`${root}: version ${version} changed after the loader opened it`),
      });
    },
  );

  faultTest('truncated, then every worker killed: a CorruptFileError naming the manifest', async (root) => {
    const { latest } = manifestsOf(root);
    const loader = await createLoader(root, options);
    const error = await rejectionOf(
      epochOf(loader, async () => {
        fs.truncateSync(latest, 100);
        await killWorkers(loader);
      }),
    );
    expect(error).toMatchObject({ code: 'CORRUPT_FILE', message: expect.stringContaining(latest) });
  });
});

/** Epoch 0's first batch from a fresh loader over `root`, and the iterator, still open. */
async function firstBatch(
  root: string,
): Promise<{ loader: DataLoader; iterator: AsyncGenerator<Batch>; batch: Batch }> {
  const loader = await createLoader(root, options);
  const iterator = loader.epoch(0);
  const batch = (await settles(iterator.next(), 'the first batch')).value as Batch;
  return { loader, iterator, batch };
}

describe('close()', () => {
  faultTest('before the first batch: the epoch then refuses to start with an AbortError', async (root) => {
    const loader = await createLoader(root, options);
    const iterator = loader.epoch(0);
    await settles(loader.close(), 'close()');
    expect(await rejectionOf(iterator.next())).toMatchObject({ code: 'ABORTED' });
  });

  faultTest('with batches in flight: the loop ends after the batch in hand', async (root) => {
    const { loader, iterator, batch } = await firstBatch(root);
    expect(summary(batch)).toBe(undisturbed[0]);
    batch.release();
    await settles(loader.close(), 'close()');
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  faultTest('while the consumer holds a batch: the batch stays readable until released', async (root) => {
    const { loader, iterator, batch } = await firstBatch(root);
    await settles(loader.close(), 'close()');
    expect(summary(batch)).toBe(undisturbed[0]);
    batch.release();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  faultTest('during endEpoch(): both settle, and the next epoch is refused with an AbortError', async (root) => {
    const { loader, batch } = await firstBatch(root);
    batch.release();
    await settles(Promise.all([loader.endEpoch(), loader.close()]), 'endEpoch() and close()');
    expect(await rejectionOf(loader.epoch(1).next())).toMatchObject({ code: 'ABORTED' });
  });

  faultTest('twice at once: the second call also resolves only once every thread and file is closed', async (root) => {
    const before = running();
    const { loader, batch } = await firstBatch(root);
    batch.release();
    const first = loader.close();
    await settles(loader.close(), 'the second close()');
    expectNothingLeft(before);
    await settles(first, 'the first close()');
    await settles(loader.close(), 'a third close()');
  });

  faultTest("together with the iterator's return(): both settle", async (root) => {
    const { loader, iterator, batch } = await firstBatch(root);
    batch.release();
    const [ended] = await settles(Promise.all([iterator.return(undefined), loader.close()]), 'return() and close()');
    expect(ended).toEqual({ done: true, value: undefined });
  });
});

describe('six loaders at once', () => {
  const one: LoaderOptions = { ...options, workers: 1 };

  faultTest('over the same dataset each deliver the undisturbed epoch', async (root) => {
    const loaders = await settles(
      Promise.all(Array.from({ length: 6 }, () => createLoader(root, one))),
      'createLoader',
    );
    const epochs = await Promise.all(loaders.map((loader) => epochOf(loader)));
    expect(epochs).toEqual(Array.from({ length: 6 }, () => undisturbed));
  });

  it(
    'over six datasets each deliver the epoch they deliver alone',
    async () => {
      const names = ['deletions_arrow', 'deletions_bitmap', 'multi_fragment', 'one_write', 'ints', 'strings'];
      const roots = await Promise.all(
        names.map(async (name) => copyDataset(await ensureDataset(specByName(name), '2.1'))),
      );
      const six: LoaderOptions = { ...one, columns: ['idx'] };
      const alone: string[][] = [];
      for (const root of roots) alone.push(await epochOf(await createLoader(root, six)));
      const before = running();
      const loaders = await settles(Promise.all(roots.map((root) => createLoader(root, six))), 'createLoader');
      expect(await Promise.all(loaders.map((loader) => epochOf(loader)))).toEqual(alone);
      expectNothingLeft(before);
    },
    SETTLES_MS * 2,
  );
});

describe('a consumer that never releases', () => {
  /** Holds every batch of epoch `epoch` it is given, until the loader refuses to load more. */
  async function holdAll(loader: DataLoader, epoch = 0): Promise<{ held: Batch[]; error: LanceLoaderError }> {
    const held: Batch[] = [];
    const run = async () => {
      for await (const batch of loader.epoch(epoch)) held.push(batch);
    };
    return { held, error: await rejectionOf(settles(run(), 'an epoch whose batches are all held')) };
  }

  faultTest('gets a SLOTS_EXHAUSTED ResourceError naming the slots and the batch it waited for', async (root) => {
    const loader = await createLoader(root, options);
    try {
      const { held, error } = await holdAll(loader);
      expect(held.length).toBe(4);
      expect(error).toMatchObject({
        code: 'SLOTS_EXHAUSTED',
        message: expect.stringMatching(
          /^all 4 batch slots \(prefetch 2 \+ 2\) are held by the consumer, so epoch 0 batch 4 cannot be loaded/,
        ),
      });
    } finally {
      await settles(loader.close(), 'close()');
    }
  });

  faultTest('keeps the batches it holds readable, and once it releases them the epoch runs exactly', async (root) => {
    const loader = await createLoader(root, options);
    const { held } = await holdAll(loader);
    expect(held.map(summary)).toEqual(undisturbed.slice(0, 4));
    for (const batch of held) batch.release();
    expect(await epochOf(loader)).toEqual(undisturbed);
  });

  faultTest('holding fewer batches than there are slots still gets the exact epoch', async (root) => {
    const loader = await createLoader(root, options);
    const kept: Batch[] = [];
    const batches: string[] = [];
    try {
      for await (const batch of loader.epoch(0)) {
        batches.push(summary(batch));
        kept.push(batch);
        if (kept.length > 3) kept.shift()?.release(); // three held at any time, one slot left
      }
      expect(batches).toEqual(undisturbed);
    } finally {
      await settles(loader.close(), 'close()');
    }
  });

  faultTest('can still close the loader with every slot held', async (root) => {
    const loader = await createLoader(root, options);
    const { held } = await holdAll(loader);
    await settles(loader.close(), 'close()');
    expect(held.map(summary)).toEqual(undisturbed.slice(0, 4));
  });
});

/**
 * Decode workers that die while the loader runs, on a real LanceDB-written dataset with real worker
 * threads: every thread terminated at once and then their replacements while they start, a storm that
 * kills every worker as soon as it exists, and (in a child process, where an abort shows as a signal
 * exit) workers terminated while their replacements load the worker module, many times over.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLoader, type DataLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

/** Well below vitest's testTimeout: an epoch that never settles fails here, not as a hung run. */
const SETTLES_MS = 60_000;

let path: string;

const options: LoaderOptions = { batchSize: 500, workers: 2, prefetch: 4, seed: 3 };

beforeAll(async () => {
  path = await ensureDataset(specByName('deletions_arrow'), '2.1');
  // The main thread keeps what its first loader opens for good (its read engine): counted fds start after.
  const warm = await createLoader(path, options);
  await rowsOf(warm.epoch(0)[Symbol.asyncIterator]());
  await warm.close();
});

const openFds = () => readdirSync('/proc/self/fd').length;

async function rowsOf(iterator: AsyncIterator<Batch>, rows: number[][] = []): Promise<number[][]> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    rows.push(Array.from(next.value.rowOffsets));
    next.value.release();
  }
  return rows;
}

/** Terminates every thread of the pool, those still starting included. */
async function terminateAll(loader: DataLoader): Promise<void> {
  await Promise.all(loader.decodePool.threads.map((thread) => thread.terminate()));
}

describe('decode workers that die', () => {
  it(
    'all at once, then their replacements while they start, leave an epoch with exactly the undisturbed rows',
    async () => {
      const fdsBefore = openFds();
      const loader = await createLoader(path, options);
      try {
        const undisturbed = await rowsOf(loader.epoch(0)[Symbol.asyncIterator]());
        const iterator = loader.epoch(0)[Symbol.asyncIterator]();
        const first = (await iterator.next()).value as Batch;
        const rows = [Array.from(first.rowOffsets)];
        first.release();
        await terminateAll(loader);
        // Piscina has started replacements by now; they die before they are ready.
        expect(loader.decodePool.threads.length).toBeGreaterThan(0);
        await terminateAll(loader);
        expect(await rowsOf(iterator, rows)).toEqual(undisturbed);
        expect(loader.decodePool.deaths).toBe(2 * options.workers!);
      } finally {
        await loader.close();
      }
      expect(loader.decodePool.threads.length).toBe(0);
      expect(openFds()).toBe(fdsBefore);
    },
    SETTLES_MS,
  );

  it(
    'as soon as they exist reject the epoch with a WorkerError naming the deaths and the last cause',
    async () => {
      const fdsBefore = openFds();
      const loader = await createLoader(path, options);
      let storming = true;
      const storm = (async () => {
        while (storming) {
          await terminateAll(loader);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        const error = await rowsOf(loader.epoch(0)[Symbol.asyncIterator]()).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({
          code: 'WORKER_ERROR',
          message: expect.stringMatching(/^decode workers died \d+ times .*; last cause: .+ \(while loading epoch 0/),
        });
      } finally {
        storming = false;
        await storm;
        await loader.close();
      }
      expect(loader.decodePool.threads.length).toBe(0);
      expect(openFds()).toBe(fdsBefore);
    },
    SETTLES_MS,
  );
});

describe('terminating workers while their replacements load the worker module', () => {
  it('never aborts the process or leaves a descriptor open, over 50 rounds, from the ES module build', () => {
    const built = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
    expect(existsSync(built), 'run `npm run build` first (npm test does)').toBe(true);
    const child = fileURLToPath(new URL('./worker-restarts.child.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, path, '50'], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    // V8's abort ends the child with SIGABRT; an unhandled rejection with status 1 and the error on stderr.
    expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
    });
    expect(JSON.parse(run.stdout.trim())).toEqual({ rounds: 50, threads: 0, fdsLeft: [] });
  }, 250_000);
});

/**
 * The DataLoader's lifecycle as a user meets it, on a real LanceDB-written dataset with real worker
 * threads: iterating an epoch again, two iterations at once, close() during a `for await` (in process and
 * from a SIGINT handler in a child process), batches used after release(), and options refused before
 * any worker starts.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLoader, type DataLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { Batch } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let path: string;

beforeAll(async () => {
  path = await ensureDataset(specByName('deletions_arrow'), '2.1');
});

const openFds = () => readdirSync('/proc/self/fd').length;

async function rowsOf(loader: DataLoader, epoch: number): Promise<number[][]> {
  const rows: number[][] = [];
  for await (const batch of loader.epoch(epoch)) {
    rows.push(Array.from(batch.rowOffsets));
    batch.release();
  }
  return rows;
}

async function withLoader<T>(options: LoaderOptions, fn: (loader: DataLoader) => Promise<T>): Promise<T> {
  const loader = await createLoader(path, options);
  try {
    return await fn(loader);
  } finally {
    await loader.close();
  }
}

async function first(iterator: AsyncIterator<Batch>): Promise<Batch> {
  return (await iterator.next()).value as Batch;
}

const options: LoaderOptions = { batchSize: 1000, workers: 1, prefetch: 2, seed: 7 };

describe('an epoch iterated again', () => {
  it('yields the same batches as the first time', async () => {
    await withLoader(options, async (loader) => {
      const once = await rowsOf(loader, 0);
      expect(once.length).toBe(loader.numBatches);
      expect(await rowsOf(loader, 0)).toEqual(once);
    });
  });

  it('after a break starts again from its first batch', async () => {
    await withLoader(options, async (loader) => {
      const full = await rowsOf(loader, 1);
      for await (const batch of loader.epoch(1)) {
        batch.release();
        if (batch.index === 2) break;
      }
      expect(await rowsOf(loader, 1)).toEqual(full);
    });
  });

  it('continues where options.resume stopped the first time, and starts from the first batch after', async () => {
    const full = await withLoader(options, (loader) => rowsOf(loader, 3));
    const saved = await withLoader(options, async (loader) => {
      const iterator = loader.epoch(3);
      for (let i = 0; i < 4; i++) (await first(iterator)).release();
      await iterator.return(undefined);
      return JSON.parse(JSON.stringify(loader.state())) as LoaderOptions['resume'];
    });
    await withLoader({ ...options, resume: saved }, async (loader) => {
      expect(await rowsOf(loader, 3)).toEqual(full.slice(4));
      expect(await rowsOf(loader, 3)).toEqual(full);
    });
  });
});

describe('two iterations at once', () => {
  it('are refused with an InvalidStateError naming the epoch in progress', async () => {
    await withLoader(options, async (loader) => {
      const open = loader.epoch(0);
      (await first(open)).release();
      await expect(loader.epoch(1).next()).rejects.toMatchObject({
        code: 'INVALID_STATE',
        message: expect.stringContaining('while epoch 0 is being iterated (1 of'),
      });
      await open.return(undefined);
      expect((await rowsOf(loader, 1)).length).toBe(loader.numBatches);
    });
  });
});

describe('loader.endEpoch()', () => {
  it('ends an iteration whose loop is out of reach, so that another can start', async () => {
    await withLoader(options, async (loader) => {
      (await first(loader.epoch(0))).release(); // the iterator is dropped, as fitDataset does when stopped early
      await loader.endEpoch();
      expect((await rowsOf(loader, 1)).length).toBe(loader.numBatches);
    });
  });
});

describe('close() during for await', () => {
  it('ends the loop after the batch in hand, with the workers and their files gone', async () => {
    await createLoader(path, options).then((warm) => warm.close()); // first-use fds (module loading) out of the count
    const fdsBefore = openFds();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const loader = await createLoader(path, options);
      const delivered: number[] = [];
      for await (const batch of loader.epoch(0)) {
        delivered.push(batch.index);
        batch.release();
        if (batch.index === 1) await loader.close();
      }
      expect(delivered).toEqual([0, 1]);
      expect(loader.decodePool.threads.length).toBe(0);
      expect(openFds()).toBe(fdsBefore);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('ends a next() that is waiting for its batch with done', async () => {
    const loader = await createLoader(path, options);
    const iterator = loader.epoch(0);
    const waiting = iterator.next();
    const closing = loader.close();
    expect(await waiting).toEqual({ done: true, value: undefined });
    await closing;
  });

  it('leaves state() at the next batch to deliver, so a checkpoint taken after closing resumes exactly', async () => {
    const full = await withLoader(options, (loader) => rowsOf(loader, 0));
    const loader = await createLoader(path, options);
    for await (const batch of loader.epoch(0)) {
      batch.release();
      if (batch.index === 2) await loader.close();
    }
    const resume = loader.state();
    await withLoader({ ...options, resume }, async (resumed) => {
      expect(await rowsOf(resumed, 0)).toEqual(full.slice(3));
    });
  });

  it('makes a later epoch() an AbortError', async () => {
    const loader = await createLoader(path, options);
    await loader.close();
    await expect(loader.epoch(0).next()).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('from a SIGINT handler ends the loop with no unhandled rejection and nothing left running', () => {
    const child = fileURLToPath(new URL('./close-on-sigint.child.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, path], { encoding: 'utf8', timeout: 60_000 });
    // An unhandled rejection would end the child with status 1 and the error on stderr.
    expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
    });
    const report = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    expect(report).toEqual({ delivered: 3, numBatches: expect.any(Number), closed: true, threads: 0, fdsLeft: 0 });
    expect(report.numBatches).toBeGreaterThan(3);
  });
});

describe('a released batch', () => {
  it('refuses to hand out its columns with an InvalidStateError naming the batch', async () => {
    await withLoader(options, async (loader) => {
      const batch = await first(loader.epoch(0));
      batch.release();
      expect(() => batch.columns).toThrow(
        expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringContaining('batch 0 of epoch 0') }),
      );
    });
  });

  it('refuses a column read through a columns object taken before release', async () => {
    await withLoader(options, async (loader) => {
      const batch = await first(loader.epoch(0));
      const columns = batch.columns;
      const name = Object.keys(columns)[0] as string;
      expect(columns[name]?.values.length).toBeGreaterThan(0);
      batch.release();
      expect(() => columns[name]).toThrow(expect.objectContaining({ code: 'INVALID_STATE' }));
    });
  });

  it('released again does not take the slot from the batch loaded into it next', async () => {
    await withLoader({ ...options, prefetch: 1 }, async (loader) => {
      const held: { batch: Batch; buffer: ArrayBufferLike }[] = [];
      const iterator = loader.epoch(0);
      for (;;) {
        const batch = await first(iterator);
        const buffer = Object.values(batch.columns).find((c) => !c.offsets)?.values.buffer as ArrayBufferLike;
        const earlier = held.find((h) => h.buffer === buffer);
        if (earlier) {
          earlier.batch.release();
          expect(() => batch.columns).not.toThrow();
          break;
        }
        held.push({ batch, buffer });
        batch.release();
      }
      await iterator.return(undefined);
    });
  });
});

describe('options', () => {
  it.each([
    [
      'a string shape',
      { shapes: { vec_f32_8: '8' } },
      'options.shapes.vec_f32_8 must be an array of positive integers',
    ],
    ['a shape of zero', { shapes: { vec_f32_8: [0, 8] } }, 'options.shapes.vec_f32_8 must be an array'],
    ['shapes that are not an object', { shapes: 5 }, 'options.shapes must be an object'],
    ['io that is not an object', { io: 'fast' }, 'options.io must be an object'],
    ['a resume that is not a state', { resume: 'yesterday' }, 'options.resume must be a state'],
  ])('refuse %s with an InvalidArgumentError naming it', async (_, bad, message) => {
    const refused = createLoader(path, { ...options, ...bad } as unknown as LoaderOptions);
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(message),
    });
  });

  it.each([null, 123, 'batchSize'])('refuse %s as the options argument with an InvalidArgumentError', async (bad) => {
    await expect(createLoader(path, bad as unknown as LoaderOptions)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('createLoader needs an options object'),
    });
  });

  it('refuse a resume state of other options, naming its field, before any worker starts', async () => {
    const saved = await withLoader(options, async (loader) => loader.state());
    await createLoader(path, options).then((warm) => warm.close()); // first-use fds (module loading) out of the count
    const fdsBefore = openFds();
    const refused = createLoader(path, { ...options, batchSize: 999, resume: saved });
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('options.resume.sampler.batchSize is 1000'),
    });
    expect(openFds()).toBe(fdsBefore);
  });
});

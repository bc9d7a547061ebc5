import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRef } from '../../decode-workers/messages.js';
import { DecodePool, prepareOnIdleWorkers, type LoadBalancer } from '../../decode-workers/pool.js';
import { workerRefFor } from '../fixtures/worker-ref.js';

let ref: DatasetRef;
let pool: DecodePool | undefined;

beforeAll(async () => {
  ref = await workerRefFor('deletions_arrow');
});

afterEach(async () => {
  await pool?.destroy();
});

describe('DecodePool.prepare', () => {
  it('opens the dataset with one task per worker', async () => {
    pool = new DecodePool({ workers: 2 });
    expect(await pool.prepare(ref)).toBe(2);
  });

  it('gives each worker its own prepare task when workers run several tasks at once', async () => {
    pool = new DecodePool({ workers: 2, tasksPerWorker: 2 });
    expect(await pool.prepare(ref)).toBe(2);
  });

  it('resolves to zero opens, without rejecting, when the dataset cannot be opened', async () => {
    pool = new DecodePool({ workers: 2 });
    expect(await pool.prepare({ ...ref, path: `${ref.path}-missing` })).toBe(0);
  });
});

describe('the pool balancer', () => {
  type Task = Parameters<LoadBalancer>[0];
  type Worker = Parameters<LoadBalancer>[1][number];
  const worker = (id: number, currentUsage: number) => ({ id, currentUsage, terminating: false }) as unknown as Worker;
  const task = (name: string) => ({ name }) as unknown as Task;
  const balance = prepareOnIdleWorkers(2);

  it('gives a prepare task only to an idle worker', () => {
    expect(balance(task('prepare'), [worker(1, 1), worker(2, 0)])?.id).toBe(2);
    expect(balance(task('prepare'), [worker(1, 1), worker(2, 1)])).toBeNull();
  });

  it('gives a batch to an idle worker, else to the least busy one below the limit', () => {
    expect(balance(task('default'), [worker(1, 1), worker(2, 0)])?.id).toBe(2);
    expect(balance(task('default'), [worker(1, 1), worker(2, 1)])?.id).toBe(1);
    expect(balance(task('default'), [worker(1, 2), worker(2, 2)])).toBeNull();
  });
});

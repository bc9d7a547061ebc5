import { beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRef, PrepareJob } from '../../decode-workers/messages.js';
import { threadId } from 'node:worker_threads';
import { prepare } from '../../decode-workers/worker.js';
import { workerRefFor } from '../fixtures/worker-ref.js';

let ref: DatasetRef;

beforeAll(async () => {
  ref = await workerRefFor('deletions_arrow', { columns: ['idx', 'i32'] }, { cacheBytes: 16 << 20 });
});

describe('the prepare task', () => {
  it('holds its worker until every worker has taken one, so Piscina gives each worker its own', async () => {
    const job: PrepareJob = { dataset: ref, arrived: new SharedArrayBuffer(4), workers: 2 };
    let settled = false;
    const prepared = prepare(job).then((id) => {
      settled = true;
      return id;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);
    const arrived = new Int32Array(job.arrived);
    Atomics.add(arrived, 0, 1);
    Atomics.notify(arrived, 0);
    expect(await prepared).toBe(threadId);
  });

  it('resolves to null, without throwing, when the dataset cannot be opened', async () => {
    const job: PrepareJob = {
      dataset: { ...ref, path: `${ref.path}-missing` },
      arrived: new SharedArrayBuffer(4),
      workers: 1,
    };
    expect(await prepare(job)).toBeNull();
  });
});

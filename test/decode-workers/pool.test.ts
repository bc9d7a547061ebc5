import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRef } from '../../decode-workers/messages.js';
import { DecodePool } from '../../decode-workers/pool.js';
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

  it('resolves to zero opens, without rejecting, when the dataset cannot be opened', async () => {
    pool = new DecodePool({ workers: 2 });
    expect(await pool.prepare({ ...ref, path: `${ref.path}-missing` })).toBe(0);
  });
});

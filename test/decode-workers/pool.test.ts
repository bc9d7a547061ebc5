import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRef } from '../../decode-workers/messages.js';
import { DecodePool } from '../../decode-workers/pool.js';
import { openDataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let ref: DatasetRef;
let pool: DecodePool | undefined;

beforeAll(async () => {
  const path = await ensureDataset(specByName('deletions_arrow'), '2.1');
  const dataset = await openDataset(path);
  ref = {
    path: dataset.path,
    version: dataset.version,
    columns: dataset.selectFields(undefined).map((f) => f.name),
    direct: false,
    queueDepth: 8,
    maxGapBytes: 4096,
    maxReadBytes: 1 << 20,
    readMemoryBytes: 16 << 20,
    cacheBytes: 0,
    memoryBytes: 64 << 20,
  };
  await dataset.close();
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

/**
 * `metrics().mappedReads`: buffered reads copied out of a mapping of the data files (io.mapped), on a
 * real LanceDB-written dataset and real worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset, type LoaderIoOptions } from '../../index.js';
import { nativeAddon } from '../../io/native-addon.js';
import { createLoader } from '../../loader/loader.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let dataset: Dataset;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('deletions_arrow'), '2.1'));
});

afterAll(async () => {
  await dataset.close();
});

/** metrics() after one epoch with buffered reads and no pages kept decoded (every batch reads). */
async function metricsOfAnEpoch(io: LoaderIoOptions) {
  const loader = await createLoader(dataset, {
    batchSize: 100,
    workers: 2,
    io: { direct: false, cacheBytes: 0, ...io },
  });
  try {
    for await (const batch of loader.epoch(0)) batch.release();
    return loader.metrics();
  } finally {
    await loader.close();
  }
}

describe('metrics().mappedReads', () => {
  it.skipIf(nativeAddon() === null)(
    'counts the buffered reads copied out of a mapping of the files (skipped without the native addon)',
    async () => {
      const metrics = await metricsOfAnEpoch({});
      expect(metrics.mappedReads).toBeGreaterThan(0);
      expect(metrics.mappedReads).toBeLessThanOrEqual(metrics.readsIssued);
    },
  );

  it('is 0 with io.mapped: false', async () => {
    const metrics = await metricsOfAnEpoch({ mapped: false });
    expect(metrics.readsIssued).toBeGreaterThan(0);
    expect(metrics.mappedReads).toBe(0);
  });

  it('rejects an io.mapped that is not a boolean with InvalidArgumentError', async () => {
    await expect(
      createLoader(dataset, { batchSize: 10, io: { mapped: 1 as unknown as boolean } }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'options.io.mapped must be true or false, got 1',
    });
  });
});

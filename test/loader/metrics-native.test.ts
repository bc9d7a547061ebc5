/**
 * `metrics().native`: how the loader's workers read, as they report it with each batch, on a real
 * LanceDB-written dataset and real worker threads, with the native addon and without it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { nativeAddon } from '../../io/native-addon.js';
import { readEngine } from '../../io/native-read.js';
import { createLoader } from '../../loader/loader.js';
import { planMemoryBudget } from '../../loader/budget.js';
import { createLoaderMetrics } from '../../loader/metrics.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let dataset: Dataset;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('deletions_arrow'), '2.1'));
});

afterAll(async () => {
  await dataset.close();
});

/** metrics().native before the first batch and after one epoch. */
async function nativeBeforeAndAfterAnEpoch() {
  const loader = await createLoader(dataset, { batchSize: 500, workers: 2 });
  try {
    const before = loader.metrics().native;
    for await (const batch of loader.epoch(0)) batch.release();
    return { before, after: loader.metrics().native };
  } finally {
    await loader.close();
  }
}

describe('metrics().native', () => {
  it('is null until a worker has loaded a batch, then names the addon and read engine the workers use', async () => {
    const { before, after } = await nativeBeforeAndAfterAnEpoch();
    expect(before).toBeNull();
    // Workers load the addon as this thread does: same build, same environment.
    expect(after).toEqual({ addon: nativeAddon() !== null, engine: readEngine().engine });
  });

  it('says fs.readSync and no addon when LANCE_LOADER_NATIVE=0 keeps the workers from loading it', async () => {
    vi.stubEnv('LANCE_LOADER_NATIVE', '0'); // workers copy the environment when they start
    const { after } = await nativeBeforeAndAfterAnEpoch();
    expect(after).toEqual({ addon: false, engine: 'fs.readSync' });
  });

  it('reports the slowest engine any worker uses, and the addon only when every worker has it', () => {
    const metrics = createLoaderMetrics(
      planMemoryBudget({
        memoryBytes: 64 << 20,
        workers: 1,
        slotCount: 2,
        slotBytes: 1 << 20,
        batchSize: 16,
        variableColumns: 0,
        batchBytes: 1 << 20,
        variableBatchBytes: 0,
        cacheBytes: 0,
        nativeGather: true,
      }),
    );
    metrics.addNative({ addon: true, engine: 'io_uring' });
    metrics.addNative({ addon: true, engine: 'pread' });
    metrics.addNative({ addon: true, engine: 'io_uring' });
    expect(metrics.snapshot().native).toEqual({ addon: true, engine: 'pread' });
    metrics.addNative({ addon: false, engine: 'fs.readSync' });
    metrics.addNative({ addon: true, engine: 'io_uring' });
    expect(metrics.snapshot().native).toEqual({ addon: false, engine: 'fs.readSync' });
  });
});

/**
 * The DataLoader over fixed_size_list columns whose items are null (LanceDB-written `fsl_null_items`):
 * the reader gives those items as nulls, but a batch has no place for them yet, so the loader refuses the
 * batch with an UnsupportedError naming the column instead of handing the stored bytes out as numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedError } from '../../errors.js';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import { rejection } from '../caught.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let dataset: Dataset;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('fsl_null_items'), '2.2'));
});

afterAll(async () => {
  await dataset?.close();
});

async function epochError(column: string): Promise<unknown> {
  const loader = await createLoader(dataset, { columns: [column], batchSize: 64, workers: 1, shuffle: false });
  try {
    return await rejection(
      (async () => {
        for await (const batch of loader.epoch(0)) batch.release();
      })(),
    );
  } finally {
    await loader.close();
  }
}

describe('a loader over fixed_size_list columns with null items', () => {
  it.each(['fsl', 'vec128'])('refuses a batch of %s with an UnsupportedError naming the column', async (column) => {
    const error = await epochError(column);
    expect(error).toBeInstanceOf(UnsupportedError);
    expect((error as UnsupportedError).message).toContain(`column "${column}"`);
    expect((error as UnsupportedError).message).toContain('fixed_size_list items are null');
  });
});

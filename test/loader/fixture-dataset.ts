/** A LanceDB-written fixture dataset opened for the loader tests that read it. */
import { openDataset, type Dataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';

/** Opens fixture `spec` written as `version` for `use`, and closes it after. */
export async function withDataset<T>(
  spec: string,
  version: StorageVersion,
  use: (dataset: Dataset) => Promise<T>,
): Promise<T> {
  const dataset = await openDataset(await ensureDataset(specByName(spec), version));
  try {
    return await use(dataset);
  } finally {
    await dataset.close();
  }
}

/**
 * A loader sizes its batch slots by the schema's widths: a width (in the manifest's schema) that the data
 * file's pages cannot hold must fail createLoader with a CorruptFileError naming the file, the column and
 * the width, before a slot is sized or a worker starts, not with a ResourceError about memory.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CorruptFileError, createLoader } from '../../index.js';
import {
  VERSIONS,
  copyDataset,
  editManifest,
  expectFailure,
  removeTempDirs,
  retype,
  writePristineDatasets,
} from '../dataset/bad-input-helpers.js';

beforeAll(writePristineDatasets);
afterAll(removeTempDirs);

describe.each(VERSIONS)('createLoader over a %s dataset whose manifest schema declares a huge width', (version) => {
  it.each([
    ['a fixed-size list of 1e9 floats', 'x', 'fixed_size_list:float:1000000000', '4000000000 bytes per row'],
    ['a fixed-size binary of 2^28 bytes', 's', 'fixed_size_binary:268435456', '268435456 bytes per row'],
  ])('of %s is a CorruptFileError naming file, column and width', async (_, column, logicalType, width) => {
    const { root, manifest, dataFile } = copyDataset(version);
    editManifest(manifest, (m) => retype(m.fields, column, logicalType));
    await expectFailure(
      () => createLoader(root, { batchSize: 64, workers: 1 }),
      CorruptFileError,
      'CORRUPT_FILE',
      dataFile,
      `("${column}")`,
      width,
    );
  });
});

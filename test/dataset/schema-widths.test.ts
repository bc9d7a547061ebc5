/**
 * A schema (in the manifest or in the data file) that declares a width its pages cannot hold must fail
 * with a CorruptFileError naming the file, the column and the width, before anything is sized by that
 * width. Fixtures and byte surgery: bad-input-helpers.ts (column x is Float32, s is Utf8).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CorruptFileError, openDataset, openFile } from '../../index.js';
import {
  MiB,
  VERSIONS,
  copyDataset,
  editManifest,
  expectFailure,
  readAllOfDataset,
  readAllOfFile,
  removeTempDirs,
  retype,
  rewriteDataFile,
  withinMemory,
  writePristineDatasets,
} from './bad-input-helpers.js';

beforeAll(writePristineDatasets);
afterAll(removeTempDirs);

describe.each(VERSIONS)('a %s dataset whose manifest schema declares a huge width', (version) => {
  it('of a fixed-size list of 1e9 floats is a CorruptFileError on take, naming file, column and width', async () => {
    const { root, manifest, dataFile } = copyDataset(version);
    editManifest(manifest, (m) => retype(m.fields, 'x', 'fixed_size_list:float:1000000000'));
    const ds = await openDataset(root);
    try {
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => ds.take([0, 1, 2], { columns: ['x'] }),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          '("x")',
          '4000000000 bytes per row',
        ),
      );
    } finally {
      await ds.close();
    }
  });

  it('of a fixed-size binary of 2^28 bytes is a CorruptFileError on scan', async () => {
    const { root, manifest, dataFile } = copyDataset(version);
    editManifest(manifest, (m) => retype(m.fields, 's', 'fixed_size_binary:268435456'));
    await withinMemory(64 * MiB, () =>
      expectFailure(
        () => readAllOfDataset(root),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        '("s")',
        '268435456 bytes per row',
      ),
    );
  });
});

describe.each(VERSIONS)('a %s data file whose own schema declares a huge width', (version) => {
  it('of a fixed-size list of 268,435,456 floats is a CorruptFileError on take and scan', async () => {
    const { dataFile } = copyDataset(version);
    rewriteDataFile(dataFile, { descriptor: (d) => retype(d.schema.fields, 'x', 'fixed_size_list:float:268435456') });
    const file = await openFile(dataFile);
    try {
      await withinMemory(64 * MiB, async () => {
        await expectFailure(
          () => file.take([0, 1, 2]),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          '("x")',
          '1073741824 bytes per row',
        );
        await expectFailure(() => readAllOfFile(dataFile), CorruptFileError, 'CORRUPT_FILE', dataFile, '("x")');
      });
    } finally {
      await file.close();
    }
  });

  it('of a fixed-size binary of 1e9 bytes is a CorruptFileError', async () => {
    const { dataFile } = copyDataset(version);
    rewriteDataFile(dataFile, { descriptor: (d) => retype(d.schema.fields, 's', 'fixed_size_binary:1000000000') });
    await withinMemory(64 * MiB, () =>
      expectFailure(
        () => readAllOfFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        '("s")',
        '1000000000 bytes per row',
      ),
    );
  });
});

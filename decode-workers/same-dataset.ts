/**
 * A worker opens the dataset itself, possibly long after the loader did (a dead worker's replacement
 * starts mid-epoch). What it opens must be what the loader opened: the same version, the same fragments
 * and deletions, the same data files (device and inode). Anything changed since is an IoError naming it,
 * never rows or values other than the loader's other workers deliver.
 */
import { InvalidArgumentError, IoError } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { openDataset, type Dataset } from '../dataset/dataset.js';
import { drawFromPermits } from '../io/remote/shared-permits.js';
import type { DatasetRef } from './messages.js';

/**
 * The loader's version of the dataset, as the loader opened it; a manifest removed since is an IoError
 * naming the version (openDataset's InvalidArgumentError would blame the caller for asking for it).
 */
export async function openVersion(ref: DatasetRef): Promise<Dataset> {
  if (ref.remote?.permits) drawFromPermits(ref.remote.permits);
  try {
    return await openDataset(ref.path, {
      version: ref.version,
      cacheBytes: ref.memory.cacheBytes,
      followSymlinks: ref.followSymlinks,
      ...(ref.remote && { storage: ref.remote.storage, remote: ref.remote.io }),
    });
  } catch (error) {
    if (error instanceof InvalidArgumentError && error.details.version === ref.version) {
      throw new IoError(
        `${ref.path}: the manifest of version ${ref.version} was removed from _versions/ after the loader opened that version`,
        { path: ref.path, version: ref.version },
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Checks that this worker opened what the loader opened and returns the data files' identities: a worker
 * started after a manifest, deletion file or data file changed (a dead worker's replacement) must fail
 * with an IoError naming it rather than load other rows or values than the loader's other workers.
 * Opens every data file holding `fields`.
 */
export async function checkSameDataset(
  ref: DatasetRef,
  dataset: Dataset,
  fields: LanceField[],
): Promise<Record<string, string>> {
  if (dataset.fragmentsDigest !== ref.fragmentsDigest) {
    throw new IoError(
      `${ref.path}: version ${ref.version} changed after the loader opened it (its manifest or a deletion file now lists other fragments, files or deleted rows)`,
      { path: ref.path, version: ref.version },
    );
  }
  await dataset.checkWidths(fields);
  const files = await dataset.openedFiles();
  for (const [path, identity] of Object.entries(files)) {
    const expected = ref.files[path];
    if (expected !== undefined && identity !== expected)
      throw replaced(path, expected, identity, 'after the loader opened the dataset');
  }
  return files;
}

/** The IoError for data file `path`, opened by the loader as `expected` (device:inode), found to be `actual`. */
export function replaced(path: string, expected: string, actual: string, when: string): IoError {
  return new IoError(
    `data file ${path} was replaced ${when} (device:inode ${actual}, not ${expected}); a loader reads the files it opened, so create a new loader to read the dataset as it is now`,
    { path, expected, actual },
  );
}

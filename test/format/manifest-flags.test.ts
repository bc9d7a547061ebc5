/**
 * reader_feature_flags is a u64 bit set: any bit this reader does not know, low or high, must be an
 * UnsupportedError naming the bit, and the known bits must still read. Fixtures: bad-input-helpers.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedError, openDataset } from '../../index.js';
import {
  NUM_ROWS,
  copyDataset,
  editManifest,
  expectFailure,
  removeTempDirs,
  writePristineDatasets,
} from '../dataset/bad-input-helpers.js';

beforeAll(writePristineDatasets);
afterAll(removeTempDirs);

/** The u64 with only the bits `bits` set, as a decimal string (protobufjs encodes it exactly). */
function flagBits(...bits: number[]): string {
  return bits.reduce((flags, bit) => flags | (1n << BigInt(bit)), 0n).toString();
}

describe('a manifest with reader feature flags', () => {
  it.each([31, 32, 40, 63])('at unknown bit %i is an UnsupportedError naming the bit', async (bit) => {
    const { root, manifest } = copyDataset('2.1');
    editManifest(manifest, (m) => (m.reader_feature_flags = flagBits(bit)));
    await expectFailure(
      () => openDataset(root),
      UnsupportedError,
      'UNSUPPORTED',
      manifest,
      `reader features ${1n << BigInt(bit)} (flag bits ${bit})`,
    );
  });

  it('at a known bit and an unknown high bit names only the unknown one', async () => {
    const { root, manifest } = copyDataset('2.1');
    editManifest(manifest, (m) => (m.reader_feature_flags = flagBits(0, 33)));
    await expectFailure(() => openDataset(root), UnsupportedError, 'UNSUPPORTED', '(flag bits 33)');
  });

  it('at the known bits 0 to 3 opens the dataset', async () => {
    const { root, manifest } = copyDataset('2.1');
    editManifest(manifest, (m) => (m.reader_feature_flags = flagBits(0, 1, 2, 3)));
    const ds = await openDataset(root);
    try {
      expect(ds.numRows).toBe(NUM_ROWS);
    } finally {
      await ds.close();
    }
  });
});

import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetFiles } from '../../bench/datasets.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

describe('bench datasets', () => {
  it('lists every file a cold run evicts: manifests, data files and deletion files', async () => {
    const dir = await ensureDataset(specByName('deletions_arrow'), '2.1');
    const folders = new Set(datasetFiles(dir).map((file) => path.relative(dir, file).split(path.sep)[0]));
    expect(folders).toContain('_versions');
    expect(folders).toContain('data');
    expect(folders).toContain('_deletions');
  });
});

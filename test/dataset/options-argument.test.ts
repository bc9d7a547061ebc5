/**
 * The options argument of openDataset, take and scan (of a dataset and of a single file): anything but an
 * object or nothing is an InvalidArgumentError naming the call, never a TypeError on `null.columns`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, openFile, type Dataset, type LanceFile } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

let path: string;
let dataset: Dataset;
let file: LanceFile;

beforeAll(async () => {
  path = await ensureDataset(specByName('deletions_arrow'), '2.1');
  dataset = await openDataset(path);
  file = await openFile(join(path, 'data', readdirSync(join(path, 'data'))[0] as string));
});

afterAll(async () => {
  await dataset.close();
  await file.close();
});

const bad = [null, 42, 'id', [['id']]];

async function firstBatch(batches: AsyncIterable<unknown>): Promise<unknown> {
  for await (const batch of batches) return batch;
  return undefined;
}

function refusal(call: string) {
  return { code: 'INVALID_ARGUMENT', message: expect.stringContaining(`${call}: options must be an object`) };
}

describe.each(bad)('options %j', (options) => {
  const given = options as never;

  it('is refused by openDataset', async () => {
    await expect(openDataset(path, given)).rejects.toMatchObject(refusal('openDataset'));
  });

  it('is refused by dataset.take', async () => {
    await expect(dataset.take([0, 1], given)).rejects.toMatchObject(refusal('take'));
  });

  it('is refused by dataset.scan', async () => {
    await expect(firstBatch(dataset.scan(given))).rejects.toMatchObject(refusal('scan'));
  });

  it('is refused by file.take', async () => {
    await expect(file.take([0, 1], given)).rejects.toMatchObject(refusal('take'));
  });

  it('is refused by file.scan', async () => {
    await expect(firstBatch(file.scan(given))).rejects.toMatchObject(refusal('scan'));
  });
});

describe('options left out', () => {
  it('read every column', async () => {
    const table = await dataset.take([0, 1]);
    expect(table.numRows).toBe(2);
    expect(table.schema.fields.length).toBe(dataset.schema.fields.length);
  });
});

/**
 * The tfjs adapter over a real loader's list column (the `nested` fixture, LanceDB-written): padded values
 * become a `[rows, length]` tensor and `lengths: true` an int32 `[rows]` tensor, ragged ones a `[items]`
 * tensor and `rowSplits: true` an int32 `[rows + 1]` tensor, equal to the batch's own arrays; null lists
 * are rows of padding (or empty rows) rather than an error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../../index.js';
import { createLoader } from '../../../loader/loader.js';
import { batchToTensors, loadTfBackend, type Tf } from '../../../loader/tfjs/adapter.js';
import { ensureDataset } from '../../fixtures/datasets.js';
import { specByName } from '../../fixtures/matrix.js';

let tf: Tf;
let dataset: Dataset;

beforeAll(async () => {
  tf = (await loadTfBackend('wasm')).tf;
  dataset = await openDataset(await ensureDataset(specByName('nested'), '2.1'));
});

afterAll(async () => {
  await dataset?.close();
});

describe('the tfjs adapter over list columns', () => {
  it('gives the padded values as a [rows, length] tensor and lengths: true as an int32 [rows] tensor', async () => {
    const loader = await createLoader(dataset, {
      columns: ['list_int32_null'],
      batchSize: 64,
      workers: 1,
      pad: { list_int32_null: { length: 6, value: -1 } },
    });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_int32_null;
        expect(column?.validity).toContain(0);
        const [values, lengths] = batchToTensors(tf, batch, [
          'list_int32_null',
          { column: 'list_int32_null', lengths: true },
        ]);
        expect(values?.shape).toEqual([64, 6]);
        expect(values?.dtype).toBe('int32');
        expect(Array.from(values?.dataSync() ?? [])).toEqual(Array.from((column?.values ?? []) as Int32Array));
        expect(lengths?.shape).toEqual([64]);
        expect(Array.from(lengths?.dataSync() ?? [])).toEqual(Array.from(column?.lengths ?? []));
        tf.dispose([values, lengths]);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });

  it('gives a ragged list as a [items] values tensor and rowSplits: true as its int32 [rows + 1] row splits', async () => {
    const loader = await createLoader(dataset, { columns: ['list_int32_null'], batchSize: 64, workers: 1 });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_int32_null;
        const [values, splits] = batchToTensors(tf, batch, [
          'list_int32_null',
          { column: 'list_int32_null', rowSplits: true },
        ]);
        expect(values?.shape).toEqual([column?.values.length]);
        expect(Array.from(values?.dataSync() ?? [])).toEqual(Array.from((column?.values ?? []) as Int32Array));
        expect(splits?.shape).toEqual([65]);
        expect(Array.from(splits?.dataSync() ?? [])).toEqual(Array.from(column?.offsets ?? []));
        tf.dispose([values, splits]);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });

  it('refuses lengths: true for a column that is not a padded list, naming the option', async () => {
    const loader = await createLoader(dataset, { columns: ['idx'], batchSize: 8, workers: 1 });
    try {
      for await (const batch of loader.epoch(0)) {
        expect(() => batchToTensors(tf, batch, { column: 'idx', lengths: true })).toThrow(/lengths: true/);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

/**
 * The tfjs adapter over a real loader's list column (the `nested` fixture, LanceDB-written): padded values
 * become a `[rows, length]` tensor and `lengths: true` an int32 `[rows]` tensor, ragged ones a `[items]`
 * tensor and `rowSplits: true` an int32 `[rows + 1]` tensor, equal to the batch's own arrays; null lists
 * are rows of padding (or empty rows) rather than an error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { openDataset, type Dataset } from '../../../index.js';
import { createLoader } from '../../../loader/loader.js';
import type { Batch } from '../../../loader/batch.js';
import { batchToTensors, loadTfBackend, type Tf } from '../../../loader/tfjs/adapter.js';
import { ensureDataset } from '../../fixtures/datasets.js';
import { specByName } from '../../fixtures/matrix.js';

let tf: Tf;
let dataset: Dataset;
let types: Dataset;
let boxes: Dataset;

beforeAll(async () => {
  tf = (await loadTfBackend('wasm')).tf;
  [dataset, types, boxes] = await Promise.all([
    ensureDataset(specByName('nested'), '2.1').then((p) => openDataset(p)),
    ensureDataset(specByName('nested_types'), '2.2').then((p) => openDataset(p)),
    ensureDataset(specByName('nested_boxes'), '2.2').then((p) => openDataset(p)),
  ]);
}, 240_000);

afterAll(async () => {
  await Promise.all([dataset?.close(), types?.close(), boxes?.close()]);
});

/** The first batch of a loader over `source` with `options`, handed to `use` before it is released. */
async function firstBatch(
  source: Dataset,
  options: Parameters<typeof createLoader>[1],
  use: (batch: Batch) => void,
): Promise<void> {
  const loader = await createLoader(source, options);
  try {
    for await (const batch of loader.epoch(0)) {
      use(batch);
      batch.release();
      break;
    }
  } finally {
    await loader.close();
  }
}

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

  it('gives a list of lists as its values and the row splits of each level, rowSplits: 0 and 1', async () => {
    await firstBatch(types, { columns: ['list_list'], batchSize: 50, workers: 1 }, (batch) => {
      const column = batch.columns.list_list;
      const [values, outer, inner] = batchToTensors(tf, batch, [
        'list_list',
        { column: 'list_list', rowSplits: 0 },
        { column: 'list_list', rowSplits: 1 },
      ]);
      expect(values?.shape).toEqual([column?.values.length]);
      expect(Array.from(outer?.dataSync() ?? [])).toEqual(Array.from(column?.offsets ?? []));
      expect(Array.from(inner?.dataSync() ?? [])).toEqual(Array.from(column?.innerOffsets?.[0] ?? []));
      expect(() => batchToTensors(tf, batch, { column: 'list_list', rowSplits: 2 })).toThrow(
        /rowSplits: 2 names no list level/,
      );
      tf.dispose([values, outer, inner]);
    });
  });

  it('gives the boxes of a list of structs as an [items, 4] float32 tensor beside the classes', async () => {
    await firstBatch(boxes, { columns: ['boxes'], batchSize: 50, workers: 1 }, (batch) => {
      const column = batch.columns['boxes.xyxy'];
      const [xyxy, cls, splits] = batchToTensors(tf, batch, [
        'boxes.xyxy',
        'boxes.cls',
        { column: 'boxes.cls', rowSplits: true },
      ]);
      const items = (column?.values.length ?? 0) / 4;
      expect(xyxy?.shape).toEqual([items, 4]);
      expect(xyxy?.dtype).toBe('float32');
      expect(cls?.shape).toEqual([items]);
      expect(Array.from(splits?.dataSync() ?? [])).toEqual(Array.from(column?.offsets ?? []));
      tf.dispose([xyxy, cls, splits]);
    });
  });

  it('gives itemValidity: true of a padded list as a bool [rows, length] tensor, false at null items and padding', async () => {
    await firstBatch(
      dataset,
      { columns: ['list_int32_null'], batchSize: 500, workers: 1, pad: { list_int32_null: { length: 4 } } },
      (batch) => {
        const column = batch.columns.list_int32_null;
        expect(column?.itemValidity).toContain(0);
        const [mask] = batchToTensors(tf, batch, [{ column: 'list_int32_null', itemValidity: true }]);
        expect(mask?.shape).toEqual([500, 4]);
        expect(mask?.dtype).toBe('bool');
        expect(Array.from(mask?.dataSync() ?? [])).toEqual(Array.from(column?.itemValidity ?? []));
        tf.dispose(mask);
      },
    );
  });

  it('gives itemValidity: true as all items valid, padding aside, when no item of the batch is null', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lance-loader-tfjs-lists-'));
    try {
      // Plain JS arrays of numbers, as LanceDB infers them: List<Float64>, no null items.
      const db = await lancedb.connect(dir);
      const rows = Array.from({ length: 20 }, (_, r) => ({ tokens: Array.from({ length: r % 4 }, (_, k) => r + k) }));
      (await db.createTable('t', rows)).close();
      db.close();
      const table = await openDataset(join(dir, 't.lance'));
      try {
        await firstBatch(
          table,
          { columns: ['tokens'], batchSize: 20, workers: 1, shuffle: false, pad: { tokens: { length: 2 } } },
          (batch) => {
            expect(batch.columns.tokens?.itemValidity).toBeUndefined();
            const [mask] = batchToTensors(tf, batch, [{ column: 'tokens', itemValidity: true }]);
            const expected = rows.map(({ tokens }) => [0, 1].map((k) => (k < tokens.length ? 1 : 0))).flat();
            expect(Array.from(mask?.dataSync() ?? [])).toEqual(expected);
            tf.dispose(mask);
          },
        );
      } finally {
        await table.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a list of strings as a tensor, naming the column', async () => {
    await firstBatch(types, { columns: ['list_text'], batchSize: 8, workers: 1 }, (batch) => {
      expect(() => batchToTensors(tf, batch, 'list_text')).toThrow(
        /column 'list_text' \(utf8\) cannot become a tensor/,
      );
    });
  });
});

/**
 * The DataLoader over fixed_size_list<float32, 4> columns with null items inside lists, structs and lists
 * of structs (LanceDB-written `fsl_null_items` and `fsl_null_items_nested`, file versions 2.1 and 2.2): a
 * null value reads as 0 and the batch's `itemValidity` marks it, one byte per value (`[items × 4]` ragged,
 * `[rows × 4]` for a struct child), 0 also under a null item or row, as `dataset.take` reads the rows, with
 * real worker threads; the tfjs adapter gives it as a bool tensor of the values' shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import { batchToTensors } from '../../loader/tfjs/adapter.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';

type Item = (number | null)[] | null;

const datasets: Record<string, Dataset> = {};

beforeAll(async () => {
  for (const version of ['2.1', '2.2'] as const) {
    datasets[`nested ${version}`] = await openDataset(
      await ensureDataset(specByName('fsl_null_items_nested'), version),
    );
    datasets[`flat ${version}`] = await openDataset(await ensureDataset(specByName('fsl_null_items'), version));
  }
}, 240_000);

afterAll(async () => {
  await Promise.all(Object.values(datasets).map((d) => d.close()));
});

/** An Arrow fixed-size list value (or null) as an array of numbers and nulls. */
function itemOf(value: unknown): Item {
  return value === null || value === undefined ? null : Array.from(value as Iterable<number | null>);
}

/** The rows of `column` as dataset.take reads them, each a list of items (a struct child: one item). */
async function takenRows(dataset: Dataset, rows: Uint32Array, column: string): Promise<(Item[] | null)[]> {
  const [top, leaf] = column === 'boxes.xyxy' ? ['boxes', 'xyxy'] : [column, undefined];
  const vector = (await dataset.take(Array.from(rows), { columns: [top] })).getChild(top);
  return Array.from({ length: rows.length }, (_, r) => {
    const row = vector?.get(r) as unknown;
    if (column.startsWith('struct_fsl')) return [itemOf(row)];
    if (row === null) return null;
    return Array.from(row as Iterable<unknown>, (item) =>
      leaf
        ? item === null
          ? null
          : itemOf((item as { toJSON(): Record<string, unknown> }).toJSON()[leaf])
        : itemOf(item),
    );
  });
}

/** What a batch column should hold for `rows`: values (nulls as 0) and one validity byte per value. */
function expected(rows: (Item[] | null)[]): { values: number[]; items: number[]; offsets: number[] } {
  const values: number[] = [];
  const items: number[] = [];
  const offsets = [0];
  for (const row of rows) {
    for (const item of row ?? []) {
      for (let j = 0; j < 4; j++) {
        const x = item?.[j] ?? null;
        values.push(x === null ? 0 : Math.fround(x));
        items.push(x === null ? 0 : 1);
      }
    }
    offsets.push((offsets.at(-1) as number) + (row?.length ?? 0));
  }
  return { values, items, offsets };
}

async function checkBatches(key: string, column: string, batchSize: number): Promise<void> {
  const dataset = datasets[key] as Dataset;
  const loader = await createLoader(dataset, { columns: [column], batchSize, workers: 2, seed: 4 });
  let withNulls = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      const col = batch.columns[column] as BatchColumn;
      const want = expected(await takenRows(dataset, batch.rowOffsets, column));
      expect(col.itemValidity, `${key} ${column}`).toBeDefined();
      expect(Array.from(col.itemValidity ?? [])).toEqual(want.items);
      expect(Array.from(col.values as Float32Array)).toEqual(want.values);
      if (col.offsets) {
        expect(col.itemShape).toEqual([4]);
        expect(Array.from(col.offsets)).toEqual(want.offsets);
      }
      withNulls++;
      batch.release();
    }
  } finally {
    await loader.close();
  }
  expect(withNulls).toBeGreaterThan(1);
}

describe.each(['2.1', '2.2'] as StorageVersion[])(
  'a loader over fixed-size lists with null items, nested (%s)',
  (version) => {
    it('gives a list of them ragged with one itemValidity byte per value', async () => {
      await checkBatches(`flat ${version}`, 'list_fsl', 300);
    });

    it('gives a struct child of them as [rows × 4] values with itemValidity, null rows all 0', async () => {
      await checkBatches(`nested ${version}`, 'struct_fsl.vec', 300);
    });

    it('gives them inside a list of structs ragged with one itemValidity byte per value', async () => {
      await checkBatches(`nested ${version}`, 'boxes.xyxy', 300);
    });
  },
);

describe('the tfjs adapter over a ragged list of fixed-size lists with null values', () => {
  it('gives itemValidity: true as a bool [items, 4] tensor, false at null values and items', async () => {
    const loader = await createLoader(datasets['flat 2.2'] as Dataset, {
      columns: ['list_fsl'],
      batchSize: 200,
      workers: 1,
    });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_fsl as BatchColumn;
        const [values, mask] = batchToTensors(tf, batch, [
          { column: 'list_fsl' },
          { column: 'list_fsl', itemValidity: true },
        ]);
        expect(mask?.dtype).toBe('bool');
        expect(mask?.shape).toEqual(values?.shape);
        expect(Array.from(mask?.dataSync() ?? [])).toEqual(Array.from(column.itemValidity ?? []));
        tf.dispose([values, mask] as tf.Tensor[]);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

/**
 * The DataLoader over datasets written as file version 2.2 (LanceDB 0.39's default): an emb/mnist-like
 * table with what 2.2 writes differently (u32 chunk words, integer and LZ4 string dictionaries, constant
 * pages, Rle definition levels), in two fragments with deletions. An epoch covers every row once, in the
 * same order and with the same values as the same table written as 2.1 (which the matrix tests check
 * against LanceDB), with real worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { BatchColumn } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import type { DatasetSpec } from '../fixtures/matrix.js';

const SPEC: DatasetSpec = {
  name: 'loader_emb_mnist',
  description: 'emb/mnist-like columns for the loader, written as 2.1 and 2.2',
  rows: 3000,
  batchRows: 1000,
  fragments: 2,
  versions: ['2.1', '2.2'],
  deletes: [{ kind: 'idx_mod', mod: 9, rem: 4 }],
  columns: [
    { name: 'idx', kind: 'idx' },
    { name: 'emb', kind: 'fsl_float32', dim: 128, aim: 'FullZip{FixedSizeList(128, Flat32)}' },
    { name: 'pixels', kind: 'fsl_uint8', dim: 784, aim: 'FullZip{FixedSizeList(784, Flat8)}' },
    { name: 'label', kind: 'int64_small_signed', aim: '2.2: dict=General(lz4, Flat(64b))' },
    { name: 'caption', kind: 'utf8_lowcard', aim: '2.2: dict=General(lz4, Variable)' },
    { name: 'score', kind: 'float32', nullFraction: 0.1 },
    { name: 'source', kind: 'int32_const', aim: '2.2: ConstantLayout' },
    { name: 'rare', kind: 'int32', nullFraction: 0.99, aim: '2.2: def=Rle' },
  ],
};

interface Epoch {
  rowOffsets: number[][];
  /** Per column, the bytes of every batch's values, validity and offsets, copied before release. */
  columns: Record<string, Buffer[]>;
}

function bytesOf(view: ArrayBufferView | undefined): Buffer {
  return view ? Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)) : Buffer.alloc(0);
}

async function epochOf(dataset: Dataset): Promise<Epoch> {
  const loader = await createLoader(dataset, { batchSize: 256, workers: 2, prefetch: 2, seed: 9 });
  const epoch: Epoch = { rowOffsets: [], columns: {} };
  try {
    for await (const batch of loader.epoch(0)) {
      epoch.rowOffsets.push(Array.from(batch.rowOffsets));
      for (const [name, column] of Object.entries(batch.columns) as [string, BatchColumn][]) {
        const kept = (epoch.columns[name] ??= []);
        kept.push(bytesOf(column.values), bytesOf(column.validity), bytesOf(column.offsets));
      }
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return epoch;
}

let v21: Dataset;
let v22: Dataset;

beforeAll(async () => {
  const [p21, p22] = await Promise.all([ensureDataset(SPEC, '2.1'), ensureDataset(SPEC, '2.2')]);
  [v21, v22] = await Promise.all([openDataset(p21), openDataset(p22)]);
});

afterAll(async () => {
  await Promise.all([v21?.close(), v22?.close()]);
});

describe('a loader over a file version 2.2 dataset', () => {
  it('yields every visible row exactly once, in the same batches as the 2.1 dataset', async () => {
    const [a, b] = [await epochOf(v21), await epochOf(v22)];
    const all = b.rowOffsets.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: v22.numRows }, (_, i) => i));
    expect(b.rowOffsets).toEqual(a.rowOffsets);
    expect(Object.keys(b.columns).sort()).toEqual(SPEC.columns.map((c) => c.name).sort());
    for (const [name, buffers] of Object.entries(a.columns)) {
      const same = buffers.every((buffer, i) => b.columns[name]?.[i]?.equals(buffer));
      expect(same, `${name} holds the same bytes`).toBe(true);
    }
  });
});

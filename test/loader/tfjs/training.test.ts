/**
 * The tfjs adapter over the real DataLoader: a LanceDB-written dataset, decode worker threads, batches in
 * shared-memory slots that the loader recycles, and `model.fitDataset` on the wasm backend (cpu if wasm
 * cannot start). Training must learn (accuracy far above chance), consume every batch of every epoch,
 * and keep the tensor count flat from one epoch to the next.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader } from '../../../loader/loader.js';
import { loadTfBackend, toTfDataset, type Tf } from '../../../loader/tfjs/adapter.js';
import { lanceDbArrow as A } from '../../fixtures/arrow-bridge.js';
import { Rng } from '../../fixtures/random.js';

const ROWS = 2_000;
const CLASSES = 4;
const SIDE = 8;

let tf: Tf;
let dir: string;
let path: string;

/**
 * Writes `ROWS` 8×8 images whose label is the brightest quadrant (noise everywhere), as LanceDB table
 * `images`: `label int32`, `pixels fixed_size_list<uint8>[64]`, file version 2.1.
 */
async function writeQuadrants(parent: string): Promise<string> {
  const rng = new Rng(7);
  const labels = new Int32Array(ROWS);
  const pixels = new Uint8Array(ROWS * SIDE * SIDE);
  for (let r = 0; r < ROWS; r++) {
    const label = rng.int(0, CLASSES);
    labels[r] = label;
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const quadrant = (y < SIDE / 2 ? 0 : 2) + (x < SIDE / 2 ? 0 : 1);
        pixels[r * SIDE * SIDE + y * SIDE + x] = rng.int(0, 140) + (quadrant === label ? 100 : 0);
      }
    }
  }
  const pixelType = new A.FixedSizeList(SIDE * SIDE, new A.Field('item', new A.Uint8(), true));
  const table = new A.Table({
    label: A.makeVector(labels),
    pixels: A.makeVector(
      A.makeData({
        type: pixelType,
        length: ROWS,
        nullCount: 0,
        child: A.makeData({ type: new A.Uint8(), length: pixels.length, data: pixels }),
      }),
    ),
  });
  const db = await lancedb.connect(parent);
  const written = await db.createTable('images', table, { storageOptions: { new_table_data_storage_version: '2.1' } });
  written.close();
  db.close();
  return join(parent, 'images.lance');
}

beforeAll(async () => {
  const report = await loadTfBackend('wasm');
  tf = report.tf;
  if (report.backend !== 'wasm') console.warn(`tfjs training test runs on ${report.backend}:`, report.skipped);
  dir = mkdtempSync(join(tmpdir(), 'lance-loader-tfjs-training-'));
  path = await writeQuadrants(dir);
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('fitDataset over the DataLoader', () => {
  it('learns a LanceDB dataset in 3 shuffled epochs with a flat tensor count, consuming every batch', async () => {
    const loader = await createLoader(path, {
      batchSize: 64,
      workers: 2,
      columns: ['pixels', 'label'],
      shapes: { pixels: [SIDE, SIDE, 1] },
    });
    const model = tf.sequential();
    try {
      const ds = toTfDataset(tf, loader, {
        xs: { column: 'pixels', normalize: true },
        ys: { column: 'label', oneHot: CLASSES },
      });
      model.add(tf.layers.flatten({ inputShape: [SIDE, SIDE, 1] }));
      model.add(
        tf.layers.dense({
          units: 16,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
      );
      model.add(
        tf.layers.dense({
          units: CLASSES,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        }),
      );
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

      const tensorsAfterEpoch: number[] = [];
      const accuracy: number[] = [];
      await model.fitDataset(ds, {
        epochs: 3,
        verbose: 0,
        callbacks: {
          onEpochEnd: async (_epoch, logs) => {
            tensorsAfterEpoch.push(tf.memory().numTensors);
            accuracy.push(logs?.acc ?? NaN);
          },
        },
      });
      const metrics = loader.metrics();
      console.info(
        `fitDataset over the loader on ${tf.getBackend()}: accuracy ${accuracy.map((a) => a.toFixed(3)).join(' → ')}, ` +
          `numTensors after each epoch ${tensorsAfterEpoch.join(', ')}, ${metrics.rowsPerSecond.toFixed(0)} rows/s`,
      );

      expect(accuracy[2]).toBeGreaterThan(0.9); // chance is 0.25
      expect(tensorsAfterEpoch[2]).toBe(tensorsAfterEpoch[1]);
      expect(metrics.batches).toBe(3 * loader.numBatches);
      expect(metrics.rows).toBe(3 * ROWS);
    } finally {
      model.dispose();
      await loader.close();
    }
  });
});

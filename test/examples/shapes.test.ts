/**
 * The demo's dataset (examples/shapes.ts): deterministic drawings of every class, and train/test tables
 * written by LanceDB that lance-loader reads back as drawn, reused on the next call.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../index.js';
import { CLASS_NAMES, SIDE, drawShapes, ensureShapesDataset } from '../../examples/shapes.js';

const parent = mkdtempSync(join(tmpdir(), 'lance-loader-shapes-'));

afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
});

describe('drawShapes', () => {
  it('draws the same images for the same row count, with every class present', () => {
    const a = drawShapes(300);
    const b = drawShapes(300);
    expect(b.labels).toEqual(a.labels);
    expect(b.pixels).toEqual(a.pixels);
    expect(a.pixels.length).toBe(300 * SIDE * SIDE);
    expect(new Set(a.labels)).toEqual(new Set(CLASS_NAMES.map((_, i) => i)));
  });
});

describe('ensureShapesDataset', () => {
  it('writes train and test tables holding the drawn images, then reuses them', async () => {
    const dir = join(parent, 'shapes-60');
    const first = await ensureShapesDataset(dir, 60);
    expect(first.written).toBe(true);
    const { labels, pixels } = drawShapes(60);
    const train = await openDataset(first.trainPath);
    const test = await openDataset(first.testPath);
    try {
      expect([train.numRows, test.numRows]).toEqual([50, 10]);
      const rows = await test.take([0, 9]);
      const image = rows.getChild('pixels')?.get(1)?.toArray() as Uint8Array;
      expect(Array.from(rows.getChild('label')?.toArray() as Int32Array)).toEqual([labels[50], labels[59]]);
      expect(Array.from(image)).toEqual(Array.from(pixels.subarray(59 * SIDE * SIDE, 60 * SIDE * SIDE)));
    } finally {
      await Promise.all([train.close(), test.close()]);
    }
    expect((await ensureShapesDataset(dir, 60)).written).toBe(false);
  });
});

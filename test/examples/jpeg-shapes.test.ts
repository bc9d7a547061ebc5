/**
 * The images example's dataset (examples/jpeg-shapes.ts): deterministic JPEGs of every class at 160–400
 * px, and train/test tables written by LanceDB that the loader decodes back to those images.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { centerCrop, createLoader, decodeImage, openDataset } from '../../index.js';
import { JPEG_CLASSES, drawJpeg, ensureJpegDataset } from '../../examples/jpeg-shapes.js';

const parent = mkdtempSync(join(tmpdir(), 'lance-loader-jpegs-'));

afterAll(() => {
  rmSync(parent, { recursive: true, force: true });
});

describe('drawJpeg', () => {
  it('draws the same JPEG for the same row, 160-400 px a side, labelled by row', async () => {
    const a = await drawJpeg(13);
    expect((await drawJpeg(13)).jpeg.equals(a.jpeg)).toBe(true);
    expect(a.label).toBe(13 % JPEG_CLASSES.length);
    const { width = 0, height = 0, format } = await sharp(a.jpeg).metadata();
    expect(format).toBe('jpeg');
    expect([width >= 160 && width <= 400, height >= 160 && height <= 400]).toEqual([true, true]);
  });
});

describe('ensureJpegDataset', () => {
  it('writes train and test tables of the drawn JPEGs, which the loader decodes, then reuses them', async () => {
    const dir = join(parent, 'jpeg-24');
    const first = await ensureJpegDataset(dir, 24);
    expect(first.written).toBe(true);
    const test = await openDataset(first.testPath);
    try {
      expect(test.numRows).toBe(4);
      const row = await test.take([3], { columns: ['label', 'image'] });
      const drawn = await drawJpeg(23);
      expect(Buffer.from(row.getChild('image')?.get(0) as Uint8Array).equals(drawn.jpeg)).toBe(true);
      expect(row.getChild('label')?.get(0)).toBe(drawn.label);
    } finally {
      await test.close();
    }
    const loader = await createLoader(first.trainPath, {
      batchSize: 20,
      workers: 1,
      columns: ['image'],
      transforms: { image: { steps: [decodeImage(), centerCrop(160)] } },
    });
    try {
      for await (const batch of loader.epoch(0)) {
        expect(batch.columns.image?.shape).toEqual([20, 160, 160, 3]);
        batch.release();
      }
    } finally {
      await loader.close();
    }
    expect((await ensureJpegDataset(dir, 24)).written).toBe(false);
  });
});

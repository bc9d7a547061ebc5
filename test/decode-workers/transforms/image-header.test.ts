import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { isTruncatedJpeg, readImageSize } from '../../../decode-workers/transforms/image-header.js';
import { drawPixels } from './image-fixtures.js';

const image = () => sharp(drawPixels(123, 45, 1), { raw: { width: 123, height: 45, channels: 3 } });

describe('readImageSize', () => {
  it.each([
    ['baseline JPEG', () => image().jpeg()],
    ['progressive JPEG', () => image().jpeg({ progressive: true })],
    ['PNG', () => image().png()],
    ['lossy WebP', () => image().webp()],
    ['lossless WebP', () => image().webp({ lossless: true })],
    ['WebP with alpha (VP8X)', () => image().ensureAlpha(0.5).webp()],
  ])('reads the size of a %s from its header as sharp does', async (_, make) => {
    const bytes = await make().toBuffer();
    const { width, height } = await sharp(bytes).metadata();
    expect(readImageSize(bytes)).toEqual({ width, height });
  });

  it('gives null for bytes of no known format and for a JPEG cut before its frame header', async () => {
    expect(readImageSize(new TextEncoder().encode('GIF89a and so on and so on'))).toBeNull();
    expect(readImageSize((await image().jpeg().toBuffer()).subarray(0, 30))).toBeNull();
  });
});

describe('isTruncatedJpeg', () => {
  it('tells a JPEG cut in its scan from a whole one, also a progressive one with trailing bytes', async () => {
    for (const jpeg of [await image().jpeg().toBuffer(), await image().jpeg({ progressive: true }).toBuffer()]) {
      expect(isTruncatedJpeg(jpeg)).toBe(false);
      expect(isTruncatedJpeg(Buffer.concat([jpeg, Buffer.alloc(100)]))).toBe(false);
      expect(isTruncatedJpeg(jpeg.subarray(0, jpeg.length - 200))).toBe(true);
      expect(isTruncatedJpeg(jpeg.subarray(0, 40))).toBe(true);
    }
  });

  it('says nothing of bytes that are no JPEG', async () => {
    expect(isTruncatedJpeg((await image().png().toBuffer()).subarray(0, 50))).toBe(false);
  });
});

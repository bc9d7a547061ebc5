import { describe, expect, it } from 'vitest';
import { FastResizeFilter, ResizeFit, Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { ColumnTransformer, resizedCropBox } from '../../../decode-workers/transforms/run.js';
import { loadImageLibrary } from '../../../decode-workers/transforms/image-library.js';
import {
  centerCrop,
  channelsFirst,
  decodeImage,
  flipHorizontal,
  normalize,
  planColumnTransform,
  randomCrop,
  randomResizedCrop,
  resize,
  toFloat,
  type TransformStep,
} from '../../../decode-workers/transforms/steps.js';
import { TransformError } from '../../../errors.js';
import { nativeAddon } from '../../../io/native-addon.js';
import { drawPixels, encodeImage } from './image-fixtures.js';

/** The error `promise` rejects with (failing the test when it resolves). */
const rejected = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected an error');
    },
    (error: unknown) => error,
  );

/** Runs `steps` on `bytes` as dataset row `row` of epoch `epoch` and returns the output. */
async function run(
  steps: TransformStep[],
  bytes: Uint8Array | null,
  { row = 0, epoch = 0, seed = 7 } = {},
): Promise<Uint8Array | Float32Array> {
  const plan = planColumnTransform('image', { steps });
  const out = plan.dtype === 'float32' ? new Float32Array(plan.byteWidth / 4) : new Uint8Array(plan.byteWidth);
  await new ColumnTransformer(plan, seed).run(bytes, row, epoch, out);
  return out;
}

/** Rows y0..y0+h and columns x0..x0+w of an [height, width, c] image, cut out in plain JS. */
function cropRef(
  px: Uint8Array,
  width: number,
  c: number,
  box: { left: number; top: number; width: number; height: number },
) {
  const out = new Uint8Array(box.width * box.height * c);
  for (let y = 0; y < box.height; y++)
    out.set(
      px.subarray(((box.top + y) * width + box.left) * c, ((box.top + y) * width + box.left + box.width) * c),
      y * box.width * c,
    );
  return out;
}

/** @napi-rs/image's own decode of `bytes`: its pixels in the channels the file holds. */
const libraryDecode = (bytes: Uint8Array): Uint8Array => new Uint8Array(new Transformer(bytes).rawPixelsSync());

/** RGB pixels with an opaque alpha channel added, as @napi-rs/image's resize takes them. */
function rgbaOf(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4).fill(255);
  for (let i = 0, o = 0; i < rgb.length; i += 3, o += 4) out.set(rgb.subarray(i, i + 3), o);
  return out;
}

function flipRef(px: Uint8Array, width: number, height: number, c: number): Uint8Array {
  const out = new Uint8Array(px.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let k = 0; k < c; k++) out[(y * width + x) * c + k] = px[(y * width + (width - 1 - x)) * c + k] as number;
  return out;
}

const png = (width: number, height: number, seed = 1) => encodeImage(width, height, seed, 'png');

/** Whether JPEGs decode through the addon's libjpeg-turbo (native/jpeg.c) rather than @napi-rs/image. */
const nativeJpeg = nativeAddon()?.decodeJpeg !== undefined;

/** What a JPEG decodes to: libjpeg-turbo's pixels (sharp's build of it decodes alike) or @napi-rs/image's. */
const jpegDecode = async (bytes: Uint8Array): Promise<Uint8Array> =>
  nativeJpeg ? new Uint8Array(await sharp(bytes).raw().toBuffer()) : libraryDecode(bytes);

describe('ColumnTransformer', () => {
  it('decodes a JPEG to the pixels of libjpeg-turbo where the addon has it, else of @napi-rs/image', async () => {
    const jpeg = await encodeImage(120, 90, 3);
    expect(Array.from(await run([decodeImage(), resize([90, 120])], jpeg))).toEqual(Array.from(await jpegDecode(jpeg)));
  });

  it('decodes PNG and WebP to the pixels @napi-rs/image decodes', async () => {
    for (const format of ['png', 'webp'] as const) {
      const bytes = await encodeImage(64, 48, 2, format);
      expect(Array.from(await run([decodeImage(), centerCrop([48, 64])], bytes))).toEqual(
        Array.from(libraryDecode(bytes)),
      );
    }
  });

  it('decodes a JPEG within 4 levels of what sharp (libjpeg-turbo) decodes', async () => {
    const jpeg = await encodeImage(120, 90, 3);
    const own = await sharp(jpeg).raw().toBuffer();
    const out = await run([decodeImage(), centerCrop([90, 120])], jpeg);
    expect(Math.max(...out.map((v, i) => Math.abs(v - (own[i] as number))))).toBeLessThanOrEqual(4);
  });

  it('drops the alpha channel of a PNG for 3 channels and keeps it for 4', async () => {
    const rgba = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) rgba.set([i * 4, 255 - i * 4, 10, i * 3], i * 4);
    const bytes = await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } })
      .png()
      .toBuffer();
    const rgb = await run([decodeImage({ channels: 3 }), centerCrop(8)], bytes);
    const kept = await run([decodeImage({ channels: 4 }), centerCrop(8)], bytes);
    expect(Array.from(kept)).toEqual(Array.from(rgba));
    expect(Array.from(rgb)).toEqual(Array.from(rgba).filter((_, i) => i % 4 !== 3));
  });

  it('gives a grayscale JPEG three equal channels, or one', async () => {
    const grey = await sharp(drawPixels(32, 32, 1), { raw: { width: 32, height: 32, channels: 3 } })
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    const one = await run([decodeImage({ channels: 1 }), centerCrop(32)], grey);
    const three = await run([decodeImage({ channels: 3 }), centerCrop(32)], grey);
    // @napi-rs/image decodes a grey JPEG to one value a pixel, sharp to three equal ones.
    const own = nativeJpeg ? (await jpegDecode(grey)).filter((_, i) => i % 3 === 0) : libraryDecode(grey);
    expect(Array.from(one)).toEqual(Array.from(own));
    for (let i = 0; i < one.length; i++)
      expect([three[i * 3], three[i * 3 + 1], three[i * 3 + 2]]).toEqual([one[i], one[i], one[i]]);
  });

  it('converts colour to one channel as Rec. 601 luma, as PIL does', async () => {
    const bytes = await png(8, 8);
    const rgb = libraryDecode(bytes);
    const one = await run([decodeImage({ channels: 1 }), centerCrop(8)], bytes);
    for (let i = 0; i < 64; i++) {
      const [r, g, b] = [rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]] as [number, number, number];
      expect(one[i]).toBe(Math.round(0.299 * r + 0.587 * g + 0.114 * b));
    }
  });

  it('center-crops the middle of the decoded image', async () => {
    const bytes = await png(50, 40);
    const full = await sharp(bytes).raw().toBuffer();
    const out = await run([decodeImage(), centerCrop([20, 30])], bytes);
    expect(Array.from(out)).toEqual(Array.from(cropRef(full, 50, 3, { left: 10, top: 10, width: 30, height: 20 })));
  });

  it('random-crops a box inside the image, the same box for the same (seed, epoch, row)', async () => {
    const bytes = await png(50, 40);
    const full = await sharp(bytes).raw().toBuffer();
    const out = await run([decodeImage(), randomCrop(16)], bytes, { row: 5 });
    const boxes: { left: number; top: number }[] = [];
    for (let top = 0; top <= 24; top++)
      for (let left = 0; left <= 34; left++)
        if (Buffer.from(cropRef(full, 50, 3, { left, top, width: 16, height: 16 })).equals(Buffer.from(out)))
          boxes.push({ left, top });
    expect(boxes.length).toBeGreaterThan(0);
    expect(Array.from(await run([decodeImage(), randomCrop(16)], bytes, { row: 5 }))).toEqual(Array.from(out));
  });

  it('draws different crops for different rows and epochs', async () => {
    const bytes = await png(80, 80);
    const outs = new Set<string>();
    for (const [row, epoch] of [
      [0, 0],
      [1, 0],
      [0, 1],
      [2, 3],
    ] as const)
      outs.add(Buffer.from(await run([decodeImage(), randomCrop(8)], bytes, { row, epoch })).toString('hex'));
    expect(outs.size).toBe(4);
  });

  it('mirrors the image with flipHorizontal(1) and leaves it with flipHorizontal(0)', async () => {
    const bytes = await png(30, 20);
    const full = new Uint8Array(await sharp(bytes).raw().toBuffer());
    expect(Array.from(await run([decodeImage(), centerCrop([20, 30]), flipHorizontal(1)], bytes))).toEqual(
      Array.from(flipRef(full, 30, 20, 3)),
    );
    expect(Array.from(await run([decodeImage(), centerCrop([20, 30]), flipHorizontal(0)], bytes))).toEqual(
      Array.from(full),
    );
  });

  it('crops the mirrored image when a crop follows a flip', async () => {
    const bytes = await png(40, 20);
    const flipped = flipRef(new Uint8Array(await sharp(bytes).raw().toBuffer()), 40, 20, 3);
    const out = await run([decodeImage(), flipHorizontal(1), centerCrop([10, 10]), centerCrop([6, 4])], bytes);
    // Centre 10 × 10 of the mirrored image is at (15, 5); its centre 4 wide × 6 high is at (3, 2) within it.
    expect(Array.from(out)).toEqual(Array.from(cropRef(flipped, 40, 3, { left: 18, top: 7, width: 4, height: 6 })));
  });

  it('resizes the shorter side to the size asked, keeping the aspect ratio (rounded down)', async () => {
    const plan = planColumnTransform('image', { steps: [decodeImage(), resize(30), centerCrop(30)] });
    const out = new Uint8Array(plan.byteWidth);
    await new ColumnTransformer(plan, 0).run(await png(100, 40, 0), 0, 0, out);
    // 40 → 30 makes 100 → 75; the centre 30 columns of a horizontal gradient of 75 span x 22..51.
    const red = (x: number) => out[(15 * 30 + x) * 3] as number;
    expect(Math.abs(red(0) - (22.5 * 255) / 75)).toBeLessThan(6);
    expect(Math.abs(red(29) - (51.5 * 255) / 75)).toBeLessThan(6);
  });

  it('resizes to an exact size by resampling: a flat image stays flat, a gradient stays a gradient', async () => {
    const flat = await sharp({ create: { width: 37, height: 23, channels: 3, background: { r: 10, g: 120, b: 250 } } })
      .png()
      .toBuffer();
    const out = await run([decodeImage(), resize([16, 16])], flat);
    for (let i = 0; i < out.length; i += 3) expect([out[i], out[i + 1], out[i + 2]]).toEqual([10, 120, 250]);
    const gradient = await run([decodeImage(), resize([10, 20])], await png(200, 100, 0));
    for (let x = 0; x < 20; x++)
      expect(Math.abs((gradient[(5 * 20 + x) * 3] as number) - ((x + 0.5) * 255) / 20)).toBeLessThan(4);
  });

  it('random-resized-crops as @napi-rs/image resizes the box torchvision would draw', async () => {
    const bytes = await png(64, 48);
    const out = await run([decodeImage(), randomResizedCrop(16, { scale: [0.3, 0.6] })], bytes, { row: 3, epoch: 2 });
    // The same stream the transformer draws from: seeded per (seed, epoch, row, column).
    const { createRandom } = await import('../../../samplers/random.js');
    const stream = createRandom('7:2:3:image');
    const box = resizedCropBox(64, 48, [0.3, 0.6], [3 / 4, 4 / 3], () => stream.nextUint32() / 2 ** 32);
    const cut = rgbaOf(cropRef(libraryDecode(bytes), 64, 3, box));
    const ref = Transformer.fromRgbaPixels(cut, box.width, box.height)
      .fastResize({ width: 16, height: 16, filter: FastResizeFilter.Bilinear, fit: ResizeFit.Fill })
      .rawPixelsSync();
    expect(Array.from(out)).toEqual(Array.from(ref).filter((_, i) => i % 4 !== 3));
    expect(box.width * box.height).toBeGreaterThanOrEqual(0.3 * 64 * 48 * 0.9);
  });

  it('draws randomResizedCrop boxes inside the image with an area share and aspect ratio in range', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 48271) % 2147483647) - 1) / 2147483646;
    for (let i = 0; i < 500; i++) {
      const box = resizedCropBox(300, 200, [0.08, 1], [3 / 4, 4 / 3], random);
      expect(box.left >= 0 && box.top >= 0 && box.left + box.width <= 300 && box.top + box.height <= 200).toBe(true);
      expect(box.width * box.height).toBeGreaterThan(0.07 * 300 * 200);
    }
  });

  it('normalizes to float32 (x / 255 − mean) / std per channel, as torchvision ToTensor + Normalize', async () => {
    const bytes = await png(8, 8);
    const px = await sharp(bytes).raw().toBuffer();
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const out = await run([decodeImage(), centerCrop(8), normalize(mean, std)], bytes);
    expect(out).toBeInstanceOf(Float32Array);
    for (let i = 0; i < px.length; i++)
      expect(out[i]).toBeCloseTo(((px[i] as number) / 255 - (mean[i % 3] as number)) / (std[i % 3] as number), 5);
  });

  it('normalizes each of four channels (RGBA) with its own mean and std', async () => {
    const bytes = await sharp(drawPixels(5, 5, 2), { raw: { width: 5, height: 5, channels: 3 } })
      .ensureAlpha(0.5)
      .png()
      .toBuffer();
    const px = await sharp(bytes).raw().toBuffer();
    const [mean, std] = [
      [0.1, 0.2, 0.3, 0.4],
      [0.5, 0.6, 0.7, 0.8],
    ];
    const out = await run([decodeImage({ channels: 4 }), centerCrop(5), normalize(mean, std)], bytes);
    expect(out.length).toBe(px.length);
    for (let i = 0; i < px.length; i++)
      expect(out[i]).toBeCloseTo(((px[i] as number) / 255 - (mean[i % 4] as number)) / (std[i % 4] as number), 5);
  });

  it('scales uint8 to [0, 1] float32 with toFloat', async () => {
    const bytes = await png(8, 8);
    const px = await sharp(bytes).raw().toBuffer();
    const out = await run([decodeImage(), centerCrop(8), toFloat()], bytes);
    for (let i = 0; i < px.length; i++) expect(out[i]).toBeCloseTo((px[i] as number) / 255, 6);
  });

  it('puts channels first with channelsFirst', async () => {
    const bytes = await png(6, 4);
    const px = await sharp(bytes).raw().toBuffer();
    const out = await run([decodeImage(), centerCrop([4, 6]), channelsFirst()], bytes);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 24; i++) expect(out[c * 24 + i]).toBe(px[i * 3 + c]);
  });

  it('refuses a truncated JPEG with an IMAGE_DECODE TransformError naming the row and column', async () => {
    const jpeg = await encodeImage(64, 64, 1);
    const error = await rejected(run([decodeImage(), centerCrop(32)], jpeg.subarray(0, jpeg.length >> 1), { row: 12 }));
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('IMAGE_DECODE');
    expect((error as Error).message).toMatch(/^column "image", row 12: decodeImage: /);
  });

  it('refuses bytes that are no image with IMAGE_DECODE', async () => {
    const error = await rejected(
      run([decodeImage(), centerCrop(32)], new TextEncoder().encode('not an image at all'), { row: 3 }),
    );
    expect((error as TransformError).code).toBe('IMAGE_DECODE');
    expect((error as Error).message).toMatch(/row 3: .*19 bytes that are no image/);
  });

  it('refuses a null value with IMAGE_DECODE', async () => {
    const error = await rejected(run([decodeImage(), centerCrop(32)], null, { row: 4 }));
    expect((error as TransformError).code).toBe('IMAGE_DECODE');
    expect((error as Error).message).toContain('row 4: the value is null');
  });

  it('refuses an image whose header declares more than maxPixels before decoding it', async () => {
    const bytes = new Uint8Array(await png(16, 16));
    // IHDR width and height (bytes 16..23, big-endian): 60000 × 60000, far past what is stored.
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(16, 60000);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(20, 60000);
    const error = await rejected(run([decodeImage({ maxPixels: 1 << 20 }), centerCrop(8)], bytes));
    expect((error as TransformError).code).toBe('IMAGE_TOO_LARGE');
    expect((error as Error).message).toContain('60000 × 60000 = 3600000000 pixels, more than maxPixels 1048576');
  });

  it('refuses a crop larger than the image with a TransformError', async () => {
    const error = await rejected(run([decodeImage(), centerCrop(64)], await png(40, 30), { row: 9 }));
    expect((error as TransformError).code).toBe('TRANSFORM_ERROR');
    expect((error as Error).message).toContain(
      'row 9: steps[1] centerCrop: a 64 × 64 crop does not fit a 40 × 30 image',
    );
  });

  it('says what to install when @napi-rs/image does not load', async () => {
    const error = await rejected(loadImageLibrary('lance-loader-no-such-image-library'));
    expect((error as Error).message).toMatch(
      /decodeImage needs the optional dependency @napi-rs\/image.*npm install @napi-rs\/image/,
    );
  });
});

describe('user transforms', () => {
  const module = new URL('./user-transforms.ts', import.meta.url).href;
  const user = (
    name: string | undefined,
    shape: number[],
    dtype: 'uint8' | 'float32',
    options?: unknown,
  ): TransformStep => ({
    op: 'user',
    module,
    ...(name === undefined ? {} : { export: name }),
    options,
    output: { shape, dtype },
  });

  it("takes the column's bytes as the first step (the default export)", async () => {
    const jpeg = await encodeImage(20, 20, 1);
    expect(Array.from(await run([user(undefined, [3], 'uint8')], jpeg))).toEqual([0xff, 0xd8, jpeg.length % 256]);
  });

  it('takes the pixels of the steps before it and a seeded random source', async () => {
    const flat = await sharp({ create: { width: 9, height: 9, channels: 3, background: { r: 30, g: 60, b: 90 } } })
      .png()
      .toBuffer();
    const a = await run([decodeImage(), centerCrop(4), user('meanColour', [4], 'float32')], flat, { row: 2 });
    const b = await run([decodeImage(), centerCrop(4), user('meanColour', [4], 'float32')], flat, { row: 2 });
    expect(Array.from(a.subarray(0, 3))).toEqual([30, 60, 90]);
    expect(a[3]).toBe(b[3]);
    expect(a[3]).toBeGreaterThanOrEqual(0);
  });

  it('turns a throw into a TRANSFORM_ERROR naming the row, column and module', async () => {
    const error = await rejected(run([user('failOddRows', [2], 'uint8', { k: 1 })], new Uint8Array(4), { row: 5 }));
    expect((error as TransformError).code).toBe('TRANSFORM_ERROR');
    expect((error as Error).message).toBe(
      `column "image", row 5: steps[0] user ${module}#failOddRows threw: odd row 5 (options {"k":1})`,
    );
  });

  it('names the module and export when the export is missing', async () => {
    const error = await rejected(run([user('noSuchExport', [2], 'uint8')], new Uint8Array(4)));
    expect((error as Error).message).toContain(
      `the user transform ${module} could not be loaded: it has no function export "noSuchExport"`,
    );
  });
});

/**
 * JPEG pipelines through ColumnTransformer where the addon has libjpeg-turbo (decode-workers/transforms/
 * jpeg.ts): the bench's pipeline against torchvision's own steps in Pillow for the same drawn box, what
 * is left to @napi-rs/image (CMYK), bad bytes, and EXIF orientation. The kernel itself is tested in
 * test/io/native-jpeg.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { Transformer } from '@napi-rs/image';
import { decodeJpegInto } from '../../../decode-workers/transforms/jpeg.js';
import { ColumnTransformer, resizedCropBox } from '../../../decode-workers/transforms/run.js';
import {
  centerCrop,
  channelsFirst,
  decodeImage,
  flipHorizontal,
  normalize,
  planColumnTransform,
  randomResizedCrop,
  resize,
  toFloat,
  type TransformStep,
} from '../../../decode-workers/transforms/steps.js';
import { InvalidArgumentError, TransformError } from '../../../errors.js';
import { nativeAddon } from '../../../io/native-addon.js';
import { createRandom } from '../../../samplers/random.js';
import { drawPixels, encodeImage } from './image-fixtures.js';

const PYTHON = '/usr/bin/python3';
const hasPillow = spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;
const nativeJpeg = nativeAddon()?.decodeJpeg !== undefined;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

async function run(steps: TransformStep[], bytes: Uint8Array, row = 0, epoch = 0): Promise<Uint8Array | Float32Array> {
  const plan = planColumnTransform('image', { steps });
  const out = plan.dtype === 'float32' ? new Float32Array(plan.byteWidth / 4) : new Uint8Array(plan.byteWidth);
  await new ColumnTransformer(plan, 7).run(bytes, row, epoch, out);
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'lance-loader-jpeg-steps-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!nativeJpeg)('JPEG pipelines on the native path', () => {
  it.skipIf(!hasPillow)(
    "gives randomResizedCrop + flip + normalize + channelsFirst torchvision's values (Pillow crop, resize, flip, ToTensor, Normalize) for the same box",
    async () => {
      const [W, H] = [173, 131];
      const jpeg = await encodeImage(W, H, 9);
      const file = join(work, 'in.jpg');
      writeFileSync(file, jpeg);
      const steps = [decodeImage(), randomResizedCrop(96), flipHorizontal(), normalize(MEAN, STD), channelsFirst()];
      for (let row = 0; row < 6; row++) {
        const out = await run(steps, jpeg, row, 1);
        // The row's draws, as run.ts makes them: the box, then the flip.
        const stream = createRandom(`7:1:${row}:image`);
        const random = () => stream.nextUint32() / 2 ** 32;
        const box = resizedCropBox(W, H, [0.08, 1], [3 / 4, 4 / 3], random);
        const flip = random() < 0.5;
        const script = `import sys
import numpy as np
from PIL import Image
l, t, w, h, flip = map(int, sys.argv[2:7])
im = Image.open(sys.argv[1]).convert('RGB').crop((l, t, l + w, t + h)).resize((96, 96), Image.BILINEAR)
if flip: im = im.transpose(Image.FLIP_LEFT_RIGHT)
x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
mean = np.array([${MEAN.join(', ')}], dtype=np.float32)[:, None, None]
std = np.array([${STD.join(', ')}], dtype=np.float32)[:, None, None]
sys.stdout.buffer.write(((x - mean) / std).astype(np.float32).tobytes())`;
        const args = [box.left, box.top, box.width, box.height, flip ? 1 : 0].map(String);
        const reference = new Float32Array(new Uint8Array(execFileSync(PYTHON, ['-c', script, file, ...args])).buffer);
        expect(out.length).toBe(reference.length);
        const worst = Math.max(...Array.from(out, (v, i) => Math.abs(v - (reference[i] as number))));
        expect(worst, `row ${row}: box ${JSON.stringify(box)}, flip ${flip}`).toBeLessThan(1e-5);
      }
    },
  );

  it('hands a user step after a JPEG pipeline the pixels the pipeline writes when it ends the steps', async () => {
    const jpeg = await encodeImage(90, 70, 3);
    const pipeline = [decodeImage(), randomResizedCrop(32), flipHorizontal(), toFloat()];
    const user: TransformStep = {
      op: 'user',
      module: join(import.meta.dirname, 'user-transforms.ts'),
      export: 'meanColour',
      output: { shape: [4], dtype: 'float32' },
    };
    for (let row = 0; row < 4; row++) {
      const pixels = await run(pipeline, jpeg, row);
      const means = new Float32Array(4);
      for (let i = 0; i < pixels.length; i++) (means[i % 3] as number) += (pixels[i] as number) / (pixels.length / 3);
      const out = await run([...pipeline, user], jpeg, row);
      expect(Array.from(out.subarray(0, 3))).toEqual(Array.from(means.subarray(0, 3)));
    }
  });

  it('decodes a CMYK JPEG, which libjpeg-turbo cannot convert to RGB, to the pixels of @napi-rs/image', async () => {
    const cmyk = await sharp(drawPixels(48, 32, 1), { raw: { width: 48, height: 32, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const out = await run([decodeImage(), resize([32, 48])], cmyk);
    expect(Array.from(out)).toEqual(Array.from(new Transformer(cmyk).rawPixelsSync()));
  });

  it('refuses a JPEG libjpeg-turbo cannot decode with an IMAGE_DECODE TransformError naming the row', async () => {
    const jpeg = new Uint8Array(await encodeImage(48, 32, 1));
    // The frame header's component count, 3 → 4: its length no longer matches (libjpeg: bogus marker length).
    let sof = 2;
    while (jpeg[sof + 1] !== 0xc0) sof += 2 + (((jpeg[sof + 2] as number) << 8) | (jpeg[sof + 3] as number));
    jpeg[sof + 9] = 4;
    const error = await run([decodeImage(), resize([32, 48])], jpeg, 12).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('IMAGE_DECODE');
    expect((error as TransformError).message).toMatch(/column "image", row 12: decodeImage: .*bogus marker length/i);
  });

  it('refuses a resize of the shorter side that makes the longer one exceed 65536 with a TRANSFORM_ERROR naming the step', async () => {
    const jpeg = await encodeImage(4, 400, 1);
    const error = await run([decodeImage(), resize(1000), centerCrop(8)], jpeg, 5).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('TRANSFORM_ERROR');
    expect((error as TransformError).message).toMatch(/column "image", row 5: steps\[1\] resize: .*65536/);
  });

  it("refuses a job out of the addon's range with an InvalidArgumentError naming the field, not an image error", async () => {
    const jpeg = new Uint8Array(await encodeImage(48, 32, 1));
    const job = {
      jpeg,
      width: 48,
      height: 32,
      crop: { left: 0, top: 0, width: 48, height: 32 },
      resize: { width: 70000, height: 4, kernel: 'bilinear' as const },
      keep: { left: 0, top: 0, width: 4, height: 4 },
      flip: false,
      channels: 3 as const,
      channelsFirst: false,
      affine: null,
    };
    let error: unknown = null;
    try {
      decodeJpegInto(job, { bytes: new Uint8Array(0) }, 1 << 20, new Uint8Array(4 * 4 * 3));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).message).toBe(
      'decodeJpeg: resize.width 70000 is not an integer from 1 to 65536',
    );
  });

  it('decodes a JPEG with an EXIF orientation as stored, unrotated, as Pillow and torchvision do', async () => {
    const jpeg = await sharp(drawPixels(48, 32, 2), { raw: { width: 48, height: 32, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const out = await run([decodeImage(), resize([32, 48])], jpeg);
    expect(Array.from(out)).toEqual(Array.from(await sharp(jpeg).raw().toBuffer()));
  });
});

/**
 * The addon's decodeJpeg (native/jpeg.c) called directly: the crop's pixels against libjpeg-turbo's own
 * whole-image decode, the resample against Pillow's (python3 with PIL, the same libjpeg-turbo on this
 * image; those tests say why they skip without it), the fused mirror / normalize / channelsFirst
 * against the plain uint8 output rearranged here, and the errors.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { nativeAddon } from '../../io/native-addon.js';
import { drawPixels, encodeImage } from '../decode-workers/transforms/image-fixtures.js';

const decodeJpeg = nativeAddon()?.decodeJpeg;
const PYTHON = '/usr/bin/python3';
const hasPillow = spawnSync(PYTHON, ['-c', 'import PIL'], { stdio: 'ignore' }).status === 0;
const FILTERS = { bilinear: 0, bicubic: 1, lanczos3: 2 } as const;

interface Call {
  width: number;
  height: number;
  crop: [number, number, number, number];
  resize?: [number, number];
  keep?: [number, number, number, number];
  filter?: keyof typeof FILTERS;
  flip?: boolean;
  channels?: 1 | 3 | 4;
  channelsFirst?: boolean;
  maxDct?: number;
  affine?: { scale: number[]; offset: number[] };
}

/** The params array of a call (native/jpeg.c's JPEG_PARAM_* order). */
function paramsOf(c: Call): Float64Array {
  const [rw, rh] = c.resize ?? [c.crop[2], c.crop[3]];
  const keep = c.keep ?? [0, 0, rw, rh];
  const scale = c.affine?.scale ?? [1, 1, 1, 1];
  const offset = c.affine?.offset ?? [0, 0, 0, 0];
  return Float64Array.from([
    c.width,
    c.height,
    ...c.crop,
    rw,
    rh,
    ...keep,
    FILTERS[c.filter ?? 'bilinear'],
    c.flip ? 1 : 0,
    c.channels ?? 3,
    c.channelsFirst ? 1 : 0,
    c.maxDct ?? 1,
    ...scale,
    ...offset,
  ]);
}

/** Runs a call with a scratch of the size it asks for; the output (float32 with `affine`). */
function decode(jpeg: Uint8Array, c: Call): Uint8Array | Float32Array {
  const [rw, rh] = c.resize ?? [c.crop[2], c.crop[3]];
  const keep = c.keep ?? [0, 0, rw, rh];
  const n = keep[2] * keep[3] * (c.channels ?? 3);
  const out = c.affine ? new Float32Array(n) : new Uint8Array(n);
  const params = paramsOf(c);
  const need = decodeJpeg?.(jpeg, params, new Uint8Array(0), out) ?? Number.NaN;
  expect(need).toBeGreaterThan(0);
  expect(decodeJpeg?.(jpeg, params, new Uint8Array(need), out)).toBe(0);
  return out;
}

/** Rows top..top+h and columns left..left+w of an [height, width, c] image. */
function cut(px: Uint8Array, width: number, c: number, [left, top, w, h]: readonly number[]): Uint8Array {
  const out = new Uint8Array((w as number) * (h as number) * c);
  for (let y = 0; y < (h as number); y++) {
    const from = (((top as number) + y) * width + (left as number)) * c;
    out.set(px.subarray(from, from + (w as number) * c), y * (w as number) * c);
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'lance-loader-jpeg-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Pillow's `crop(box).resize(size, filter)` of the JPEG as RGB bytes. */
function pillowResize(jpeg: Uint8Array, box: readonly number[], size: [number, number], filter: string): Uint8Array {
  const file = join(work, 'in.jpg');
  writeFileSync(file, jpeg);
  const script = `import sys
from PIL import Image
l, t, w, h, W, H = map(int, sys.argv[2:8])
f = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC, 'lanczos3': Image.LANCZOS}[sys.argv[8]]
im = Image.open(sys.argv[1]).convert('RGB').crop((l, t, l + w, t + h)).resize((W, H), f)
sys.stdout.buffer.write(im.tobytes())`;
  return new Uint8Array(execFileSync(PYTHON, ['-c', script, file, ...box.map(String), ...size.map(String), filter]));
}

describe.skipIf(!decodeJpeg)("the addon's decodeJpeg", () => {
  const W = 173;
  const H = 131;
  const boxes: [number, number, number, number][] = [
    [0, 0, W, H],
    [37, 21, 100, 90],
    [32, 16, 64, 48], // on iMCU boundaries
    [1, 1, 1, 1],
    [W - 1, H - 1, 1, 1],
    [W - 40, 0, 40, H],
    [0, H - 17, W, 17],
  ];

  it.each([
    ['4:2:0', { chromaSubsampling: '4:2:0' }],
    ['4:4:4', { chromaSubsampling: '4:4:4' }],
    ['progressive 4:2:0', { progressive: true }],
  ] as const)('decodes a crop of a %s JPEG to the whole decode cut out, at every edge', async (_name, options) => {
    const jpeg = await sharp(drawPixels(W, H, 5), { raw: { width: W, height: H, channels: 3 } })
      .jpeg({ quality: 85, ...options })
      .toBuffer();
    const whole = new Uint8Array(await sharp(jpeg).raw().toBuffer());
    expect(Array.from(decode(jpeg, { width: W, height: H, crop: [0, 0, W, H] }))).toEqual(Array.from(whole));
    for (const crop of boxes)
      expect(Array.from(decode(jpeg, { width: W, height: H, crop })), `crop ${crop.join(', ')}`).toEqual(
        Array.from(cut(whole, W, 3, crop)),
      );
  });

  it('decodes a crop of a grey JPEG to one channel, or three equal ones', async () => {
    const jpeg = await sharp(drawPixels(W, H, 2), { raw: { width: W, height: H, channels: 3 } })
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    const crop: [number, number, number, number] = [37, 21, 100, 90];
    const one = decode(jpeg, { width: W, height: H, crop, channels: 1 });
    const three = decode(jpeg, { width: W, height: H, crop, channels: 3 });
    const whole = new Uint8Array(await sharp(jpeg).extractChannel(0).raw().toBuffer());
    expect(Array.from(one)).toEqual(Array.from(cut(whole, W, 1, crop)));
    expect(Array.from(three)).toEqual(Array.from(one).flatMap((v) => [v, v, v]));
  });

  it('gives RGBA an alpha of 255', async () => {
    const jpeg = await encodeImage(40, 30, 1);
    const rgb = decode(jpeg, { width: 40, height: 30, crop: [0, 0, 40, 30] });
    const rgba = decode(jpeg, { width: 40, height: 30, crop: [0, 0, 40, 30], channels: 4 });
    expect(Array.from(rgba)).toEqual(
      Array.from({ length: 40 * 30 }, (_, i) => [...rgb.subarray(i * 3, i * 3 + 3), 255]).flat(),
    );
  });

  it.skipIf(!hasPillow).each(['bilinear', 'bicubic', 'lanczos3'] as const)(
    "resizes a crop %s to exactly Pillow's crop(box).resize(size) of the same JPEG, down and up",
    async (filter) => {
      const jpeg = await encodeImage(W, H, 4);
      for (const [crop, size] of [
        [
          [37, 21, 100, 90],
          [48, 40],
        ],
        [
          [37, 21, 100, 90],
          [224, 224],
        ],
        [
          [0, 0, W, H],
          [31, 200],
        ],
      ] as [[number, number, number, number], [number, number]][])
        expect(
          Array.from(decode(jpeg, { width: W, height: H, crop, resize: size, filter })),
          `${crop} → ${size}`,
        ).toEqual(Array.from(pillowResize(jpeg, crop, size, filter)));
    },
  );

  it('keeps a part of the resized crop: the same pixels as that part of the whole resize', async () => {
    const jpeg = await encodeImage(W, H, 6);
    const call: Call = { width: W, height: H, crop: [10, 5, 150, 120], resize: [80, 64] };
    const whole = decode(jpeg, call) as Uint8Array;
    const keep: [number, number, number, number] = [7, 3, 50, 41];
    expect(Array.from(decode(jpeg, { ...call, keep }))).toEqual(Array.from(cut(whole, 80, 3, keep)));
  });

  it('decodes a crop at least twice the output at a reduced IDCT scale, within a level or two of the full-scale resample', async () => {
    // Smooth content: on sharp edges the two filters differ by more (the IDCT's is not Pillow's triangle).
    const side = 512;
    const smooth = Buffer.alloc(side * side * 3);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        smooth.set([x / 2, y / 2, 128 + 100 * Math.sin(x / 40) * Math.cos(y / 55)], (y * side + x) * 3);
    const jpeg = await sharp(smooth, { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 92 })
      .toBuffer();
    const call: Call = { width: side, height: side, crop: [13, 40, 460, 450], resize: [112, 100] };
    const full = decode(jpeg, call);
    const scaled = decode(jpeg, { ...call, maxDct: 8 });
    const diffs = Array.from(full, (v, i) => Math.abs(v - (scaled[i] as number)));
    expect(diffs.some((d) => d > 0)).toBe(true); // a decode of its own, not the full-scale one
    expect(Math.max(...diffs)).toBeLessThanOrEqual(3);
    expect(diffs.reduce((a, b) => a + b, 0) / diffs.length).toBeLessThan(1);
  });

  it('mirrors, scales per channel and puts channels first in the one write', async () => {
    const jpeg = await encodeImage(W, H, 7);
    const call: Call = { width: W, height: H, crop: [20, 10, 120, 100], resize: [64, 48] };
    const plain = decode(jpeg, call);
    const scale = [1 / 51, 2 / 255, 3 / 255, 1];
    const offset = [-0.5, 0.25, -1, 0];
    const out = decode(jpeg, { ...call, flip: true, channelsFirst: true, affine: { scale, offset } });
    const [w, h] = [64, 48];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          const v = plain[(y * w + (w - 1 - x)) * 3 + c] as number;
          const want = Math.fround(Math.fround(v * Math.fround(scale[c] as number)) + Math.fround(offset[c] as number));
          expect(out[(c * h + y) * w + x]).toBeCloseTo(want, 6);
        }
  });

  it('mirrors and scales channels last, alpha included, into a float output starting at any 4-byte offset', async () => {
    // The float rows are streamed 16 bytes at a time from the first 16-byte boundary: every start
    // within 16 bytes, and a row length (37 × 4 values) that leaves a tail.
    const jpeg = await encodeImage(W, H, 8);
    const call: Call = { width: W, height: H, crop: [9, 4, 150, 110], resize: [37, 29], channels: 4 };
    const plain = decode(jpeg, call);
    const scale = [1 / 51, 2 / 255, 3 / 255, 1 / 255];
    const offset = [-0.5, 0.25, -1, 2];
    const [w, h] = [37, 29];
    const want = Float32Array.from({ length: w * h * 4 }, (_, i) => {
      const [x, y, c] = [Math.floor(i / 4) % w, Math.floor(i / 4 / w), i % 4];
      const v = plain[(y * w + (w - 1 - x)) * 4 + c] as number;
      return Math.fround(Math.fround(v * Math.fround(scale[c] as number)) + Math.fround(offset[c] as number));
    });
    const params = paramsOf({ ...call, flip: true, affine: { scale, offset } });
    const scratch = new Uint8Array(1 << 20);
    for (let start = 0; start < 4; start++) {
      const all = new Float32Array(want.length + 8).fill(-7);
      const out = all.subarray(start, start + want.length);
      expect(decodeJpeg?.(jpeg, params, scratch, out)).toBe(0);
      const worst = Math.max(...Array.from(out, (v, i) => Math.abs(v - (want[i] as number))));
      expect(worst, `start ${start}`).toBeLessThan(1e-6);
      expect([...all.subarray(0, start), ...all.subarray(start + want.length)]).toEqual(Array(8).fill(-7));
    }
  });

  it('returns the scratch bytes it needs and writes nothing when the scratch is smaller', async () => {
    const jpeg = await encodeImage(64, 48, 1);
    const out = new Uint8Array(64 * 48 * 3).fill(7);
    const need = decodeJpeg?.(jpeg, paramsOf({ width: 64, height: 48, crop: [0, 0, 64, 48] }), new Uint8Array(16), out);
    expect(need).toBeGreaterThan(16);
    expect(out.every((v) => v === 7)).toBe(true);
  });

  it('returns -1 for a CMYK JPEG, which it leaves to another decoder', async () => {
    const jpeg = await sharp(drawPixels(32, 32, 1), { raw: { width: 32, height: 32, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const out = new Uint8Array(32 * 32 * 3);
    expect(
      decodeJpeg?.(jpeg, paramsOf({ width: 32, height: 32, crop: [0, 0, 32, 32] }), new Uint8Array(1 << 16), out),
    ).toBe(-1);
  });

  /** The error a call throws, with its code. */
  function thrown(jpeg: Uint8Array, call: Call): Error & { code?: string } {
    try {
      decode(jpeg, call);
    } catch (error) {
      return error as Error & { code?: string };
    }
    throw new Error('expected decodeJpeg to throw');
  }

  it("throws ERR_JPEG with libjpeg's message for a JPEG whose data ends early", async () => {
    const jpeg = await encodeImage(64, 48, 1);
    const error = thrown(jpeg.subarray(0, jpeg.length - 200), { width: 64, height: 48, crop: [0, 0, 64, 48] });
    expect(error.code).toBe('ERR_JPEG');
    expect(error.message).toMatch(/premature end/i);
  });

  it('throws ERR_JPEG for bytes libjpeg refuses and for a frame of another size than asked', async () => {
    const jpeg = await encodeImage(64, 48, 1);
    const bogus = Uint8Array.from([0xff, 0xd8, 0xff, 0xdb, 0x00, 0x02, 0xff, 0xd9]);
    expect(thrown(bogus, { width: 64, height: 48, crop: [0, 0, 64, 48] }).code).toBe('ERR_JPEG');
    const resized = thrown(jpeg, { width: 65, height: 48, crop: [0, 0, 64, 48] });
    expect(resized.code).toBe('ERR_JPEG');
    expect(resized.message).toContain('not the size its header was read as');
  });

  it('throws a RangeError for params out of range and an output of another size', async () => {
    const jpeg = await encodeImage(64, 48, 1);
    const out = new Uint8Array(64 * 48 * 3);
    const scratch = new Uint8Array(1 << 16);
    for (const bad of [
      { width: 64, height: 48, crop: [0, 0, 65, 48] },
      { width: 64, height: 48, crop: [0.5, 0, 32, 48] },
      { width: 64, height: 48, crop: [0, 0, 64, 48], maxDct: 3 },
    ] as Call[])
      expect(() => decodeJpeg?.(jpeg, paramsOf(bad), scratch, out)).toThrow(RangeError);
    const small = new Uint8Array(10);
    expect(() => decodeJpeg?.(jpeg, paramsOf({ width: 64, height: 48, crop: [0, 0, 64, 48] }), scratch, small)).toThrow(
      RangeError,
    );
  });
});

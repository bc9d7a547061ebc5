/**
 * A JPEG image dataset for `npm run example:images`: 10 classes of shapes and textures drawn as SVG, at
 * random sizes (160–400 px a side), positions, rotations and colours, over a random background, with
 * pixel noise added (so the JPEGs are about as large as photos of that size, not a few KB of flat colour), rasterized and encoded as JPEG (quality 85) with sharp. Written with LanceDB
 * (file version 2.1) as `train.lance` and `test.lance` (the last sixth), each `label int32`,
 * `class utf8`, `image binary`. Deterministic for a given row count.
 *
 * A directory is complete or absent (shapes.ts ensureTrainTest).
 */
import * as arrow from 'apache-arrow';
import sharp from 'sharp';
import { ensureTrainTest, seeded, type ShapesDataset } from './shapes.js';

export const JPEG_CLASSES = [
  'disc',
  'ring',
  'square',
  'triangle',
  'cross',
  'star',
  'h-stripes',
  'v-stripes',
  'checker',
  'dots',
] as const;

export type JpegDataset = ShapesDataset;

/** A random colour with channels in [low, low + span). */
const colour = (r: () => number, low = 0, span = 256) =>
  `rgb(${low + Math.floor(r() * span)},${low + Math.floor(r() * span)},${low + Math.floor(r() * span)})`;

/** The SVG of image `i` of class `label`, `width` × `height` px. */
function drawSvg(label: number, width: number, height: number, r: () => number): string {
  // One of the two dark, the other light: the shape always stands out, whatever its hue.
  const light = r() < 0.5;
  const fg = colour(r, light ? 150 : 0, 106);
  const bg = colour(r, light ? 0 : 150, 106);
  const s = Math.min(width, height) * (0.45 + r() * 0.35);
  const cx = width / 2 + (r() - 0.5) * (width - s) * 0.8;
  const cy = height / 2 + (r() - 0.5) * (height - s) * 0.8;
  const angle = Math.floor(r() * 360);
  const h = s / 2;
  const stroke = Math.max(4, s / 8);
  const shapes: Record<(typeof JPEG_CLASSES)[number], () => string> = {
    disc: () => `<circle cx="0" cy="0" r="${h}" fill="${fg}"/>`,
    ring: () => `<circle cx="0" cy="0" r="${h - stroke / 2}" fill="none" stroke="${fg}" stroke-width="${stroke}"/>`,
    square: () => `<rect x="${-h}" y="${-h}" width="${s}" height="${s}" fill="${fg}"/>`,
    triangle: () => `<polygon points="0,${-h} ${h},${h * 0.8} ${-h},${h * 0.8}" fill="${fg}"/>`,
    cross: () =>
      `<path d="M${-h},${-h}L${h},${h}M${h},${-h}L${-h},${h}" stroke="${fg}" stroke-width="${stroke}" stroke-linecap="round"/>`,
    star: () => {
      const points = Array.from({ length: 10 }, (_, k) => {
        const radius = k % 2 ? h * 0.4 : h;
        const a = (k * Math.PI) / 5;
        return `${(radius * Math.sin(a)).toFixed(1)},${(-radius * Math.cos(a)).toFixed(1)}`;
      });
      return `<polygon points="${points.join(' ')}" fill="${fg}"/>`;
    },
    'h-stripes': () =>
      Array.from(
        { length: 4 },
        (_, k) => `<rect x="${-h}" y="${-h + (k * s) / 4}" width="${s}" height="${s / 8}" fill="${fg}"/>`,
      ).join(''),
    'v-stripes': () =>
      Array.from(
        { length: 4 },
        (_, k) => `<rect x="${-h + (k * s) / 4}" y="${-h}" width="${s / 8}" height="${s}" fill="${fg}"/>`,
      ).join(''),
    checker: () =>
      Array.from({ length: 16 }, (_, k) =>
        (k + (k >> 2)) % 2
          ? ''
          : `<rect x="${-h + ((k % 4) * s) / 4}" y="${-h + ((k >> 2) * s) / 4}" width="${s / 4}" height="${s / 4}" fill="${fg}"/>`,
      ).join(''),
    dots: () =>
      Array.from(
        { length: 9 },
        (_, k) =>
          `<circle cx="${-h + (((k % 3) + 0.5) * s) / 3}" cy="${-h + ((Math.floor(k / 3) + 0.5) * s) / 3}" r="${s / 10}" fill="${fg}"/>`,
      ).join(''),
  };
  // Stripes and checkers keep their orientation class: they turn by less than 20 degrees.
  const turn = label >= 6 && label <= 7 ? (angle % 40) - 20 : angle;
  const speckles = Array.from(
    { length: 12 },
    () =>
      `<circle cx="${(r() * width).toFixed(0)}" cy="${(r() * height).toFixed(0)}" r="${(2 + r() * 6).toFixed(0)}" fill="${colour(r)}" opacity="0.5"/>`,
  ).join('');
  const name = JPEG_CLASSES[label] as (typeof JPEG_CLASSES)[number];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="${bg}"/>${speckles}` +
    `<g transform="translate(${cx.toFixed(1)},${cy.toFixed(1)}) rotate(${turn})">${shapes[name]()}</g></svg>`
  );
}

/** Image `i` of `rows`: its label and JPEG bytes. */
export async function drawJpeg(i: number): Promise<{ label: number; jpeg: Buffer }> {
  const r = seeded(i * 7919 + 17);
  const label = i % JPEG_CLASSES.length;
  const width = 160 + Math.floor(r() * 241);
  const height = 160 + Math.floor(r() * 241);
  const pixels = await sharp(Buffer.from(drawSvg(label, width, height, r)))
    .removeAlpha()
    .raw()
    .toBuffer();
  let noise = Math.floor(r() * 2 ** 31);
  for (let p = 0; p < pixels.length; p++) {
    noise = (Math.imul(noise, 1103515245) + 12345) >>> 0;
    pixels[p] = Math.min(255, Math.max(0, (pixels[p] as number) + ((noise >>> 24) % 25) - 12));
  }
  const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
  return { label, jpeg };
}

/** The train and test tables of `rows` JPEGs under `dir`, drawn and written on first use. */
export function ensureJpegDataset(
  dir: string,
  rows: number,
  progress: (done: number) => void = () => {},
): Promise<JpegDataset> {
  let images: Promise<{ label: number; jpeg: Buffer }[]> | undefined;
  return ensureTrainTest(dir, rows, async (start, end) => {
    images ??= drawAll(rows, progress);
    const part = (await images).slice(start, end);
    return new arrow.Table({
      label: arrow.makeVector(Int32Array.from(part, (p) => p.label)),
      class: arrow.vectorFromArray(
        part.map((p) => JPEG_CLASSES[p.label] as string),
        new arrow.Utf8(),
      ),
      image: arrow.vectorFromArray(
        part.map((p) => p.jpeg),
        new arrow.Binary(),
      ),
    });
  });
}

/** Every image, in rounds of a few hundred: sharp draws them on its threads while this one waits. */
async function drawAll(rows: number, progress: (done: number) => void): Promise<{ label: number; jpeg: Buffer }[]> {
  const images: { label: number; jpeg: Buffer }[] = [];
  for (let start = 0; start < rows; start += 256) {
    const end = Math.min(rows, start + 256);
    images.push(...(await Promise.all(Array.from({ length: end - start }, (_, k) => drawJpeg(start + k)))));
    progress(end);
  }
  return images;
}

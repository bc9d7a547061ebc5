/**
 * A small, learnable image dataset drawn procedurally: 28×28 grayscale images of 10 shape classes at
 * random positions, sizes, rotations, stroke widths and brightness, over Gaussian noise with stray
 * specks, so that no single pixel or brightness threshold separates the classes. Written with LanceDB
 * (file version 2.1) as two tables, `train.lance` and `test.lance`, each `label int32` +
 * `pixels fixed_size_list<uint8>[784]`. Deterministic for a given row count.
 *
 *   <dir>/train.lance   first 5/6 of the images
 *   <dir>/test.lance    last 1/6 (held out)
 *
 * A directory is complete or absent: it is written under a temporary name and renamed into place; the
 * temporary folder is removed on failure, exit and Ctrl-C.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { removeOnExit } from './remove-on-exit.js';

export const SIDE = 28;
export const CLASS_NAMES = [
  'ring',
  'disc',
  'square',
  'block',
  'triangle',
  'hbar',
  'vbar',
  'x-cross',
  'plus',
  'equals',
] as const;

export interface ShapesDataset {
  trainPath: string;
  testPath: string;
  /** Whether this call drew and wrote the images (false: reused from an earlier run). */
  written: boolean;
}

/** The train and test tables of `rows` images under `dir`, drawn and written on first use. */
export function ensureShapesDataset(dir: string, rows: number): Promise<ShapesDataset> {
  let drawn: ReturnType<typeof drawShapes> | undefined;
  return ensureTrainTest(dir, rows, (start, end) => {
    drawn ??= drawShapes(rows);
    const { labels, pixels } = drawn;
    return Promise.resolve(
      shapesTable(labels.subarray(start, end), pixels.subarray(start * SIDE * SIDE, end * SIDE * SIDE)),
    );
  });
}

/**
 * `train.lance` (the first 5/6 of `rows`) and `test.lance` (the rest) under `dir`, each the table
 * `table(start, end)` makes of its rows, written with LanceDB (file version 2.1) on first use.
 */
export async function ensureTrainTest(
  dir: string,
  rows: number,
  table: (start: number, end: number) => Promise<arrow.Table>,
): Promise<ShapesDataset> {
  const trainPath = join(dir, 'train.lance');
  const testPath = join(dir, 'test.lance');
  if (existsSync(trainPath) && existsSync(testPath)) return { trainPath, testPath, written: false };
  mkdirSync(dirname(dir), { recursive: true });
  const temp = `${dir}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  const removeTemp = removeOnExit(temp);
  try {
    const testRows = Math.max(1, Math.round(rows / 6));
    const db = await lancedb.connect(temp);
    for (const [name, start, end] of [
      ['train', 0, rows - testRows],
      ['test', rows - testRows, rows],
    ] as const) {
      const written = await db.createTable(name, await table(start, end), {
        storageOptions: { new_table_data_storage_version: '2.1' },
      });
      written.close();
    }
    db.close();
    rmSync(dir, { recursive: true, force: true });
    renameSync(temp, dir);
  } finally {
    removeTemp();
  }
  return { trainPath, testPath, written: true };
}

function shapesTable(labels: Int32Array, pixels: Uint8Array): arrow.Table {
  const type = new arrow.FixedSizeList(SIDE * SIDE, new arrow.Field('item', new arrow.Uint8(), true));
  const child = arrow.makeData({ type: new arrow.Uint8(), length: pixels.length, data: pixels });
  return new arrow.Table({
    label: arrow.makeVector(labels),
    pixels: arrow.makeVector(arrow.makeData({ type, length: labels.length, nullCount: 0, child })),
  });
}

// ── drawing ─────────────────────────────────────────────────────────────────────────────────────────────

/** mulberry32: a seeded generator, so the same row count always draws the same images. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distance from (x, y) to the segment (ax, ay)–(bx, by). */
function segment(x: number, y: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.min(1, Math.max(0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - ax - t * dx, y - ay - t * dy);
}

/** Signed distance to a square of half side `h` (negative inside). */
function box(x: number, y: number, h: number): number {
  const qx = Math.abs(x) - h;
  const qy = Math.abs(y) - h;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0);
}

/** Signed distance to an upright equilateral triangle of circumradius `r` (negative inside). */
function triangle(x: number, y: number, r: number): number {
  const k = Math.sqrt(3);
  const h = r * 0.866; // half side
  let px = Math.abs(x) - h;
  let py = -y + r / 2; // apex up (image y grows downwards)
  if (px + k * py > 0) [px, py] = [(px - k * py) / 2, (-k * px - py) / 2];
  px -= Math.min(Math.max(px, -2 * h), 0);
  return -Math.hypot(px, py) * Math.sign(py);
}

/**
 * How far (x, y), in shape coordinates (centred, unrotated), is from the ink of class `label` of radius
 * `r`: ≤ 0 on a filled area, and for strokes the distance to the centre line.
 */
function inkDistance(label: number, x: number, y: number, r: number, halfWidth: number): number {
  switch (label) {
    case 0:
      return Math.abs(Math.hypot(x, y) - r) - halfWidth;
    case 1:
      return Math.hypot(x, y) - r;
    case 2:
      return Math.abs(box(x, y, r * 0.8)) - halfWidth;
    case 3:
      return box(x, y, r * 0.8);
    case 4:
      return Math.abs(triangle(x, y, r)) - halfWidth;
    case 5:
      return segment(x, y, -r, 0, r, 0) - halfWidth;
    case 6:
      return segment(x, y, 0, -r, 0, r) - halfWidth;
    case 7:
      return (
        Math.min(
          segment(x, y, -0.75 * r, -0.75 * r, 0.75 * r, 0.75 * r),
          segment(x, y, -0.75 * r, 0.75 * r, 0.75 * r, -0.75 * r),
        ) - halfWidth
      );
    case 8:
      return Math.min(segment(x, y, -r, 0, r, 0), segment(x, y, 0, -r, 0, r)) - halfWidth;
    default:
      return Math.min(segment(x, y, -r, -0.4 * r, r, -0.4 * r), segment(x, y, -r, 0.4 * r, r, 0.4 * r)) - halfWidth;
  }
}

/** Draws `rows` images with labels cycling through the classes in a shuffled order. */
export function drawShapes(rows: number): { labels: Int32Array; pixels: Uint8Array } {
  const random = seeded(rows * 2654435761);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const labels = new Int32Array(rows);
  const pixels = new Uint8Array(rows * SIDE * SIDE);
  const image = new Float32Array(SIDE * SIDE);
  for (let row = 0; row < rows; row++) {
    const label = Math.floor(random() * CLASS_NAMES.length);
    labels[row] = label;
    const r = 4.5 + random() * 6; // radius in pixels
    const cx = SIDE / 2 + (random() * 2 - 1) * (SIDE / 2 - r - 2);
    const cy = SIDE / 2 + (random() * 2 - 1) * (SIDE / 2 - r - 2);
    const angle = (random() * 2 - 1) * 0.3; // ±17°
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const halfWidth = 0.6 + random() * 0.8;
    const ink = 120 + random() * 135;
    const background = random() * 60;
    const noise = 8 + random() * 22;
    for (let py = 0; py < SIDE; py++) {
      for (let px = 0; px < SIDE; px++) {
        const dx = px + 0.5 - cx;
        const dy = py + 0.5 - cy;
        const d = inkDistance(label, cos * dx + sin * dy, -sin * dx + cos * dy, r, halfWidth);
        const coverage = Math.min(1, Math.max(0, 0.5 - d)); // anti-aliased edge one pixel wide
        image[py * SIDE + px] = background + coverage * ink + gaussian() * noise;
      }
    }
    const specks = Math.floor(random() * 4);
    for (let s = 0; s < specks; s++) {
      const at = Math.floor(random() * SIDE * SIDE);
      image[at] = (image[at] ?? 0) + 80 + random() * 120;
    }
    const out = row * SIDE * SIDE;
    for (let i = 0; i < image.length; i++) pixels[out + i] = Math.min(255, Math.max(0, Math.round(image[i] ?? 0)));
  }
  return { labels, pixels };
}

/**
 * Transform steps as plain data (they travel to every worker inside DatasetRef), the functions that make
 * them, and {@link planColumnTransform}: one validation pass over a column's steps that also works out
 * the fixed shape and dtype of its output, so the loader can lay the output out in the batch slot before
 * any row is decoded.
 *
 *   bytes ─decodeImage─► image [h, w, c] uint8 ─resize/crops/flip─► image ─normalize/toFloat─► float32
 *                                                                         ─channelsFirst─► [c, h, w]
 *
 * Geometric steps need an image; tensor steps (normalize, toFloat, channelsFirst) need a fixed shape.
 * A user step (`{ module, export, options, output }`) takes the column's bytes or the image so far and
 * writes an output of the shape and dtype it declares, for one row; with `level: 'batch'` it is the
 * last step and takes every row of the batch at once (the bytes, or the row steps' outputs stacked).
 * With `inputs: ['label', …]` it also takes those columns' values of the row (or the batch).
 */
import { InvalidArgumentError } from '../../errors.js';

/** Resampling kernel of resizes (and of the resize inside randomResizedCrop). */
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos3';

/** [height, width] in pixels. */
export type Size2 = readonly [number, number];

export type TransformStep =
  | { op: 'decodeImage'; channels: 1 | 3 | 4; maxPixels: number }
  | { op: 'resize'; size: number | Size2; interpolation: Interpolation }
  | { op: 'centerCrop'; size: Size2 }
  | {
      op: 'randomResizedCrop';
      size: Size2;
      scale: readonly [number, number];
      ratio: readonly [number, number];
      interpolation: Interpolation;
    }
  | { op: 'randomCrop'; size: Size2 }
  | { op: 'flipHorizontal'; p: number }
  | { op: 'normalize'; mean: readonly number[]; std: readonly number[] }
  | { op: 'toFloat' }
  | { op: 'channelsFirst' }
  | UserTransformStep;

/** A transform of the user's, loaded by every worker from `module` (a path or file: URL). */
export interface UserTransformStep {
  op: 'user';
  module: string;
  /** The module's export to call (default `default`). */
  export?: string;
  /** Passed to the function as `input.options` (structured-clone data). */
  options?: unknown;
  /** The shape and dtype of what the function writes for one row. */
  output: { shape: readonly number[]; dtype: 'uint8' | 'float32' };
  /**
   * Other loaded columns the function also takes, by name, in `input.columns`: fixed-width columns
   * (numbers, fixed-size lists) as typed arrays, strings and binaries as their bytes.
   */
  inputs?: readonly string[];
  /**
   * `'row'` (default): called once per row. `'batch'`: called once per batch with every row's input at
   * once, writing the batch's whole output `[rows, ...output.shape]`; it must be the last step, and the
   * steps before it must end in a fixed shape.
   */
  level?: 'row' | 'batch';
}

/** The typed arrays a fixed-width column given to a user step comes in. */
export type TypedArrayName =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'Float32Array'
  | 'Float64Array'
  | 'BigInt64Array'
  | 'BigUint64Array';

/**
 * A column that user steps take beside their own (`inputs`), as the loader lays it out in the batch:
 * fixed-width, `valuesPerRow` values of `array` a row, or variable-width bytes.
 */
export interface TransformInput {
  name: string;
  /** Its position among the batch's columns. */
  column: number;
  layout: { kind: 'fixed'; array: TypedArrayName; valuesPerRow: number } | { kind: 'bytes' };
}

/** The shape and dtype of one row of a tensor. */
export interface TensorSpec {
  shape: number[];
  dtype: 'uint8' | 'float32';
  /** Bytes of one row. */
  byteWidth: number;
}

/** What `transforms.<column>` of the loader options takes. */
export interface ColumnTransform {
  /** Steps in order; the first takes the column's bytes (decodeImage or a user step). */
  steps: readonly TransformStep[];
  /**
   * A row that cannot be transformed (corrupt, truncated or null image, too large, a user step that
   * throws): `'raise'` (default) rejects the epoch with a TransformError naming the row; `'skip'`
   * replaces the row, in every column (variable-width and list columns included), with the next good row
   * of its batch, counts it in `metrics().skippedRows` and names it in a process warning. A batch-level
   * user step that throws rejects the epoch either way.
   */
  onError?: 'raise' | 'skip';
}

/** Largest image decodeImage accepts by default (4096 × 4096 pixels). */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

/**
 * Decodes a JPEG, PNG or WebP value into pixels `[h, w, channels]` uint8 (1: grey, 3: RGB, 4: RGBA;
 * converted from whatever the file holds). An image whose header says more than `maxPixels` pixels
 * (width × height) is refused before it is decoded (a decompression bomb), and a JPEG cut short is
 * refused. Needs the optional dependency `@napi-rs/image`.
 */
export function decodeImage(options: { channels?: 1 | 3 | 4; maxPixels?: number } = {}): TransformStep {
  return { op: 'decodeImage', channels: options.channels ?? 3, maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS };
}

/** Resizes to `[height, width]`, or so that the shorter side is `size` (keeping the aspect ratio, rounded down). */
export function resize(size: number | Size2, options: { interpolation?: Interpolation } = {}): TransformStep {
  return { op: 'resize', size, interpolation: options.interpolation ?? 'bilinear' };
}

/** Crops the centre `size` (a number for a square); the image must be at least that large. */
export function centerCrop(size: number | Size2): TransformStep {
  return { op: 'centerCrop', size: square(size) };
}

/**
 * Crops a random part of the image, of `scale` (fractions of its area) and aspect ratio in `ratio`, and
 * resizes it to `size`: torchvision's RandomResizedCrop, drawn per (seed, epoch, row).
 */
export function randomResizedCrop(
  size: number | Size2,
  options: { scale?: readonly [number, number]; ratio?: readonly [number, number]; interpolation?: Interpolation } = {},
): TransformStep {
  return {
    op: 'randomResizedCrop',
    size: square(size),
    scale: options.scale ?? [0.08, 1],
    ratio: options.ratio ?? [3 / 4, 4 / 3],
    interpolation: options.interpolation ?? 'bilinear',
  };
}

/** Crops `size` at a random position (per (seed, epoch, row)); the image must be at least that large. */
export function randomCrop(size: number | Size2): TransformStep {
  return { op: 'randomCrop', size: square(size) };
}

/** Mirrors the image left to right with probability `p` (per (seed, epoch, row)). */
export function flipHorizontal(p = 0.5): TransformStep {
  return { op: 'flipHorizontal', p };
}

/**
 * To float32 `(x − mean[c]) / std[c]` per channel, where x is the value in [0, 1] (uint8 / 255) or a
 * float32 value as it is (torchvision's ToTensor + Normalize). One number of each applies to every channel.
 */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): TransformStep {
  return {
    op: 'normalize',
    mean: typeof mean === 'number' ? [mean] : mean,
    std: typeof std === 'number' ? [std] : std,
  };
}

/** uint8 to float32 in [0, 1] (x / 255); float32 stays as it is. */
export function toFloat(): TransformStep {
  return { op: 'toFloat' };
}

/** `[h, w, c]` to `[c, h, w]`. */
export function channelsFirst(): TransformStep {
  return { op: 'channelsFirst' };
}

function square(size: number | Size2): Size2 {
  return typeof size === 'number' ? [size, size] : size;
}

/**
 * A column's steps checked, with the output's fixed shape and dtype (of one row: TensorSpec) and what a
 * worker needs to know.
 */
export interface ColumnTransformPlan extends TensorSpec {
  column: string;
  steps: TransformStep[];
  onError: 'raise' | 'skip';
  /**
   * Bytes a worker keeps for the largest image the steps may decode, 0 without decodeImage: maxPixels ×
   * 4, the buffer it reuses for a crop as RGBA (what the resampler takes). The library's decoded pixels,
   * up to as much again while the crop is copied out, are freed after each image and not counted.
   */
  decodedBytes: number;
  /**
   * With a batch-level user step (the last step): what it takes, the row steps' outputs stacked
   * `[rows, ...input.shape]` in the worker's transform scratch, or the column's values (`input` null)
   * when it is the only step. Null without one.
   */
  batchStep: { input: TensorSpec | null } | null;
  /** Every column the user steps name in `inputs`; empty until the loader lays the batch out. */
  inputs: TransformInput[];
}

const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic', 'lanczos3'];

/**
 * Checks `transform` (the options' `transforms[column]`) and plans its output; an InvalidArgumentError
 * names the option path and what is accepted.
 */
export function planColumnTransform(column: string, transform: unknown): ColumnTransformPlan {
  const path = `options.transforms.${column}`;
  const fail = (at: string, what: string): never => {
    throw new InvalidArgumentError(`${path}${at} ${what}`, { option: `transforms.${column}` });
  };
  if (typeof transform !== 'object' || transform === null || !Array.isArray((transform as ColumnTransform).steps))
    fail('', 'must be an object such as { steps: [decodeImage(), centerCrop(224)] }');
  const { steps, onError = 'raise' } = transform as ColumnTransform;
  if (onError !== 'raise' && onError !== 'skip') fail('.onError', `must be 'raise' or 'skip', got ${String(onError)}`);
  if (steps.length === 0) fail('.steps', 'must have at least one step');
  // What flows between steps: the column's bytes, an image of unknown or fixed size, or a fixed tensor.
  let state = 'bytes' as 'bytes' | 'image' | 'tensor';
  let size = null as [number, number] | null;
  let channels = 0;
  /** Where the channels are in a [h, w, c] or [c, h, w] shape. */
  let channelAxis = 2;
  let shape: number[] = [];
  let dtype = 'uint8' as 'uint8' | 'float32';
  let decodedBytes = 0;
  let batchStep: ColumnTransformPlan['batchStep'] = null;
  const positive = (at: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 16)
      fail(at, `must be an integer from 1 to 65536, got ${String(v)}`);
  };
  const checkSize = (at: string, s: unknown): [number, number] => {
    if (!Array.isArray(s) || s.length !== 2) return fail(at, `must be a number or [height, width], got ${String(s)}`);
    positive(at, s[0]);
    positive(at, s[1]);
    return [s[0] as number, s[1] as number];
  };
  const range = (at: string, r: unknown, min: number) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && v > min) || r[0] > r[1])
      fail(at, `must be [low, high] with ${min} < low <= high, got ${String(r)}`);
  };
  /** What a batch-level user step at `i` takes: the column's bytes (null), or the fixed-shape rows so far. */
  const batchInput = (at: string, i: number): TensorSpec | null => {
    if (i !== steps.length - 1) fail(at, 'a batch-level user step must be the last step');
    if (state === 'bytes') return null;
    if (state === 'image') {
      if (size === null)
        fail(at, 'a batch-level user step needs rows of one shape: resize to [height, width] or crop before it');
      return tensorSpec([...(size as [number, number]), channels], 'uint8');
    }
    return tensorSpec(shape, dtype);
  };
  const needImage = (at: string, op: string) => {
    if (state !== 'image') fail(at, `${op} needs an image: put decodeImage() before it, and user steps after it`);
  };
  steps.forEach((step, i) => {
    const at = `.steps[${i}]`;
    if (typeof step !== 'object' || step === null) fail(at, `must be a transform step, got ${String(step)}`);
    if ('interpolation' in step && !INTERPOLATIONS.includes(step.interpolation))
      fail(`${at}.interpolation`, `must be one of ${INTERPOLATIONS.join(', ')}, got ${String(step.interpolation)}`);
    switch (step.op) {
      case 'decodeImage':
        if (state !== 'bytes') fail(at, 'decodeImage must be the first step');
        if (![1, 3, 4].includes(step.channels))
          fail(`${at}.channels`, `must be 1, 3 or 4, got ${String(step.channels)}`);
        if (!Number.isInteger(step.maxPixels) || step.maxPixels < 1)
          fail(`${at}.maxPixels`, `must be a positive integer, got ${String(step.maxPixels)}`);
        state = 'image';
        channels = step.channels;
        decodedBytes = step.maxPixels * 4;
        return;
      case 'resize':
        needImage(at, 'resize');
        if (typeof step.size === 'number') {
          positive(`${at}.size`, step.size);
          size = null;
        } else size = checkSize(`${at}.size`, step.size);
        return;
      case 'centerCrop':
      case 'randomCrop':
        needImage(at, step.op);
        size = checkSize(`${at}.size`, step.size);
        return;
      case 'randomResizedCrop':
        needImage(at, step.op);
        size = checkSize(`${at}.size`, step.size);
        range(`${at}.scale`, step.scale, 0);
        range(`${at}.ratio`, step.ratio, 0);
        return;
      case 'flipHorizontal':
        needImage(at, step.op);
        if (typeof step.p !== 'number' || !(step.p >= 0 && step.p <= 1))
          fail(`${at}.p`, `must be a probability from 0 to 1, got ${String(step.p)}`);
        return;
      case 'normalize':
      case 'toFloat':
      case 'channelsFirst': {
        if (state === 'bytes') fail(at, `${step.op} needs an image or a user step's output before it`);
        if (state === 'image') {
          if (size === null) fail(at, `${step.op} needs a fixed image size: resize to [height, width] or crop first`);
          shape = [...(size as [number, number]), channels];
          state = 'tensor';
        }
        if (step.op === 'channelsFirst') {
          if (channelAxis === 0) fail(at, 'channelsFirst is already applied');
          if (shape.length !== 3)
            fail(at, `channelsFirst needs a [height, width, channels] input, got [${shape.join(', ')}]`);
          shape = [shape[2] as number, shape[0] as number, shape[1] as number];
          channelAxis = 0;
          return;
        }
        dtype = 'float32';
        if (step.op === 'normalize') {
          const perChannel = shape.length === 3 ? (shape[channelAxis] as number) : 1;
          for (const key of ['mean', 'std'] as const) {
            const v: unknown = step[key];
            if (
              !Array.isArray(v) ||
              (v.length !== 1 && v.length !== perChannel) ||
              !v.every((x) => typeof x === 'number' && Number.isFinite(x))
            )
              fail(`${at}.${key}`, `must be one number or one per channel (${perChannel}), got ${String(v)}`);
          }
          if (step.std.some((s) => s === 0)) fail(`${at}.std`, 'must not be 0');
        }
        return;
      }
      case 'user': {
        if (typeof step.module !== 'string' || step.module === '')
          fail(`${at}.module`, `must be a path or file: URL of an ES module, got ${String(step.module)}`);
        if (step.export !== undefined && typeof step.export !== 'string')
          fail(`${at}.export`, `must be the name of the module's export, got ${String(step.export)}`);
        if (step.level !== undefined && step.level !== 'row' && step.level !== 'batch')
          fail(`${at}.level`, `must be 'row' or 'batch', got ${String(step.level)}`);
        if (step.level === 'batch') batchStep = { input: batchInput(at, i) };
        if (
          step.inputs !== undefined &&
          (!Array.isArray(step.inputs) ||
            !step.inputs.every((name) => typeof name === 'string' && name !== '' && name !== column) ||
            new Set(step.inputs).size !== step.inputs.length)
        )
          fail(
            `${at}.inputs`,
            `must be names of other loaded columns, each once (not "${column}" itself), got ${String(step.inputs)}`,
          );
        const out = step.output as UserTransformStep['output'] | undefined;
        if (
          !out ||
          !Array.isArray(out.shape) ||
          out.shape.length === 0 ||
          (out.dtype !== 'uint8' && out.dtype !== 'float32')
        )
          fail(`${at}.output`, "must declare { shape: [...], dtype: 'uint8' | 'float32' }");
        out?.shape.forEach((d, k) => positive(`${at}.output.shape[${k}]`, d));
        shape = [...(out as UserTransformStep['output']).shape];
        dtype = (out as UserTransformStep['output']).dtype;
        channelAxis = 2;
        state = 'tensor';
        return;
      }
      default:
        fail(
          `${at}.op`,
          `must be a transform step such as decodeImage(), got ${String((step as { op?: unknown }).op)}`,
        );
    }
  });
  if (state === 'bytes') fail('.steps', 'must decode the bytes: start with decodeImage() or a user step');
  if (state === 'image') {
    if (size === null)
      fail(
        '.steps',
        'must end with a fixed size: resize to [height, width], or crop (centerCrop, randomCrop, randomResizedCrop)',
      );
    shape = [...(size as [number, number]), channels];
  }
  return { column, steps: [...steps], onError, ...tensorSpec(shape, dtype), decodedBytes, batchStep, inputs: [] };
}

function tensorSpec(shape: readonly number[], dtype: 'uint8' | 'float32'): TensorSpec {
  const count = shape.reduce((a, b) => a * b, 1);
  return { shape: [...shape], dtype, byteWidth: count * (dtype === 'float32' ? 4 : 1) };
}

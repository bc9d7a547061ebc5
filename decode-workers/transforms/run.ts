/**
 * Runs one column's transform steps on one row, in a worker, writing the result into the row's place in
 * the batch slot.
 *
 * Geometric steps do not run one by one: they are folded into as few pipelines as they allow, each
 * `crop → resize → crop → mirror`, and a pipeline runs when a step cannot join it (a second resize, a
 * tensor or user step, the end). A crop after a pending mirror is mirrored so the mirror can stay last.
 * A JPEG pipeline whose tensor steps come after it runs as one native call where the addon has
 * libjpeg-turbo (jpeg.ts): it decodes only the crop's region and resamples and writes it straight into
 * the slot, normalize, mirror and channelsFirst included. Any other pipeline decodes with @napi-rs/image
 * (image-library.ts), copies the first crop out as RGBA (the library resamples RGBA only), resamples it
 * in the library, and leaves the second crop and the mirror to the one pass that writes the pixels into
 * the slot, with channel conversion, normalize and channelsFirst in the same pass. So
 * `randomResizedCrop + flipHorizontal + normalize` is one native call for a JPEG, else one decode, one
 * crop copy, one resample and one write.
 *
 * Randomness: every random draw of a row comes from its own stream, seeded with
 * `${seed}:${epoch}:${row}:${column}` (samplers/random.ts createRandom; `row` the dataset's visible row
 * offset), so the same row gets the same crop and flip whatever worker loads it, and after a resume.
 */
import { TransformError, type TransformErrorCode } from '../../errors.js';
import { createRandom } from '../../samplers/random.js';
import { isTruncatedJpeg, readImageSize } from './image-header.js';
import { loadImageLibrary, type ImageLibrary } from './image-library.js';
import { decodeJpegInto, JPEG_MAX_SIDE, nativeJpeg, nativeKernel } from './jpeg.js';
import type { ColumnTransformPlan, Interpolation, Size2, UserTransformStep } from './steps.js';

/** A region of an image in pixels. */
interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Pixels as they flow between steps (and reach user transforms): row-major, `shape` [h, w, c] (or [c, h, w] after channelsFirst). */
export interface Pixels {
  data: Uint8Array | Float32Array;
  shape: number[];
}

/**
 * A value of another column (a user step's `inputs`), a view of the batch slot to read, not write: a
 * fixed-width column's values as a typed array of its type (one number, or a fixed-size list's items),
 * a string's or binary's bytes.
 */
export type ColumnValue =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/**
 * Another column's values of a whole batch (a batch-level user step's `inputs`): a fixed-width column's
 * values of every row `[rows × values a row]` (offsets null), or strings' and binaries' bytes with row
 * `r`'s at `data.subarray(offsets[r], offsets[r + 1])`; `validity[r]` 0 for a null (null when none can be).
 */
export interface BatchColumnValues {
  data: ColumnValue;
  offsets: Float64Array | null;
  validity: Uint8Array | null;
}

/** What a user transform function receives for each row. */
export interface UserTransformInput {
  /** The column's value (the encoded bytes) when the step is the first, else null. */
  bytes: Uint8Array | null;
  /** The previous steps' output, when there are any. */
  pixels: Pixels | null;
  /** The row's values of the columns the step names in `inputs` (null where the row's value is null). */
  columns: Record<string, ColumnValue | null>;
  /** The dataset's visible row offset, the epoch and the column. */
  row: number;
  epoch: number;
  column: string;
  /** Uniform in [0, 1), the row's own seeded stream (see the module comment). */
  random(): number;
  /** The step's `options`. */
  options: unknown;
}

/** A user transform: writes one row's output (of the declared shape and dtype) into `output`. */
export type UserTransformFunction = (input: UserTransformInput, output: Uint8Array | Float32Array) => unknown;

/** What a batch-level user transform function (`level: 'batch'`) receives for each batch. */
export interface UserBatchTransformInput {
  /**
   * The column's values of every row when the step is the only one, else null: row `r` (batch position)
   * is `data.subarray(offsets[r], offsets[r + 1])`, and a null when `validity[r]` is 0.
   */
  values: { data: Uint8Array; offsets: Float64Array; validity: Uint8Array | null } | null;
  /** The steps before it, every row's output stacked: shape `[rows, ...]`. */
  pixels: Pixels | null;
  /** The batch's values of the columns the step names in `inputs`, in batch order. */
  columns: Record<string, BatchColumnValues>;
  /** The dataset's visible row offset of each batch position (after onError 'skip' replaced any). */
  rows: Uint32Array;
  epoch: number;
  column: string;
  /** Uniform in [0, 1), the batch's own seeded stream (see ColumnTransformer.runBatch). */
  random(): number;
  /** The step's `options`. */
  options: unknown;
}

/** A batch-level user transform: writes the batch's output `[rows, ...shape]` into `output`. */
export type UserBatchTransformFunction = (input: UserBatchTransformInput, output: Uint8Array | Float32Array) => unknown;

/** Decoded 8-bit pixels, `channels` values a pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), row-major. */
interface Decoded {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** RGBA pixels `width` wide and the part of them the steps came to: `box`, mirrored when `flip`. */
interface RgbaView {
  data: Uint8Array;
  width: number;
  box: Box;
  flip: boolean;
}

/** One pipeline being built: its input and the operations folded into it so far. */
interface Pipeline {
  /** Encoded bytes with the size their header declares, or the pixels a previous pipeline made. */
  input: { encoded: Uint8Array; width: number; height: number } | Decoded;
  pre: Box | null;
  resize: { width: number; height: number; kernel: Interpolation } | null;
  post: Box | null;
  flip: boolean;
}

/** @napi-rs/image's fastResize filters by kernel (nearest is its plain resize: fastResize has no nearest). */
const FAST_FILTERS = { bilinear: 'Bilinear', bicubic: 'CatmullRom', lanczos3: 'Lanczos3' } as const;

/** Values a pixel and bytes a value of @napi-rs/image's colour types (JsColorType L8 … Rgba16), by index. */
const COLOR_TYPES: readonly { channels: number; bytes: 1 | 2 }[] = [
  { channels: 1, bytes: 1 },
  { channels: 2, bytes: 1 },
  { channels: 3, bytes: 1 },
  { channels: 4, bytes: 1 },
  { channels: 1, bytes: 2 },
  { channels: 2, bytes: 2 },
  { channels: 3, bytes: 2 },
  { channels: 4, bytes: 2 },
];

const TWO_32 = 2 ** 32;

/** A worker's runner of one column's steps; modules (@napi-rs/image, user transforms) load on first use. */
export class ColumnTransformer {
  private readonly users = new Map<string, Promise<UserTransformFunction | UserBatchTransformFunction>>();
  /** The steps {@link run} runs on each row: all of them but a batch-level last step. */
  private readonly rowSteps: ColumnTransformPlan['steps'];
  /**
   * Reused from row to row: the first crop of a pipeline as RGBA, at most maxPixels × 4 bytes (a crop
   * lies inside an image decodeImage accepted), or the native JPEG path's rows, kept within that; counted
   * in the plan's decodedBytes.
   */
  private scratch = { bytes: new Uint8Array(0) };

  constructor(
    readonly plan: ColumnTransformPlan,
    private readonly seed: number,
  ) {
    this.rowSteps = plan.batchStep ? plan.steps.slice(0, -1) : plan.steps;
  }

  /** Loads @napi-rs/image and the user modules. */
  async prepare(): Promise<void> {
    for (const [i, step] of this.plan.steps.entries()) {
      if (step.op === 'user') await this.userFunction(step, -1).catch(() => undefined);
      if (step.op === 'decodeImage' && i === 0) await loadImageLibrary();
    }
  }

  /**
   * Transforms `value` (the column's bytes, or null for a null) of dataset row `row` into `output` (the
   * row's place in the slot, plan.byteWidth bytes; with a batch-level step, its place in the stacked
   * input, plan.batchStep.input.byteWidth); `columns` holds the row's values of plan.inputs. Every
   * failure is a TransformError naming the row, the column and the step.
   */
  async run(
    value: Uint8Array | null,
    row: number,
    epoch: number,
    output: Uint8Array | Float32Array,
    columns: Readonly<Record<string, ColumnValue | null>> = {},
  ): Promise<void> {
    const { column } = this.plan;
    if (value === null) throw this.error('IMAGE_DECODE', row, 'the value is null');
    const stream = createRandom(`${this.seed}:${epoch}:${row}:${column}`);
    const random = () => stream.nextUint32() / TWO_32;
    let bytes: Uint8Array | null = value;
    // The row's values so far: a user step's output, or a pipeline's RGBA not yet written out.
    let pixels: Pixels | null = null;
    let view: RgbaView | null = null;
    let pipeline: Pipeline | null = null;
    let channels: 1 | 3 | 4 = 3;
    let width = 0;
    let height = 0;
    // Per-channel scale and offset of the pending tensor steps, and whether channels go first.
    let affine: { scale: number[]; offset: number[] } | null = null;
    let toChannelsFirst = false;
    const flush = async (): Promise<void> => {
      if (pipeline) {
        view = await this.runPipeline(pipeline, row);
        pipeline = null;
      }
    };
    /** The values so far as a tensor of their own, with the pending tensor steps applied. */
    const settleTensor = async (): Promise<Pixels> => {
      if (pipeline) {
        const kept = keptBox(pipeline, width, height);
        const n = kept.width * kept.height * channels;
        const data = affine ? new Float32Array(n) : new Uint8Array(n);
        if (this.runNative(pipeline, kept, channels, data, affine, toChannelsFirst, row)) {
          pixels = {
            data,
            shape: toChannelsFirst ? [channels, kept.height, kept.width] : [kept.height, kept.width, channels],
          };
          pipeline = null;
          affine = null;
          toChannelsFirst = false;
          return pixels;
        }
      }
      await flush();
      const data = affine ? new Float32Array(this.valueCount(view, pixels, channels)) : null;
      if (view) {
        const out = data ?? new Uint8Array(view.box.width * view.box.height * channels);
        pixels = writePixels(view, channels, out, affine, toChannelsFirst);
        view = null;
      } else if (pixels && (affine || toChannelsFirst))
        pixels = writeTensor(pixels, data ?? new Uint8Array(pixels.data.length), affine, toChannelsFirst);
      if (!pixels) throw this.error('TRANSFORM_ERROR', row, 'the steps made no pixels');
      affine = null;
      toChannelsFirst = false;
      return pixels;
    };
    /** A pipeline a resize may join: the current one unless it already resizes (then it runs first). */
    const resizing = async (): Promise<Pipeline> => {
      if (pipeline && !pipeline.resize && !pipeline.post) return pipeline;
      await flush();
      const v = view as RgbaView | null;
      if (!v) throw this.error('TRANSFORM_ERROR', row, 'geometric steps need an image');
      const data = new Uint8Array(v.box.width * v.box.height * 4);
      writePixels(v, 4, data, null, false);
      view = null;
      const input = { data, width: v.box.width, height: v.box.height, channels: 4 };
      return { input, pre: null, resize: null, post: null, flip: false };
    };
    for (const [i, step] of this.rowSteps.entries()) {
      const where = `steps[${i}] ${step.op}`;
      switch (step.op) {
        case 'decodeImage': {
          if (bytes === null) throw this.error('TRANSFORM_ERROR', row, `${where} must be the first step`);
          // The library has no header-only read (its metadata decodes the image), so the size the crops
          // are drawn from and the bomb check come from the header, before anything is decoded.
          const size = readImageSize(bytes);
          if (!size)
            throw this.error(
              'IMAGE_DECODE',
              row,
              `${where}: ${bytes.length} bytes that are no image (no JPEG, PNG or WebP header with a size)`,
            );
          if (size.width * size.height > step.maxPixels)
            throw this.error(
              'IMAGE_TOO_LARGE',
              row,
              `${where}: the image is ${size.width} × ${size.height} = ${size.width * size.height} pixels, more than maxPixels ${step.maxPixels}`,
            );
          if (isTruncatedJpeg(bytes))
            throw this.error('IMAGE_DECODE', row, 'decodeImage: the JPEG is cut short (no end-of-image marker)');
          ({ width, height } = size);
          channels = step.channels;
          pipeline = { input: { encoded: bytes, width, height }, pre: null, resize: null, post: null, flip: false };
          bytes = null;
          break;
        }
        case 'resize': {
          const [h, w] =
            typeof step.size === 'number'
              ? width <= height
                ? [Math.floor((step.size * height) / width), step.size]
                : [step.size, Math.floor((step.size * width) / height)]
              : step.size;
          if (h > JPEG_MAX_SIDE || w > JPEG_MAX_SIDE)
            throw this.error(
              'TRANSFORM_ERROR',
              row,
              `${where}: the ${width} × ${height} image resized to ${w} × ${h} is more than ${JPEG_MAX_SIDE} pixels a side`,
            );
          pipeline = await resizing();
          pipeline.resize = { width: w, height: h, kernel: step.interpolation };
          [width, height] = [w, h];
          break;
        }
        case 'centerCrop':
        case 'randomCrop': {
          const [h, w] = step.size;
          if (h > height || w > width)
            throw this.error(
              'TRANSFORM_ERROR',
              row,
              `${where}: a ${w} × ${h} crop does not fit a ${width} × ${height} image`,
            );
          const top = step.op === 'centerCrop' ? Math.round((height - h) / 2) : below(random, height - h + 1);
          const left = step.op === 'centerCrop' ? Math.round((width - w) / 2) : below(random, width - w + 1);
          crop(pipeline, { left, top, width: w, height: h }, width);
          [width, height] = [w, h];
          break;
        }
        case 'randomResizedCrop': {
          crop(pipeline, resizedCropBox(width, height, step.scale, step.ratio, random), width);
          const [h, w] = step.size;
          pipeline = await resizing();
          pipeline.resize = { width: w, height: h, kernel: step.interpolation };
          [width, height] = [w, h];
          break;
        }
        case 'flipHorizontal':
          if (random() < step.p && pipeline) pipeline.flip = !pipeline.flip;
          break;
        case 'toFloat':
        case 'normalize': {
          // A pipeline stays pending (only tensor steps follow): it may then write the slot itself.
          if (!pipeline) await flush();
          // Values stay [h, w, c] until they are written: a pending channelsFirst is only a flag.
          const p = pixels as Pixels | null;
          const perChannel = view || pipeline ? channels : p && p.shape.length === 3 ? (p.shape[2] as number) : 1;
          // uint8 values enter as x / 255; float32 values as they are.
          affine ??= {
            scale: Array<number>(perChannel).fill(p?.data instanceof Float32Array ? 1 : 1 / 255),
            offset: Array<number>(perChannel).fill(0),
          };
          if (step.op === 'normalize') {
            const a = affine;
            a.scale = a.scale.map((s, k) => s / at(step.std, k));
            a.offset = a.offset.map((o, k) => (o - at(step.mean, k)) / at(step.std, k));
          }
          break;
        }
        case 'channelsFirst':
          if (!pipeline) await flush();
          toChannelsFirst = true;
          break;
        case 'user': {
          const input: Pixels | null = bytes === null ? await settleTensor() : null;
          const fn = (await this.userFunction(step, row)) as UserTransformFunction;
          const out =
            step.output.dtype === 'float32'
              ? new Float32Array(count(step.output.shape))
              : new Uint8Array(count(step.output.shape));
          try {
            await fn(
              { bytes, pixels: input, columns: pick(columns, step), row, epoch, column, random, options: step.options },
              out,
            );
          } catch (cause) {
            throw this.error(
              'TRANSFORM_ERROR',
              row,
              `${where} ${step.module}#${step.export ?? 'default'} threw: ${message(cause)}`,
              {
                module: step.module,
              },
            );
          }
          bytes = null;
          pixels = { data: out, shape: [...step.output.shape] };
          break;
        }
      }
    }
    const kept = pipeline ? keptBox(pipeline, width, height) : null;
    const made = kept ? kept.width * kept.height * channels : this.valueCount(view, pixels, channels);
    const bytesPerValue = affine || pixels?.data instanceof Float32Array ? 4 : 1;
    if (made * bytesPerValue !== output.byteLength)
      throw this.error(
        'TRANSFORM_ERROR',
        row,
        `the steps made ${made} values, not the planned [${(this.plan.batchStep?.input ?? this.plan).shape.join(', ')}]`,
      );
    if (pipeline && kept && this.runNative(pipeline, kept, channels, output, affine, toChannelsFirst, row)) return;
    await flush();
    if (view) writePixels(view, channels, output, affine, toChannelsFirst);
    else if (pixels) writeTensor(pixels, output, affine, toChannelsFirst);
  }

  /** Values the row has so far: the pipeline's view in `channels`, or the pixels. */
  private valueCount(view: RgbaView | null, pixels: Pixels | null, channels: number): number {
    return view ? view.box.width * view.box.height * channels : (pixels?.data.length ?? 0);
  }

  /**
   * Runs the batch-level last step on the batch: `input` is the column's values (the step is the only
   * one) or the row steps' outputs stacked `[rows, ...]`, `rows` the dataset row of each batch position,
   * `output` the batch's whole output in the slot (zeroed first, so values the function leaves are 0,
   * not an earlier batch's). Its random stream is seeded with `${seed}:${epoch}:${column}:batch:${rows}`
   * (the rows joined by commas): the same batch draws the same whatever worker loads it, and after a
   * resume. `columns` holds the batch's values of plan.inputs. A throw is a TransformError naming the
   * rows, the column and the module.
   */
  async runBatch(
    input: UserBatchTransformInput['values'] | Pixels,
    rows: Uint32Array,
    epoch: number,
    output: Uint8Array | Float32Array,
    columns: Readonly<Record<string, BatchColumnValues>> = {},
  ): Promise<void> {
    const { column, steps } = this.plan;
    const step = steps[steps.length - 1] as UserTransformStep;
    const fn = (await this.userFunction(step, rows)) as UserBatchTransformFunction;
    const stream = createRandom(`${this.seed}:${epoch}:${column}:batch:${rows.join(',')}`);
    output.fill(0);
    const pixels = input && 'shape' in input ? input : null;
    try {
      await fn(
        {
          values: pixels ? null : (input as UserBatchTransformInput['values']),
          pixels,
          columns: pick(columns, step),
          rows,
          epoch,
          column,
          random: () => stream.nextUint32() / TWO_32,
          options: step.options,
        },
        output,
      );
    } catch (cause) {
      throw this.error(
        'TRANSFORM_ERROR',
        rows,
        `steps[${steps.length - 1}] user ${step.module}#${step.export ?? 'default'} (batch) threw: ${message(cause)}`,
        { module: step.module },
      );
    }
  }

  /**
   * Runs a JPEG pipeline into `out` in one native call (jpeg.ts), `kept` its kept box; false (nothing
   * written) when it is no JPEG, the addon lacks the path, or the path gives the pipeline back.
   */
  private runNative(
    p: Pipeline,
    kept: Box,
    channels: 1 | 3 | 4,
    out: Uint8Array | Float32Array,
    affine: { scale: number[]; offset: number[] } | null,
    channelsFirst: boolean,
    row: number,
  ): boolean {
    const input = p.input;
    if (!('encoded' in input) || !nativeJpeg(input.encoded) || (p.resize && !nativeKernel(p.resize.kernel)))
      return false;
    const crop = p.pre ?? { left: 0, top: 0, width: input.width, height: input.height };
    const job = {
      jpeg: input.encoded,
      width: input.width,
      height: input.height,
      crop,
      resize: p.resize ?? { width: crop.width, height: crop.height, kernel: 'bilinear' as const },
      keep: kept,
      flip: p.flip,
      channels,
      channelsFirst,
      affine,
    };
    try {
      return decodeJpegInto(job, this.scratch, this.plan.decodedBytes, out);
    } catch (cause) {
      // Only libjpeg's own errors are the image's; anything else is the job's.
      if ((cause as { code?: unknown }).code !== 'ERR_JPEG') throw cause;
      throw this.error('IMAGE_DECODE', row, `decodeImage: ${message(cause)}`);
    }
  }

  /**
   * Runs a pipeline: decodes (or takes the pixels of a previous one), copies the first crop out as RGBA
   * into the reused scratch, resamples it; the second crop and the mirror stay in the view.
   */
  private async runPipeline(p: Pipeline, row: number): Promise<RgbaView> {
    const library = await loadImageLibrary();
    try {
      const source = 'encoded' in p.input ? decode(library, p.input) : p.input;
      const box = p.pre ?? { left: 0, top: 0, width: source.width, height: source.height };
      const rgba = this.cropToRgba(source, box);
      if (!p.resize) return { data: rgba, width: box.width, box: { ...box, left: 0, top: 0 }, flip: p.flip };
      const { width, height, kernel } = p.resize;
      const { Transformer, FastResizeFilter, ResizeFilterType, ResizeFit } = library;
      const image = Transformer.fromRgbaPixels(rgba, box.width, box.height);
      const resized = (
        kernel === 'nearest'
          ? image.resize({ width, height, filter: ResizeFilterType.Nearest, fit: ResizeFit.Fill })
          : image.fastResize({ width, height, filter: FastResizeFilter[FAST_FILTERS[kernel]], fit: ResizeFit.Fill })
      ).rawPixelsSync();
      if (resized.length !== width * height * 4)
        throw new Error(`@napi-rs/image resized to ${resized.length} bytes, not ${width} × ${height} RGBA`);
      return {
        data: new Uint8Array(resized.buffer, resized.byteOffset, resized.length),
        width,
        box: p.post ?? { left: 0, top: 0, width, height },
        flip: p.flip,
      };
    } catch (cause) {
      throw this.error('IMAGE_DECODE', row, `decodeImage: ${message(cause)}`);
    }
  }

  /** `box` of `source` as RGBA in the scratch (grey repeated, alpha 255 where the source has none). */
  private cropToRgba(source: Decoded, box: Box): Uint8Array {
    const n = box.width * box.height * 4;
    if (this.scratch.bytes.length < n) this.scratch.bytes = new Uint8Array(n);
    const out = this.scratch.bytes.subarray(0, n);
    const { data, width, channels: c } = source;
    for (let y = 0, o = 0; y < box.height; y++) {
      let s = ((box.top + y) * width + box.left) * c;
      const end = o + box.width * 4;
      if (c === 3)
        for (; o < end; o += 4, s += 3) {
          out[o] = data[s] as number;
          out[o + 1] = data[s + 1] as number;
          out[o + 2] = data[s + 2] as number;
          out[o + 3] = 255;
        }
      else if (c === 4) {
        out.set(data.subarray(s, s + box.width * 4), o);
        o = end;
      } else
        for (; o < end; o += 4, s += c) {
          const v = data[s] as number;
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
          out[o + 3] = c === 2 ? (data[s + 1] as number) : 255;
        }
    }
    return out;
  }

  private userFunction(
    step: UserTransformStep,
    row: number | Uint32Array,
  ): Promise<UserTransformFunction | UserBatchTransformFunction> {
    const name = step.export ?? 'default';
    const key = `${step.module}#${name}`;
    let fn = this.users.get(key);
    if (!fn) {
      fn = import(step.module).then((m: Record<string, unknown>) => {
        const f = m[name];
        if (typeof f !== 'function') throw new Error(`it has no function export "${name}"`);
        return f as UserTransformFunction | UserBatchTransformFunction;
      });
      this.users.set(key, fn);
    }
    return fn.catch((cause: unknown) => {
      throw this.error(
        'TRANSFORM_ERROR',
        row,
        `the user transform ${step.module} could not be loaded: ${message(cause)}`,
        {
          module: step.module,
        },
      );
    });
  }

  /** A TransformError naming the column and the row, or a batch's rows (the first 8 and how many). */
  private error(
    code: TransformErrorCode,
    row: number | Uint32Array,
    what: string,
    details: Record<string, unknown> = {},
  ): TransformError {
    const { column } = this.plan;
    if (typeof row === 'number')
      return new TransformError(code, `column "${column}", row ${row}: ${what}`, { column, row, ...details });
    const shown = Array.from(row.subarray(0, 8)).join(', ') + (row.length > 8 ? `, … (${row.length} rows)` : '');
    return new TransformError(code, `column "${column}", rows ${shown}: ${what}`, {
      column,
      rows: Array.from(row),
      ...details,
    });
  }
}

const at = (values: readonly number[], k: number): number => (values.length === 1 ? values[0] : values[k]) as number;

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The step's `inputs` of `columns`. */
const pick = <T>(columns: Readonly<Record<string, T>>, step: UserTransformStep): Record<string, T> =>
  Object.fromEntries((step.inputs ?? []).map((name) => [name, columns[name] as T]));

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

/** An integer in [0, n) from a uniform draw. */
const below = (random: () => number, n: number): number => Math.min(n - 1, Math.floor(random() * n));

/** Folds a crop of the current image (of width `width`) into the pipeline, before or after its resize. */
function crop(pipeline: Pipeline | null, box: Box, width: number): void {
  if (!pipeline) return;
  // The pipeline mirrors last: a crop of the mirrored image is the mirrored crop of the unmirrored one.
  const b = pipeline.flip ? { ...box, left: width - box.left - box.width } : box;
  const key = pipeline.resize ? 'post' : 'pre';
  const prior = pipeline[key];
  pipeline[key] = prior ? { ...b, left: prior.left + b.left, top: prior.top + b.top } : b;
}

/** The part of a pipeline's result it keeps, in the pixels of its resize (`width` × `height` it ends at). */
function keptBox(p: Pipeline, width: number, height: number): Box {
  if (p.post) return p.post;
  return { left: 0, top: 0, width, height };
}

/**
 * torchvision's RandomResizedCrop.get_params: ten tries at a box of a random share of the area
 * (`scale`) and a log-uniform aspect ratio (`ratio`) that fits, else the centre crop at the nearest
 * ratio in range.
 */
export function resizedCropBox(width: number, height: number, scale: Size2, ratio: Size2, random: () => number): Box {
  const area = width * height;
  const [logLow, logHigh] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + random() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLow + random() * (logHigh - logLow));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height)
      return { top: below(random, height - h + 1), left: below(random, width - w + 1), width: w, height: h };
  }
  const inRatio = width / height;
  let [w, h] = [width, height];
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), width: w, height: h };
}

/**
 * Decodes an image with @napi-rs/image into 8-bit pixels of the channels it holds (16-bit values to 8
 * bits as the library rounds them). Its metadata call decodes the image and keeps it, so the pixels come
 * from one decode. An image of another size than its header declared (which the crops were drawn from)
 * is an error.
 */
function decode(library: ImageLibrary, header: { encoded: Uint8Array; width: number; height: number }): Decoded {
  const image = new library.Transformer(header.encoded);
  const { width, height, colorType } = image.metadataSync();
  if (width !== header.width || height !== header.height)
    throw new Error(
      `it decodes to ${width} × ${height} pixels, not the ${header.width} × ${header.height} of its header`,
    );
  const type = COLOR_TYPES[colorType];
  if (!type) throw new Error(`its pixels are of @napi-rs/image colour type ${colorType}, not 8 or 16 bits`);
  const raw = image.rawPixelsSync();
  const values = width * height * type.channels;
  if (raw.length !== values * type.bytes)
    throw new Error(`the library decoded ${raw.length} bytes for a ${width} × ${height} image`);
  let data = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  if (type.bytes === 2) {
    const wide = data;
    data = new Uint8Array(values);
    // Native-endian 16-bit values (little-endian on the platforms it ships for).
    for (let i = 0; i < values; i++)
      data[i] = (((wide[2 * i] as number) | ((wide[2 * i + 1] as number) << 8)) + 128) / 257;
  }
  return { data, width, height, channels: type.channels };
}

/**
 * Writes the view's pixels into `out` in `channels` (RGB, RGBA, or grey as Rec. 601 luma like PIL's
 * `convert('L')`), mirrored when the view says, scaled per channel (`affine`, into float32) and in
 * [c, h, w] order (`channelsFirst`): the one pass from the resampled RGBA into the slot.
 */
function writePixels(
  view: RgbaView,
  channels: 1 | 3 | 4,
  out: Uint8Array | Float32Array,
  affine: { scale: number[]; offset: number[] } | null,
  channelsFirst: boolean,
): Pixels {
  const { data, width, box, flip } = view;
  const [s0, s1, s2, s3] = [0, 1, 2, 3].map((k) => at(affine?.scale ?? [1], Math.min(k, channels - 1))) as [
    number,
    number,
    number,
    number,
  ];
  const [o0, o1, o2, o3] = [0, 1, 2, 3].map((k) => at(affine?.offset ?? [0], Math.min(k, channels - 1))) as [
    number,
    number,
    number,
    number,
  ];
  // Between a channel's values of neighbouring pixels, and between a pixel's channels.
  const pixelStep = channelsFirst ? 1 : channels;
  const channelStep = channelsFirst ? box.width * box.height : 1;
  const [c1, c2, c3] = [channelStep, 2 * channelStep, 3 * channelStep];
  const step = flip ? -4 : 4;
  for (let y = 0; y < box.height; y++) {
    let s = ((box.top + y) * width + box.left + (flip ? box.width - 1 : 0)) * 4;
    let o = y * box.width * pixelStep;
    const end = o + box.width * pixelStep;
    if (channels === 3)
      for (; o < end; o += pixelStep, s += step) {
        out[o] = (data[s] as number) * s0 + o0;
        out[o + c1] = (data[s + 1] as number) * s1 + o1;
        out[o + c2] = (data[s + 2] as number) * s2 + o2;
      }
    else if (channels === 4)
      for (; o < end; o += pixelStep, s += step) {
        out[o] = (data[s] as number) * s0 + o0;
        out[o + c1] = (data[s + 1] as number) * s1 + o1;
        out[o + c2] = (data[s + 2] as number) * s2 + o2;
        out[o + c3] = (data[s + 3] as number) * s3 + o3;
      }
    else
      for (; o < end; o += pixelStep, s += step) {
        const luma =
          ((data[s] as number) * 19595 + (data[s + 1] as number) * 38470 + (data[s + 2] as number) * 7471 + 32768) >>>
          16;
        out[o] = luma * s0 + o0;
      }
  }
  return { data: out, shape: channelsFirst ? [channels, box.height, box.width] : [box.height, box.width, channels] };
}

/**
 * Writes a user step's output `p` into `out`, scaled per channel (`affine`, to float32) and in [c, h, w]
 * order (`channelsFirst`); the one copy of the row's values into the slot.
 */
function writeTensor(
  p: Pixels,
  out: Uint8Array | Float32Array,
  affine: { scale: number[]; offset: number[] } | null,
  channelsFirst: boolean,
): Pixels {
  const { data, shape } = p;
  const c = shape.length === 3 ? (shape[2] as number) : 1;
  if (!affine && !channelsFirst) {
    out.set(data);
    return { data: out, shape };
  }
  // Per channel, as typed arrays: the loops below then stay on one element kind each.
  const scale = Float64Array.from({ length: c }, (_, k) => at(affine?.scale ?? [1], k));
  const offset = Float64Array.from({ length: c }, (_, k) => at(affine?.offset ?? [0], k));
  const pixelsPerChannel = data.length / c;
  for (let k = 0; k < c; k++) {
    const s = scale[k] as number;
    const o = offset[k] as number;
    for (let i = 0; i < pixelsPerChannel; i++)
      out[channelsFirst ? k * pixelsPerChannel + i : i * c + k] = (data[i * c + k] as number) * s + o;
  }
  return { data: out, shape: channelsFirst ? [c, shape[0] as number, shape[1] as number] : shape };
}

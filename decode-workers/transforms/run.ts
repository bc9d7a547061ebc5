/**
 * Runs one column's transform steps on one row, in a worker, writing the result into the row's place in
 * the batch slot.
 *
 * Geometric steps do not run one by one: they are folded into as few sharp pipelines as they allow,
 * each `extract → resize → extract → flop`, and a pipeline runs when a step cannot join it (a second
 * resize, a tensor or user step, the end). A crop after a pending flip is mirrored so the flip can stay
 * last. So `randomResizedCrop + flipHorizontal` is one decode with its crop, resample and mirror, and
 * the pixels are copied once, from sharp's output into the slot, with normalize and channelsFirst
 * applied in that copy.
 *
 * Randomness: every random draw of a row comes from its own stream, seeded with
 * `${seed}:${epoch}:${row}:${column}` (samplers/random.ts createRandom; `row` the dataset's visible row
 * offset), so the same row gets the same crop and flip whatever worker loads it, and after a resume.
 */
import { TransformError, type TransformErrorCode } from '../../errors.js';
import { createRandom } from '../../samplers/random.js';
import { readImageSize } from './image-header.js';
import { loadSharp, type Sharp } from './sharp.js';
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

/** What a user transform function receives for each row. */
export interface UserTransformInput {
  /** The column's value (the encoded bytes) when the step is the first, else null. */
  bytes: Uint8Array | null;
  /** The previous steps' output, when there are any. */
  pixels: Pixels | null;
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

/** One sharp pipeline being built: its input and the operations folded into it so far. */
interface Pipeline {
  input: Uint8Array;
  /** Raw pixels (a previous pipeline's output), else encoded bytes. */
  raw: { width: number; height: number; channels: 1 | 3 | 4 } | null;
  pre: Box | null;
  resize: { width: number; height: number; kernel: Interpolation } | null;
  post: Box | null;
  flip: boolean;
}

const KERNELS = { nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic', lanczos3: 'lanczos3' } as const;

const TWO_32 = 2 ** 32;

/** A worker's runner of one column's steps; modules (sharp, user transforms) load on first use. */
export class ColumnTransformer {
  private readonly users = new Map<string, Promise<UserTransformFunction | UserBatchTransformFunction>>();
  /** The steps {@link run} runs on each row: all of them but a batch-level last step. */
  private readonly rowSteps: ColumnTransformPlan['steps'];

  constructor(
    readonly plan: ColumnTransformPlan,
    private readonly seed: number,
  ) {
    this.rowSteps = plan.batchStep ? plan.steps.slice(0, -1) : plan.steps;
  }

  /** Loads sharp and the user modules, and has sharp make one small image (its first call starts libvips). */
  async prepare(): Promise<void> {
    for (const [i, step] of this.plan.steps.entries()) {
      if (step.op === 'user') await this.userFunction(step, -1).catch(() => undefined);
      if (step.op === 'decodeImage' && i === 0) {
        const sharp = await loadSharp();
        await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
          .resize(4, 4)
          .raw()
          .toBuffer();
      }
    }
  }

  /**
   * Transforms `value` (the column's bytes, or null for a null) of dataset row `row` into `output` (the
   * row's place in the slot, plan.byteWidth bytes; with a batch-level step, its place in the stacked
   * input, plan.batchStep.input.byteWidth). Every failure is a TransformError naming the row, the column
   * and the step.
   */
  async run(value: Uint8Array | null, row: number, epoch: number, output: Uint8Array | Float32Array): Promise<void> {
    const { column } = this.plan;
    if (value === null) throw this.error('IMAGE_DECODE', row, 'the value is null');
    const stream = createRandom(`${this.seed}:${epoch}:${row}:${column}`);
    const random = () => stream.nextUint32() / TWO_32;
    let bytes: Uint8Array | null = value;
    let pixels: Pixels | null = null;
    let pipeline: Pipeline | null = null;
    let channels: 1 | 3 | 4 = 3;
    let width = 0;
    let height = 0;
    // Per-channel scale and offset of the pending tensor steps, and whether channels go first.
    let affine: { scale: number[]; offset: number[] } | null = null;
    let toChannelsFirst = false;
    const flush = async (): Promise<Pixels> => {
      if (pipeline) {
        pixels = await this.runPipeline(pipeline, channels, row);
        pipeline = null;
      }
      if (!pixels) throw this.error('TRANSFORM_ERROR', row, 'the steps made no pixels');
      return pixels;
    };
    const settleTensor = async (): Promise<Pixels> => {
      const p = await flush();
      if (!affine && !toChannelsFirst) return p;
      const out = affine ? new Float32Array(p.data.length) : new Uint8Array(p.data.length);
      pixels = writeTensor(p, out, affine, toChannelsFirst);
      affine = null;
      toChannelsFirst = false;
      return pixels;
    };
    for (const [i, step] of this.rowSteps.entries()) {
      const where = `steps[${i}] ${step.op}`;
      switch (step.op) {
        case 'decodeImage': {
          if (bytes === null) throw this.error('TRANSFORM_ERROR', row, `${where} must be the first step`);
          const size = readImageSize(bytes) ?? (await this.sizeFromSharp(bytes, row, where));
          if (size.width * size.height > step.maxPixels)
            throw this.error(
              'IMAGE_TOO_LARGE',
              row,
              `${where}: the image is ${size.width} × ${size.height} = ${size.width * size.height} pixels, more than maxPixels ${step.maxPixels}`,
            );
          ({ width, height } = size);
          channels = step.channels;
          pipeline = { input: bytes, raw: null, pre: null, resize: null, post: null, flip: false };
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
          pipeline = await this.resizing(pipeline, channels, row, () => flush());
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
          pipeline = await this.resizing(pipeline, channels, row, () => flush());
          pipeline.resize = { width: w, height: h, kernel: step.interpolation };
          [width, height] = [w, h];
          break;
        }
        case 'flipHorizontal':
          if (random() < step.p && pipeline) pipeline.flip = !pipeline.flip;
          break;
        case 'toFloat':
        case 'normalize': {
          const p = await flush();
          // Pixels stay [h, w, c] until writeTensor: a pending channelsFirst is only a flag.
          const perChannel = p.shape.length === 3 ? (p.shape[2] as number) : 1;
          // uint8 values enter as x / 255; float32 values as they are.
          affine ??= {
            scale: Array<number>(perChannel).fill(p.data instanceof Uint8Array ? 1 / 255 : 1),
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
          await flush();
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
            await fn({ bytes, pixels: input, row, epoch, column, random, options: step.options }, out);
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
    const result = await flush();
    if (result.data.length * (affine ? 4 : result.data.BYTES_PER_ELEMENT) !== output.byteLength)
      throw this.error(
        'TRANSFORM_ERROR',
        row,
        `the steps made [${result.shape.join(', ')}] values, not the planned [${(this.plan.batchStep?.input ?? this.plan).shape.join(', ')}]`,
      );
    writeTensor(result, output, affine, toChannelsFirst);
  }

  /**
   * Runs the batch-level last step on the batch: `input` is the column's values (the step is the only
   * one) or the row steps' outputs stacked `[rows, ...]`, `rows` the dataset row of each batch position,
   * `output` the batch's whole output in the slot (zeroed first, so values the function leaves are 0,
   * not an earlier batch's). Its random stream is seeded with `${seed}:${epoch}:${column}:batch:${rows}`
   * (the rows joined by commas): the same batch draws the same whatever worker loads it, and after a
   * resume. A throw is a TransformError naming the rows, the column and the module.
   */
  async runBatch(
    input: UserBatchTransformInput['values'] | Pixels,
    rows: Uint32Array,
    epoch: number,
    output: Uint8Array | Float32Array,
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

  /** The pipeline a resize may join: the current one unless it already resizes (then it runs first). */
  private async resizing(
    pipeline: Pipeline | null,
    channels: 1 | 3 | 4,
    row: number,
    flush: () => Promise<Pixels>,
  ): Promise<Pipeline> {
    if (pipeline && !pipeline.resize && !pipeline.post) return pipeline;
    const p = await flush();
    const [height, width] = p.shape as [number, number, number];
    if (!(p.data instanceof Uint8Array))
      throw this.error(
        'TRANSFORM_ERROR',
        row,
        'geometric steps need uint8 pixels; put toFloat and normalize after them',
      );
    return { input: p.data, raw: { width, height, channels }, pre: null, resize: null, post: null, flip: false };
  }

  private async runPipeline(p: Pipeline, channels: 1 | 3 | 4, row: number): Promise<Pixels> {
    const sharp = await loadSharp();
    const maxPixels = this.plan.steps[0]?.op === 'decodeImage' ? this.plan.steps[0].maxPixels : false;
    try {
      let image = sharp(p.input, p.raw ? { raw: p.raw } : { limitInputPixels: maxPixels, sequentialRead: true });
      if (p.pre) image = image.extract(p.pre);
      if (p.resize)
        image = image.resize(p.resize.width, p.resize.height, { fit: 'fill', kernel: KERNELS[p.resize.kernel] });
      if (p.post) image = image.extract(p.post);
      if (p.flip) image = image.flop();
      if (!p.raw) {
        if (channels === 1) image = image.toColourspace('b-w');
        else image = (channels === 3 ? image.removeAlpha() : image.ensureAlpha()).toColourspace('srgb');
      }
      const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== channels) throw new Error(`sharp made ${info.channels} channels, not ${channels}`);
      return {
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        shape: [info.height, info.width, channels],
      };
    } catch (cause) {
      throw this.error('IMAGE_DECODE', row, `decodeImage: ${message(cause)}`);
    }
  }

  private async sizeFromSharp(
    bytes: Uint8Array,
    row: number,
    where: string,
  ): Promise<{ width: number; height: number }> {
    const sharp: Sharp = await loadSharp();
    try {
      const { width, height } = await sharp(bytes).metadata();
      if (width && height) return { width, height };
      throw new Error('no size in its header');
    } catch (cause) {
      throw this.error(
        'IMAGE_DECODE',
        row,
        `${where}: ${bytes.length} bytes that are no image sharp can read (${message(cause)})`,
      );
    }
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
 * uint8 pixels, channels last, to float32 `x * scale[k] + offset[k]` (k the channel): the copy of every
 * normalized image into the slot. RGB, the common case, has a loop of its own with the channels
 * unrolled, which V8 compiles much tighter than a loop that looks the channel up for every value.
 */
function scaleBytes(data: Uint8Array, out: Float32Array, scale: Float64Array, offset: Float64Array): void {
  const c = scale.length;
  if (c === 3) {
    const [s0, s1, s2] = scale as unknown as [number, number, number];
    const [o0, o1, o2] = offset as unknown as [number, number, number];
    for (let i = 0; i < data.length; i += 3) {
      out[i] = (data[i] as number) * s0 + o0;
      out[i + 1] = (data[i + 1] as number) * s1 + o1;
      out[i + 2] = (data[i + 2] as number) * s2 + o2;
    }
    return;
  }
  for (let i = 0, k = 0; i < data.length; i++) {
    out[i] = (data[i] as number) * (scale[k] as number) + (offset[k] as number);
    if (++k === c) k = 0;
  }
}

/**
 * Writes `p` into `out`, scaled per channel (`affine`, to float32) and in [c, h, w] order
 * (`channelsFirst`); the one copy of the row's values into the slot.
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
  if (channelsFirst) {
    const pixelsPerChannel = data.length / c;
    for (let k = 0; k < c; k++) {
      const s = scale[k] as number;
      const o = offset[k] as number;
      const base = k * pixelsPerChannel;
      for (let i = 0; i < pixelsPerChannel; i++) out[base + i] = (data[i * c + k] as number) * s + o;
    }
  } else if (data instanceof Uint8Array && out instanceof Float32Array) scaleBytes(data, out, scale, offset);
  else
    for (let i = 0; i < data.length; i++)
      out[i] = (data[i] as number) * (scale[i % c] as number) + (offset[i % c] as number);
  return { data: out, shape: channelsFirst ? [c, shape[0] as number, shape[1] as number] : shape };
}

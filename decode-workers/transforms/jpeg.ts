/**
 * The native path of a JPEG pipeline: the addon's decodeJpeg (native/jpeg.c, built where libjpeg-turbo's
 * headers are) decodes only the crop's region, at 1/2, 1/4 or 1/8 scale in the IDCT when the crop is
 * that many times the output, resamples it as Pillow does (crop then resize: torchvision's
 * resized_crop), and writes the kept part mirrored, scaled and in either channel order straight into
 * the row's output, in one call with no intermediate RGBA image.
 *
 * It takes a pipeline the loader would otherwise run through @napi-rs/image when the input is a JPEG,
 * the resize (if any) is bilinear, bicubic or lanczos3, and the addon has the function; it gives the
 * pipeline back (false) for a CMYK/YCCK or non-8-bit JPEG, or when its scratch would exceed the
 * plan's decodedBytes. The crop box and mirror come from the caller: the same seeded draws either way.
 */
import { InvalidArgumentError } from '../../errors.js';
import { nativeAddon } from '../../io/native-addon.js';
import type { Interpolation } from './steps.js';

/** A region in pixels. */
export interface JpegBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** One row's JPEG pipeline as the native call takes it. */
export interface JpegJob {
  jpeg: Uint8Array;
  /** The size the header declares (the decode checks it). */
  width: number;
  height: number;
  /** The part of the image the resize takes. */
  crop: JpegBox;
  /** The crop's size after the resize (the crop's own size without one) and its kernel. */
  resize: { width: number; height: number; kernel: Interpolation };
  /** The part of the resized crop written out, mirrored left to right when `flip`. */
  keep: JpegBox;
  flip: boolean;
  channels: 1 | 3 | 4;
  channelsFirst: boolean;
  /** Per channel `value × scale + offset` into a Float32Array output; null for uint8 values as they are. */
  affine: { scale: readonly number[]; offset: readonly number[] } | null;
}

const FILTERS: Partial<Record<Interpolation, number>> = { bilinear: 0, bicubic: 1, lanczos3: 2 };

/** The longest side native/jpeg.c takes (its MAX_SIDE), of the image, the crop, the resize and the kept box. */
export const JPEG_MAX_SIDE = 65536;

/** Largest IDCT scaling denominator (libjpeg scales by 1/1, 1/2, 1/4 or 1/8). */
const MAX_DCT_SCALE = 8;

/** native/jpeg.c's params, in its order (JPEG_PARAM_*): one array per thread, filled for each call. */
const params = new Float64Array(25);

/** Whether the addon has the native JPEG path and `bytes` start like a JPEG. */
export function nativeJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && nativeAddon()?.decodeJpeg !== undefined;
}

/** Whether a resize of this kernel can run on the native path. */
export function nativeKernel(kernel: Interpolation): boolean {
  return FILTERS[kernel] !== undefined;
}

/**
 * What of `job` native/jpeg.c would refuse as out of range, or null: checked here so that a bad job is
 * an InvalidArgumentError naming the field, and the addon's only other throw is ERR_JPEG for bad bytes.
 */
function outOfRange(job: JpegJob, outLength: number): string | null {
  const { crop, resize, keep } = job;
  const sides: Record<string, number> = {
    width: job.width,
    height: job.height,
    'crop.width': crop.width,
    'crop.height': crop.height,
    'resize.width': resize.width,
    'resize.height': resize.height,
    'keep.width': keep.width,
    'keep.height': keep.height,
  };
  for (const [name, side] of Object.entries(sides))
    if (!Number.isInteger(side) || side < 1 || side > JPEG_MAX_SIDE)
      return `${name} ${side} is not an integer from 1 to ${JPEG_MAX_SIDE}`;
  const inside = (box: JpegBox, width: number, height: number) =>
    Number.isInteger(box.left) &&
    Number.isInteger(box.top) &&
    box.left >= 0 &&
    box.top >= 0 &&
    box.left + box.width <= width &&
    box.top + box.height <= height;
  if (!inside(crop, job.width, job.height))
    return `crop ${JSON.stringify(crop)} is not inside the ${job.width} × ${job.height} image`;
  if (!inside(keep, resize.width, resize.height))
    return `keep ${JSON.stringify(keep)} is not inside the ${resize.width} × ${resize.height} resize`;
  if (outLength !== keep.width * keep.height * job.channels)
    return `the output's ${outLength} values are not the kept ${keep.width} × ${keep.height} × ${job.channels}`;
  return null;
}

/**
 * Runs `job` into `out`. `scratch` holds the reused scratch, grown here up to `maxScratch` bytes; false
 * when the job is left to the other path (nothing written). Throws the addon's ERR_JPEG Error for bad
 * bytes, and an InvalidArgumentError for a job out of the addon's range.
 */
export function decodeJpegInto(
  job: JpegJob,
  scratch: { bytes: Uint8Array },
  maxScratch: number,
  out: Uint8Array | Float32Array,
): boolean {
  const decode = nativeAddon()?.decodeJpeg;
  const filter = FILTERS[job.resize.kernel];
  if (!decode || filter === undefined) return false;
  const problem = outOfRange(job, out.length);
  if (problem !== null) throw new InvalidArgumentError(`decodeJpeg: ${problem}`, { job });
  const { crop, keep, affine, channels } = job;
  params.set([
    job.width,
    job.height,
    crop.left,
    crop.top,
    crop.width,
    crop.height,
    job.resize.width,
    job.resize.height,
  ]);
  params.set([keep.left, keep.top, keep.width, keep.height, filter, job.flip ? 1 : 0, channels], 8);
  params.set([job.channelsFirst ? 1 : 0, MAX_DCT_SCALE], 15);
  for (let k = 0; k < 4; k++) {
    // One value of normalize applies to every channel; the alpha of RGBA takes the last channel's.
    const c = Math.min(k, channels - 1);
    params[17 + k] = affine ? pick(affine.scale, c) : 1;
    params[21 + k] = affine ? pick(affine.offset, c) : 0;
  }
  let result = decode(job.jpeg, params, scratch.bytes, out);
  if (result > 0) {
    if (result > maxScratch) return false;
    scratch.bytes = new Uint8Array(result);
    result = decode(job.jpeg, params, scratch.bytes, out);
  }
  return result === 0;
}

const pick = (values: readonly number[], k: number): number => (values.length === 1 ? values[0] : values[k]) as number;

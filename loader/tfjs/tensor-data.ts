/**
 * One batch column → the data of one tensor: a fresh typed array in a tfjs dtype plus a shape, checked
 * against the column's dtype, nulls and shape. No tfjs here: adapter.ts hands the result to `tf.tensor()`.
 *
 * ```
 *  BatchColumn (views of a shared slot) ──toTensorData──► { data (fresh, unshared), shape, dtype }
 *                                          the ONE copy of every value, in the conversion loop
 * ```
 *
 * Copies. A batch's `values` view a slot of shared memory that the loader reuses after `release()`, and
 * the cpu backend keeps a reference to the typed array handed to `tf.tensor()` (tfjs-core converts only
 * when the array type does not match the dtype). So every tensor is built from a fresh, unshared typed
 * array that nothing else holds, made by exactly one pass over the values here: `slice()` when the type
 * already matches (float32, bool), otherwise the conversion loop itself (widening, int64 words, float16
 * bits, normalization, one-hot). That array is never written again. The wasm backend copies it once more
 * into its heap inside `tf.tensor()`, which is tfjs's own copy and the reason the wasm backend would not
 * need ours; we copy anyway so the guarantee does not depend on the backend.
 *
 * Dtypes (tfjs has float32, int32 and bool only):
 *   float32, float64, float16 (decoded from its bits) → float32
 *   int8, int16, int32, uint8, uint16                 → int32 (exact)
 *   uint32, int64, uint64                             → int32 when every value fits, else InvalidArgumentError;
 *                                                       `dtype: 'float32'` converts them instead (exact up to 2^24)
 *   bool                                              → bool
 *   `normalize`                                       → float32 `value * scale + offset` (`true`: uint8 / 255)
 *   `oneHot: classes`                                 → float32 `[rows, classes]` from integer labels
 *                                                       (or integer-valued float32/float64 ones)
 *   utf8, binary                                      → InvalidArgumentError (not tensors)
 *   padded lists (loader options.pad)                 → `[rows, length]` values; `lengths: true`: int32 `[rows]`
 *   ragged lists                                      → `[items, ...itemShape]` values; `rowSplits: true` (or 0):
 *                                                       int32 `[rows + 1]`; lists of lists `rowSplits: k`: the
 *                                                       k-th inner level's splits (tfjs has no RaggedTensor:
 *                                                       values and splits are tensors side by side)
 *   `itemValidity: true`                              → bool, one per item place (see tensor-spec.ts)
 * Nulls cannot be represented in a tensor: a null in a selected column is an InvalidArgumentError, except
 * a null list, which is a row of padding with length 0 (padded) or an empty row (ragged), and a null item
 * of a list or fixed-size list, which reads as the pad value or 0 (`itemValidity` says where).
 */
import { InternalError, InvalidArgumentError } from '../../errors.js';
import type { Batch, BatchColumn } from '../batch.js';
import type { ResolvedColumnSpec, TensorDType } from './tensor-spec.js';

/** What `tf.tensor(data, shape, dtype)` takes. */
export interface TensorData {
  data: Float32Array | Int32Array | Uint8Array;
  shape: number[];
  dtype: TensorDType;
}

/** The one copy: column values (shared slot memory) → a fresh typed array in the tensor's dtype. */
export function toTensorData(batch: Batch, spec: ResolvedColumnSpec): TensorData {
  const col = batch.columns[spec.column];
  if (col === undefined) {
    throw new InvalidArgumentError(
      `${spec.path}: column '${spec.column}' is not in the batch (columns: ${Object.keys(batch.columns).join(', ') || 'none'})`,
      { option: spec.path, column: spec.column },
    );
  }
  const where = `${spec.path}: column '${spec.column}' (${col.dtype})`;
  const rows = col.shape[0] ?? 0;
  if (spec.itemValidity) return itemValidityData(col, rows, where, spec);
  if (col.dtype === 'utf8' || col.dtype === 'binary') {
    throw new InvalidArgumentError(
      `${where} cannot become a tensor: strings and binary values are not numbers; leave it out of xs/ys`,
      { option: spec.path, column: spec.column, dtype: col.dtype },
    );
  }
  if (spec.lengths) {
    if (!col.lengths)
      throw new InvalidArgumentError(
        `${where}: lengths: true is for list columns padded with the loader's options.pad`,
        {
          option: `${spec.path}.lengths`,
          column: spec.column,
        },
      );
    return { data: col.lengths.slice(), shape: [rows], dtype: 'int32' };
  }
  // Strings were refused above: offsets here are a ragged list's item offsets.
  const ragged = col.offsets !== undefined;
  if (spec.rowSplits !== null || (ragged && (spec.oneHot !== null || spec.shape !== null))) {
    const levels = col.offsets ? [col.offsets, ...(col.innerOffsets ?? [])] : [];
    const splits = levels[spec.rowSplits ?? -1];
    if (!splits)
      throw new InvalidArgumentError(
        `${where}: ${spec.rowSplits === null ? 'a ragged list takes no oneHot or shape' : col.offsets ? `rowSplits: ${spec.rowSplits} names no list level (the column has ${levels.length})` : 'rowSplits is for ragged list columns (no options.pad)'}`,
        { option: spec.path, column: spec.column },
      );
    return { data: splits.slice(), shape: [splits.length], dtype: 'int32' };
  }
  const rowShape = col.shape.slice(1);
  const perRow = rowShape.reduce((a, b) => a * b, 1);
  if (!ragged && col.values.length !== rows * perRow) {
    throw new InternalError(`${where}: ${col.values.length} values do not fill shape [${col.shape.join(', ')}]`);
  }
  if (!col.lengths && !ragged) checkNoNulls(col, where, spec);

  if (spec.oneHot !== null) return oneHotData(col, rows, perRow, spec.oneHot, spec, where);

  const itemShape = col.itemShape ?? [];
  const shape = ragged
    ? [col.values.length / itemShape.reduce((a, b) => a * b, 1), ...itemShape]
    : [rows, ...(spec.shape === null ? rowShape : resolveRowShape(spec.shape, perRow, where, spec.path))];
  const isFloat = col.dtype === 'float16' || col.dtype === 'float32' || col.dtype === 'float64';
  const isBool = col.dtype === 'bool';
  if (spec.normalize !== null) {
    if (isBool || (spec.normalize.uint8Only && col.dtype !== 'uint8')) {
      throw new InvalidArgumentError(
        `${where}: normalize: true is for uint8 columns (value / 255); use normalize: { scale, offset } for ${col.dtype}`,
        { option: `${spec.path}.normalize`, column: spec.column, dtype: col.dtype },
      );
    }
    return { data: normalized(col, spec.normalize), shape, dtype: 'float32' };
  }
  const dtype: TensorDType = spec.dtype ?? (isFloat ? 'float32' : isBool ? 'bool' : 'int32');
  if ((dtype === 'int32' && isFloat) || (dtype === 'bool' && !isBool)) {
    throw new InvalidArgumentError(
      `${where}: dtype '${dtype}' is accepted for ${dtype === 'bool' ? 'bool columns' : 'integer and bool columns'} only`,
      { option: `${spec.path}.dtype`, column: spec.column, dtype: col.dtype },
    );
  }
  if (dtype === 'bool') return { data: values(col, Uint8Array).slice(), shape, dtype };
  return { data: dtype === 'int32' ? toInt32(col, where, perRow, spec) : toFloat32(col), shape, dtype };
}

/** Which item places of a list or fixed-size list column hold a valid item, as a bool tensor's data. */
function itemValidityData(col: BatchColumn, rows: number, where: string, spec: ResolvedColumnSpec): TensorData {
  const per = col.shape.slice(1).reduce((a, b) => a * b, 1);
  const itemShape = col.itemShape ?? [];
  const shape = col.offsets ? [col.values.length / itemShape.reduce((a, b) => a * b, 1), ...itemShape] : col.shape;
  if (col.dtype === 'utf8' || col.dtype === 'binary' || (!col.offsets && per === 1))
    throw new InvalidArgumentError(`${where}: itemValidity: true is for list and fixed-size list columns`, {
      option: `${spec.path}.itemValidity`,
      column: spec.column,
    });
  if (col.itemValidity) return { data: col.itemValidity.slice(), shape, dtype: 'bool' };
  const data = new Uint8Array(shape.reduce((a, b) => a * b, 1));
  if (!col.lengths) data.fill(1);
  else for (let r = 0; r < rows; r++) data.fill(1, r * per, r * per + (col.lengths[r] as number));
  return { data, shape, dtype: 'bool' };
}

function checkNoNulls(col: BatchColumn, where: string, spec: ResolvedColumnSpec): void {
  const validity = col.validity;
  if (validity === undefined) return;
  const row = validity.indexOf(0);
  if (row !== -1) {
    throw new InvalidArgumentError(
      `${where} is null at row ${row} of the batch; tensors cannot hold nulls: fill or filter them before training`,
      { option: spec.path, column: spec.column, row },
    );
  }
}

function resolveRowShape(shape: number[], perRow: number, where: string, path: string): number[] {
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const free = shape.indexOf(-1);
  const resolved = free === -1 ? shape : shape.map((d) => (d === -1 ? perRow / known : d));
  if ((free === -1 && known !== perRow) || (free !== -1 && perRow % known !== 0)) {
    throw new InvalidArgumentError(
      `${path}.shape [${shape.join(', ')}] does not hold the ${perRow} values per row of ${where.slice(path.length + 2)}`,
      { option: `${path}.shape`, shape, valuesPerRow: perRow },
    );
  }
  return resolved;
}

type TypedArrayCtor<T> = { new (length: number): T; prototype: T };

/** The column's values as the array type its dtype promises (a mismatch is a loader bug). */
function values<T>(col: BatchColumn, Ctor: TypedArrayCtor<T>): T {
  if (!(col.values instanceof (Ctor as unknown as abstract new (...args: never[]) => unknown))) {
    throw new InternalError(`batch column of dtype ${col.dtype} holds a ${col.values.constructor.name}`);
  }
  return col.values as unknown as T;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;

/** The 32-bit words of 64-bit integer values (no BigInt per value). */
function words(v: BigInt64Array | BigUint64Array): { i32: Int32Array; u32: Uint32Array } {
  return {
    i32: new Int32Array(v.buffer, v.byteOffset, v.length * 2),
    u32: new Uint32Array(v.buffer, v.byteOffset, v.length * 2),
  };
}

function toInt32(col: BatchColumn, where: string, perRow: number, spec: ResolvedColumnSpec): Int32Array {
  const v = col.values;
  if (col.dtype === 'int32') return values(col, Int32Array).slice();
  if (col.dtype === 'uint32' || col.dtype === 'int64' || col.dtype === 'uint64') {
    const out = new Int32Array(v.length);
    const bad = (i: number): never => {
      throw new InvalidArgumentError(
        `${where}: row ${Math.floor(i / perRow)} holds ${String(v[i])}, outside int32 (tfjs has no 64-bit or ` +
          `unsigned 32-bit integers); pass dtype: 'float32' to convert with rounding above 2^24`,
        { option: `${spec.path}.dtype`, column: spec.column, row: Math.floor(i / perRow) },
      );
    };
    if (col.dtype === 'uint32') {
      const u = values(col, Uint32Array);
      for (let i = 0; i < u.length; i++) {
        const x = u[i]!;
        if (x > 0x7fffffff) bad(i);
        out[i] = x;
      }
    } else if (col.dtype === 'int64') {
      const { i32 } = words(values(col, BigInt64Array));
      for (let i = 0; i < out.length; i++) {
        const lo = i32[2 * i + LO]!;
        if (i32[2 * i + HI] !== lo >> 31) bad(i); // fits iff the high word is the sign extension of the low
        out[i] = lo;
      }
    } else {
      const { i32 } = words(values(col, BigUint64Array));
      for (let i = 0; i < out.length; i++) {
        const lo = i32[2 * i + LO]!;
        if (i32[2 * i + HI] !== 0 || lo < 0) bad(i);
        out[i] = lo;
      }
    }
    return out;
  }
  if (
    v instanceof BigInt64Array ||
    v instanceof BigUint64Array ||
    v instanceof Float32Array ||
    v instanceof Float64Array
  ) {
    throw new InternalError(`batch column of dtype ${col.dtype} holds a ${v.constructor.name}`);
  }
  if (col.dtype === 'float16') throw new InternalError('float16 reached the int32 conversion');
  return new Int32Array(v); // int8/int16/uint8/uint16/bool: exact widening, the one copy
}

function toFloat32(col: BatchColumn): Float32Array {
  const v = col.values;
  switch (col.dtype) {
    case 'float32':
      return values(col, Float32Array).slice();
    case 'float16': {
      const bits = values(col, Uint16Array);
      const table = float16Table();
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
      return out;
    }
    case 'int64':
    case 'uint64': {
      const { i32, u32 } = words(col.dtype === 'int64' ? values(col, BigInt64Array) : values(col, BigUint64Array));
      const signed = col.dtype === 'int64';
      const out = new Float32Array(v.length);
      for (let i = 0; i < out.length; i++) {
        const hi = signed ? i32[2 * i + HI]! : u32[2 * i + HI]!;
        out[i] = hi * 4294967296 + u32[2 * i + LO]!;
      }
      return out;
    }
    default:
      if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
        throw new InternalError(`batch column of dtype ${col.dtype} holds a ${v.constructor.name}`);
      }
      return new Float32Array(v); // float64 (rounded), integers, bool 0/1: the one copy
  }
}

function normalized(col: BatchColumn, n: { scale: number; offset: number }): Float32Array {
  if (col.dtype === 'uint8') {
    const bytes = values(col, Uint8Array);
    const table = new Float32Array(256);
    for (let b = 0; b < 256; b++) table[b] = b * n.scale + n.offset;
    const out = new Float32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
    return out;
  }
  // Convert (the one copy), then scale in place: values are rounded to float32 before scaling.
  const out = toFloat32(col);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! * n.scale + n.offset;
  return out;
}

function oneHotData(
  col: BatchColumn,
  rows: number,
  perRow: number,
  classes: number,
  spec: ResolvedColumnSpec,
  where: string,
): TensorData {
  // Float labels are what LanceDB infers from plain JS numbers; each must hold an integer.
  const floating = col.dtype === 'float32' || col.dtype === 'float64';
  if (col.dtype === 'float16' || col.dtype === 'bool' || perRow !== 1) {
    throw new InvalidArgumentError(
      `${where}: oneHot needs one integer (or integer-valued float32/float64) label per row, got ${col.dtype} with shape [${col.shape.join(', ')}]`,
      { option: `${spec.path}.oneHot`, column: spec.column, dtype: col.dtype },
    );
  }
  const dtype: TensorDType = spec.dtype ?? 'float32';
  const out = dtype === 'int32' ? new Int32Array(rows * classes) : new Float32Array(rows * classes);
  const v = col.values;
  const wide = v instanceof BigInt64Array || v instanceof BigUint64Array ? words(v) : null;
  for (let r = 0; r < rows; r++) {
    // 64-bit labels: in range iff the high word is 0 and the low word (unsigned) is below `classes`.
    const label = wide === null ? (v[r] as number) : wide.i32[2 * r + HI] === 0 ? wide.u32[2 * r + LO]! : -1;
    if (floating && !Number.isInteger(label)) {
      throw new InvalidArgumentError(
        `${where}: row ${r} holds label ${String(label)}, which is not an integer, for ${spec.path}.oneHot`,
        { option: `${spec.path}.oneHot`, column: spec.column, row: r },
      );
    }
    if (!(label >= 0 && label < classes)) {
      throw new InvalidArgumentError(
        `${where}: row ${r} holds label ${String(v[r])}, outside [0, ${classes}) of ${spec.path}.oneHot`,
        { option: `${spec.path}.oneHot`, column: spec.column, row: r },
      );
    }
    out[r * classes + label] = 1;
  }
  return { data: out, shape: [rows, classes], dtype };
}

let f16: Float32Array | null = null;

/** float16 bits → float32 value, for all 65536 bit patterns (256 KiB, built on first use). */
function float16Table(): Float32Array {
  if (f16 !== null) return f16;
  f16 = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    f16[h] =
      exponent === 0
        ? sign * fraction * 2 ** -24 // zero and subnormals
        : exponent === 31
          ? fraction === 0
            ? sign * Infinity
            : NaN
          : sign * (1024 + fraction) * 2 ** (exponent - 25);
  }
  return f16;
}

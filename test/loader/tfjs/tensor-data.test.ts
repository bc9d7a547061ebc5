/**
 * Batch columns → tensor data without tfjs: every dtype conversion, normalization, one-hot, shapes, and
 * the rejections (strings, nulls, values outside int32, labels outside the classes) with their messages.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../errors.js';
import type { Batch, BatchColumn } from '../../../loader/batch.js';
import { toTensorData, type TensorData } from '../../../loader/tfjs/tensor-data.js';
import { resolveColumnSpec, type ColumnSpecInput } from '../../../loader/tfjs/tensor-spec.js';
import { caught } from '../../caught.js';

/** A batch of hand-made columns (ordinary memory). */
function batchOf(columns: Record<string, BatchColumn>): Batch {
  const rows = Object.values(columns)[0]?.shape[0] ?? 0;
  return { epoch: 0, index: 0, rowOffsets: new Uint32Array(rows), numRows: rows, columns, release: () => {} };
}

/** Tensor data of one column spec, given at option path `spec` as batchToTensors does. */
function dataOf(batch: Batch, spec: ColumnSpecInput, path = 'spec'): TensorData {
  return toTensorData(batch, resolveColumnSpec(spec, path));
}

describe('toTensorData conversions', () => {
  it('normalizes uint8 to float32 by /255 or by a given scale and offset', () => {
    const batch = batchOf({ px: { dtype: 'uint8', values: new Uint8Array([0, 51, 255, 128]), shape: [2, 2] } });
    const a = dataOf(batch, { column: 'px', normalize: true });
    const b = dataOf(batch, { column: 'px', normalize: { scale: 2, offset: -1 } });
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(a.data)).toEqual([0, 0.2, 1, 128 / 255].map(Math.fround));
    expect(Array.from(b.data)).toEqual([-1, 101, 509, 255]);
  });

  it('widens small integers to int32 and applies a per-row shape', () => {
    const batch = batchOf({
      i8: { dtype: 'int8', values: new Int8Array([-128, 127, 0, -1]), shape: [1, 4] },
      u16: { dtype: 'uint16', values: new Uint16Array([65535, 0, 1, 2]), shape: [1, 4] },
    });
    const i8 = dataOf(batch, 'i8');
    const u16 = dataOf(batch, { column: 'u16', shape: [2, -1] });
    expect(i8.dtype).toBe('int32');
    expect(i8.data).toBeInstanceOf(Int32Array);
    expect(Array.from(i8.data)).toEqual([-128, 127, 0, -1]);
    expect(u16.shape).toEqual([1, 2, 2]);
    expect(Array.from(u16.data)).toEqual([65535, 0, 1, 2]);
  });

  it('converts int64 to int32 when every value fits and to float32 on request', () => {
    const values = new BigInt64Array([-2147483648n, 2147483647n, -1n, 1n << 40n]);
    const a = dataOf(batchOf({ id: { dtype: 'int64', values: values.subarray(0, 3), shape: [3] } }), 'id');
    const b = dataOf(batchOf({ id: { dtype: 'int64', values, shape: [4] } }), { column: 'id', dtype: 'float32' });
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.data)).toEqual([-2147483648, 2147483647, -1]);
    expect(b.dtype).toBe('float32');
    expect(Array.from(b.data)).toEqual([-2147483648, Math.fround(2147483647), -1, 2 ** 40]);
  });

  it('rejects int64 and uint64 values outside int32 naming column and row', () => {
    const big = batchOf({ id: { dtype: 'int64', values: new BigInt64Array([5n, 1n << 40n]), shape: [2] } });
    const error = caught(() => dataOf(big, 'id'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      "spec: column 'id' (int64): row 1 holds 1099511627776, outside int32 (tfjs has no 64-bit or unsigned " +
        "32-bit integers); pass dtype: 'float32' to convert with rounding above 2^24",
    );
    const u = batchOf({ id: { dtype: 'uint64', values: new BigUint64Array([7n, 2147483648n]), shape: [2] } });
    expect(caught(() => dataOf(u, 'id')).message).toContain('row 1 holds 2147483648, outside int32');
    const ok = dataOf(
      batchOf({ id: { dtype: 'uint64', values: new BigUint64Array([7n, 2147483647n]), shape: [2] } }),
      'id',
    );
    expect(Array.from(ok.data)).toEqual([7, 2147483647]);
  });

  it('decodes float16 bits to float32', () => {
    // 1, -2, max half 65504, smallest subnormal 2^-24, +inf, NaN, -0, 0x3555 ≈ 1/3
    const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00, 0x8000, 0x3555]);
    const t = dataOf(batchOf({ h: { dtype: 'float16', values: bits, shape: [8] } }), 'h');
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data)).toEqual([1, -2, 65504, 2 ** -24, Infinity, NaN, -0, 0.333251953125]);
  });

  it('keeps bool as bool and rounds float64 to float32', () => {
    const batch = batchOf({
      flag: { dtype: 'bool', values: new Uint8Array([1, 0, 1]), shape: [3] },
      x: { dtype: 'float64', values: new Float64Array([0.1, -1e300, 3]), shape: [3] },
    });
    const flag = dataOf(batch, 'flag');
    const x = dataOf(batch, 'x');
    expect(flag.dtype).toBe('bool');
    expect(Array.from(flag.data)).toEqual([1, 0, 1]);
    expect(x.dtype).toBe('float32');
    expect(Array.from(x.data)).toEqual([Math.fround(0.1), -Infinity, 3]);
  });

  it('one-hot encodes integer labels as float32 [rows, classes]', () => {
    const batch = batchOf({ y: { dtype: 'int64', values: new BigInt64Array([2n, 0n, 1n]), shape: [3] } });
    const t = dataOf(batch, { column: 'y', oneHot: 3 });
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([3, 3]);
    expect(Array.from(t.data)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    const bad = batchOf({ y: { dtype: 'int32', values: new Int32Array([0, 3]), shape: [2] } });
    expect(caught(() => dataOf(bad, { column: 'y', oneHot: 3 })).message).toBe(
      "spec: column 'y' (int32): row 1 holds label 3, outside [0, 3) of spec.oneHot",
    );
  });

  it('one-hot encodes integer-valued float64 labels (what LanceDB infers from JS numbers)', () => {
    const batch = batchOf({ y: { dtype: 'float64', values: new Float64Array([2, 0, 1]), shape: [3] } });
    const t = dataOf(batch, { column: 'y', oneHot: 3, dtype: 'int32' });
    expect(t.dtype).toBe('int32');
    expect(Array.from(t.data)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });

  it('refuses a float label that is not an integer with an InvalidArgumentError naming the row', () => {
    const bad = batchOf({ y: { dtype: 'float32', values: new Float32Array([1, 2.5]), shape: [2] } });
    const error = caught(() => dataOf(bad, { column: 'y', oneHot: 3 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      "spec: column 'y' (float32): row 1 holds label 2.5, which is not an integer, for spec.oneHot",
    );
  });

  it('copies even when the column already has the tensor dtype', () => {
    const values = new Float32Array([1, 2, 3]);
    const t = dataOf(batchOf({ x: { dtype: 'float32', values, shape: [3] } }), 'x');
    values.fill(0);
    expect(Array.from(t.data)).toEqual([1, 2, 3]);
  });
});

describe('toTensorData rejections', () => {
  it('rejects string and binary columns naming the column', () => {
    const batch = batchOf({
      caption: { dtype: 'utf8', values: new Uint8Array([104, 105]), shape: [2], offsets: new Int32Array([0, 1, 2]) },
      blob: { dtype: 'binary', values: new Uint8Array([1]), shape: [1], offsets: new Int32Array([0, 1]) },
    });
    const error = caught(() => dataOf(batch, 'caption', 'spec[1]'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      "spec[1]: column 'caption' (utf8) cannot become a tensor: strings and binary values are not numbers; leave it out of xs/ys",
    );
    expect(caught(() => dataOf(batch, 'blob')).message).toContain("column 'blob' (binary) cannot become a tensor");
  });

  it('rejects a missing column listing the columns there are', () => {
    const batch = batchOf({ a: { dtype: 'int32', values: new Int32Array([1]), shape: [1] } });
    const error = caught(() => dataOf(batch, 'b', 'spec.x'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe("spec.x: column 'b' is not in the batch (columns: a)");
  });

  it('rejects nulls, a shape that does not fit, and normalize: true on non-uint8 columns', () => {
    const batch = batchOf({
      n: { dtype: 'int32', values: new Int32Array([1, 0]), shape: [2], validity: new Uint8Array([1, 0]) },
      f: { dtype: 'float32', values: new Float32Array(6), shape: [2, 3] },
    });
    expect(caught(() => dataOf(batch, 'n')).message).toBe(
      "spec: column 'n' (int32) is null at row 1 of the batch; tensors cannot hold nulls: fill or filter them before training",
    );
    expect(caught(() => dataOf(batch, { column: 'f', shape: [2, 2] })).message).toBe(
      "spec.shape [2, 2] does not hold the 3 values per row of column 'f' (float32)",
    );
    expect(caught(() => dataOf(batch, { column: 'f', normalize: true })).message).toBe(
      "spec: column 'f' (float32): normalize: true is for uint8 columns (value / 255); use normalize: { scale, offset } for float32",
    );
  });
});

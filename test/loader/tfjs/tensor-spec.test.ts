/**
 * The xs/ys spec language of the tfjs adapter, validated without tfjs: tree shapes, defaults, and a
 * message with the option path for every bad option.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../errors.js';
import { resolveColumnSpec, resolveTensorsSpec } from '../../../loader/tfjs/tensor-spec.js';
import { caught } from '../../caught.js';

describe('resolveTensorsSpec', () => {
  it('reads a name, a list and a record as one tensor, inputs in order and inputs by name', () => {
    expect(resolveTensorsSpec('a', 'xs')).toEqual({
      kind: 'one',
      spec: {
        path: 'xs',
        column: 'a',
        shape: null,
        normalize: null,
        dtype: null,
        oneHot: null,
        lengths: false,
        rowSplits: null,
        itemValidity: false,
      },
    });
    const list = resolveTensorsSpec(['a', { column: 'b', shape: [2, -1] }], 'xs');
    expect(list.kind === 'list' && list.specs.map((s) => [s.path, s.column, s.shape])).toEqual([
      ['xs[0]', 'a', null],
      ['xs[1]', 'b', [2, -1]],
    ]);
    const record = resolveTensorsSpec({ image: { column: 'px', normalize: true }, label: 'y' }, 'ys');
    expect(record.kind === 'record' && record.specs.map(([name, s]) => [name, s.path, s.normalize])).toEqual([
      ['image', 'ys.image', { scale: 1 / 255, offset: 0, uint8Only: true }],
      ['label', 'ys.label', null],
    ]);
  });

  it('rejects an empty list or record', () => {
    const error = caught(() => resolveTensorsSpec([], 'xs'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      'xs must be a column name, { column, ... }, a non-empty array of them or a non-empty record of them; got []',
    );
    expect(caught(() => resolveTensorsSpec({}, 'ys')).message).toContain('ys must be a column name');
  });
});

describe('resolveColumnSpec', () => {
  it('rejects bad options with the option path', () => {
    expect(caught(() => resolveColumnSpec({ column: 'a', oneHot: 0 }, 'spec')).message).toBe(
      'spec.oneHot: expected the number of classes (integer ≥ 1), got 0',
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', dtype: 'int8' }, 'spec[0]')).message).toBe(
      "spec[0].dtype: expected 'float32', 'int32' or 'bool', got 'int8'",
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', normalize: 'yes' }, 'xs')).message).toBe(
      "xs.normalize: expected true, false or { scale, offset }, got 'yes'",
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', shape: [-1, -1] }, 'xs')).message).toBe(
      'xs.shape: expected an array of positive integers with at most one -1 (per-row shape), got [-1,-1]',
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', scale: 2 }, 'xs')).message).toBe(
      'xs.scale: expected no such option (column, shape, normalize, dtype, oneHot, lengths, rowSplits, itemValidity), got 2',
    );
  });

  it('rejects options that contradict each other', () => {
    expect(caught(() => resolveColumnSpec({ column: 'a', normalize: true, dtype: 'int32' }, 'xs')).message).toBe(
      "xs.dtype: expected 'float32' (or nothing) with normalize, got 'int32'",
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', oneHot: 3, shape: [3] }, 'ys')).message).toBe(
      'ys.oneHot: expected no normalize and no shape alongside oneHot, got 3',
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', oneHot: 3, dtype: 'bool' }, 'ys')).message).toBe(
      "ys.dtype: expected 'float32' or 'int32' with oneHot, got 'bool'",
    );
    expect(caught(() => resolveColumnSpec({ column: 'a', lengths: true, dtype: 'float32' }, 'xs')).message).toBe(
      'xs.lengths: expected no shape, normalize, dtype or oneHot alongside lengths, got true',
    );
  });

  it('rejects lengths that is not a boolean', () => {
    expect(caught(() => resolveColumnSpec({ column: 'a', lengths: 1 }, 'xs')).message).toBe(
      'xs.lengths: expected true or false, got 1',
    );
  });
});

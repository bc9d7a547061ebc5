/**
 * What the caller asks of the tfjs adapter: which batch columns become which tensors (`xs`, `ys`), and
 * how (shape, normalize, dtype, oneHot). Validated once per `toTfDataset` / `batchToTensors` call, with
 * the option path in every message (`xs[1].shape`, `ys.label.oneHot`), never per batch. No tfjs here.
 *
 *   TensorsSpec ──resolveTensorsSpec──► ResolvedTree ──(per batch, tensor-data.ts)──► tensor data
 *     'pixels'                            { kind: 'one',    spec }
 *     ['a', { column: 'b' }]              { kind: 'list',   specs }
 *     { image: 'a', meta: 'b' }           { kind: 'record', specs: [name, spec][] }
 */
import { isOptionsObject } from '../../dataset/file.js';
import { InvalidArgumentError } from '../../errors.js';

/** The tensor dtypes tfjs has. */
export type TensorDType = 'float32' | 'int32' | 'bool';

/** How one column becomes one tensor. A plain string is `{ column: string }`. */
export interface ColumnTensorSpec {
  column: string;
  /** Per-row shape of the tensor (one entry may be -1); default the column's own per-row shape. */
  shape?: number[];
  /** Map values to float32 `value * scale + offset`; `true` means uint8 → `value / 255`. */
  normalize?: boolean | { scale: number; offset: number };
  /** Tensor dtype; default from the column dtype (see tensor-data.ts). */
  dtype?: TensorDType;
  /** Integer class labels → one-hot `[rows, oneHot]` (float32 unless `dtype: 'int32'`). */
  oneHot?: number;
  /** A padded list column (loader options.pad): its `lengths` as an int32 `[rows]` tensor instead of its values. */
  lengths?: boolean;
  /**
   * A ragged list column (no options.pad): its row splits as an int32 tensor instead of its values. `true`
   * or 0: the rows' (`rows + 1` offsets); for a list of lists, `k` ≥ 1: the k-th inner level's
   * (the batch column's `innerOffsets[k - 1]`), so `[values, splits 0, splits 1]` is a nested ragged tensor.
   */
  rowSplits?: boolean | number;
  /**
   * A list or fixed-size list column: which items are valid, as a bool tensor instead of its values:
   * `[rows, length]` for a padded list (false also on padding), `[items, ...itemShape]` for a ragged one
   * (the shape of its values), `[rows, dim]` for a fixed-size list; all true (padded: where an item is) when
   * the batch has no null item.
   */
  itemValidity?: boolean;
}

export type ColumnSpecInput = string | ColumnTensorSpec;
/** One tensor, several inputs in order (`model.inputs`), or inputs by name. */
export type TensorsSpec = ColumnSpecInput | ColumnSpecInput[] | { [input: string]: ColumnSpecInput };

/** A validated {@link ColumnTensorSpec}. */
export interface ResolvedColumnSpec {
  /** Option path for messages, e.g. `xs[1]`, `ys.label`. */
  path: string;
  column: string;
  shape: number[] | null;
  normalize: { scale: number; offset: number; uint8Only: boolean } | null;
  dtype: TensorDType | null;
  oneHot: number | null;
  lengths: boolean;
  /** The list level whose row splits the tensor is, or null for the values. */
  rowSplits: number | null;
  itemValidity: boolean;
}

/** A validated {@link TensorsSpec}: the same tree, each leaf resolved. */
export type ResolvedTree =
  | { kind: 'one'; spec: ResolvedColumnSpec }
  | { kind: 'list'; specs: ResolvedColumnSpec[] }
  | { kind: 'record'; specs: [string, ResolvedColumnSpec][] };

const DTYPES: readonly TensorDType[] = ['float32', 'int32', 'bool'];
const SPEC_KEYS = ['column', 'shape', 'normalize', 'dtype', 'oneHot', 'lengths', 'rowSplits', 'itemValidity'];

/** A value as an option message shows it: strings in single quotes, the rest as JSON. */
export function describeOption(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Validates a tensors spec given at option path `path` (`xs`, `ys`, `spec`). */
export function resolveTensorsSpec(spec: unknown, path: string): ResolvedTree {
  if (typeof spec === 'string' || (isOptionsObject(spec) && typeof spec.column === 'string')) {
    return { kind: 'one', spec: resolveColumnSpec(spec, path) };
  }
  if (Array.isArray(spec) && spec.length > 0) {
    return { kind: 'list', specs: spec.map((s, i) => resolveColumnSpec(s, `${path}[${i}]`)) };
  }
  if (isOptionsObject(spec) && Object.keys(spec).length > 0) {
    return { kind: 'record', specs: Object.entries(spec).map(([k, s]) => [k, resolveColumnSpec(s, `${path}.${k}`)]) };
  }
  throw new InvalidArgumentError(
    `${path} must be a column name, { column, ... }, a non-empty array of them or a non-empty record of them; ` +
      `got ${describeOption(spec)}`,
    { option: path },
  );
}

/** Validates one column spec given at option path `path`. */
export function resolveColumnSpec(input: unknown, path: string): ResolvedColumnSpec {
  const fail = (option: string, accepted: string, value: unknown): never => {
    throw new InvalidArgumentError(`${path}${option}: expected ${accepted}, got ${describeOption(value)}`, {
      option: `${path}${option}`,
    });
  };
  if (typeof input === 'string') input = { column: input };
  if (!isOptionsObject(input))
    return fail('', 'a column name or { column, shape?, normalize?, dtype?, oneHot? }', input);
  const { column, shape, normalize, dtype, oneHot, lengths, rowSplits, itemValidity } = input;
  for (const key of Object.keys(input)) {
    if (!SPEC_KEYS.includes(key)) fail(`.${key}`, `no such option (${SPEC_KEYS.join(', ')})`, input[key]);
  }
  if (typeof column !== 'string' || column === '') fail('.column', 'a column name', column);
  const spec: ResolvedColumnSpec = {
    path,
    column: column as string,
    shape: null,
    normalize: null,
    dtype: null,
    oneHot: null,
    lengths: false,
    rowSplits: null,
    itemValidity: false,
  };
  if (shape !== undefined) {
    const ok =
      Array.isArray(shape) &&
      shape.every((d) => Number.isInteger(d) && ((d as number) > 0 || d === -1)) &&
      shape.filter((d) => d === -1).length <= 1;
    if (!ok) fail('.shape', 'an array of positive integers with at most one -1 (per-row shape)', shape);
    spec.shape = shape as number[];
  }
  if (dtype !== undefined) {
    if (!DTYPES.includes(dtype as TensorDType)) fail('.dtype', "'float32', 'int32' or 'bool'", dtype);
    spec.dtype = dtype as TensorDType;
  }
  if (normalize === true) {
    spec.normalize = { scale: 1 / 255, offset: 0, uint8Only: true };
  } else if (isOptionsObject(normalize)) {
    const { scale, offset } = normalize;
    if (
      typeof scale !== 'number' ||
      !Number.isFinite(scale) ||
      typeof offset !== 'number' ||
      !Number.isFinite(offset)
    ) {
      fail('.normalize', '{ scale, offset } with finite numbers', normalize);
    }
    spec.normalize = { scale: scale as number, offset: offset as number, uint8Only: false };
  } else if (normalize !== undefined && normalize !== false) {
    fail('.normalize', 'true, false or { scale, offset }', normalize);
  }
  if (spec.normalize !== null && spec.dtype !== null && spec.dtype !== 'float32') {
    fail('.dtype', "'float32' (or nothing) with normalize", dtype);
  }
  if (oneHot !== undefined) {
    if (!Number.isInteger(oneHot) || (oneHot as number) < 1)
      fail('.oneHot', 'the number of classes (integer ≥ 1)', oneHot);
    if (spec.normalize !== null || spec.shape !== null)
      fail('.oneHot', 'no normalize and no shape alongside oneHot', oneHot);
    if (spec.dtype === 'bool') fail('.dtype', "'float32' or 'int32' with oneHot", dtype);
    spec.oneHot = oneHot as number;
  }
  const instead: string[] = [];
  for (const [key, value] of [
    ['lengths', lengths],
    ['rowSplits', rowSplits],
    ['itemValidity', itemValidity],
  ] as const) {
    if (value === undefined || value === false) continue;
    const level = key === 'rowSplits' && Number.isInteger(value) && (value as number) >= 0;
    if (value !== true && !level)
      fail(`.${key}`, key === 'rowSplits' ? 'true, false or a list level (integer ≥ 0)' : 'true or false', value);
    if (shape !== undefined || normalize !== undefined || dtype !== undefined || oneHot !== undefined)
      fail(`.${key}`, `no shape, normalize, dtype or oneHot alongside ${key}`, value);
    if (key === 'rowSplits') spec.rowSplits = value === true ? 0 : (value as number);
    else spec[key] = true;
    instead.push(key);
  }
  if (instead.length > 1)
    fail(
      `.${instead[1]}`,
      `one of lengths, rowSplits and itemValidity, not ${instead.join(' and ')}`,
      input[instead[1] as string],
    );
  return spec;
}

/**
 * How a batch's columns sit in a slot of shared memory. Fixed-width columns get a region of
 * `batchSize × bytesPerRow` bytes (8-byte aligned) plus, when nullable, one validity byte per row;
 * variable-width columns (utf8, binary) are returned by the workers and live outside the slot, except
 * those with a transform, whose fixed-shape output (plan.shape, uint8 or float32) gets a region like a
 * fixed-width column's.
 *
 *   slot: [col A values | pad][col A validity | pad][col B values | pad] …
 *
 * Nested columns: a padded list (options.pad) is fixed width, `length` items per row plus an int32
 * length per row; a ragged list (lists of numbers, strings, lists, the leaves of lists of structs) is
 * variable width, its items with each level's offsets; a struct child by path (`meta.score`) is a column
 * like a flat one, null where it or any struct above it is null.
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { isListType, packedFieldKind, type LanceField } from '../format/schema.js';
import type { ColumnDType, ColumnValues } from './batch.js';
import type { PadOptions } from './loader-options.js';
import { fixedByteWidth, isVariableWidth, valueTypeOf } from '../dataset/arrow-build.js';
import type { ColumnTransformPlan } from '../decode-workers/transforms/steps.js';
import { isBlobColumn } from '../decode-workers/blob-fill.js';
import { packedChildOf } from '../decode-workers/batch-fields.js';

type ValuesConstructor = (new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ColumnValues) & {
  BYTES_PER_ELEMENT: number;
};

interface ColumnLayout {
  name: string;
  dtype: ColumnDType;
  variable: boolean;
  /** Whether the workers transform the column's values into the slot (`variable` is then false). */
  transformed: boolean;
  nullable: boolean;
  /** Bytes of one row (fixed width). */
  bytesPerRow: number;
  /** Dimensions of one row after the batch dimension. */
  rowShape: number[];
  ArrayType: ValuesConstructor;
  /** Byte offsets within the slot (fixed width), or -1. */
  valuesOffset: number;
  validityOffset: number;
  /** List columns, padded or ragged, whatever their items. */
  list?: true;
  /** Lists of fixed-width items: bytes of one item. */
  itemBytes?: number;
  /** Ragged lists of fixed-size lists: the shape of one item. */
  itemShape?: number[];
  /** Padded lists: how rows are padded, and the byte offset of one int32 length per row. */
  pad?: Required<PadOptions> & { lengthsOffset: number };
  /**
   * Packed structs: the workers decode whole rows (`bytesPerRow`) into the column's place and split them
   * into these fields' places; each field is a batch column of its own, named by its path.
   */
  packed?: PackedFieldLayout[];
}

/** One field of a packed struct in a batch slot: `byteWidth` bytes per row from `byteOffset`. */
interface PackedFieldLayout {
  name: string;
  dtype: ColumnDType;
  ArrayType: ValuesConstructor;
  rowShape: number[];
  byteWidth: number;
  byteOffset: number;
}

export interface BatchLayout {
  columns: ColumnLayout[];
  slotBytes: number;
}

function scalarDType(type: arrow.DataType, name: string): { dtype: ColumnDType; ArrayType: ValuesConstructor } {
  if (arrow.DataType.isInt(type)) {
    const key = `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}` as ColumnDType;
    const table: Record<string, ValuesConstructor> = {
      int8: Int8Array,
      int16: Int16Array,
      int32: Int32Array,
      int64: BigInt64Array,
      uint8: Uint8Array,
      uint16: Uint16Array,
      uint32: Uint32Array,
      uint64: BigUint64Array,
    };
    return { dtype: key, ArrayType: table[key] as ValuesConstructor };
  }
  if (arrow.DataType.isFloat(type)) {
    if (type.precision === arrow.Precision.HALF) return { dtype: 'float16', ArrayType: Uint16Array };
    return type.precision === arrow.Precision.SINGLE
      ? { dtype: 'float32', ArrayType: Float32Array }
      : { dtype: 'float64', ArrayType: Float64Array };
  }
  if (arrow.DataType.isBool(type)) return { dtype: 'bool', ArrayType: Uint8Array };
  if (arrow.DataType.isDate(type))
    return type.unit === arrow.DateUnit.DAY
      ? { dtype: 'int32', ArrayType: Int32Array }
      : { dtype: 'int64', ArrayType: BigInt64Array };
  if (arrow.DataType.isTimestamp(type)) return { dtype: 'int64', ArrayType: BigInt64Array };
  if (arrow.DataType.isTime(type))
    return type.bitWidth === 32
      ? { dtype: 'int32', ArrayType: Int32Array }
      : { dtype: 'int64', ArrayType: BigInt64Array };
  if (arrow.DataType.isFixedSizeBinary(type)) return { dtype: 'uint8', ArrayType: Uint8Array };
  throw new UnsupportedError(`column "${name}" has type ${type}, which the loader cannot batch`, { column: name });
}

/** The scalar type of a fixed-width type's values and how many of them a value holds. */
function scalarsOf(type: arrow.DataType): { scalarType: arrow.DataType; items: number } {
  if (arrow.DataType.isFixedSizeList(type))
    return { scalarType: type.children[0]?.type as arrow.DataType, items: type.listSize };
  if (arrow.DataType.isFixedSizeBinary(type)) return { scalarType: type, items: type.byteWidth };
  return { scalarType: type, items: 1 };
}

function align8(x: number): number {
  return Math.ceil(x / 8) * 8;
}

/**
 * Lays out the columns of batches of `batchSize` rows; `shapes` reshapes rows (e.g. `{ pixels: [28, 28, 1] }`),
 * `transforms` gives transformed columns their output's shape and dtype.
 */
export function planBatchLayout(
  fields: LanceField[],
  batchSize: number,
  shapes: Record<string, readonly number[]> = {},
  transforms: Record<string, ColumnTransformPlan> = {},
  pad: Record<string, PadOptions> = {},
): BatchLayout {
  let at = 0;
  for (const [option, names] of [
    ['shapes', Object.keys(shapes)],
    ['transforms', Object.keys(transforms)],
    ['pad', Object.keys(pad)],
  ] as const) {
    for (const name of names)
      if (!fields.some((f) => f.name === name))
        throw new InvalidArgumentError(`options.${option}.${name} names a column that is not loaded`, {
          option: `${option}.${name}`,
        });
  }
  for (const name of Object.keys(pad)) {
    const field = fields.find((f) => f.name === name) as LanceField;
    const type = valueTypeOf(field.arrowType);
    if (!isListType(field.logicalType))
      throw new InvalidArgumentError(`options.pad.${name}: column "${name}" is ${type}, not a list`, {
        option: `pad.${name}`,
      });
  }
  const refused: UnsupportedError[] = [];
  const columns = fields.map((field): ColumnLayout | undefined => {
    try {
      return columnLayout(field);
    } catch (error) {
      if (!(error instanceof UnsupportedError)) throw error;
      refused.push(error);
      return undefined;
    }
  });
  // One error naming every column the loader cannot batch, so that loading all columns (the default) says at once which to leave out.
  if (refused.length === 1) throw refused[0];
  if (refused.length > 1)
    throw new UnsupportedError(
      `${refused.length} of the ${fields.length} columns cannot be batched: ${refused.map((e) => e.message).join('; ')}`,
      { columns: refused.map((e) => e.details.column) },
    );
  return { columns: columns as ColumnLayout[], slotBytes: Math.max(8, at) };

  function columnLayout(field: LanceField): ColumnLayout {
    // A field of a packed struct with strings by path (decode-workers/packed-leaf.ts): a column like the
    // field's own, null where the struct is.
    const [child] = field.children;
    if (packedChildOf(field) !== undefined && child)
      return columnLayout({
        ...field,
        arrowType: child.arrowType,
        logicalType: child.logicalType,
        metadata: child.metadata,
        children: [],
      });
    const type = valueTypeOf(field.arrowType);
    const packed = packedFieldKind(field);
    if (packed === 'packed')
      return packedLayout(field, batchSize, shapes[field.name], (bytes) => {
        const start = at;
        at = align8(at + bytes);
        return start;
      });
    // A blob column's values are binary values (decode-workers/blob-fill.ts), its stored type their descriptors'.
    const blob = isBlobColumn(field);
    const variable = blob || isVariableWidth(type);
    // A struct child by path is null where a struct above it is.
    const nullable = field.nullable || (field.ancestors ?? []).some((a) => a.nullable);
    const transform = transforms[field.name];
    if (transform) {
      if (!variable)
        throw new InvalidArgumentError(
          `options.transforms.${field.name}: column "${field.name}" is ${type}; transforms take binary or string columns (encoded images)`,
          { option: `transforms.${field.name}` },
        );
      if (shapes[field.name])
        throw new InvalidArgumentError(
          `options.shapes.${field.name}: a transformed column has its transform's shape [${transform.shape.join(', ')}]`,
          { option: `shapes.${field.name}` },
        );
      const valuesOffset = at;
      at = align8(at + transform.byteWidth * batchSize);
      return {
        name: field.name,
        dtype: transform.dtype,
        variable: false,
        transformed: true,
        nullable: false,
        bytesPerRow: transform.byteWidth,
        rowShape: [...transform.shape],
        ArrayType: transform.dtype === 'float32' ? Float32Array : Uint8Array,
        valuesOffset,
        validityOffset: -1,
      };
    }
    if (variable) {
      if (shapes[field.name])
        throw new InvalidArgumentError(`options.shapes.${field.name}: a ${type} column cannot be reshaped`);
      const dtype: ColumnDType =
        !blob && (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)) ? 'utf8' : 'binary';
      return {
        name: field.name,
        dtype,
        variable,
        transformed: false,
        nullable,
        bytesPerRow: 0,
        rowShape: [],
        ArrayType: Uint8Array,
        valuesOffset: -1,
        validityOffset: -1,
      };
    }
    if (isListType(field.logicalType))
      return listLayout(field, batchSize, pad[field.name], shapes[field.name], (bytes) => {
        const start = at;
        at = align8(at + bytes);
        return start;
      });
    const bytesPerRow = fixedByteWidth(type);
    if (bytesPerRow === undefined) {
      throw new UnsupportedError(
        `column "${field.name}" has type ${type}, which the loader cannot batch; select its fields by path (e.g. "${field.name}.<field>") or leave it out`,
        { column: field.name },
      );
    }
    const { scalarType, items } = scalarsOf(type);
    const { dtype, ArrayType } = scalarDType(scalarType, field.name);
    let rowShape = items === 1 ? [] : [items];
    const shape = shapes[field.name];
    if (shape) {
      const product = shape.reduce((a, b) => a * b, 1);
      if (!shape.every((d) => Number.isInteger(d) && d > 0) || product !== items) {
        throw new InvalidArgumentError(
          `options.shapes.${field.name} is [${shape.join(', ')}] (${product} values) but a row of "${field.name}" holds ${items}`,
        );
      }
      rowShape = [...shape];
    }
    const valuesOffset = at;
    at = align8(at + bytesPerRow * batchSize);
    let validityOffset = -1;
    if (nullable) {
      validityOffset = at;
      at = align8(at + batchSize);
    }
    return {
      name: field.name,
      dtype,
      variable,
      transformed: false,
      nullable,
      bytesPerRow,
      rowShape,
      ArrayType,
      valuesOffset,
      validityOffset,
    };
  }
}

/**
 * A list column: the list levels from the field down to its one leaf (a list of lists, a list of
 * structs pruned to one leaf by decode-workers/batch-fields.ts). Ragged (no `pad`): the items in the
 * slot's variable-width memory, like strings, with the offsets of each level; items are fixed-width
 * values (numbers, bool, fixed-size lists) or strings and binaries. Padded (`pad` given, one list level
 * of fixed-width numbers): `[batch, length]` values, an int32 length per row and, when the list is
 * nullable, a validity byte per row, placed in the slot by `place(bytes)`.
 */
function listLayout(
  field: LanceField,
  batchSize: number,
  pad: PadOptions | undefined,
  shape: readonly number[] | undefined,
  place: (bytes: number) => number,
): ColumnLayout {
  const name = field.name;
  let leaf = field;
  let lists = 0;
  while (leaf.children.length > 0 && packedFieldKind(leaf) === undefined) {
    if (isListType(leaf.logicalType)) lists++;
    leaf = leaf.children[0] as LanceField;
  }
  const item = valueTypeOf(leaf.arrowType);
  const stringItems = isVariableWidth(item);
  const itemBytes = stringItems ? undefined : fixedByteWidth(item);
  if (!stringItems && itemBytes === undefined)
    throw new UnsupportedError(
      `column "${name}" is ${field.arrowType}: the loader does not batch list items of type ${item}`,
      { column: name },
    );
  if (shape)
    throw new InvalidArgumentError(`options.shapes.${name}: a list is shaped by options.pad.${name}.length`, {
      option: `shapes.${name}`,
    });
  const itemShape = arrow.DataType.isFixedSizeList(item) ? [item.listSize] : undefined;
  const scalar = itemShape ? (item.children[0]?.type as arrow.DataType) : item;
  const { dtype, ArrayType } = stringItems
    ? {
        dtype: (arrow.DataType.isUtf8(item) || arrow.DataType.isLargeUtf8(item) ? 'utf8' : 'binary') as ColumnDType,
        ArrayType: Uint8Array,
      }
    : scalarDType(scalar, name);
  const nullable = field.nullable || (field.ancestors ?? []).some((a) => a.nullable);
  if (!pad)
    return {
      name,
      dtype,
      variable: true,
      transformed: false,
      nullable,
      bytesPerRow: 0,
      rowShape: [],
      ArrayType,
      valuesOffset: -1,
      validityOffset: -1,
      list: true,
      ...(itemBytes !== undefined && { itemBytes }),
      ...(itemShape && { itemShape }),
    };
  if (lists !== 1 || itemBytes === undefined || itemShape)
    throw new InvalidArgumentError(
      `options.pad.${name}: column "${name}" is ${field.arrowType}; pad takes a list of numbers or bools (one list level), leave it ragged`,
      { option: `pad.${name}` },
    );
  const padValue = pad.value ?? 0;
  if (dtype === 'float16' && padValue !== 0)
    throw new InvalidArgumentError(`options.pad.${name}.value must be 0 for a float16 list, got ${padValue}`, {
      option: `pad.${name}.value`,
    });
  if (/int/.test(dtype) && !Number.isInteger(padValue))
    throw new InvalidArgumentError(
      `options.pad.${name}.value must be an integer for a ${dtype} list, got ${padValue}`,
      {
        option: `pad.${name}.value`,
      },
    );
  const bytesPerRow = pad.length * itemBytes;
  const valuesOffset = place(bytesPerRow * batchSize);
  const lengthsOffset = place(4 * batchSize);
  const validityOffset = nullable ? place(batchSize) : -1;
  return {
    name,
    dtype,
    variable: false,
    transformed: false,
    nullable,
    bytesPerRow,
    rowShape: [pad.length],
    ArrayType,
    valuesOffset,
    validityOffset,
    list: true,
    itemBytes,
    pad: { length: pad.length, value: padValue, truncate: pad.truncate ?? 'end', lengthsOffset },
  };
}

/**
 * A packed struct of fixed-width fields (numbers, fixed-size lists and binaries): the workers decode its
 * rows into its place and split them into one place per field (decode-workers/packed-fill.ts), each 8-byte
 * aligned, together at least as large as the rows; `place(bytes)` places each part in the slot.
 */
function packedLayout(
  field: LanceField,
  batchSize: number,
  shape: readonly number[] | undefined,
  place: (bytes: number) => number,
): ColumnLayout {
  const name = field.name;
  if (shape)
    throw new InvalidArgumentError(
      `options.shapes.${name}: "${name}" is a packed struct, whose fields are columns of their own ("${name}.<field>")`,
      { option: `shapes.${name}` },
    );
  const fields = (field.arrowType as arrow.Struct).children.map((child): PackedFieldLayout => {
    // Lance packs bools as variable-width rows, like strings.
    const byteWidth = arrow.DataType.isBool(child.type) ? undefined : fixedByteWidth(child.type);
    if (byteWidth === undefined)
      throw new UnsupportedError(
        `column "${name}" is a packed struct with field "${child.name}" of type ${child.type}: the loader batches packed structs of fixed-width fields (numbers, fixed-size lists), not of strings, binaries or bools; read it with dataset.take or leave it out`,
        { column: name },
      );
    const { scalarType, items } = scalarsOf(child.type);
    const path = `${name}.${child.name}`;
    return {
      name: path,
      ...scalarDType(scalarType, path),
      rowShape: items === 1 ? [] : [items],
      byteWidth,
      byteOffset: place(byteWidth * batchSize),
    };
  });
  const nullable = field.nullable || (field.ancestors ?? []).some((a) => a.nullable);
  return {
    name,
    dtype: 'uint8',
    variable: false,
    transformed: false,
    nullable,
    bytesPerRow: fields.reduce((sum, f) => sum + f.byteWidth, 0),
    rowShape: [],
    ArrayType: Uint8Array,
    valuesOffset: fields[0]?.byteOffset ?? place(0),
    validityOffset: nullable ? place(batchSize) : -1,
    packed: fields,
  };
}

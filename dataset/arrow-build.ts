/**
 * Column outputs ↔ Arrow: sizes the output for a field's Arrow type, and wraps a filled output as an
 * Arrow vector. Wrapping is zero-copy for fixed-width values (the typed array views the output bytes);
 * validity bytes and bools are packed into Arrow bitmaps (one pass), variable-width values are compacted
 * into slot order (compactVariable) and their offsets narrowed to Int32 or widened to BigInt64.
 */
import { constants } from 'node:buffer';
import * as arrow from 'apache-arrow';
import { InternalError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { compactNested, type CompactNested, type NestedOutput } from '../decode-workers/encodings/nested-output.js';
import { unravelLevels, type UnravelledLayer } from '../decode-workers/encodings/unravel.js';
import { finishListOutput, listItemValidity, type ListOutput } from '../decode-workers/encodings/list-rows.js';
import {
  compactVariable,
  createFixedOutput,
  createVariableOutput,
  type ColumnOutput,
} from '../decode-workers/encodings/output.js';

/** Bytes per value of a fixed-width Arrow type (bools count 1: decoders write one byte per bool), or undefined. */
export function fixedByteWidth(type: arrow.DataType): number | undefined {
  if (arrow.DataType.isBool(type)) return 1;
  if (arrow.DataType.isInt(type)) return type.bitWidth / 8;
  if (arrow.DataType.isFloat(type)) return [2, 4, 8][type.precision];
  if (arrow.DataType.isDate(type)) return type.unit === arrow.DateUnit.DAY ? 4 : 8;
  if (arrow.DataType.isTimestamp(type)) return 8;
  if (arrow.DataType.isTime(type)) return type.bitWidth / 8;
  if (arrow.DataType.isFixedSizeBinary(type)) return type.byteWidth;
  if (arrow.DataType.isFixedSizeList(type)) {
    const child = type.children[0]?.type;
    const inner = child && !arrow.DataType.isBool(child) ? fixedByteWidth(child) : undefined;
    return inner === undefined ? undefined : inner * type.listSize;
  }
  return undefined;
}

/** Whether `type` is utf8, binary or their large forms (values of any length). */
export function isVariableWidth(type: arrow.DataType): boolean {
  return (
    arrow.DataType.isUtf8(type) ||
    arrow.DataType.isLargeUtf8(type) ||
    arrow.DataType.isBinary(type) ||
    arrow.DataType.isLargeBinary(type)
  );
}

/** The type of a column's values: a dictionary's value type, else the type itself. */
export function valueTypeOf(type: arrow.DataType): arrow.DataType {
  return arrow.DataType.isDictionary(type) ? type.dictionary : type;
}

/**
 * Bytes per value of the output for a column of `columnType` (undefined: variable width); an
 * UnsupportedError for a type lance-loader cannot read yet.
 */
export function outputWidthOf(columnType: arrow.DataType, name: string): number | undefined {
  const type = valueTypeOf(columnType);
  const width = fixedByteWidth(type);
  if (width !== undefined || isVariableWidth(type)) return width;
  throw new UnsupportedError(
    `column "${name}" has type ${type}, which lance-loader cannot read yet (nested, dictionary and blob columns come later)`,
    {
      column: name,
      type: String(type),
    },
  );
}

/** An empty output with `numSlots` slots for a column of `type`. */
export function createOutputFor(
  columnType: arrow.DataType,
  numSlots: number,
  nullable: boolean,
  name: string,
): ColumnOutput {
  const width = outputWidthOf(columnType, name);
  if (width === undefined) return createVariableOutput(numSlots, nullable);
  // Widths were checked against the file's pages (columnRead); what is left too big is the request.
  if (numSlots * width > constants.MAX_LENGTH) {
    throw new InvalidArgumentError(
      `column "${name}" needs ${numSlots} rows × ${width} bytes, more than one buffer holds (${constants.MAX_LENGTH} bytes); read fewer rows at a time`,
      { column: name, rows: numSlots, width },
    );
  }
  return createFixedOutput(numSlots, width, nullable);
}

function packBits(bytes: Uint8Array): { bitmap: Uint8Array; zeros: number } {
  const bitmap = new Uint8Array((bytes.length + 7) >>> 3);
  let zeros = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]) bitmap[i >>> 3] = (bitmap[i >>> 3] as number) | (1 << (i & 7));
    else zeros++;
  }
  return { bitmap, zeros };
}

interface TypedArrayConstructor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView;
  new (length: number): ArrayBufferView;
  BYTES_PER_ELEMENT: number;
}

/** A typed view of `bytes` (copied once only when the bytes are not aligned for the element size). */
function typedView(Ctor: TypedArrayConstructor, bytes: Uint8Array): ArrayBufferView {
  const n = bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Ctor(n);
  new Uint8Array(copy.buffer as ArrayBuffer).set(bytes);
  return copy;
}

/** `items`: the validity of the innermost items of fixed-size lists with null items (one byte per item). */
function dataOf(type: arrow.DataType, bytes: Uint8Array, length: number, items?: Uint8Array): arrow.Data {
  if (arrow.DataType.isFixedSizeList(type)) {
    const childType = type.children[0]?.type as arrow.DataType;
    const count = length * type.listSize;
    const child =
      items && !arrow.DataType.isFixedSizeList(childType)
        ? fixedData(childType, bytes, count, items.subarray(0, count))
        : dataOf(childType, bytes, count, items);
    return arrow.makeData({ type, length, nullCount: 0, child });
  }
  if (arrow.DataType.isBool(type)) {
    return arrow.makeData({ type, length, nullCount: 0, data: packBits(bytes).bitmap });
  }
  const ArrayType = (type as unknown as { ArrayType: TypedArrayConstructor }).ArrayType;
  return arrow.makeData({ type, length, nullCount: 0, data: typedView(ArrayType, bytes) } as never);
}

/** Wraps a filled output as an Arrow vector of `type` with `length` rows. */
export function outputToVector(type: arrow.DataType, out: ColumnOutput, length: number): arrow.Vector {
  if (arrow.DataType.isDictionary(type)) {
    // Lance stores dictionary columns by value; the result is a dictionary with one entry per row.
    const values = outputToVector(type.dictionary, out, length);
    const indices = new Int32Array(length);
    for (let i = 0; i < length; i++) indices[i] = i;
    const valuesData = values.data[0] as arrow.Data;
    const dictionaryType = new arrow.Dictionary(type.dictionary, new arrow.Int32(), type.id, type.isOrdered);
    return arrow.makeVector(
      arrow.makeData({
        type: dictionaryType,
        length,
        nullCount: valuesData.nullCount,
        nullBitmap: valuesData.nullBitmap,
        data: indices,
        dictionary: values,
      } as never),
    );
  }
  if (out.kind === 'fixed')
    return arrow.makeVector(fixedData(type, out.values, length, out.validity, out.itemValidity?.bytes));
  const validity = out.validity ? packBits(out.validity) : null;
  const nullCount = validity?.zeros ?? 0;
  const nullBitmap = nullCount > 0 ? validity?.bitmap : undefined;
  const { offsets, data } = compactVariable(out);
  return arrow.makeVector(variableData(type, offsets, data, length, nullCount, nullBitmap));
}

/**
 * Arrow data of `length` fixed-width values, with a validity bitmap when some are null (`validity`: one
 * byte per value) and, for fixed-size lists with null items, their items' (`items`: one byte per item).
 */
function fixedData(
  type: arrow.DataType,
  bytes: Uint8Array,
  length: number,
  validity: Uint8Array | null,
  items?: Uint8Array,
): arrow.Data {
  const base = dataOf(type, bytes, length, items);
  const packed = validity ? packBits(validity.subarray(0, length)) : null;
  return packed && packed.zeros > 0
    ? base.clone(type, 0, length, packed.zeros, {
        ...base.buffers,
        [arrow.BufferType.VALIDITY]: packed.bitmap,
      } as never)
    : base;
}

/** Arrow data of `length` variable-width values: value i is `data[offsets[i], offsets[i + 1])`. */
function variableData(
  type: arrow.DataType,
  offsets: Float64Array,
  data: Uint8Array,
  length: number,
  nullCount: number,
  nullBitmap: Uint8Array | undefined,
): arrow.Data {
  const large = arrow.DataType.isLargeUtf8(type) || arrow.DataType.isLargeBinary(type);
  if (!large && (offsets[length] ?? 0) > 0x7fffffff) {
    throw new InvalidArgumentError(
      `a ${type} column of ${offsets[length]} bytes does not fit Arrow's 32-bit offsets; take fewer rows`,
    );
  }
  const valueOffsets = large ? BigInt64Array.from(offsets, (x) => BigInt(x)) : Int32Array.from(offsets);
  return arrow.makeData({ type, length, nullCount, nullBitmap, valueOffsets, data } as never);
}

/**
 * A list column of fixed-width items read row by row (list-rows.ts, with item validity) as Arrow List
 * data: offsets from the rows' lengths, the items as they were written, both validities packed.
 */
export function listRowsToData(field: LanceField, out: ListOutput, numRows: number): arrow.Data {
  const rows = finishListOutput(out, `column "${field.name}"`);
  const child = field.children[0];
  // Item validity is left out only where no item can be null (read-rows.ts sizeListOutputs).
  if (!rows || (!out.itemValidity && out.nullItems > 0) || !child)
    throw new InternalError(`column "${field.name}" was read without its list rows and item validity`);
  const { offsets, data } = compactVariable(rows);
  const w = out.byteWidth;
  const count = data.length / w;
  // Most lists have no null item: their validity bytes are all ones and need no packing.
  const values = fixedData(child.arrowType, data, count, listItemValidity(out));
  // A plain loop: Int32Array.from with a map function calls it once per row (a scan's batch has thousands).
  const valueOffsets = new Int32Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) valueOffsets[i] = (offsets[i] as number) / w;
  const lists = rows.validity ? packBits(rows.validity.subarray(0, numRows)) : { zeros: 0, bitmap: undefined };
  return arrow.makeData({
    type: field.arrowType,
    length: numRows,
    nullCount: lists.zeros,
    nullBitmap: lists.zeros > 0 ? lists.bitmap : undefined,
    valueOffsets,
    child: values,
  } as never);
}

/** A leaf's slot-ordered values and its levels unravelled into layers. */
interface UnravelledLeaf {
  layers: UnravelledLayer[];
  values: CompactNested;
}

/**
 * Assembles a nested field (a list, a struct, or a struct child selected by path) from the outputs of its
 * leaves: each leaf's levels are unravelled into per-layer offsets and validity, and the field's tree is
 * built from the outermost layer in; a struct's own layers are read from its first leaf (every leaf
 * below it holds the same ones).
 */
export function nestedToVector(
  field: LanceField,
  outputs: Map<LanceField, NestedOutput>,
  numRows: number,
): arrow.Vector {
  const leaves = new Map<LanceField, UnravelledLeaf>();
  for (const [leaf, out] of outputs) {
    const values = compactNested(out);
    const where = `column "${field.name}" (leaf "${leaf.name}")`;
    leaves.set(leaf, { layers: unravelLevels(values.levels, out.layers, numRows, where), values });
  }
  return arrow.makeVector(nestedData(field, field.ancestors?.length ?? 0, leaves));
}

function nestedData(field: LanceField, depth: number, leaves: Map<LanceField, UnravelledLeaf>): arrow.Data {
  let first = field;
  while (first.children[0]) first = first.children[0];
  const leaf = leaves.get(first);
  const layer = leaf?.layers[leaf.layers.length - 1 - depth];
  if (!leaf || !layer) throw new InternalError(`field "${field.name}" was read without its leaf "${first.name}"`);
  const { count: length, nullCount } = layer;
  const nullBitmap = nullCount > 0 ? packBits(layer.validity).bitmap : undefined;
  const type = field.arrowType;
  if (field.children.length === 0) {
    const { values, valueOffsets, itemValidity } = leaf.values;
    return valueOffsets
      ? variableData(type, valueOffsets, values, length, nullCount, nullBitmap)
      : fixedData(type, values, length, layer.validity, itemValidity ?? undefined);
  }
  if (layer.offsets) {
    const child = nestedData(field.children[0] as LanceField, depth + 1, leaves);
    return arrow.makeData({ type, length, nullCount, nullBitmap, valueOffsets: layer.offsets, child } as never);
  }
  const children = field.children.map((c) => nestedData(c, depth + 1, leaves));
  return arrow.makeData({ type, length, nullCount, nullBitmap, children } as never);
}

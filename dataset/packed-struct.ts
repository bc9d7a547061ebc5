/**
 * Packed structs as Arrow Struct columns. A packed struct (and a blob column's descriptors) is stored as
 * one column whose values are whole rows, the struct's fields side by side:
 *
 *   fixed rows     (2.0 PackedStruct, 2.1/2.2 MiniBlock PackedStruct, legacy blob descriptors):
 *                  | x f32 | y f32 | cls i32 |  → one fixed-width output of the row's width
 *   variable rows  (2.2 FullZip VariablePackedStruct, blob v2 descriptors), decoded by
 *                  decode-workers/encodings/packed-struct.ts into plain rows:
 *                  | id i32 | u32 length | name bytes | → one variable-width output of rows
 *
 * Here the rows are split into one Arrow child per field when the record batch is built (one copy of
 * each field's bytes; variable rows by that file's splitPlainPackedRows, the loader's walker too); the
 * struct's validity is the output's.
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError, UnsupportedError } from '../errors.js';
import {
  createFixedOutput,
  createVariableOutput,
  type ColumnOutput,
  type FixedOutput,
  type VariableOutput,
} from '../decode-workers/encodings/output.js';
import { splitPlainPackedRows } from '../decode-workers/encodings/packed-struct.js';
import { packedFieldKind, type LanceField } from '../format/schema.js';
import { fixedByteWidth, isVariableWidth, outputToVector } from './arrow-build.js';

/** The fields of a packed row: each fixed-width field's byte width, or undefined for a variable one. */
interface PackedRowLayout {
  type: arrow.Struct;
  widths: (number | undefined)[];
  /** Bytes of a row when every field is fixed-width. */
  rowBytes: number | undefined;
}

/** The row layout of a field stored as packed rows, or undefined when it is not stored that way. */
function packedRowLayout(field: LanceField): PackedRowLayout | undefined {
  if (!packedFieldKind(field) || !arrow.DataType.isStruct(field.arrowType)) return undefined;
  const type = field.arrowType;
  const widths = type.children.map((child) => {
    const width = arrow.DataType.isBool(child.type) ? undefined : fixedByteWidth(child.type);
    if (width === undefined && !isVariableWidth(child.type)) {
      throw new UnsupportedError(
        `column "${field.name}" is a packed struct with field "${child.name}" of type ${child.type}, which lance-loader cannot read in a packed struct`,
        { column: field.name, field: child.name, type: String(child.type) },
      );
    }
    return width;
  });
  const fixed = widths.every((w) => w !== undefined);
  return { type, widths, rowBytes: fixed ? widths.reduce((sum: number, w) => sum + (w as number), 0) : undefined };
}

/** Whether `field` is read as packed rows (a packed struct or a blob column's descriptors). */
export function isPackedField(field: LanceField): boolean {
  return packedRowLayout(field) !== undefined;
}

/** Bytes of a packed row of `field` when all its fields are fixed-width, else undefined. */
export function packedRowBytes(field: LanceField): number | undefined {
  return packedRowLayout(field)?.rowBytes;
}

/** An empty output of `numSlots` packed rows of `field`. */
export function createPackedOutput(field: LanceField, numSlots: number): ColumnOutput {
  const rowBytes = packedRowBytes(field);
  return rowBytes === undefined
    ? createVariableOutput(numSlots, field.nullable)
    : createFixedOutput(numSlots, rowBytes, field.nullable);
}

/** The Arrow Struct of `length` packed rows of `field` in `out`. */
export function packedToData(field: LanceField, out: ColumnOutput, length: number): arrow.Data {
  const layout = packedRowLayout(field);
  if (!layout) throw new UnsupportedError(`column "${field.name}" is not stored as packed rows`);
  const { type, widths } = layout;
  const children =
    out.kind === 'fixed'
      ? splitFixedRows(widths as number[], out, length)
      : splitVariableRows(field, widths, out, length);
  const vectors = children.map((child, i) => outputToVector((type.children[i] as arrow.Field).type, child, length));
  let nullCount = 0;
  let nullBitmap: Uint8Array | undefined;
  if (out.validity) {
    nullBitmap = new Uint8Array((length + 7) >>> 3);
    for (let i = 0; i < length; i++) {
      if (out.validity[i]) nullBitmap[i >>> 3] = (nullBitmap[i >>> 3] as number) | (1 << (i & 7));
      else nullCount++;
    }
  }
  return arrow.makeData({
    type,
    length,
    nullCount,
    nullBitmap: nullCount > 0 ? nullBitmap : undefined,
    children: vectors.map((v) => v.data[0] as arrow.Data),
  });
}

/** One fixed-width output per field, copied out of rows of `widths` summed bytes. */
function splitFixedRows(widths: number[], out: FixedOutput, length: number): FixedOutput[] {
  let fieldStart = 0;
  return widths.map((width) => {
    const child = createFixedOutput(length, width, false);
    copyPackedField(out.values, out.byteWidth, fieldStart, width, length, child.values, 0);
    fieldStart += width;
    return child;
  });
}

/**
 * Copies one field's values out of `length` packed rows of `rowBytes` in `src` (the field's `width` bytes
 * at `fieldStart` of each row) into `dst` from byte `to`, one value after another.
 */
export function copyPackedField(
  src: Uint8Array,
  rowBytes: number,
  fieldStart: number,
  width: number,
  length: number,
  dst: Uint8Array,
  to: number,
): void {
  // Byte by byte: fields are a few bytes wide, and a subarray per value would cost more than its copy.
  for (let row = 0, from = fieldStart; row < length; row++, from += rowBytes)
    for (let b = 0; b < width; b++) dst[to++] = src[from + b] as number;
}

/** One output per field, split out of plain variable rows (fixed bytes, or u32 length + bytes). */
function splitVariableRows(
  field: LanceField,
  widths: (number | undefined)[],
  out: VariableOutput,
  length: number,
): ColumnOutput[] {
  const children = widths.map((w) =>
    w === undefined ? createVariableOutput(length, false) : createFixedOutput(length, w, false),
  );
  splitPlainPackedRows(out, widths, children, (row, bytes) => shortRow(field, row, bytes));
  return children;
}

function shortRow(field: LanceField, row: number, bytes: number): CorruptFileError {
  return new CorruptFileError(
    `column "${field.name}": packed row ${row} of the read (${bytes} bytes) does not hold the struct's fields ${(field.arrowType as arrow.Struct).children.map((c) => `${c.name}: ${c.type}`).join(', ')}`,
    { column: field.name, row, bytes },
  );
}

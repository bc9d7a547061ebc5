/**
 * Packed structs (`lance-encoding:packed`) of fixed-width children, as LanceDB writes them: one column
 * whose value per row is the row's child values one after another, so a row reads in one piece.
 *
 *   struct<x: float32, y: float32, cls: int32>   row r → x[r] | y[r] | cls[r]   (12 bytes)
 *   values: PackedStruct { bits_per_value: [32, 32, 32], values: Flat(96) }
 *
 * The struct's own nulls are the column's; its children's values are all that is stored, so a null
 * child inside a valid row cannot be written (UnsupportedError naming the column and row).
 */
import * as arrow from 'apache-arrow';
import { UnsupportedError } from '../errors.js';
import type { CompressiveEncodingProto } from '../format/proto/messages.js';

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

/**
 * One batch's struct data as fixed-size binary rows of its children's bytes (`bits`: each child's
 * width), with the struct's validity.
 */
export function packStructRows(column: string, data: arrow.Data, bits: readonly number[]): arrow.Data {
  const widths = bits.map((b) => b / 8);
  const rowBytes = widths.reduce((sum, width) => sum + width, 0);
  const n = data.length;
  const out = new Uint8Array(n * rowBytes);
  const rowValid = (r: number): boolean =>
    data.nullCount === 0 || !data.nullBitmap || bitAt(data.nullBitmap, data.offset + r) === 1;
  // The struct's bitmap may start at a bit offset (a sliced batch); the packed rows' starts at 0.
  const nullBitmap = data.nullCount > 0 ? new Uint8Array(Math.ceil(n / 8)) : undefined;
  if (nullBitmap)
    for (let r = 0; r < n; r++) if (rowValid(r)) nullBitmap[r >> 3] = (nullBitmap[r >> 3] as number) | (1 << (r & 7));
  let at = 0;
  data.children.forEach((child, c) => {
    const width = widths[c] as number;
    const view = child.values as ArrayBufferView;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, n * width);
    for (let r = 0; r < n; r++) {
      if (child.nullCount > 0 && child.nullBitmap && !bitAt(child.nullBitmap, child.offset + r) && rowValid(r)) {
        throw new UnsupportedError(
          `column "${column}": packed struct child "${String(data.type.children[c]?.name)}" is null in a valid row (row ${r} of its batch); a packed struct stores its children's values only`,
          { column, row: r },
        );
      }
      out.set(bytes.subarray(r * width, (r + 1) * width), r * rowBytes + at);
    }
    at += width;
  });
  return arrow.makeData({
    type: new arrow.FixedSizeBinary(rowBytes),
    length: n,
    nullCount: data.nullCount,
    nullBitmap,
    data: out,
  });
}

/** The encoding of packed rows around the encoding of their bytes. */
export function packedEncoding(bits: readonly number[], inner: CompressiveEncodingProto): CompressiveEncodingProto {
  return { packed_struct: { bits_per_value: [...bits], values: inner } };
}

/**
 * Encoding a page in the 2.1 full-zip layout (format/fullzip-layout.ts reads it back), the layout
 * LanceDB picks for values of 256 bytes or more: vectors of 64+ floats, images, long strings.
 *
 *   buffer 0, per row:  [control byte: 1 = null, when the page has nulls]
 *                       fixed: the value's bytes (also for a null row)
 *                       variable: u32 | u64 length + bytes (nothing for a null row)
 *   buffer 1 (variable only): rows + 1 start offsets into buffer 0, each 1, 2, 4 or 8 bytes, the
 *                       smallest width that holds buffer 0's worst-case size
 *
 * Fixed-width rows without nulls are buffer 0 as it is: no copy is made for them. A fixed-size list
 * whose items have nulls carries their bitmap in front of each value (ceil(dimension / 8) bytes, part of
 * the value's `bits_per_value`). Strings may come
 * FSST-compressed (`wrapEncoding` then wraps the Variable encoding in Fsst).
 */
import type { CompressiveEncodingProto, FullZipLayoutProto } from '../format/proto/messages.js';
import { valueEncoding } from './miniblock.js';
import type { ColumnKind } from './schema.js';
import { rowBytes, type PageBuffer, type PageLevels, type PageValues } from './values.js';

function packedWidth(maxValue: number): 1 | 2 | 4 | 8 {
  if (maxValue <= 0xff) return 1;
  if (maxValue <= 0xffff) return 2;
  if (maxValue <= 0xffffffff) return 4;
  return 8;
}

function writeUint(view: DataView, at: number, width: number, value: number): void {
  if (width === 1) view.setUint8(at, value);
  else if (width === 2) view.setUint16(at, value, true);
  else if (width === 4) view.setUint32(at, value, true);
  else view.setBigUint64(at, BigInt(value), true);
}

function fixedRows(width: number, values: PageValues): PageBuffer {
  const validity = values.validity;
  if (!validity) return values.pieces ?? values.bytes;
  const stride = width + 1;
  const out = new Uint8Array(values.rows * stride);
  for (let r = 0; r < values.rows; r++) {
    out[r * stride] = validity[r] ? 0 : 1;
    out.set(values.bytes.subarray(r * width, (r + 1) * width), r * stride + 1);
  }
  return out;
}

/**
 * Values from this size on (on average) are not copied into buffer 0: the buffer is handed on as
 * pieces, each row's control word and length then its bytes where they lie, for one gathered write.
 */
export const PIECES_FROM_BYTES = 4096;

function variableRows(offsetBytes: 4 | 8, values: PageValues): PageBuffer[] {
  const { rows, validity, bytes } = values;
  const offsets = values.offsets as Float64Array;
  const control = validity ? 1 : 0;
  let size = 0;
  for (let r = 0; r < rows; r++) {
    if (!validity || validity[r]) size += offsetBytes + (offsets[r + 1] as number) - (offsets[r] as number);
  }
  size += control * rows;
  const asPieces = bytes.length >= PIECES_FROM_BYTES * rows;
  const heads = new Uint8Array(asPieces ? rows * (control + offsetBytes) : size);
  const view = new DataView(heads.buffer);
  const pieces: Uint8Array[] = [];
  const worstCase = bytes.length + control * rows + offsetBytes * rows;
  const indexWidth = packedWidth(worstCase);
  const index = new Uint8Array((rows + 1) * indexWidth);
  const indexView = new DataView(index.buffer);
  let at = 0; // position in buffer 0
  let headAt = 0; // position in `heads`
  for (let r = 0; r < rows; r++) {
    writeUint(indexView, r * indexWidth, indexWidth, at);
    const headStart = headAt;
    if (validity) heads[headAt++] = validity[r] ? 0 : 1;
    const valid = !validity || validity[r];
    const start = offsets[r] as number;
    const length = valid ? (offsets[r + 1] as number) - start : 0;
    if (valid) {
      writeUint(view, headAt, offsetBytes, length);
      headAt += offsetBytes;
    }
    if (asPieces) {
      pieces.push(heads.subarray(headStart, headAt));
      if (length > 0) pieces.push(bytes.subarray(start, start + length));
    } else {
      heads.set(bytes.subarray(start, start + length), headAt);
      headAt += length;
    }
    at += headAt - headStart + (asPieces ? length : 0);
  }
  writeUint(indexView, rows * indexWidth, indexWidth, at);
  return [asPieces ? pieces : heads, index];
}

const bitLength = (x: number): number => 32 - Math.clz32(x);

function maxOf(levels: Uint16Array | undefined): number {
  let max = 0;
  if (levels) for (const level of levels) if (level > max) max = level;
  return max;
}

/**
 * A nested leaf's page: per level entry a control word `(rep << bits_def) | def` (1, 2 or 4 bytes, the
 * widths from the page's highest levels), then for an entry with a value slot the fixed-width value,
 * or for a valid variable-width value its length and bytes. Buffer 1, the repetition index, holds the
 * byte offset of each row's first entry and the end (packed as wide as the buffer's worst-case size).
 */
function nestedRows(
  kind: ColumnKind,
  width: number,
  values: PageValues,
  levels: PageLevels,
): { buffers: PageBuffer[]; bitsRep: number; bitsDef: number; numItems: number } {
  const { rep, def, maxRep, maxVisibleDef } = levels;
  const bitsRep = bitLength(maxOf(rep));
  const bitsDef = bitLength(maxOf(def));
  const bits = bitsRep + bitsDef;
  const wordBytes = bits === 0 ? 0 : bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
  const numItems = (rep ?? def)?.length ?? values.rows;
  const variable = kind.kind === 'variable' ? kind.offsetBytes : 0;
  const offsets = values.offsets as Float64Array;
  const worstCase = values.bytes.length + wordBytes * numItems + variable * values.rows;
  const out = new Uint8Array(worstCase);
  const view = new DataView(out.buffer);
  const indexWidth = packedWidth(worstCase);
  const rowStarts: number[] = [];
  let at = 0;
  let slot = 0;
  for (let e = 0; e < numItems; e++) {
    const r = rep ? (rep[e] as number) : maxRep;
    const d = def ? (def[e] as number) : 0;
    if (!rep || r === maxRep) rowStarts.push(at);
    if (wordBytes > 0) {
      writeUint(view, at, wordBytes, (r << bitsDef) | d);
      at += wordBytes;
    }
    if (d > maxVisibleDef) continue;
    if (!variable) {
      out.set(values.bytes.subarray(slot * width, (slot + 1) * width), at);
      at += width;
    } else if (d === 0) {
      const start = offsets[slot] as number;
      const length = (offsets[slot + 1] as number) - start;
      writeUint(view, at, variable, length);
      out.set(values.bytes.subarray(start, start + length), at + variable);
      at += variable + length;
    }
    slot++;
  }
  rowStarts.push(at);
  const buffers: PageBuffer[] = [out.subarray(0, at)];
  if (rep || variable) {
    const index = new Uint8Array(rowStarts.length * indexWidth);
    const indexView = new DataView(index.buffer);
    rowStarts.forEach((start, i) => writeUint(indexView, i * indexWidth, indexWidth, start));
    buffers.push(index);
  }
  return { buffers, bitsRep, bitsDef, numItems };
}

/**
 * Fixed-size-list values with the bitmap of their items in front of each (ceil(dimension / 8) bytes),
 * as LanceDB's nullable_per_value_fsl zips them, and the width of one such value.
 */
function zipItemValidity(
  dimension: number,
  valueBytes: number,
  values: PageValues,
): { bytes: Uint8Array; width: number } {
  const bits = values.itemValidity as Uint8Array;
  const bitmapBytes = Math.ceil(dimension / 8);
  const width = bitmapBytes + valueBytes;
  const bytes = new Uint8Array(values.rows * width);
  for (let r = 0; r < values.rows; r++) {
    const at = r * width;
    for (let k = 0; k < dimension; k++) {
      const bit = r * dimension + k;
      if (((bits[bit >> 3] as number) >> (bit & 7)) & 1)
        bytes[at + (k >> 3)] = (bytes[at + (k >> 3)] as number) | (1 << (k & 7));
    }
    bytes.set(values.bytes.subarray(r * valueBytes, (r + 1) * valueBytes), at + bitmapBytes);
  }
  return { bytes, width };
}

/** A page encoded as full-zip rows: its buffers and its layout message. */
export function encodeFullZipPage(
  kind: ColumnKind,
  page: PageValues,
  wrapEncoding?: (inner: CompressiveEncodingProto) => CompressiveEncodingProto,
): { buffers: PageBuffer[]; layout: FullZipLayoutProto } {
  const itemValidity = page.itemValidity !== undefined;
  const inner = valueEncoding(kind, itemValidity);
  const valueCompression = wrapEncoding ? wrapEncoding(inner) : inner;
  let values = page;
  let width = rowBytes(kind);
  if (kind.kind === 'fsl' && itemValidity) {
    const zipped = zipItemValidity(kind.dimension, width, page);
    values = { ...page, bytes: zipped.bytes, itemValidity: undefined };
    width = zipped.width;
  }
  const levels = values.levels;
  if (levels) {
    const rows = nestedRows(kind, width, values, levels);
    const layout: FullZipLayoutProto = {
      bits_rep: rows.bitsRep,
      bits_def: rows.bitsDef,
      num_items: rows.numItems,
      num_visible_items: values.rows,
      value_compression: valueCompression,
      layers: levels.layers,
    };
    if (kind.kind === 'variable') layout.bits_per_offset = kind.offsetBytes * 8;
    else layout.bits_per_value = width * 8;
    return { buffers: rows.buffers, layout };
  }
  const layout: FullZipLayoutProto = {
    bits_rep: 0,
    bits_def: values.validity ? 1 : 0,
    num_items: values.rows,
    num_visible_items: values.rows,
    value_compression: valueCompression,
    layers: [values.validity ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM'],
  };
  if (kind.kind === 'variable') {
    layout.bits_per_offset = kind.offsetBytes * 8;
    return { buffers: variableRows(kind.offsetBytes, values), layout };
  }
  layout.bits_per_value = width * 8;
  return { buffers: [fixedRows(width, values)], layout };
}

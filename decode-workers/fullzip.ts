/**
 * The 2.1 full-zip layout (lance.encodings21.FullZipLayout; lance-encoding primitive.rs
 * serialize_full_zip_*, repdef.rs control words). Used for wide values (vectors of 128+ floats, long
 * strings, large binaries). Buffer 0 holds the rows zipped with their levels:
 *
 *   fixed width:    [control word] value bytes          (null values are zero-filled, same stride)
 *   variable width: [control word] [u32|u64 length, bytes]   (only for valid values)
 *
 * The control word exists when bits_rep + bits_def > 0: 1, 2 or 4 bytes, value (rep << bits_def) | def.
 * Variable-width pages have buffer 1, the repetition index: rows + 1 byte offsets into buffer 0,
 * byte-packed to 1, 2, 4 or 8 bytes each (width = buffer size / (rows + 1)).
 *
 * Reads are exact: a fixed-width row is at row × stride; a variable-width row between two index entries.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import { describeCompressive } from '../format/layout.js';
import type { CompressiveEncodingProto, FullZipLayoutProto } from '../format/proto/messages.js';
import { decompressBuffer, decompressBufferInto, zstdDeclaredLength } from './compression.js';
import { fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { appendFsst, appendVariable, reserveVariable, setNull, type ColumnOutput } from './output.js';
import { flatBits } from './values.js';

/** Largest single value accepted after per-value decompression. */
export const MAX_VALUE_BYTES = 1024 * 1024 * 1024;

/** Bytes of the control word for a layout. */
export function controlWordBytes(layout: FullZipLayoutProto): number {
  const bits = layout.bits_rep + layout.bits_def;
  return bits === 0 ? 0 : bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

/** Checks the page is a flat (non-nested) full-zip page lance-loader decodes. */
export function checkFullZipSupported(layout: FullZipLayoutProto, where: string): void {
  if (layout.bits_rep > 0) throw new UnsupportedError(`${where}: nested (list) full-zip pages are not supported yet`);
  if (layout.layers.length > 1 || layout.bits_def > 1) {
    throw new UnsupportedError(`${where}: full-zip pages with ${layout.layers.length} rep/def layers (struct fields) are not supported yet`);
  }
  if (layout.details === 'bits_per_value') {
    fixedValueBytes(layout, where);
  } else if (layout.details === 'bits_per_offset') {
    if (layout.bits_per_offset !== 32 && layout.bits_per_offset !== 64) {
      throw new CorruptFileError(`${where}: full-zip offsets of ${layout.bits_per_offset} bits`);
    }
    variableCodec(layout.value_compression, where);
  } else {
    throw new CorruptFileError(`${where}: full-zip layout has neither bits_per_value nor bits_per_offset`);
  }
}

/** Bytes per fixed-width value (bits_per_value is the whole value, e.g. dim × 32 for a vector). */
export function fixedValueBytes(layout: FullZipLayoutProto, where: string): number {
  const encoding = layout.value_compression;
  const bits = layout.bits_per_value ?? 0;
  const inner = encoding?.compression === 'fixed_size_list' ? encoding.fixed_size_list?.values : encoding;
  const innerBits = flatBits(inner);
  if (innerBits === undefined || innerBits % 8 !== 0 || bits % 8 !== 0 || bits === 0) {
    throw new UnsupportedError(`${where}: full-zip values encoded as ${describeCompressive(encoding)} are not supported`);
  }
  return bits / 8;
}

type VariableCodec = { kind: 'plain' } | { kind: 'fsst'; table: FsstSymbolTable } | { kind: 'zstd' };

function variableCodec(encoding: CompressiveEncodingProto | undefined, where: string): VariableCodec {
  switch (encoding?.compression) {
    case 'variable':
      return { kind: 'plain' };
    case 'fsst':
      if (encoding.fsst?.values?.compression === 'variable') return { kind: 'fsst', table: fsstSymbolTable(encoding.fsst.symbol_table) };
      break;
    case 'general':
      if (encoding.general?.compression?.scheme === 'COMPRESSION_ALGORITHM_ZSTD' && encoding.general.values?.compression === 'variable') {
        return { kind: 'zstd' };
      }
      break;
  }
  throw new UnsupportedError(`${where}: full-zip values encoded as ${describeCompressive(encoding)} are not supported`);
}

function readControl(bytes: Uint8Array, at: number, width: number): number {
  if (width === 1) return bytes[at] as number;
  if (width === 2) return (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
}

/** A contiguous span of page rows [firstRow, endRow) that was read, with its bytes. */
export interface RowSpan {
  firstRow: number;
  endRow: number;
  bytes: Uint8Array;
  /** Variable width only: endRow - firstRow + 1 repetition-index entries (offsets into buffer 0). */
  index?: Float64Array;
}

/**
 * Decodes requested rows (page-relative, ascending, entries [from, to) of rows/slots) that all lie in
 * `span`.
 */
export function decodeFullZipSpan(
  layout: FullZipLayoutProto,
  span: RowSpan,
  rows: Uint32Array,
  slots: Uint32Array,
  from: number,
  to: number,
  out: ColumnOutput,
  where: string,
): void {
  const ctrl = controlWordBytes(layout);
  const defMask = (1 << layout.bits_def) - 1;
  const bytes = span.bytes;
  if (layout.details === 'bits_per_value') {
    const width = fixedValueBytes(layout, where);
    const stride = ctrl + width;
    if (out.kind !== 'fixed' || out.byteWidth !== width) throw new CorruptFileError(`${where}: full-zip values are ${width} bytes wide, the column needs another width`);
    if (bytes.length < (span.endRow - span.firstRow) * stride) throw new CorruptFileError(`${where}: full-zip rows ${span.firstRow}..${span.endRow} need ${(span.endRow - span.firstRow) * stride} bytes, got ${bytes.length}`);
    const dst = out.values;
    for (let i = from; i < to; i++) {
      const at = ((rows[i] as number) - span.firstRow) * stride;
      const slot = slots[i] as number;
      if (ctrl > 0 && (readControl(bytes, at, ctrl) & defMask) !== 0) {
        setNull(out, slot);
        continue;
      }
      dst.set(bytes.subarray(at + ctrl, at + ctrl + width), slot * width);
    }
    return;
  }
  if (out.kind !== 'variable') throw new CorruptFileError(`${where}: full-zip variable-width values for a fixed-width column`);
  const index = span.index;
  if (!index) throw new CorruptFileError(`${where}: variable-width full-zip span without its repetition index`);
  const lengthBytes = (layout.bits_per_offset ?? 32) / 8;
  const codec = variableCodec(layout.value_compression, where);
  const base = index[0] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = from; i < to; i++) {
    const r = (rows[i] as number) - span.firstRow;
    const start = (index[r] as number) - base;
    const end = (index[r + 1] as number) - base;
    const slot = slots[i] as number;
    if (end > bytes.length || start > end) throw new CorruptFileError(`${where}: row ${rows[i]} spans bytes ${start}..${end} of a ${bytes.length}-byte read`);
    let at = start;
    if (ctrl > 0) {
      if (at + ctrl > end) throw new CorruptFileError(`${where}: row ${rows[i]} is too short for its control word`);
      const def = readControl(bytes, at, ctrl) & defMask;
      at += ctrl;
      if (def !== 0) {
        setNull(out, slot);
        continue;
      }
    }
    if (at + lengthBytes > end) throw new CorruptFileError(`${where}: row ${rows[i]} is too short for its length`);
    const length = lengthBytes === 4 ? view.getUint32(at, true) : Number(view.getBigUint64(at, true));
    at += lengthBytes;
    if (at + length !== end) throw new CorruptFileError(`${where}: row ${rows[i]} declares ${length} bytes but its repetition index gives ${end - at}`);
    if (codec.kind === 'plain') {
      appendVariable(out, slot, bytes, at, end);
    } else if (codec.kind === 'zstd') {
      const src = bytes.subarray(at, end);
      const declared = src.length === 0 ? 0 : zstdDeclaredLength(src);
      if (declared !== undefined && declared <= MAX_VALUE_BYTES) {
        // Straight into the output: no intermediate buffer per value.
        const position = reserveVariable(out, slot, declared); // may grow out.data: reserve first
        decompressBufferInto('zstd', src, out.data, position, declared);
      } else {
        const value = decompressBuffer('zstd', src, MAX_VALUE_BYTES);
        appendVariable(out, slot, value, 0, value.length);
      }
    } else {
      appendFsst(out, slot, codec.table, bytes, at, end);
    }
  }
}

/** Reads the byte-packed repetition-index entries of `indexBytes` (width 1/2/4/8) as offsets. */
export function parseRepetitionIndex(indexBytes: Uint8Array, width: number, count: number, where: string): Float64Array {
  if (![1, 2, 4, 8].includes(width) || indexBytes.length < count * width) {
    throw new CorruptFileError(`${where}: repetition index of ${indexBytes.length} bytes cannot hold ${count} entries of ${width} bytes`);
  }
  const view = new DataView(indexBytes.buffer, indexBytes.byteOffset, indexBytes.byteLength);
  const out = new Float64Array(count);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const value = width === 1 ? view.getUint8(i) : width === 2 ? view.getUint16(i * 2, true) : width === 4 ? view.getUint32(i * 4, true) : Number(view.getBigUint64(i * 8, true));
    if (value < previous) throw new CorruptFileError(`${where}: repetition index entry ${i} (${value}) is below the previous one (${previous})`);
    out[i] = value;
    previous = value;
  }
  return out;
}

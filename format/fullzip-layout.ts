/**
 * The 2.1 full-zip layout's structure (lance.encodings21.FullZipLayout; lance-encoding primitive.rs
 * serialize_full_zip_*, repdef.rs control words). Used for wide values (vectors of 128+ floats, long
 * strings, large binaries). Buffer 0 holds the rows zipped with their levels:
 *
 *   fixed width:    [control word] value bytes          (null values are zero-filled, same stride; a
 *                   fixed_size_list with null items leads each value with its items' bitmap)
 *   variable width: [control word] [u32|u64 length, bytes]   (only for valid values)
 *
 * The control word exists when bits_rep + bits_def > 0: 1, 2 or 4 bytes, value (rep << bits_def) | def.
 * Variable-width pages have buffer 1, the repetition index: rows + 1 byte offsets into buffer 0,
 * byte-packed to 1, 2, 4 or 8 bytes each (width = buffer size / (rows + 1)).
 *
 * Reads are exact: a fixed-width row is at row × stride; a variable-width row between two index entries.
 * This module reads the layout's metadata; decode-workers/encodings/fullzip.ts decodes the rows.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import { describeCompressive, flatBits } from './layout.js';
import type { CompressiveEncodingProto, FullZipLayoutProto } from './proto/messages.js';

/** Bytes of the control word for a layout. */
export function controlWordBytes(layout: FullZipLayoutProto): number {
  const bits = layout.bits_rep + layout.bits_def;
  return bits === 0 ? 0 : bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

/** Checks the page is a flat (non-nested) full-zip page lance-loader decodes. */
export function checkFullZipSupported(layout: FullZipLayoutProto, where: string): void {
  if (layout.bits_rep > 0) throw new UnsupportedError(`${where}: nested (list) full-zip pages are not supported yet`);
  if (layout.layers.length > 1 || layout.bits_def > 1) {
    throw new UnsupportedError(
      `${where}: full-zip pages with ${layout.layers.length} rep/def layers (struct fields) are not supported yet`,
    );
  }
  if (layout.details === 'bits_per_value') {
    fixedValueBytes(layout, where);
  } else if (layout.details === 'bits_per_offset') {
    if (layout.bits_per_offset !== 32 && layout.bits_per_offset !== 64) {
      throw new CorruptFileError(`${where}: full-zip offsets of ${layout.bits_per_offset} bits`);
    }
    variableCodecKind(layout.value_compression, where);
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
    throw new UnsupportedError(
      `${where}: full-zip values encoded as ${describeCompressive(encoding)} are not supported`,
    );
  }
  return bits / 8;
}

/**
 * The item bitmap that leads each fixed-width value of a fixed_size_list with null items (value.rs
 * nullable_per_value_fsl): `bytes` = ceil(dim / 8) bitmap bytes, then the value's own bytes; null when
 * the values have no item validity.
 */
export function zippedItemValidity(
  layout: FullZipLayoutProto,
  where: string,
): { bytes: number; perValue: number } | null {
  const fsl =
    layout.value_compression?.compression === 'fixed_size_list' ? layout.value_compression.fixed_size_list : undefined;
  if (!fsl?.has_validity) return null;
  const perValue = fsl.items_per_value;
  const bytes = Math.ceil(perValue / 8);
  if (perValue <= 0 || fixedValueBytes(layout, where) !== bytes + (perValue * (flatBits(fsl.values) ?? 0)) / 8)
    throw new CorruptFileError(
      `${where}: full-zip values of ${layout.bits_per_value} bits do not hold ${perValue} items and their validity`,
    );
  return { bytes, perValue };
}

/** How variable-width values are compressed, one value at a time. */
type VariableCodecKind = 'plain' | 'fsst' | 'zstd' | 'packed';

/** The codec of a variable-width page's values, or UnsupportedError naming the encoding. */
export function variableCodecKind(encoding: CompressiveEncodingProto | undefined, where: string): VariableCodecKind {
  switch (encoding?.compression) {
    case 'variable':
      return 'plain';
    case 'variable_packed_struct':
      return 'packed';
    case 'fsst':
      if (encoding.fsst?.values?.compression === 'variable') return 'fsst';
      break;
    case 'general':
      if (
        encoding.general?.compression?.scheme === 'COMPRESSION_ALGORITHM_ZSTD' &&
        encoding.general.values?.compression === 'variable'
      )
        return 'zstd';
      break;
  }
  throw new UnsupportedError(`${where}: full-zip values encoded as ${describeCompressive(encoding)} are not supported`);
}

/** Reads the byte-packed repetition-index entries of `indexBytes` (width 1/2/4/8) as offsets. */
export function parseRepetitionIndex(
  indexBytes: Uint8Array,
  width: number,
  count: number,
  where: string,
): Float64Array {
  if (![1, 2, 4, 8].includes(width) || indexBytes.length < count * width) {
    throw new CorruptFileError(
      `${where}: repetition index of ${indexBytes.length} bytes cannot hold ${count} entries of ${width} bytes`,
    );
  }
  const view = new DataView(indexBytes.buffer, indexBytes.byteOffset, indexBytes.byteLength);
  const out = new Float64Array(count);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const value =
      width === 1
        ? view.getUint8(i)
        : width === 2
          ? view.getUint16(i * 2, true)
          : width === 4
            ? view.getUint32(i * 4, true)
            : Number(view.getBigUint64(i * 8, true));
    if (value < previous)
      throw new CorruptFileError(
        `${where}: repetition index entry ${i} (${value}) is below the previous one (${previous})`,
      );
    out[i] = value;
    previous = value;
  }
  return out;
}

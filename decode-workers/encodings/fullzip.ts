/**
 * Decoding 2.1 full-zip rows (the layout, its control words and repetition index are described in
 * format/fullzip-layout.ts).
 */
import { CorruptFileError } from '../../errors.js';
import {
  controlWordBytes,
  fixedValueBytes,
  variableCodecKind,
  zippedItemValidity,
} from '../../format/fullzip-layout.js';
import type { CompressiveEncodingProto, FullZipLayoutProto } from '../../format/proto/messages.js';
import type { RowSpan } from '../../io/plan-steps.js';
import { decompressBuffer, decompressBufferInto, zstdDeclaredLength } from './compression.js';
import { fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { expandBitmap, outputItemValidity } from './item-validity.js';
import { appendFsst, appendVariable, reserveVariable, setNull, type ColumnOutput } from './output.js';
import { appendPackedRow, packedFieldCodecs, type PackedFieldCodec } from './packed-struct.js';

/** Largest single value accepted after per-value decompression. */
export const MAX_VALUE_BYTES = 1024 * 1024 * 1024;

export type VariableCodec =
  | { kind: 'plain' }
  | { kind: 'fsst'; table: FsstSymbolTable }
  | { kind: 'zstd' }
  | { kind: 'packed'; fields: PackedFieldCodec[] };

export function variableCodec(encoding: CompressiveEncodingProto | undefined, where: string): VariableCodec {
  const kind = variableCodecKind(encoding, where);
  if (kind === 'packed') return { kind, fields: packedFieldCodecs(encoding, where) };
  if (kind !== 'fsst') return { kind };
  return { kind, table: fsstSymbolTable(encoding?.fsst?.symbol_table ?? new Uint8Array(0)) };
}

export function readControl(bytes: Uint8Array, at: number, width: number): number {
  if (width === 1) return bytes[at] as number;
  if (width === 2) return (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
  return (
    ((bytes[at] as number) |
      ((bytes[at + 1] as number) << 8) |
      ((bytes[at + 2] as number) << 16) |
      ((bytes[at + 3] as number) << 24)) >>>
    0
  );
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
    const stride = ctrl + fixedValueBytes(layout, where);
    const items = zippedItemValidity(layout, where);
    const lead = ctrl + (items?.bytes ?? 0);
    const width = stride - lead;
    if (out.kind !== 'fixed' || out.byteWidth !== width)
      throw new CorruptFileError(`${where}: full-zip values are ${width} bytes wide, the column needs another width`);
    if (bytes.length < (span.endRow - span.firstRow) * stride)
      throw new CorruptFileError(
        `${where}: full-zip rows ${span.firstRow}..${span.endRow} need ${(span.endRow - span.firstRow) * stride} bytes, got ${bytes.length}`,
      );
    const dst = out.values;
    const itemValidity = items ? outputItemValidity(out, items.perValue, where) : null;
    for (let i = from; i < to; i++) {
      const at = ((rows[i] as number) - span.firstRow) * stride;
      const slot = slots[i] as number;
      if (ctrl > 0 && (readControl(bytes, at, ctrl) & defMask) !== 0) {
        setNull(out, slot);
        continue;
      }
      dst.set(bytes.subarray(at + lead, at + stride), slot * width);
      if (itemValidity && items)
        expandBitmap(bytes, (at + ctrl) * 8, items.perValue, itemValidity, slot * items.perValue);
    }
    return;
  }
  if (out.kind !== 'variable')
    throw new CorruptFileError(`${where}: full-zip variable-width values for a fixed-width column`);
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
    if (end > bytes.length || start > end)
      throw new CorruptFileError(
        `${where}: row ${rows[i]} spans bytes ${start}..${end} of a ${bytes.length}-byte read`,
      );
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
    if (at + length !== end)
      throw new CorruptFileError(
        `${where}: row ${rows[i]} declares ${length} bytes but its repetition index gives ${end - at}`,
      );
    if (codec.kind === 'plain') {
      appendVariable(out, slot, bytes, at, end);
    } else if (codec.kind === 'packed') {
      appendPackedRow(out, slot, codec.fields, bytes, at, end, `${where} row ${rows[i]}`);
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

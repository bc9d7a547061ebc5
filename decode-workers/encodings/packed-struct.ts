/**
 * Rows of a 2.2 VariablePackedStruct (lance-encoding physical/packed.rs, in FullZip pages): each row
 * holds the struct's fields in order, a fixed-width field as its raw bytes, a variable-width one as a
 * u32 or u64 length and its bytes, each compressed per value by the field's own encoding:
 *
 *   | id: 4 bytes | u32 length | name bytes (plain or FSST) |
 *
 * The row goes to the output in one plain form whatever the page stored: fixed fields as stored,
 * variable ones as a u32 length and the decompressed bytes. {@link splitPlainPackedRows} walks those rows
 * once and hands each field its values, for the Arrow struct (dataset/packed-struct.ts) and for the
 * loader's batch columns (decode-workers/packed-leaf.ts) alike:
 *
 *   | id | u32 len | name bytes | u32 len | payload bytes |   a plain row
 *     │               │                      │
 *     ▼               ▼                      ▼
 *   fields[0]      fields[1]              fields[2]          (undefined: walked over, not kept)
 */
import { CorruptFileError, UnsupportedError } from '../../errors.js';
import { describeCompressive } from '../../format/layout.js';
import type { CompressiveEncodingProto } from '../../format/proto/messages.js';
import { decodeFsst, fsstDecodedLengthBound, fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { reserveVariable, setNull, type ColumnOutput, type VariableOutput } from './output.js';

/** How to read one field of a packed row. */
export type PackedFieldCodec =
  { kind: 'fixed'; byteWidth: number } | { kind: 'variable'; lengthBytes: 4 | 8; fsst: FsstSymbolTable | null };

/** The field codecs of a VariablePackedStruct encoding, or UnsupportedError naming what is not read. */
export function packedFieldCodecs(encoding: CompressiveEncodingProto | undefined, where: string): PackedFieldCodec[] {
  const fields = encoding?.variable_packed_struct?.fields ?? [];
  const unsupported = () =>
    new UnsupportedError(`${where}: full-zip values encoded as ${describeCompressive(encoding)} are not supported`);
  if (fields.length === 0) throw unsupported();
  return fields.map((field): PackedFieldCodec => {
    const value = field.value;
    if (field.layout === 'bits_per_value') {
      const bits = field.bits_per_value ?? 0;
      if (value?.compression !== 'flat' || value.flat?.bits_per_value !== bits || bits === 0 || bits % 8 !== 0)
        throw unsupported();
      return { kind: 'fixed', byteWidth: bits / 8 };
    }
    const lengthBits = field.bits_per_length;
    if (field.layout !== 'bits_per_length' || (lengthBits !== 32 && lengthBits !== 64)) throw unsupported();
    const lengthBytes = lengthBits === 32 ? 4 : 8;
    if (value?.compression === 'variable') return { kind: 'variable', lengthBytes, fsst: null };
    if (value?.compression === 'fsst' && value.fsst?.values?.compression === 'variable')
      return { kind: 'variable', lengthBytes, fsst: fsstSymbolTable(value.fsst.symbol_table) };
    throw unsupported();
  });
}

/** Appends the packed row `src[start, end)` to `out` as `slot`, in plain form; `where` names the row. */
export function appendPackedRow(
  out: VariableOutput,
  slot: number,
  fields: PackedFieldCodec[],
  src: Uint8Array,
  start: number,
  end: number,
  where: string,
): void {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const short = (what: string) =>
    new CorruptFileError(`${where}: the packed row of ${end - start} bytes ends inside its ${what}`);
  // First pass: bound the plain row's size (FSST values expand) and check every field fits the row.
  let bound = 0;
  let at = start;
  for (const [i, field] of fields.entries()) {
    if (field.kind === 'fixed') {
      at += field.byteWidth;
      bound += field.byteWidth;
    } else {
      if (at + field.lengthBytes > end) throw short(`field ${i} length`);
      const length = readLength(view, at, field.lengthBytes);
      at += field.lengthBytes + length;
      bound += 4 + (field.fsst ? fsstDecodedLengthBound(length) : length);
    }
    if (at > end) throw short(`field ${i}`);
  }
  if (at !== end) throw new CorruptFileError(`${where}: the packed row has ${end - at} bytes after its last field`);
  const position = reserveVariable(out, slot, bound); // may grow out.data: reserve before writing
  const dst = out.data;
  let to = position;
  at = start;
  for (const field of fields) {
    if (field.kind === 'fixed') {
      dst.set(src.subarray(at, at + field.byteWidth), to);
      at += field.byteWidth;
      to += field.byteWidth;
      continue;
    }
    const length = readLength(view, at, field.lengthBytes);
    at += field.lengthBytes;
    let written = length;
    if (field.fsst) written = decodeFsst(field.fsst, src, at, at + length, dst, to + 4);
    else dst.set(src.subarray(at, at + length), to + 4);
    new DataView(dst.buffer, dst.byteOffset + to, 4).setUint32(0, written, true);
    at += length;
    to += 4 + written;
  }
  out.used = to;
  out.lengths[slot] = to - position;
}

function readLength(view: DataView, at: number, bytes: 4 | 8): number {
  if (bytes === 4) return view.getUint32(at, true);
  const length = view.getBigUint64(at, true);
  return length > BigInt(view.byteLength) ? view.byteLength + 1 : Number(length);
}

/**
 * Splits plain packed rows (`rows`, as {@link appendPackedRow} writes them) into their fields in one pass.
 * `widths` gives each field of the row in order: its byte width, or undefined for a variable-width field
 * (a u32 length and its bytes). Field `f` goes to `fields[f]` at the row's slot: a fixed-width output of
 * that width, a variable-width output, or undefined to step over it. A row where `rows` is null is null
 * in every field (validity 0 where the field has validity; an empty value, or zero bytes). A row whose
 * fields do not add up to exactly its length is `badRow(slot, bytes)`.
 */
export function splitPlainPackedRows(
  rows: VariableOutput,
  widths: readonly (number | undefined)[],
  fields: readonly (ColumnOutput | undefined)[],
  badRow: (slot: number, bytes: number) => CorruptFileError,
): void {
  const { data, starts, lengths, validity } = rows;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const numFields = widths.length;
  for (let slot = 0; slot < lengths.length; slot++) {
    const valid = validity === null || validity[slot] !== 0;
    if (!valid) {
      for (const out of fields) if (out) nullField(out, slot);
      continue;
    }
    const start = starts[slot] as number;
    const end = start + (lengths[slot] as number);
    let at = start;
    for (let f = 0; f < numFields; f++) {
      const width = widths[f];
      let from = at;
      if (width === undefined) {
        if (at + 4 > end) throw badRow(slot, end - start);
        from = at + 4;
        at = from + view.getUint32(at, true);
      } else at += width;
      if (at > end) throw badRow(slot, end - start);
      const out = fields[f];
      if (out === undefined) continue;
      if (out.validity) out.validity[slot] = 1;
      if (out.kind === 'variable') {
        const to = reserveVariable(out, slot, at - from);
        copyBytes(data, from, at, out.data, to);
      } else copyBytes(data, from, at, out.values, slot * out.byteWidth);
    }
    if (at !== end) throw badRow(slot, end - start);
  }
}

/** Marks `slot` of one field null: an empty value, or zero bytes (slot memory is reused batch after batch). */
function nullField(out: ColumnOutput, slot: number): void {
  setNull(out, slot);
  if (out.kind === 'fixed') out.values.fill(0, slot * out.byteWidth, (slot + 1) * out.byteWidth);
}

/** Copies `src[from, end)` to `dst` at `to`: byte by byte for the few bytes most fields hold, where a subarray would cost more than the copy. */
function copyBytes(src: Uint8Array, from: number, end: number, dst: Uint8Array, to: number): void {
  if (end - from > 32) dst.set(src.subarray(from, end), to);
  else for (let i = from; i < end; i++) dst[to++] = src[i] as number;
}

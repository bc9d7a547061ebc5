/**
 * Rows of a 2.2 VariablePackedStruct (lance-encoding physical/packed.rs, in FullZip pages): each row
 * holds the struct's fields in order, a fixed-width field as its raw bytes, a variable-width one as a
 * u32 or u64 length and its bytes, each compressed per value by the field's own encoding:
 *
 *   | id: 4 bytes | u32 length | name bytes (plain or FSST) |
 *
 * The row goes to the output in one plain form whatever the page stored (dataset/packed-struct.ts
 * splits it into Arrow fields): fixed fields as stored, variable ones as a u32 length and the
 * decompressed bytes.
 */
import { CorruptFileError, UnsupportedError } from '../../errors.js';
import { describeCompressive } from '../../format/layout.js';
import type { CompressiveEncodingProto } from '../../format/proto/messages.js';
import { decodeFsst, fsstDecodedLengthBound, fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { reserveVariable, type VariableOutput } from './output.js';

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

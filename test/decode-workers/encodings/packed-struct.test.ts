/**
 * The 2.2 VariablePackedStruct row kernel on hand-built rows: each row's fields in order, a fixed field
 * as raw bytes, a variable one as a u32/u64 length and its bytes; the output holds every row in one plain
 * form (fixed bytes, u32 length, bytes).
 */
import { describe, expect, it } from 'vitest';
import { createVariableOutput } from '../../../decode-workers/encodings/output.js';
import {
  appendPackedRow,
  packedFieldCodecs,
  type PackedFieldCodec,
} from '../../../decode-workers/encodings/packed-struct.js';
import { CorruptFileError, UnsupportedError } from '../../../errors.js';
import type { CompressiveEncodingProto } from '../../../format/proto/messages.js';

const ID_NAME_32: PackedFieldCodec[] = [
  { kind: 'fixed', byteWidth: 4 },
  { kind: 'variable', lengthBytes: 4, fsst: null },
];

/** The output bytes of `slot`. */
function slotBytes(out: ReturnType<typeof createVariableOutput>, slot: number): number[] {
  const start = out.starts[slot] as number;
  return [...out.data.subarray(start, start + (out.lengths[slot] as number))];
}

describe('appendPackedRow', () => {
  it('copies a row of plain fields as it is', () => {
    // id = 7 (u32 LE) | length 3 (u32 LE) | "abc"
    const row = [7, 0, 0, 0, 3, 0, 0, 0, 0x61, 0x62, 0x63];
    const out = createVariableOutput(2, false);
    appendPackedRow(out, 1, ID_NAME_32, Uint8Array.from(row), 0, row.length, 'row 0');
    expect(slotBytes(out, 1)).toEqual(row);
  });

  it('writes a 64-bit length prefix as a 32-bit one', () => {
    // id = 7 | length 2 (u64 LE) | "hi"
    const row = [7, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69];
    const fields: PackedFieldCodec[] = [
      ID_NAME_32[0] as PackedFieldCodec,
      { kind: 'variable', lengthBytes: 8, fsst: null },
    ];
    const out = createVariableOutput(1, false);
    appendPackedRow(out, 0, fields, Uint8Array.from(row), 0, row.length, 'row 0');
    expect(slotBytes(out, 0)).toEqual([7, 0, 0, 0, 2, 0, 0, 0, 0x68, 0x69]);
  });

  it('refuses a length that runs past the row, naming the row', () => {
    // id = 7 | length 9, but only 3 bytes follow
    const row = Uint8Array.from([7, 0, 0, 0, 9, 0, 0, 0, 0x61, 0x62, 0x63]);
    const out = createVariableOutput(1, false);
    expect(() => appendPackedRow(out, 0, ID_NAME_32, row, 0, row.length, 'f.lance column 2 row 5')).toThrow(
      new CorruptFileError('f.lance column 2 row 5: the packed row of 11 bytes ends inside its field 1'),
    );
  });

  it('refuses bytes after the last field', () => {
    const row = Uint8Array.from([7, 0, 0, 0, 0, 0, 0, 0, 0xff]);
    const out = createVariableOutput(1, false);
    expect(() => appendPackedRow(out, 0, ID_NAME_32, row, 0, row.length, 'row 1')).toThrow(
      'row 1: the packed row has 1 bytes after its last field',
    );
  });
});

describe('packedFieldCodecs', () => {
  it('reads fixed and length-prefixed fields', () => {
    const encoding = {
      compression: 'variable_packed_struct',
      variable_packed_struct: {
        fields: [
          {
            layout: 'bits_per_value',
            bits_per_value: 64,
            value: { compression: 'flat', flat: { bits_per_value: 64 } },
          },
          {
            layout: 'bits_per_length',
            bits_per_length: 32,
            value: { compression: 'variable', variable: {} },
          },
        ],
      },
    } as unknown as CompressiveEncodingProto;
    expect(packedFieldCodecs(encoding, 'page')).toEqual([
      { kind: 'fixed', byteWidth: 8 },
      { kind: 'variable', lengthBytes: 4, fsst: null },
    ]);
  });

  it('refuses a field compressed some other way with UnsupportedError', () => {
    const encoding = {
      compression: 'variable_packed_struct',
      variable_packed_struct: {
        fields: [{ layout: 'bits_per_length', bits_per_length: 32, value: { compression: 'general', general: {} } }],
      },
    } as unknown as CompressiveEncodingProto;
    expect(() => packedFieldCodecs(encoding, 'page 3')).toThrow(UnsupportedError);
  });
});

/**
 * The 2.2 VariablePackedStruct row kernel on hand-built rows: each row's fields in order, a fixed field
 * as raw bytes, a variable one as a u32/u64 length and its bytes; the output holds every row in one plain
 * form (fixed bytes, u32 length, bytes).
 */
import { describe, expect, it } from 'vitest';
import {
  appendVariable,
  createFixedOutput,
  createVariableOutput,
  setNull,
} from '../../../decode-workers/encodings/output.js';
import {
  appendPackedRow,
  splitPlainPackedRows,
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

/** Plain rows (appendPackedRow's form) of struct<id: u8, name: utf8, tag: u16>; null where a row is null. */
function plainRows(rows: (number[] | null)[]): ReturnType<typeof createVariableOutput> {
  const out = createVariableOutput(rows.length, rows.includes(null));
  rows.forEach((row, slot) =>
    row ? appendVariable(out, slot, Uint8Array.from(row), 0, row.length) : setNull(out, slot),
  );
  return out;
}

const ID_NAME_TAG = [1, undefined, 2];
const bad = (slot: number, bytes: number) => new CorruptFileError(`row ${slot} of ${bytes} bytes`);

describe('splitPlainPackedRows', () => {
  it('hands each field its values in one walk over the rows', () => {
    // id 5 | length 2 | "hi" | tag 0x0102 ;  id 6 | length 0 | tag 0x0304
    const rows = plainRows([
      [5, 2, 0, 0, 0, 0x68, 0x69, 2, 1],
      [6, 0, 0, 0, 0, 4, 3],
    ]);
    const id = createFixedOutput(2, 1, false);
    const name = createVariableOutput(2, false);
    const tag = createFixedOutput(2, 2, false);
    splitPlainPackedRows(rows, ID_NAME_TAG, [id, name, tag], bad);
    expect([...id.values]).toEqual([5, 6]);
    expect([...name.lengths]).toEqual([2, 0]);
    expect(slotBytes(name, 0)).toEqual([0x68, 0x69]);
    expect([...tag.values]).toEqual([2, 1, 4, 3]);
  });

  it('steps over a field that no output keeps', () => {
    const rows = plainRows([[5, 3, 0, 0, 0, 0x61, 0x62, 0x63, 9, 9]]);
    const tag = createFixedOutput(1, 2, false);
    splitPlainPackedRows(rows, ID_NAME_TAG, [undefined, undefined, tag], bad);
    expect([...tag.values]).toEqual([9, 9]);
  });

  it('makes a null row null in every field, with zero bytes in a fixed-width one', () => {
    const rows = plainRows([null, [5, 0, 0, 0, 0, 1, 1]]);
    const id = createFixedOutput(2, 1, true);
    id.values.fill(0xee);
    const name = createVariableOutput(2, true);
    splitPlainPackedRows(rows, ID_NAME_TAG, [id, name, undefined], bad);
    expect([...(id.validity as Uint8Array)]).toEqual([0, 1]);
    expect([...id.values]).toEqual([0, 5]);
    expect([...(name.validity as Uint8Array)]).toEqual([0, 1]);
    expect(name.lengths[0]).toBe(0);
  });

  it('refuses a row with bytes after its last field, naming the row', () => {
    const rows = plainRows([
      [5, 0, 0, 0, 0, 1, 1],
      [5, 0, 0, 0, 0, 1, 1, 0xff],
    ]);
    expect(() => splitPlainPackedRows(rows, ID_NAME_TAG, [undefined, undefined, undefined], bad)).toThrow(
      'row 1 of 8 bytes',
    );
  });

  it('refuses a row whose length runs past its end, naming the row', () => {
    const rows = plainRows([[5, 9, 0, 0, 0, 0x61, 1, 1]]);
    expect(() => splitPlainPackedRows(rows, ID_NAME_TAG, [undefined, createVariableOutput(1, false)], bad)).toThrow(
      'row 0 of 8 bytes',
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

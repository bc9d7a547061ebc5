/**
 * Packed struct columns of a batch. A packed struct is stored as one column of whole rows, its fields side
 * by side (dataset/packed-struct.ts); a worker decodes a batch's rows into the column's place in the slot
 * as they are stored, then splits them there into one run of values per field, where the loader's layout
 * (loader/batch-layout.ts) put each field, 8-byte aligned, so that each is a typed array of its own type:
 *
 *   rows:    | x y cls | x y cls | x y cls | …
 *   fields:  | x x x … | y y y … | cls cls cls … |
 */
import type { OutputDescriptor } from './messages.js';
import { copyPackedField } from '../dataset/packed-struct.js';

type PackedDescriptor = Extract<OutputDescriptor, { kind: 'fixed' }> & {
  packed: NonNullable<Extract<OutputDescriptor, { kind: 'fixed' }>['packed']>;
};

/** Whether `d` is a packed struct's output. */
export function isPackedOutput(d: OutputDescriptor): d is PackedDescriptor {
  return d.kind === 'fixed' && d.packed !== undefined;
}

/** Splits the decoded rows of a packed struct's output into its fields' places (one copy of the rows). */
export function splitPackedRows(d: PackedDescriptor): void {
  const rowBytes = d.byteWidth;
  const rows = new Uint8Array(d.buffer, d.byteOffset, d.numSlots * rowBytes).slice();
  const slot = new Uint8Array(d.buffer);
  let fieldStart = 0;
  d.packed.byteWidths.forEach((width, f) => {
    copyPackedField(rows, rowBytes, fieldStart, width, d.numSlots, slot, d.packed.byteOffsets[f] as number);
    fieldStart += width;
  });
}

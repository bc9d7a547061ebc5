/**
 * Fields of a packed struct with string or binary fields (2.2 VariablePackedStruct) as batch columns of
 * their own. Such a struct is one column of whole rows; each of its batch fields (batch-fields.ts
 * packedChildOf) decodes the rows in plain form (encodings/packed-struct.ts: fixed fields as stored,
 * variable ones as a u32 length and their bytes) and keeps its one field:
 *
 *   | id i32 | u32 len | name bytes | u32 len | payload bytes |   rows, in the worker's decode scratch
 *        │                  │
 *        ▼                  ▼
 *   slot values (fixed)   variable-width output (→ the slot's variable-width memory)
 *
 * A row where the struct is null is null in the field (validity 0; an empty value or zero bytes).
 */
import type * as arrow from 'apache-arrow';
import { CorruptFileError } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { fixedByteWidth } from '../dataset/arrow-build.js';
import {
  appendVariable,
  createVariableOutput,
  setNull,
  type ColumnOutput,
  type ScratchBudget,
  type VariableOutput,
} from './encodings/output.js';
import type { OutputDescriptor } from './messages.js';

/**
 * Field `child` of the packed rows in `rows` (`field`: the packed struct), written into the slot when
 * `target` is fixed-width, else returned as a variable-width output grown from `scratch` within `budget`.
 */
export function keepPackedField(
  rows: VariableOutput,
  field: LanceField,
  child: number,
  target: OutputDescriptor,
  scratch: Uint8Array | undefined,
  budget: ScratchBudget,
  where: string,
): ColumnOutput {
  const widths = (field.arrowType as arrow.Struct).children.map((c) => fixedByteWidth(c.type));
  const width = widths[child];
  const numSlots = rows.lengths.length;
  const view = new DataView(rows.data.buffer, rows.data.byteOffset, rows.data.byteLength);
  let out: ColumnOutput;
  if (target.kind === 'fixed' && width !== undefined) {
    const validity = target.validityOffset >= 0 ? new Uint8Array(target.buffer, target.validityOffset, numSlots) : null;
    out = {
      kind: 'fixed',
      byteWidth: width,
      values: new Uint8Array(target.buffer, target.byteOffset, numSlots * width),
      validity,
    };
  } else out = createVariableOutput(numSlots, rows.validity !== null, scratch, budget);
  for (let slot = 0; slot < numSlots; slot++) {
    const valid = rows.validity?.[slot] !== 0;
    if (out.validity) out.validity[slot] = valid ? 1 : 0;
    const start = rows.starts[slot] as number;
    const end = start + (rows.lengths[slot] as number);
    if (!valid) {
      if (out.kind === 'variable') setNull(out, slot);
      else out.values.fill(0, slot * out.byteWidth, (slot + 1) * out.byteWidth);
      continue;
    }
    // Skip the fields before `child`: a fixed one by its width, a variable one by its length.
    let at = start;
    for (let f = 0; f < child; f++) at += widths[f] ?? 4 + lengthAt(view, at, end, slot, where);
    if (out.kind === 'fixed') {
      if (at + out.byteWidth > end) throw shortRow(where, slot);
      out.values.set(rows.data.subarray(at, at + out.byteWidth), slot * out.byteWidth);
    } else {
      const length = lengthAt(view, at, end, slot, where);
      appendVariable(out, slot, rows.data, at + 4, at + 4 + length);
    }
  }
  return out;
}

/** The u32 length of the variable field at `at` of a plain row ending at `end`, checked to fit the row. */
function lengthAt(view: DataView, at: number, end: number, slot: number, where: string): number {
  if (at + 4 > end) throw shortRow(where, slot);
  const length = view.getUint32(at, true);
  if (at + 4 + length > end) throw shortRow(where, slot);
  return length;
}

function shortRow(where: string, slot: number): CorruptFileError {
  return new CorruptFileError(`${where}: the packed row of batch row ${slot} ends inside its fields`, { slot });
}

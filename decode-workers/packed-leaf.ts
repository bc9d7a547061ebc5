/**
 * Fields of a packed struct with string or binary fields (2.2 VariablePackedStruct) as batch columns of
 * their own. Such a struct is one column of whole rows, and each of its batch fields (batch-fields.ts
 * packedChildOf) keeps one field of them. The batch fields of one struct form a {@link PackedGroup}: the
 * first of them reads and decodes the rows in plain form (encodings/packed-struct.ts: fixed fields as
 * stored, variable ones as a u32 length and their bytes), the others read nothing, and one walk over the
 * rows (splitPlainPackedRows) hands every batch field its values:
 *
 *   | id i32 | u32 len | name bytes | u32 len | payload bytes |   rows, in the worker's decode scratch
 *        │                  │                      │
 *        ▼                  ▼                      ▼
 *   slot values (fixed)   variable-width outputs (→ the slot's variable-width memory)
 *
 * A row where the struct is null is null in each field (validity 0; an empty value or zero bytes).
 */
import type * as arrow from 'apache-arrow';
import { InternalError, type CorruptFileError } from '../errors.js';
import type { LanceField } from '../format/schema.js';
import { fixedByteWidth } from '../dataset/arrow-build.js';
import {
  createVariableOutput,
  type ColumnOutput,
  type ScratchBudget,
  type VariableOutput,
} from './encodings/output.js';
import { splitPlainPackedRows } from './encodings/packed-struct.js';
import type { DecodeOutput } from './encodings/decode-task.js';
import { packedChildOf } from './batch-fields.js';
import type { OutputDescriptor } from './messages.js';

/** The batch fields that keep fields of one packed struct's rows. */
export interface PackedGroup {
  /** The batch field (output) that reads and decodes the rows: the first of the group. */
  rows: number;
  /** Each field of the packed row: its byte width, or undefined for a variable-width one. */
  widths: (number | undefined)[];
  /** Per field of the packed row, the output that keeps it, or -1. */
  outputs: number[];
}

/**
 * The packed groups among batch fields `fields` (output `i` is field `i`, each path once: selectBatchFields),
 * in the order of their first field.
 */
export function packedGroups(fields: readonly LanceField[]): PackedGroup[] {
  const byStruct = new Map<number, PackedGroup>();
  fields.forEach((field, output) => {
    const child = packedChildOf(field);
    if (child === undefined) return;
    let group = byStruct.get(field.id);
    if (!group) {
      const children = (field.arrowType as arrow.Struct).children;
      group = { rows: output, widths: children.map((c) => fixedByteWidth(c.type)), outputs: children.map(() => -1) };
      byStruct.set(field.id, group);
    }
    // selectBatchFields names each path once: a second output for the field would keep the raw rows.
    if ((group.outputs[child] as number) >= 0)
      throw new InternalError(`batch field "${field.name}" is selected twice`, { output });
    group.outputs[child] = output;
  });
  return [...byStruct.values()];
}

/** Per batch field, whether it reads its own column: false for a packed group's fields after its first. */
export function readsOwnColumn(fields: readonly LanceField[]): boolean[] {
  const own = fields.map(() => true);
  for (const group of packedGroups(fields))
    for (const output of group.outputs) if (output >= 0 && output !== group.rows) own[output] = false;
  return own;
}

/**
 * Splits the packed rows `rows` into the group's batch fields in one walk: `into[output]` becomes each
 * field's output, written into the slot when its descriptor is fixed-width, else a variable-width output
 * grown from `scratch[output]` within `budget`. `badRow` names a row whose fields do not add up to its length.
 */
export function keepPackedFields(
  rows: VariableOutput,
  group: PackedGroup,
  outputs: readonly OutputDescriptor[],
  scratch: readonly (Uint8Array | undefined)[],
  budget: ScratchBudget,
  into: DecodeOutput[],
  badRow: (slot: number, bytes: number) => CorruptFileError,
): void {
  const numSlots = rows.lengths.length;
  const fields = group.outputs.map((output, f): ColumnOutput | undefined => {
    const target = outputs[output];
    if (!target) return undefined;
    const width = group.widths[f];
    if (target.kind === 'fixed' && width !== undefined) {
      return {
        kind: 'fixed',
        byteWidth: width,
        values: new Uint8Array(target.buffer, target.byteOffset, numSlots * width),
        validity: target.validityOffset >= 0 ? new Uint8Array(target.buffer, target.validityOffset, numSlots) : null,
      };
    }
    return createVariableOutput(numSlots, rows.validity !== null, scratch[output], budget);
  });
  splitPlainPackedRows(rows, group.widths, fields, badRow);
  group.outputs.forEach((output, f) => {
    const out = fields[f];
    if (out) into[output] = out;
  });
}

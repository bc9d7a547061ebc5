/**
 * Column selection: resolves user-given column names against a schema, and maps a data file's fields to
 * its columns (2.1: one column per leaf field; 2.0: one per field, parents included, in pre-order).
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';
import type { FileVersion } from '../format/footer.js';
import { flattenFields, type LanceField } from '../format/schema.js';
import { createOutputFor, outputToVector, outputWidthOf } from './arrow-build.js';
import type { ColumnOutput } from '../decode-workers/encodings/output.js';
import { createPackedOutput, isPackedField, packedToData } from './packed-struct.js';

/** The top-level fields named by `columns` (all when undefined), in the requested order. */
export function selectFields(
  fields: LanceField[],
  columns: readonly string[] | undefined,
  where: string,
): LanceField[] {
  if (columns === undefined) return fields;
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string')) {
    throw new InvalidArgumentError(`options.columns must be an array of column names`);
  }
  return columns.map((name) => {
    const field = fields.find((f) => f.name === name);
    if (!field) {
      throw new InvalidArgumentError(
        `${where} has no column "${name}"; its columns are: ${fields.map((f) => f.name).join(', ')}`,
        { column: name },
      );
    }
    return field;
  });
}

/** Column index of each field id in a standalone file (no manifest). */
export function columnIndexesOfFile(fields: LanceField[], version: FileVersion): Map<number, number> {
  const map = new Map<number, number>();
  let next = 0;
  // A packed struct or blob column is one column: its fields have none of their own.
  const inPacked = new Set<number>();
  for (const field of flattenFields(fields)) {
    if (inPacked.has(field.id)) continue;
    const packed = isPackedField(field);
    if (packed) for (const inner of flattenFields(field.children)) inPacked.add(inner.id);
    if (version === '2.0' || packed || field.children.length === 0) map.set(field.id, next++);
  }
  return map;
}

/** Refuses fields of types lance-loader cannot read, before their columns are looked up in any file. */
export function checkReadableFields(fields: LanceField[]): void {
  for (const f of fields) if (!isPackedField(f)) outputWidthOf(f.arrowType, f.name);
}

/** Fresh outputs with `numSlots` slots for each field. */
export function createOutputs(fields: LanceField[], numSlots: number): ColumnOutput[] {
  return fields.map((f) =>
    isPackedField(f) ? createPackedOutput(f, numSlots) : createOutputFor(f.arrowType, numSlots, f.nullable, f.name),
  );
}

/** An Arrow record batch of the filled outputs. */
export function toRecordBatch(
  schema: arrow.Schema,
  fields: LanceField[],
  outputs: ColumnOutput[],
  numRows: number,
): arrow.RecordBatch {
  const children = fields.map((f, i) =>
    isPackedField(f)
      ? packedToData(f, outputs[i] as ColumnOutput, numRows)
      : (outputToVector(f.arrowType, outputs[i] as ColumnOutput, numRows).data[0] as arrow.Data),
  );
  const selected = new arrow.Schema(
    fields.map((f) => schema.fields.find((sf) => sf.name === f.name) as arrow.Field),
    schema.metadata,
  );
  const data = arrow.makeData({ type: new arrow.Struct(selected.fields), length: numRows, nullCount: 0, children });
  return new arrow.RecordBatch(selected, data);
}

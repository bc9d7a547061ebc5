/**
 * Column selection: resolves user-given column names against a schema, and maps a data file's fields to
 * its columns (2.1: one column per leaf field; 2.0: one per field, parents included, in pre-order).
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import type { FileVersion } from '../format/footer.js';
import { flattenFields, type LanceField } from '../format/schema.js';
import { createOutputFor, fixedByteWidth, isVariableWidth, outputToVector, valueTypeOf } from './arrow-build.js';
import type { ColumnOutput } from '../decode-workers/encodings/output.js';

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
  for (const field of flattenFields(fields)) {
    if (version === '2.0' || field.children.length === 0) map.set(field.id, next++);
  }
  return map;
}

/**
 * Refuses fields of types lance-loader cannot read, before their columns are looked up in any file: one
 * UnsupportedError names every such field and why, so that reading all columns (the default) tells at
 * once which ones to leave out. `where` names the dataset or file.
 */
export function checkReadableFields(fields: LanceField[], where: string): void {
  const unreadable = fields.flatMap((f) => {
    const reason = unreadableReason(f.arrowType);
    return reason === undefined ? [] : [{ column: f.name, type: String(f.arrowType), reason }];
  });
  if (unreadable.length === 0) return;
  const list = unreadable.map((u) => `"${u.column}" (${u.type}: ${u.reason})`).join(', ');
  throw new UnsupportedError(
    `${where}: ${unreadable.length} of the ${fields.length} columns asked for cannot be read yet: ${list}; list the others in options.columns to read them`,
    { columns: unreadable },
  );
}

/** Why lance-loader cannot read a column of `columnType` yet, or undefined when it can. */
export function unreadableReason(columnType: arrow.DataType): string | undefined {
  const type = valueTypeOf(columnType);
  if (fixedByteWidth(type) !== undefined || isVariableWidth(type)) return undefined;
  const nested =
    arrow.DataType.isList(type) ||
    arrow.DataType.isStruct(type) ||
    arrow.DataType.isMap(type) ||
    arrow.DataType.isFixedSizeList(type) ||
    arrow.DataType.isUnion(type);
  return nested ? 'lists and structs are not read yet' : 'this type is not read yet';
}

/** Fresh outputs with `numSlots` slots for each field. */
export function createOutputs(fields: LanceField[], numSlots: number): ColumnOutput[] {
  return fields.map((f) => createOutputFor(f.arrowType, numSlots, f.nullable, f.name));
}

/** An Arrow record batch of the filled outputs. */
export function toRecordBatch(
  schema: arrow.Schema,
  fields: LanceField[],
  outputs: ColumnOutput[],
  numRows: number,
): arrow.RecordBatch {
  const children = fields.map(
    (f, i) => outputToVector(f.arrowType, outputs[i] as ColumnOutput, numRows).data[0] as arrow.Data,
  );
  const selected = new arrow.Schema(
    fields.map((f) => schema.fields.find((sf) => sf.name === f.name) as arrow.Field),
    schema.metadata,
  );
  const data = arrow.makeData({ type: new arrow.Struct(selected.fields), length: numRows, nullCount: 0, children });
  return new arrow.RecordBatch(selected, data);
}

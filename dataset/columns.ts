/**
 * Column selection: resolves user-given column names against a schema, and maps a data file's fields to
 * its columns (2.1: one column per leaf field; 2.0: one per field, parents included, in pre-order).
 *
 * A selected column is a top-level field or a struct child named by its path (`meta.score`), which comes
 * back as a column of its own under that name. Flat fields are read into one output each; nested fields
 * (lists, structs, and fields selected by path) into one output per leaf, each holding the leaf's level
 * entries and values (decode-workers/encodings/nested-output.ts), assembled into Arrow by arrow-build.ts.
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import type { FileVersion } from '../format/footer.js';
import type { LayerKind } from '../format/repdef.js';
import { flattenFields, layersOf, toArrowField, type LanceField } from '../format/schema.js';
import {
  createOutputFor,
  fixedByteWidth,
  isVariableWidth,
  listRowsToData,
  nestedToVector,
  outputToVector,
  outputWidthOf,
  valueTypeOf,
} from './arrow-build.js';
import type { ColumnOutput } from '../decode-workers/encodings/output.js';
import { createNestedOutput, type NestedOutput } from '../decode-workers/encodings/nested-output.js';
import type { DecodeOutput } from '../decode-workers/encodings/decode-task.js';
import { createRaggedListOutput, isSingleList } from '../decode-workers/encodings/list-rows.js';
import { createPackedOutput, isPackedField, packedToData } from './packed-struct.js';

/** The field at `name`: a top-level field, or a struct child by its dotted path. */
function fieldAt(fields: LanceField[], name: string): LanceField | undefined {
  const top = fields.find((f) => f.name === name);
  if (top) return top;
  const parts = name.split('.');
  const ancestors: LanceField[] = [];
  let level = fields;
  for (let i = 0; i < parts.length - 1; i++) {
    const parent = level.find((f) => f.name === parts[i]);
    // A packed struct's fields are stored together in one column, read with the struct.
    if (!parent || parent.logicalType !== 'struct' || isPackedField(parent)) return undefined;
    ancestors.push(parent);
    level = parent.children;
  }
  const field = level.find((f) => f.name === parts[parts.length - 1]);
  return field && ancestors.length > 0 ? { ...field, name, ancestors } : undefined;
}

/** The fields named by `columns` (all top-level fields when undefined), in the requested order. */
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
    const field = fieldAt(fields, name);
    if (!field) {
      const packed = fields.find((f) => name.startsWith(`${f.name}.`) && isPackedField(f));
      throw new InvalidArgumentError(
        packed
          ? `${where} has no column "${name}": "${packed.name}" is a packed struct (or blob), whose fields are stored together; select "${packed.name}"`
          : `${where} has no column "${name}"; its columns are: ${fields.map((f) => f.name).join(', ')} (struct fields by path, e.g. "struct.child")`,
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
  if (arrow.DataType.isList(type) || arrow.DataType.isStruct(type) || arrow.DataType.isMap(type)) {
    for (const child of type.children) {
      const reason = unreadableReason(child.type);
      if (reason !== undefined) return `its field "${child.name}": ${reason}`;
    }
    return undefined;
  }
  return 'this type is not read yet';
}

/** Whether a selected field is read as levels and values (lists, structs, struct children by path). */
function isNested(field: LanceField): boolean {
  // Packed structs (and blob descriptors) are stored as one column of whole rows.
  if (isPackedField(field)) return false;
  return field.children.length > 0 || (field.ancestors?.length ?? 0) > 0;
}

/** One column of a data file a read needs: a flat field, or one leaf of a nested field. */
export interface LeafColumn {
  /** The field stored in the column (the leaf). */
  field: LanceField;
  /** The selected field's name, with the leaf's path below it: names the column in errors. */
  name: string;
  /** The read's output the column's values go to. */
  output: number;
  /** The selected field's nullability (a fragment without the column reads as nulls). */
  nullable: boolean;
  /** Nested leaves: the layers of its levels (leaf outwards). */
  layers?: LayerKind[];
  /** Nested leaves: the fields above the leaf, from the selected field down (2.0 stores each as a column). */
  parents?: LanceField[];
}

/** The columns (leaves) reading `fields` takes, with their outputs in order. */
export function leafColumns(fields: LanceField[]): LeafColumn[] {
  const out: LeafColumn[] = [];
  for (const field of fields) {
    if (!isNested(field)) {
      out.push({ field, name: field.name, output: out.length, nullable: field.nullable });
      continue;
    }
    const visit = (f: LanceField, name: string, parents: LanceField[]): void => {
      if (f.children.length > 0) {
        for (const child of f.children) visit(child, `${name}.${child.name}`, [...parents, f]);
        return;
      }
      const layers = layersOf(field, f) as LayerKind[];
      out.push({ field: f, name, output: out.length, nullable: field.nullable, layers, parents });
    };
    visit(field, field.name, []);
  }
  return out;
}

/** Fresh outputs with `numSlots` slots for the leaves of `fields`. */
export function createOutputs(fields: LanceField[], numSlots: number): DecodeOutput[] {
  return leafColumns(fields).map(({ field, name, layers, parents }) => {
    if (!layers)
      return isPackedField(field)
        ? createPackedOutput(field, numSlots)
        : createOutputFor(field.arrowType, numSlots, field.nullable, name);
    const width = outputWidthOf(field.arrowType, name);
    // A List (not LargeList) of fixed-width items is read row by row, straight into its Arrow buffers.
    if (isSingleList(layers, width, field.arrowType) && parents?.[0]?.arrowType.typeId === arrow.Type.List)
      return createRaggedListOutput(numSlots, width, true, layers, undefined, true);
    return createNestedOutput(numSlots, layers, width);
  });
}

/** The Arrow schema of a read's result. */
export function resultSchema(fields: LanceField[], metadata: Map<string, string>): arrow.Schema {
  return new arrow.Schema(fields.map(toArrowField), metadata);
}

/** An Arrow record batch of the filled outputs. */
export function toRecordBatch(
  schema: arrow.Schema,
  fields: LanceField[],
  outputs: DecodeOutput[],
  numRows: number,
): arrow.RecordBatch {
  const leaves = leafColumns(fields);
  let next = 0;
  const children = fields.map((f) => {
    if (isPackedField(f)) return packedToData(f, outputs[next++] as ColumnOutput, numRows);
    if (!isNested(f))
      return outputToVector(f.arrowType, outputs[next++] as ColumnOutput, numRows).data[0] as arrow.Data;
    const list = outputs[next];
    if (list?.kind === 'list') {
      next++;
      return listRowsToData(f, list, numRows);
    }
    const mine = new Map<LanceField, NestedOutput>();
    while (next < leaves.length && leafOf(leaves[next] as LeafColumn, f)) {
      const leaf = leaves[next] as LeafColumn;
      mine.set(leaf.field, outputs[next++] as NestedOutput);
    }
    return nestedToVector(f, mine, numRows).data[0] as arrow.Data;
  });
  const selected = resultSchema(fields, schema.metadata);
  const data = arrow.makeData({ type: new arrow.Struct(selected.fields), length: numRows, nullCount: 0, children });
  return new arrow.RecordBatch(selected, data);
}

/** Whether `leaf` is a leaf of the selected field `field`. */
function leafOf(leaf: LeafColumn, field: LanceField): boolean {
  return leaf.layers !== undefined && layersOf(field, leaf.field) !== undefined;
}

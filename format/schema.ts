/**
 * Lance schemas → apache-arrow schemas. A Lance schema is a flattened pre-order list of
 * lance.file.Field (id, parent_id, logical_type string); this module rebuilds the tree and maps each
 * logical type to its Arrow type. Field metadata bytes become UTF-8 strings.
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { FieldProto } from './proto/messages.js';
import type { LayerKind } from './repdef.js';

/** A Lance field with its children, in schema order. */
export interface LanceField {
  id: number;
  name: string;
  logicalType: string;
  nullable: boolean;
  metadata: Map<string, string>;
  children: LanceField[];
  arrowType: arrow.DataType;
  /**
   * For a struct child selected as a column by its path (`meta.score`, named so): the structs above it,
   * outermost first. Its columns' levels start at the outermost.
   */
  ancestors?: LanceField[];
}

const utf8 = new TextDecoder('utf-8');

function primitiveType(logicalType: string): arrow.DataType | undefined {
  switch (logicalType) {
    case 'null':
      return new arrow.Null();
    case 'bool':
      return new arrow.Bool();
    case 'int8':
      return new arrow.Int8();
    case 'int16':
      return new arrow.Int16();
    case 'int32':
      return new arrow.Int32();
    case 'int64':
      return new arrow.Int64();
    case 'uint8':
      return new arrow.Uint8();
    case 'uint16':
      return new arrow.Uint16();
    case 'uint32':
      return new arrow.Uint32();
    case 'uint64':
      return new arrow.Uint64();
    case 'halffloat':
      return new arrow.Float16();
    case 'float':
      return new arrow.Float32();
    case 'double':
      return new arrow.Float64();
    case 'string':
      return new arrow.Utf8();
    case 'large_string':
      return new arrow.LargeUtf8();
    case 'binary':
      return new arrow.Binary();
    case 'large_binary':
      return new arrow.LargeBinary();
    case 'date32:day':
      return new arrow.DateDay();
    case 'date64:ms':
      return new arrow.DateMillisecond();
  }
  const parts = logicalType.split(':');
  const [head] = parts;
  if (head === 'timestamp' && parts.length === 3) {
    const unit = timeUnit(parts[1]);
    const tz = parts[2] === '-' ? null : (parts[2] ?? null);
    return unit === undefined ? undefined : new arrow.Timestamp(unit, tz);
  }
  if ((head === 'time32' || head === 'time64') && parts.length === 2) {
    const unit = timeUnit(parts[1]);
    return unit === undefined ? undefined : new arrow.Time(unit, head === 'time32' ? 32 : 64);
  }
  if (head === 'fixed_size_binary' && parts.length === 2) {
    const width = Number(parts[1]);
    return Number.isInteger(width) && width > 0 ? new arrow.FixedSizeBinary(width) : undefined;
  }
  if (head === 'fixed_size_list' && parts.length >= 3) {
    const dim = Number(parts[parts.length - 1]);
    const inner = primitiveType(parts.slice(1, -1).join(':'));
    if (!inner || !Number.isInteger(dim) || dim <= 0) return undefined;
    return new arrow.FixedSizeList(dim, new arrow.Field('item', inner, true));
  }
  return undefined;
}

function timeUnit(unit: string | undefined): arrow.TimeUnit | undefined {
  switch (unit) {
    case 's':
      return arrow.TimeUnit.SECOND;
    case 'ms':
      return arrow.TimeUnit.MILLISECOND;
    case 'us':
      return arrow.TimeUnit.MICROSECOND;
    case 'ns':
      return arrow.TimeUnit.NANOSECOND;
  }
  return undefined;
}

/**
 * Fields stored as one column of packed rows: a struct with `lance-encoding:packed=true` (its fields
 * side by side in each row), a legacy blob (`lance-encoding:blob=true` on large_binary: (position, size)
 * descriptors, file versions 2.0 and 2.1), or a blob v2 (`lance.blob.v2` extension struct, 2.2: (kind,
 * position, size, blob_id, blob_uri) descriptors).
 */
export type PackedFieldKind = 'packed' | 'blob' | 'blob-v2';

/** How `field` is stored as packed rows, or undefined when it is stored some other way. */
export function packedFieldKind(field: Pick<LanceField, 'logicalType' | 'metadata'>): PackedFieldKind | undefined {
  const { logicalType, metadata } = field;
  // A data file's own schema marks a blob v2 struct with lance-encoding:blob instead of the extension name.
  const blob = metadata.get('lance-encoding:blob') === 'true';
  if (logicalType === 'struct' && (blob || metadata.get('ARROW:extension:name') === 'lance.blob.v2')) return 'blob-v2';
  if (logicalType === 'large_binary' && blob) return 'blob';
  if (logicalType === 'struct' && metadata.get('lance-encoding:packed') === 'true') return 'packed';
  return undefined;
}

/**
 * The descriptor structs LanceDB's queries return for blob columns in place of their bytes
 * (lance-core datatypes.rs BLOB_DESC_FIELDS, BLOB_V2_DESC_FIELDS).
 */
const BLOB_DESCRIPTOR_FIELDS = [
  new arrow.Field('position', new arrow.Uint64(), true),
  new arrow.Field('size', new arrow.Uint64(), true),
];
const BLOB_V2_DESCRIPTOR_FIELDS = [
  new arrow.Field('kind', new arrow.Uint8(), false),
  new arrow.Field('position', new arrow.Uint64(), true),
  new arrow.Field('size', new arrow.Uint64(), true),
  new arrow.Field('blob_id', new arrow.Uint32(), true),
  new arrow.Field('blob_uri', new arrow.Utf8(), true),
];

function arrowTypeOf(field: Omit<LanceField, 'arrowType'>, where: string): arrow.DataType {
  const t = field.logicalType;
  const packed = packedFieldKind(field);
  if (packed === 'blob') return new arrow.Struct(BLOB_DESCRIPTOR_FIELDS);
  if (packed === 'blob-v2') return new arrow.Struct(BLOB_V2_DESCRIPTOR_FIELDS);
  if (t === 'struct') {
    return new arrow.Struct(field.children.map(toArrowField));
  }
  if (isListType(t)) {
    const [child] = field.children;
    if (!child) throw new CorruptFileError(`${where}: list field "${field.name}" has no item field`);
    // A map is stored as a list of its entries struct (key, value), which Arrow's Map type is too.
    if (t === 'map') {
      if (!arrow.DataType.isStruct(child.arrowType) || child.arrowType.children.length !== 2)
        throw new CorruptFileError(`${where}: map field "${field.name}" has no (key, value) entries struct`);
      return new arrow.Map_(toArrowField(child) as arrow.Field<arrow.Struct>);
    }
    return new arrow.List(toArrowField(child));
  }
  if (t.startsWith('dict:')) {
    // dict:<value type>:<index type>:<ordered>
    const [, valueName, indexName] = t.split(':');
    const valueType = primitiveType(valueName ?? '');
    const indexType = primitiveType(indexName ?? '');
    if (valueType && indexType instanceof arrow.Int) return new arrow.Dictionary(valueType, indexType as arrow.Int32);
  }
  const type = primitiveType(t);
  if (!type) {
    throw new UnsupportedError(
      `${where}: field "${field.name}" has logical type "${t}", which lance-loader does not know`,
      {
        field: field.name,
        logicalType: t,
      },
    );
  }
  return type;
}

/**
 * The Arrow field for a Lance field (metadata carried over); a field selected by path is nullable when
 * a struct above it is.
 */
export function toArrowField(field: LanceField): arrow.Field {
  const nullable = field.nullable || (field.ancestors ?? []).some((a) => a.nullable);
  return new arrow.Field(field.name, field.arrowType, nullable, field.metadata);
}

/** The structure of each level of a field's leaf `leaf` (a descendant or itself), leaf outwards. */
export function layersOf(field: LanceField, leaf: LanceField): LayerKind[] | undefined {
  const path: LanceField[] = [];
  const find = (f: LanceField): boolean => {
    path.push(f);
    if (f === leaf || f.children.some(find)) return true;
    path.pop();
    return false;
  };
  if (!find(field)) return undefined;
  return [...(field.ancestors ?? []), ...path]
    .map((f): LayerKind => (isListType(f.logicalType) ? 'list' : 'item'))
    .reverse();
}

/** Whether a Lance logical type is a list (its one child is the item field; a map's is its entries struct). */
export function isListType(logicalType: string): boolean {
  return ['list', 'large_list', 'list.struct', 'large_list.struct', 'map'].includes(logicalType);
}

/** Rebuilds the field tree from Lance's flattened pre-order list. `where` names the file for errors. */
export function buildFieldTree(protos: FieldProto[], where: string): LanceField[] {
  const byId = new Map<number, LanceField>();
  const top: LanceField[] = [];
  const pending: { field: Omit<LanceField, 'arrowType'>; parentId: number }[] = [];
  let previous: FieldProto | undefined;
  for (const proto of protos) {
    // A data file lists a blob v2 column's descriptor fields after it with id -1: they have no column.
    if (proto.id === -1 && previous?.metadata['lance-encoding:blob'] !== undefined) continue;
    previous = proto;
    const metadata = new Map<string, string>();
    for (const [key, value] of Object.entries(proto.metadata)) metadata.set(key, utf8.decode(value));
    const field = {
      id: proto.id,
      name: proto.name,
      logicalType: proto.logical_type,
      nullable: proto.nullable,
      metadata,
      children: [],
    };
    pending.push({ field, parentId: proto.parent_id });
  }
  for (const { field } of pending) byId.set(field.id, field as LanceField);
  for (const { field, parentId } of pending) {
    if (parentId < 0) {
      top.push(field as LanceField);
    } else {
      const parent = byId.get(parentId);
      if (!parent || parent === field) {
        throw new CorruptFileError(
          `${where}: field "${field.name}" (id ${field.id}) names parent id ${parentId}, which does not exist`,
        );
      }
      parent.children.push(field as LanceField);
    }
  }
  const resolve = (field: LanceField, depth: number): void => {
    if (depth > 64) throw new CorruptFileError(`${where}: schema nesting is deeper than 64 levels`);
    for (const child of field.children) resolve(child, depth + 1);
    field.arrowType = arrowTypeOf(field, where);
  };
  for (const field of top) resolve(field, 0);
  return top;
}

/** The Arrow schema of a field tree, with the schema-level metadata. */
export function toArrowSchema(fields: LanceField[], metadata: Record<string, Uint8Array> = {}): arrow.Schema {
  const meta = new Map<string, string>();
  for (const [key, value] of Object.entries(metadata)) meta.set(key, utf8.decode(value));
  return new arrow.Schema(fields.map(toArrowField), meta);
}

/** The dotted path of every field of the tree (`struct_list.tags.item`), by field id. */
export function fieldPaths(fields: LanceField[]): Map<number, string> {
  const paths = new Map<number, string>();
  const visit = (f: LanceField, prefix: string) => {
    const path = prefix ? `${prefix}.${f.name}` : f.name;
    paths.set(f.id, path);
    for (const child of f.children) visit(child, path);
  };
  for (const f of fields) visit(f, '');
  return paths;
}

/** Every field of the tree in pre-order (the order Lance lists them in). */
export function flattenFields(fields: LanceField[]): LanceField[] {
  const out: LanceField[] = [];
  const visit = (f: LanceField) => {
    out.push(f);
    f.children.forEach(visit);
  };
  fields.forEach(visit);
  return out;
}

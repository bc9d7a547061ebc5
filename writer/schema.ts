/**
 * Arrow schemas → the Lance fields a manifest and a data file's FileDescriptor list, and the leaf
 * columns of each field. A flat field is one Lance field and one column; a struct or list field is a
 * Lance field per node (ids in pre-order, children naming their parent) and one column per leaf, as in
 * LanceDB's 2.1/2.2 files:
 *
 *   tags: List<Utf8>            → tags (list) ─ item (string)            leaf: tags.item
 *   meta: Struct<{a, b: List}>  → meta (struct) ─ a, b (list) ─ item      leaves: meta.a, meta.b.item
 *
 * Logical type names are the strings LanceDB writes (`int64`, `timestamp:us:-`,
 * `fixed_size_list:float:768`, `list`, `list.struct`, `large_list`, `large_list.struct`, `map`,
 * `struct`), and `Field.encoding` is PLAIN for fixed-width values and lists, VAR_BINARY for strings and
 * binary, NONE for structs, as in LanceDB's manifests. A fixed-size list of fixed-width values is a leaf (its values are one column).
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import type { FieldProto } from '../format/proto/messages.js';

/** How a column's values are laid out before encoding. */
export type ColumnKind =
  /** `byteWidth` bytes per row: ints, floats, dates, timestamps, fixed-size binary. */
  | { kind: 'fixed'; byteWidth: number }
  /** One bit per row, LSB first. */
  | { kind: 'bool' }
  /** `dimension` fixed-width items per row (vectors), `itemBits` bits each. */
  | { kind: 'fsl'; dimension: number; itemBits: number }
  /** Offsets and bytes; `offsetBytes` is 4 (utf8, binary) or 8 (large forms). */
  | { kind: 'variable'; offsetBytes: 4 | 8 };

/**
 * A child of a packed struct with variable-width children (file version 2.2's VariablePackedStruct): its
 * bytes per value, or the bytes of the length before its value, and what its field asks of compression.
 */
export type PackedChild =
  { kind: 'fixed'; byteWidth: number } | { kind: 'variable'; lengthBytes: 4 | 8; compression?: 'none' | 'fsst' };

/**
 * A layer above a leaf's values. (apache-arrow 18 has no LargeList type, so lists come with 32-bit
 * offsets only; a large_list field, asked for by path with writeDataset's `largeLists`, is written
 * from them.)
 */
export type NestLayer = 'struct' | 'list';

/** One column of a data file: a leaf of a top-level field. */
export interface LeafColumn {
  /** The leaf's dotted path, for messages (`tags.item`; the field's name for a flat field). */
  name: string;
  /** Child indexes from the top-level field's data down to the leaf's data. */
  path: number[];
  /** The layers above the leaf, outermost (the top-level field) first; empty for a flat field. */
  layers: NestLayer[];
  /** Whether the leaf's own values can be null. */
  nullable: boolean;
  kind: ColumnKind;
  /** The leaf's Lance field id. */
  fieldId: number;
  /**
   * A blob column: its values go out of line and the column holds where they are (writer/blob.ts).
   * `legacy`: `lance-encoding:blob` on large_binary (file version 2.1); `v2`: a `lance.blob.v2` struct
   * of `data` and `uri` (file version 2.2), whose leaf gathers the `data` child.
   */
  blob?: 'legacy' | 'v2';
  /** A blob v2 column's size limits, from its Lance field's metadata (the dataset's, on append). */
  blobLimits?: BlobV2Limits;
  /**
   * A packed struct (`lance-encoding:packed`): one column of whole rows, each its children's fixed-width
   * values one after another (`kind` is their total width); the bits of each child.
   */
  packed?: number[];
  /**
   * A packed struct with variable-width children (file version 2.2): one column of whole rows, each its
   * children's values in the plain form writer/packed.ts describes (`kind` is variable).
   */
  packedChildren?: PackedChild[];
}

/** One writable top-level field: its Arrow field, the Lance fields written for it and its leaves. */
export interface WriteColumn {
  field: arrow.Field;
  /** The top-level Lance field. */
  lance: FieldProto;
  /** Every Lance field of it in pre-order, `lance` first. */
  fields: FieldProto[];
  leaves: LeafColumn[];
  /**
   * The fields the data file's own schema lists for the column when they differ from `fields`: a blob
   * v2 column's descriptor struct, as LanceDB writes it.
   */
  fileFields?: FieldProto[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function timeUnitName(unit: arrow.TimeUnit): string {
  return ['s', 'ms', 'us', 'ns'][unit] as string;
}

/** The Lance logical type of a scalar Arrow type, or undefined if the writer cannot write it. */
function scalarLogicalType(type: arrow.DataType): { name: string; kind: ColumnKind } | undefined {
  if (arrow.DataType.isInt(type)) {
    const name = `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}`;
    return { name, kind: { kind: 'fixed', byteWidth: type.bitWidth / 8 } };
  }
  if (arrow.DataType.isFloat(type)) {
    const [name, byteWidth] = (
      [
        ['halffloat', 2],
        ['float', 4],
        ['double', 8],
      ] as const
    )[type.precision];
    return { name, kind: { kind: 'fixed', byteWidth } };
  }
  if (arrow.DataType.isBool(type)) return { name: 'bool', kind: { kind: 'bool' } };
  if (arrow.DataType.isDate(type)) {
    return type.unit === arrow.DateUnit.DAY
      ? { name: 'date32:day', kind: { kind: 'fixed', byteWidth: 4 } }
      : { name: 'date64:ms', kind: { kind: 'fixed', byteWidth: 8 } };
  }
  if (arrow.DataType.isTimestamp(type)) {
    return {
      name: `timestamp:${timeUnitName(type.unit)}:${type.timezone ?? '-'}`,
      kind: { kind: 'fixed', byteWidth: 8 },
    };
  }
  if (arrow.DataType.isFixedSizeBinary(type)) {
    return { name: `fixed_size_binary:${type.byteWidth}`, kind: { kind: 'fixed', byteWidth: type.byteWidth } };
  }
  if (arrow.DataType.isUtf8(type)) return { name: 'string', kind: { kind: 'variable', offsetBytes: 4 } };
  if (arrow.DataType.isLargeUtf8(type)) return { name: 'large_string', kind: { kind: 'variable', offsetBytes: 8 } };
  if (arrow.DataType.isBinary(type)) return { name: 'binary', kind: { kind: 'variable', offsetBytes: 4 } };
  if (arrow.DataType.isLargeBinary(type)) return { name: 'large_binary', kind: { kind: 'variable', offsetBytes: 8 } };
  return undefined;
}

const WRITABLE =
  'writable: ints, floats, bool, dates, timestamps, utf8/binary and their large forms, fixed-size binary, fixed-size lists of fixed-width values, and lists, maps and structs of these';

function unsupportedType(column: string, type: arrow.DataType): UnsupportedError {
  return new UnsupportedError(
    `column "${column}" has Arrow type ${String(type)}, which lance-loader cannot write yet (${WRITABLE})`,
    { column, type: String(type) },
  );
}

/** The Lance logical type of a leaf type, or undefined if it is not a leaf the writer writes. */
function leafLogicalType(type: arrow.DataType): { name: string; kind: ColumnKind } | undefined {
  if (!arrow.DataType.isFixedSizeList(type)) return scalarLogicalType(type);
  const item = scalarLogicalType(type.children[0]?.type as arrow.DataType);
  if (item?.kind.kind !== 'fixed') return undefined;
  return {
    name: `fixed_size_list:${item.name}:${type.listSize}`,
    kind: { kind: 'fsl', dimension: type.listSize, itemBits: item.kind.byteWidth * 8 },
  };
}

/**
 * The bits of each child of a packed struct field (`lance-encoding:packed`) whose children are all
 * fixed-width; undefined for any other field.
 */
export function packedBits(field: arrow.Field): number[] | undefined {
  if (!arrow.DataType.isStruct(field.type) || !isPacked(field.metadata)) return undefined;
  const bits: number[] = [];
  for (const child of field.type.children) {
    const scalar = scalarLogicalType(child.type);
    if (scalar?.kind.kind !== 'fixed') return undefined;
    bits.push(scalar.kind.byteWidth * 8);
  }
  return bits.length > 0 ? bits : undefined;
}

const PACKED_KEY = 'lance-encoding:packed';

/** Whether a struct field asks to be packed. */
function isPacked(metadata: Map<string, string>): boolean {
  return metadata.get(PACKED_KEY) === 'true';
}

/** Whether a Lance field (a dataset's, or one planned from data) is a packed struct. */
export function isPackedField(field: FieldProto): boolean {
  const value = field.metadata[PACKED_KEY];
  return value !== undefined && decoder.decode(value) === 'true';
}

/**
 * The children of a packed struct field (`lance-encoding:packed`) with at least one variable-width child
 * and otherwise fixed-width ones; undefined for any other field.
 */
export function packedChildren(field: arrow.Field): PackedChild[] | undefined {
  if (!arrow.DataType.isStruct(field.type) || !isPacked(field.metadata)) return undefined;
  const children: PackedChild[] = [];
  for (const child of field.type.children) {
    const scalar = scalarLogicalType(child.type);
    if (scalar?.kind.kind === 'fixed') children.push({ kind: 'fixed', byteWidth: scalar.kind.byteWidth });
    else if (scalar?.kind.kind === 'variable') {
      const compression = child.metadata.get('lance-encoding:compression');
      children.push({
        kind: 'variable',
        lengthBytes: scalar.kind.offsetBytes,
        ...((compression === 'none' || compression === 'fsst') && { compression }),
      });
    } else return undefined;
  }
  return children.some((child) => child.kind === 'variable') ? children : undefined;
}

/** Lance fields (pre-order) and leaves of `field`, whose id is `ids.next`, below `parentId`. */
function planField(
  field: arrow.Field,
  parentId: number,
  column: string,
  ids: { next: number },
  path: number[],
  layers: NestLayer[],
  out: { fields: FieldProto[]; leaves: LeafColumn[] },
): void {
  const type = field.type as arrow.DataType;
  const name = path.length === 0 ? field.name : column;
  const lance: FieldProto = {
    type: 'PARENT',
    name: field.name,
    id: ids.next++,
    parent_id: parentId,
    logical_type: '',
    nullable: field.nullable,
    encoding: 'PLAIN',
    metadata: metadataBytes(field.metadata),
    extension_name: '',
  };
  out.fields.push(lance);
  const leaf = leafLogicalType(type);
  if (leaf) {
    lance.logical_type = leaf.name;
    if (leaf.kind.kind === 'variable') lance.encoding = 'VAR_BINARY';
    out.leaves.push({ name, path, layers, nullable: field.nullable, kind: leaf.kind, fieldId: lance.id });
    return;
  }
  const children = type.children ?? [];
  // A packed struct is one column of packed rows (a layout of its own), not a column per child.
  if (arrow.DataType.isStruct(type) && isPacked(field.metadata)) {
    if (layers.length > 0) {
      throw new UnsupportedError(
        `column "${name}" is a packed struct (lance-encoding:packed) inside another column, which lance-loader cannot write yet (top-level packed structs it can)`,
        { column: name, type: String(type) },
      );
    }
    const bits = packedBits(field);
    const variableChildren = bits ? undefined : packedChildren(field);
    if (!bits && !variableChildren) {
      throw new UnsupportedError(
        `column "${name}" is a packed struct (lance-encoding:packed) of Arrow type ${String(type)}; lance-loader packs fixed-width children (ints, floats, dates, timestamps, fixed-size binary) and, in file version 2.2, strings and binary`,
        { column: name, type: String(type) },
      );
    }
    lance.logical_type = 'struct';
    lance.encoding = 'NONE';
    children.forEach((child, i) =>
      planField(child, lance.id, `${name}.${child.name}`, ids, [...path, i], [...layers, 'struct'], {
        fields: out.fields,
        leaves: [],
      }),
    );
    const base = { name, path, layers, nullable: field.nullable, fieldId: lance.id };
    if (bits) {
      const byteWidth = bits.reduce((sum, b) => sum + b, 0) / 8;
      out.leaves.push({ ...base, kind: { kind: 'fixed', byteWidth }, packed: bits });
    } else out.leaves.push({ ...base, kind: { kind: 'variable', offsetBytes: 4 }, packedChildren: variableChildren });
    return;
  }
  if (arrow.DataType.isStruct(type) && children.length > 0) {
    lance.logical_type = 'struct';
    lance.encoding = 'NONE';
    children.forEach((child, i) =>
      planField(child, lance.id, `${name}.${child.name}`, ids, [...path, i], [...layers, 'struct'], out),
    );
    return;
  }
  const item = children[0];
  // A map is a list of its entries (struct<key, value>) with a logical type of its own, as in LanceDB.
  if ((arrow.DataType.isList(type) || arrow.DataType.isMap(type)) && item) {
    lance.logical_type = arrow.DataType.isMap(type)
      ? 'map'
      : arrow.DataType.isStruct(item.type)
        ? 'list.struct'
        : 'list';
    planField(item, lance.id, `${name}.${item.name}`, ids, [...path, 0], [...layers, 'list'], out);
    return;
  }
  throw unsupportedType(name, type);
}

function planColumn(field: arrow.Field, ids: { next: number }): WriteColumn {
  const out: { fields: FieldProto[]; leaves: LeafColumn[]; fileFields?: FieldProto[] } = { fields: [], leaves: [] };
  if (isBlobField(field)) planBlob(field, ids, out);
  else planField(field, -1, field.name, ids, [], [], out);
  return { field, lance: out.fields[0] as FieldProto, ...out };
}

/** A blob column's Lance field and its one leaf: large_binary values written out of line. */
function planBlob(
  field: arrow.Field,
  ids: { next: number },
  out: { fields: FieldProto[]; leaves: LeafColumn[]; fileFields?: FieldProto[] },
): void {
  if (field.metadata.get('ARROW:extension:name') === BLOB_V2) {
    planBlobV2(field, ids, out);
    return;
  }
  if (!arrow.DataType.isLargeBinary(field.type)) {
    throw new UnsupportedError(
      `column "${field.name}" is a blob column (lance-encoding:blob) of Arrow type ${String(field.type)}; blob columns are large_binary, as LanceDB writes them`,
      { column: field.name, type: String(field.type) },
    );
  }
  planField(field, -1, field.name, ids, [], [], out);
  (out.leaves[0] as LeafColumn).blob = 'legacy';
}

const BLOB_V2 = 'lance.blob.v2';

/**
 * Where blob v2 values go by size: inline up to `inlineMaxBytes`, packed up to `packedMaxBytes`, the
 * packed sidecar closed for a new one before it passes `packFileMaxBytes`; dedicated beyond.
 */
export interface BlobV2Limits {
  inlineMaxBytes: number;
  packedMaxBytes: number;
  packFileMaxBytes: number;
}

/** LanceDB's defaults (the pack file's is not known: 600 MiB of values still went to one in the survey). */
const DEFAULT_LIMITS: BlobV2Limits = {
  inlineMaxBytes: 64 * 1024,
  packedMaxBytes: 4 * 1024 * 1024,
  packFileMaxBytes: Number.MAX_SAFE_INTEGER,
};

/** The field metadata LanceDB's `blob(name, options)` records the limits in, and each one's minimum. */
const LIMIT_KEYS: [keyof BlobV2Limits, string, number][] = [
  ['inlineMaxBytes', 'lance-encoding:blob-inline-size-threshold', 0],
  ['packedMaxBytes', 'lance-encoding:blob-dedicated-size-threshold', 1],
  ['packFileMaxBytes', 'lance-encoding:blob-pack-file-size-threshold', 1],
];

/**
 * A blob v2 column's limits from its Lance field's metadata (the dataset's, on append), LanceDB's
 * defaults where it has none; a value that is not a safe integer at least its minimum is an
 * InvalidArgumentError naming the column and key.
 */
function blobV2Limits(column: string, metadata: Record<string, Uint8Array>): BlobV2Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, key, minimum] of LIMIT_KEYS) {
    const bytes = metadata[key];
    if (bytes === undefined) continue;
    const text = new TextDecoder().decode(bytes);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
      throw new InvalidArgumentError(
        `column "${column}": ${key} is ${JSON.stringify(text)}; accepted: an integer of at least ${minimum} (bytes)`,
        { column, option: key },
      );
    }
    limits[name] = value;
  }
  return limits;
}

/**
 * A blob v2 column: the Lance fields LanceDB's manifest lists (the struct, `data` and `uri`), one leaf
 * gathering `data`, and the descriptor struct the data file's own schema lists instead (children with
 * id -1, as LanceDB writes them).
 */
function planBlobV2(
  field: arrow.Field,
  ids: { next: number },
  out: { fields: FieldProto[]; leaves: LeafColumn[]; fileFields?: FieldProto[] },
): void {
  const [data, uri, ...rest] = field.type.children ?? [];
  if (
    !arrow.DataType.isStruct(field.type) ||
    data?.name !== 'data' ||
    !arrow.DataType.isLargeBinary(data.type) ||
    uri?.name !== 'uri' ||
    !arrow.DataType.isUtf8(uri.type) ||
    rest.length > 0
  ) {
    throw new UnsupportedError(
      `column "${field.name}" is a blob v2 column (lance.blob.v2) of Arrow type ${String(field.type)}; blob v2 columns are struct<data: large_binary, uri: utf8>, as LanceDB takes them`,
      { column: field.name, type: String(field.type) },
    );
  }
  planField(field, -1, field.name, ids, [], [], { fields: out.fields, leaves: [] });
  const lance = out.fields[0] as FieldProto;
  lance.extension_name = BLOB_V2;
  out.leaves.push({
    name: field.name,
    path: [],
    layers: [],
    nullable: field.nullable,
    kind: { kind: 'variable', offsetBytes: 8 },
    fieldId: lance.id,
    blob: 'v2',
    blobLimits: blobV2Limits(field.name, lance.metadata),
  });
  out.fileFields = blobV2FileFields(lance);
}

/** The data file's schema entries of a blob v2 column whose manifest field is `lance`. */
function blobV2FileFields(lance: FieldProto): FieldProto[] {
  const descriptor = (name: string, logicalType: string): FieldProto => ({
    type: 'PARENT',
    name,
    id: -1,
    parent_id: -1,
    logical_type: logicalType,
    nullable: false,
    encoding: logicalType === 'string' ? 'VAR_BINARY' : 'PLAIN',
    metadata: {},
    extension_name: '',
  });
  return [
    {
      ...lance,
      extension_name: '',
      metadata: metadataBytes(
        new Map([
          ['lance-encoding:blob', 'true'],
          ['lance-encoding:packed', 'true'],
        ]),
      ),
    },
    descriptor('kind', 'uint8'),
    descriptor('position', 'uint64'),
    descriptor('size', 'uint64'),
    descriptor('blob_id', 'uint32'),
    descriptor('blob_uri', 'string'),
  ];
}

/** Whether a dataset's top-level Lance field is a blob v2 column. */
export function isBlobV2Field(lance: FieldProto): boolean {
  return lance.extension_name === BLOB_V2;
}

/** Whether LanceDB stores `field` as a blob column. */
export function isBlobField(field: arrow.Field): boolean {
  return (
    field.metadata.get('lance-encoding:blob') === 'true' ||
    field.metadata.get('ARROW:extension:name') === 'lance.blob.v2'
  );
}

function metadataBytes(metadata: Map<string, string>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [key, value] of metadata) out[key] = encoder.encode(value);
  return out;
}

/**
 * The columns of `schema`, with Lance field ids `firstId, firstId + 1, …` in pre-order (a nested field's
 * descendants follow it), the list fields at the dotted paths `largeLists` stored as large_list. Names
 * must be unique and non-empty.
 */
export function planColumns(schema: arrow.Schema, firstId = 0, largeLists: readonly string[] = []): WriteColumn[] {
  const seen = new Set<string>();
  const ids = { next: firstId };
  const columns = schema.fields.map((field, i) => {
    if (field.name === '' || seen.has(field.name)) {
      throw new InvalidArgumentError(
        `data: column names must be unique and non-empty; column ${i} is named ${JSON.stringify(field.name)}`,
        { column: field.name },
      );
    }
    seen.add(field.name);
    return planColumn(field, ids);
  });
  markLargeLists(columns, largeLists);
  return columns;
}

/**
 * Gives the list fields at `paths` the logical type `large_list` (`large_list.struct` for a list of
 * structs), as LanceDB names a LargeList field: in file versions 2.1 and 2.2 a large_list's pages are a
 * list's (items and levels, no offsets), so only the schema tells them apart. A path names a field by
 * its names from the top-level column down (`tags`, `meta.b`, `ll.item`); one that names no field, or a
 * field that is not a list (a map included), is an InvalidArgumentError naming it.
 */
function markLargeLists(columns: readonly WriteColumn[], paths: readonly string[]): void {
  if (paths.length === 0) return;
  const byPath = new Map<string, FieldProto>();
  for (const column of columns) {
    const names = new Map<number, string>();
    for (const field of column.fields) {
      const parent = names.get(field.parent_id);
      const path = parent === undefined ? field.name : `${parent}.${field.name}`;
      names.set(field.id, path);
      byPath.set(path, field);
    }
  }
  paths.forEach((path, i) => {
    const option = `options.largeLists[${i}]`;
    const field = byPath.get(path);
    if (field === undefined) {
      const lists = [...byPath].filter(([, f]) => /^(large_)?list(\.struct)?$/.test(f.logical_type)).map(([p]) => p);
      throw new InvalidArgumentError(
        `${option} is ${JSON.stringify(path)}, which names no field of the data; accepted: the dotted path of a list field (the data's: ${lists.join(', ') || 'none'})`,
        { option, path },
      );
    }
    if (field.logical_type === 'list' || field.logical_type === 'list.struct') {
      field.logical_type = `large_${field.logical_type}`;
    } else if (!field.logical_type.startsWith('large_list')) {
      throw new InvalidArgumentError(
        `${option} is ${JSON.stringify(path)}, a field of logical type ${field.logical_type}, not a list; only list fields can be stored as large_list`,
        { option, path },
      );
    }
  });
}

/**
 * A field's Lance fields as (name, logical type) pairs in pre-order: equal shapes write the same columns.
 * A large_list has a list's shape: file versions 2.1 and 2.2 store a list's items and levels, never its
 * offsets, so list data written under a dataset's large_list field is what LanceDB writes for it (and
 * apache-arrow 18 has no LargeList type to hand the writer one: planColumns' `largeLists` names them).
 */
export function fieldShape(fields: readonly FieldProto[]): string {
  return fields.map((f) => `${f.name}:${f.logical_type.replace(/^large_list/, 'list')}`).join(',');
}

/** The Arrow field a leaf's values come from (its `lance-encoding:*` metadata drives their compression). */
export function leafField(column: WriteColumn, leaf: LeafColumn): arrow.Field {
  let field = column.field;
  for (const child of leaf.path) field = field.type.children[child] as arrow.Field;
  return field;
}

/**
 * `column` with the Lance fields a dataset already has for it (`existing`, pre-order, same shape): their
 * ids and metadata, so an append writes the dataset's field ids.
 */
export function withExistingFields(column: WriteColumn, existing: readonly FieldProto[]): WriteColumn {
  const ids = new Map(column.fields.map((f, i) => [f.id, (existing[i] as FieldProto).id]));
  const fields = existing.map((f) => ({ ...f }));
  // The dataset's field decides whether values go out of line, whatever metadata the data carries.
  const top = fields[0] as FieldProto;
  const blobBytes = top.metadata['lance-encoding:blob'];
  const legacy = blobBytes !== undefined && decoder.decode(blobBytes) === 'true';
  return {
    ...column,
    lance: top,
    fields,
    leaves: column.leaves.map(({ blob: asked, ...leaf }) => ({
      ...leaf,
      fieldId: ids.get(leaf.fieldId) as number,
      ...(legacy && { blob: 'legacy' as const }),
      ...(asked === 'v2' && { blob: 'v2' as const, blobLimits: blobV2Limits(leaf.name, top.metadata) }),
    })),
    ...(column.fileFields && { fileFields: blobV2FileFields(top) }),
  };
}

/** Lance field metadata as the `map<string, bytes>` of the proto, from a schema's string metadata. */
export function schemaMetadataBytes(schema: arrow.Schema): Record<string, Uint8Array> {
  return metadataBytes(schema.metadata);
}

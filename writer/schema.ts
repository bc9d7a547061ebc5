/**
 * Arrow schemas → the Lance fields a manifest and a data file's FileDescriptor list, and the physical
 * kind of each column. Only flat columns are writable: one Lance field and one column per Arrow field.
 * Logical type names are the strings LanceDB writes (`int64`, `timestamp:us:-`,
 * `fixed_size_list:float:768`), and `Field.encoding` is PLAIN for fixed-width values and VAR_BINARY for
 * strings and binary, as in LanceDB's manifests.
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

/** One writable column: its Arrow field, the Lance field written for it, and its physical kind. */
export interface WriteColumn {
  field: arrow.Field;
  lance: FieldProto;
  kind: ColumnKind;
}

const encoder = new TextEncoder();

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

function logicalType(field: arrow.Field): { name: string; kind: ColumnKind } {
  const type = field.type as arrow.DataType;
  // Blob values are written out of line with descriptors in the column (a layout of its own).
  if (isBlobField(field)) {
    throw new UnsupportedError(
      `column "${field.name}" is a blob column (lance-encoding:blob or lance.blob.v2), which lance-loader cannot write yet`,
      { column: field.name, type: String(type) },
    );
  }
  if (arrow.DataType.isFixedSizeList(type)) {
    const item = scalarLogicalType(type.children[0]?.type as arrow.DataType);
    if (item && item.kind.kind === 'fixed') {
      return {
        name: `fixed_size_list:${item.name}:${type.listSize}`,
        kind: { kind: 'fsl', dimension: type.listSize, itemBits: item.kind.byteWidth * 8 },
      };
    }
  } else {
    const scalar = scalarLogicalType(type);
    if (scalar) return scalar;
  }
  throw new UnsupportedError(
    `column "${field.name}" has Arrow type ${String(type)}, which lance-loader cannot write yet (writable: ints, floats, bool, dates, timestamps, utf8/binary and their large forms, fixed-size binary, fixed-size lists of fixed-width values)`,
    { column: field.name, type: String(type) },
  );
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
 * The columns of `schema`, with Lance field ids `firstId, firstId + 1, …` in schema order. Names must be
 * unique and non-empty.
 */
export function planColumns(schema: arrow.Schema, firstId = 0): WriteColumn[] {
  const seen = new Set<string>();
  return schema.fields.map((field, i) => {
    if (field.name === '' || seen.has(field.name)) {
      throw new InvalidArgumentError(
        `data: column names must be unique and non-empty; column ${i} is named ${JSON.stringify(field.name)}`,
        { column: field.name },
      );
    }
    seen.add(field.name);
    const { name, kind } = logicalType(field);
    const lance: FieldProto = {
      type: 'PARENT',
      name: field.name,
      id: firstId + i,
      parent_id: -1,
      logical_type: name,
      nullable: field.nullable,
      encoding: kind.kind === 'variable' ? 'VAR_BINARY' : 'PLAIN',
      metadata: metadataBytes(field.metadata),
      extension_name: '',
    };
    return { field, lance, kind };
  });
}

/** Lance field metadata as the `map<string, bytes>` of the proto, from a schema's string metadata. */
export function schemaMetadataBytes(schema: arrow.Schema): Record<string, Uint8Array> {
  return metadataBytes(schema.metadata);
}

/**
 * Typed decoding of the Lance protobuf messages (see definitions.ts). Messages are decoded with
 * protobufjs reflection and converted to plain objects: 64-bit integers become numbers (callers check
 * them against file sizes and sane limits), enums become their names, oneofs gain a `kind`-like
 * property named after the oneof. Any decoding failure is a {@link CorruptFileError} naming the file
 * and the message.
 */
import protobuf from 'protobufjs';
import { CorruptFileError } from '../../errors.js';
import { protoSources } from './definitions.js';

const root = new protobuf.Root();
for (const source of protoSources) protobuf.parse(source, root, { keepCase: true });
root.resolveAll();

const conversion: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Uint8Array as unknown as ArrayConstructor,
  defaults: true,
  arrays: true,
  oneofs: true,
};

/**
 * protobufjs fills absent message fields with null; remove them so an absent field reads as undefined
 * (the optional properties of the interfaces below).
 */
function dropNulls(value: unknown): void {
  if (Array.isArray(value)) {
    value.forEach(dropNulls);
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (record[key] === null) delete record[key];
      else dropNulls(record[key]);
    }
  }
}

/**
 * A map entry without its value (proto3 writers may omit an empty one) decodes to a plain `[]` in
 * protobufjs for `bytes` values; make every value of a `map<string, bytes>` a Uint8Array.
 */
function fixBytesMaps(type: protobuf.Type, object: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === null || typeof value !== 'object') continue;
    if (field.map && field.type === 'bytes') {
      const map = value as Record<string, unknown>;
      for (const key of Object.keys(map)) {
        if (!(map[key] instanceof Uint8Array)) map[key] = Uint8Array.from(map[key] as ArrayLike<number>);
      }
    } else if (field.resolvedType instanceof protobuf.Type) {
      const items = field.map ? Object.values(value) : Array.isArray(value) ? value : [value];
      for (const item of items)
        if (item !== null && typeof item === 'object')
          fixBytesMaps(field.resolvedType, item as Record<string, unknown>);
    }
  }
}

function decoder<T>(
  typeName: string,
  finish?: (object: T, message: protobuf.Message) => void,
): (bytes: Uint8Array, where: string) => T {
  const type = root.lookupType(typeName);
  return (bytes, where) => {
    try {
      const message = type.decode(bytes);
      const object = type.toObject(message, conversion);
      dropNulls(object);
      fixBytesMaps(type, object);
      finish?.(object as T, message);
      return object as T;
    } catch (cause) {
      throw new CorruptFileError(
        `${where}: cannot decode protobuf ${typeName}: ${(cause as Error).message}`,
        {
          message: typeName,
        },
        { cause },
      );
    }
  };
}

/** lance.file.Field */
export interface FieldProto {
  type: 'PARENT' | 'REPEATED' | 'LEAF';
  name: string;
  id: number;
  parent_id: number;
  logical_type: string;
  nullable: boolean;
  /** Field 7: PLAIN for fixed-width values, VAR_BINARY for strings and binary (what LanceDB records). */
  encoding?: 'NONE' | 'PLAIN' | 'VAR_BINARY' | 'DICTIONARY' | 'RLE';
  metadata: Record<string, Uint8Array>;
  extension_name: string;
}

/** lance.file.FileDescriptor (global buffer 0 of a v2 data file) */
interface FileDescriptorProto {
  schema?: { fields: FieldProto[]; metadata: Record<string, Uint8Array> };
  length: number;
}

/** lance.file.v2.Encoding */
export interface EncodingProto {
  location?: 'indirect' | 'direct' | 'none';
  direct?: { encoding: Uint8Array };
  indirect?: { buffer_location: number; buffer_length: number };
}

/** lance.file.v2.ColumnMetadata.Page */
interface PageProto {
  buffer_offsets: number[];
  buffer_sizes: number[];
  length: number;
  encoding?: EncodingProto;
  priority: number;
}

/** lance.file.v2.ColumnMetadata */
interface ColumnMetadataProto {
  encoding?: EncodingProto;
  pages: PageProto[];
  buffer_offsets: number[];
  buffer_sizes: number[];
}

/** google.protobuf.Any */
interface AnyProto {
  type_url: string;
  value: Uint8Array;
}

/** lance.table.DataFile */
export interface DataFileProto {
  path: string;
  fields: number[];
  column_indices: number[];
  file_major_version: number;
  file_minor_version: number;
  file_size_bytes: number;
  base_id?: number;
}

/** lance.table.DeletionFile */
interface DeletionFileProto {
  file_type: 'ARROW_ARRAY' | 'BITMAP';
  read_version: number;
  /** A random u64 used in the file name; kept exact as a decimal string. */
  id: string;
  num_deleted_rows: number;
  base_id?: number;
}

/** lance.table.DataFragment */
interface DataFragmentProto {
  id: number;
  files: DataFileProto[];
  deletion_file?: DeletionFileProto;
  physical_rows: number;
}

/** lance.table.Manifest */
/** lance.table.BasePath (table.proto): a directory or dataset root a manifest registers under an id. */
export interface BasePathProto {
  /** Field 1: the id data files (`base_id`) and external blob descriptors (`blob_id`) refer to it by. */
  id: number;
  /** Field 2: an optional alias (a shallow clone's tag name), absent when none. */
  name?: string;
  /** Field 3: true for another dataset's root (shallow clones), false for a directory of files. */
  is_dataset_root: boolean;
  /** Field 4: an absolute path or URL (`file:///data/media`, `s3://bucket/media`). */
  path: string;
}

export interface ManifestProto {
  fields: FieldProto[];
  fragments: DataFragmentProto[];
  version: number;
  schema_metadata: Record<string, Uint8Array>;
  timestamp?: { seconds: number; nanos: number };
  tag: string;
  /** Field 9, a u64 bit set: exact, all 64 bits. */
  reader_feature_flags: bigint;
  /** Field 10, a u64 bit set: exact, all 64 bits. */
  writer_feature_flags: bigint;
  writer_version?: { library: string; version: string };
  data_format?: { file_format: string; version: string };
  base_paths: BasePathProto[];
  /** Field 6: byte offset of the IndexSection inside the manifest file. */
  index_section?: number;
  /** Field 11. */
  max_fragment_id?: number;
  /** Field 12: the `_transactions/` file of this version. */
  transaction_file?: string;
  /** Field 14. */
  next_row_id?: number;
  /** Field 16: table configuration. */
  config?: Record<string, string>;
  /** Field 19. */
  table_metadata?: Record<string, string>;
}

export type RepDefLayerName =
  | 'REPDEF_UNSPECIFIED'
  | 'REPDEF_ALL_VALID_ITEM'
  | 'REPDEF_ALL_VALID_LIST'
  | 'REPDEF_NULLABLE_ITEM'
  | 'REPDEF_NULLABLE_LIST'
  | 'REPDEF_EMPTYABLE_LIST'
  | 'REPDEF_NULL_AND_EMPTY_LIST';

/** lance.encodings21.BufferCompression */
interface BufferCompressionProto {
  scheme: 'COMPRESSION_ALGORITHM_UNSPECIFIED' | 'COMPRESSION_ALGORITHM_LZ4' | 'COMPRESSION_ALGORITHM_ZSTD';
  level?: number;
}

/** lance.encodings21.VariablePackedStruct.FieldEncoding: one field of a packed row, fixed or length-prefixed. */
export interface VariablePackedFieldProto {
  value?: CompressiveEncodingProto;
  layout?: 'bits_per_value' | 'bits_per_length';
  bits_per_value?: number;
  bits_per_length?: number;
}

/** lance.encodings21.CompressiveEncoding (one member set, named by `compression`). */
export interface CompressiveEncodingProto {
  compression?:
    | 'flat'
    | 'variable'
    | 'constant'
    | 'out_of_line_bitpacking'
    | 'inline_bitpacking'
    | 'fsst'
    | 'dictionary'
    | 'rle'
    | 'byte_stream_split'
    | 'general'
    | 'fixed_size_list'
    | 'packed_struct'
    | 'variable_packed_struct';
  flat?: { bits_per_value: number; data?: BufferCompressionProto };
  variable?: { offsets?: CompressiveEncodingProto; values?: BufferCompressionProto };
  constant?: { value?: Uint8Array };
  out_of_line_bitpacking?: { uncompressed_bits_per_value: number; values?: CompressiveEncodingProto };
  inline_bitpacking?: { uncompressed_bits_per_value: number; values?: BufferCompressionProto };
  fsst?: { symbol_table: Uint8Array; values?: CompressiveEncodingProto };
  dictionary?: { indices?: CompressiveEncodingProto; items?: CompressiveEncodingProto; num_dictionary_items: number };
  rle?: { values?: CompressiveEncodingProto; run_lengths?: CompressiveEncodingProto };
  byte_stream_split?: { values?: CompressiveEncodingProto };
  general?: { compression?: BufferCompressionProto; values?: CompressiveEncodingProto };
  fixed_size_list?: { items_per_value: number; has_validity: boolean; values?: CompressiveEncodingProto };
  packed_struct?: { bits_per_value: number[]; values?: CompressiveEncodingProto };
  variable_packed_struct?: { fields: VariablePackedFieldProto[] };
}

/** lance.encodings21.MiniBlockLayout */
export interface MiniBlockLayoutProto {
  rep_compression?: CompressiveEncodingProto;
  def_compression?: CompressiveEncodingProto;
  value_compression?: CompressiveEncodingProto;
  dictionary?: CompressiveEncodingProto;
  num_dictionary_items: number;
  layers: RepDefLayerName[];
  num_buffers: number;
  repetition_index_depth: number;
  num_items: number;
  /** Chunk metadata words and chunk-header buffer sizes are u32 instead of u16 (file version 2.2). */
  has_large_chunk: boolean;
}

/** lance.encodings21.FullZipLayout */
export interface FullZipLayoutProto {
  bits_rep: number;
  bits_def: number;
  details?: 'bits_per_value' | 'bits_per_offset';
  bits_per_value?: number;
  bits_per_offset?: number;
  num_items: number;
  num_visible_items: number;
  value_compression?: CompressiveEncodingProto;
  layers: RepDefLayerName[];
}

/** lance.encodings21.ConstantLayout (AllNullLayout before lance 10) */
export interface ConstantLayoutProto {
  layers: RepDefLayerName[];
  inline_value?: Uint8Array;
  rep_compression?: CompressiveEncodingProto;
  def_compression?: CompressiveEncodingProto;
  num_rep_values: number;
  num_def_values: number;
}

/** lance.encodings21.PageLayout */
export interface PageLayoutProto {
  layout?: 'mini_block_layout' | 'constant_layout' | 'full_zip_layout' | 'blob_layout';
  mini_block_layout?: MiniBlockLayoutProto;
  constant_layout?: ConstantLayoutProto;
  full_zip_layout?: FullZipLayoutProto;
  blob_layout?: { inner_layout?: PageLayoutProto; layers: RepDefLayerName[] };
}

/** lance.encodings.Buffer (2.0) */
interface BufferProto20 {
  buffer_index: number;
  buffer_type: 'page' | 'column' | 'file';
}

/** lance.encodings.ArrayEncoding (2.0), one member set, named by `array_encoding`. */
export interface ArrayEncodingProto {
  array_encoding?:
    | 'flat'
    | 'nullable'
    | 'fixed_size_list'
    | 'list'
    | 'struct'
    | 'binary'
    | 'dictionary'
    | 'fsst'
    | 'packed_struct'
    | 'bitpacked'
    | 'fixed_size_binary'
    | 'bitpacked_for_non_neg'
    | 'constant'
    | 'inline_bitpacking'
    | 'out_of_line_bitpacking'
    | 'variable'
    | 'packed_struct_fixed_width_mini_block'
    | 'block'
    | 'rle'
    | 'general_mini_block'
    | 'byte_stream_split';
  flat?: { bits_per_value: number; buffer?: BufferProto20; compression?: { scheme: string; level?: number } };
  nullable?: {
    nullability?: 'no_nulls' | 'some_nulls' | 'all_nulls';
    no_nulls?: { values?: ArrayEncodingProto };
    some_nulls?: { validity?: ArrayEncodingProto; values?: ArrayEncodingProto };
  };
  fixed_size_list?: { dimension: number; items?: ArrayEncodingProto; has_validity: boolean };
  list?: { offsets?: ArrayEncodingProto; null_offset_adjustment: number; num_items: number };
  binary?: { indices?: ArrayEncodingProto; bytes?: ArrayEncodingProto; null_adjustment: number };
  dictionary?: { indices?: ArrayEncodingProto; items?: ArrayEncodingProto; num_dictionary_items: number };
  fsst?: { binary?: ArrayEncodingProto; symbol_table: Uint8Array };
  packed_struct?: { inner: ArrayEncodingProto[]; buffer?: BufferProto20 };
  fixed_size_binary?: { bytes?: ArrayEncodingProto; byte_width: number };
  constant?: { value: Uint8Array };
}

export const decodeFileDescriptor = decoder<FileDescriptorProto>('lance.file.FileDescriptor');
export const decodeColumnMetadata = decoder<ColumnMetadataProto>('lance.file.v2.ColumnMetadata');
export const decodeAny = decoder<AnyProto>('lance.wk.Any');
/** Deletion file ids are random u64s, beyond a number's precision: keep them as exact strings. */
function exactDeletionIds(manifest: ManifestProto, message: protobuf.Message): void {
  const fragments = (message as unknown as { fragments: { deletion_file?: { id?: unknown } | null }[] }).fragments;
  manifest.fragments.forEach((fragment, i) => {
    const id = fragments[i]?.deletion_file?.id;
    if (fragment.deletion_file && id !== undefined && id !== null) {
      fragment.deletion_file.id = String(id);
    }
  });
}

/** Feature flags are u64 bit sets: a number would lose the bits above 2^53 (and bitwise operators those above 2^31). */
function exactFeatureFlags(manifest: ManifestProto, message: protobuf.Message): void {
  const flags = message as unknown as { reader_feature_flags?: unknown; writer_feature_flags?: unknown };
  manifest.reader_feature_flags = BigInt.asUintN(64, BigInt(String(flags.reader_feature_flags ?? 0)));
  manifest.writer_feature_flags = BigInt.asUintN(64, BigInt(String(flags.writer_feature_flags ?? 0)));
}

export const decodeManifest = decoder<ManifestProto>('lance.table.Manifest', (manifest, message) => {
  exactDeletionIds(manifest, message);
  exactFeatureFlags(manifest, message);
});
export const decodePageLayout = decoder<PageLayoutProto>('lance.encodings21.PageLayout');
export const decodeArrayEncoding = decoder<ArrayEncodingProto>('lance.encodings.ArrayEncoding');

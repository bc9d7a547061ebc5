/**
 * lance-loader's own protobuf definitions of the Lance messages it reads. Field numbers and meanings are
 * facts of the Lance format (protos/file.proto, file2.proto, table.proto, encodings_v2_0.proto and
 * encodings_v2_1.proto of the Lance repository); only the fields a reader or the writer needs are declared,
 * unknown fields are skipped by the decoder. Lance 10 additions that the Nov 2025 protos lack are marked.
 *
 * google.protobuf.Any / Empty / Timestamp are declared locally with their standard field numbers so the
 * definitions have no imports.
 */

/** Well-known wrappers with their standard field numbers. */
const wellKnown = `
syntax = "proto3";
package lance.wk;
message Any { string type_url = 1; bytes value = 2; }
message Empty {}
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
`;

/** protos/file.proto (package lance.file): schema fields, shared by data files and manifests. */
const file = `
syntax = "proto3";
package lance.file;
enum Encoding { NONE = 0; PLAIN = 1; VAR_BINARY = 2; DICTIONARY = 3; RLE = 4; }
message FileDescriptor {
  Schema schema = 1;
  uint64 length = 2;
}
message Schema {
  repeated Field fields = 1;
  map<string, bytes> metadata = 5;
}
message Field {
  enum Type { PARENT = 0; REPEATED = 1; LEAF = 2; }
  Type type = 1;
  string name = 2;
  int32 id = 3;
  int32 parent_id = 4;
  string logical_type = 5;
  bool nullable = 6;
  Encoding encoding = 7;
  map<string, bytes> metadata = 10;
  string extension_name = 9;
}
`;

/** protos/file2.proto (package lance.file.v2): per-column metadata at the end of a v2 data file. */
const file2 = `
syntax = "proto3";
package lance.file.v2;
message DeferredEncoding {
  uint64 buffer_location = 1;
  uint64 buffer_length = 2;
}
message DirectEncoding { bytes encoding = 1; }
message Encoding {
  oneof location {
    DeferredEncoding indirect = 1;
    DirectEncoding direct = 2;
    lance.wk.Empty none = 3;
  }
}
message ColumnMetadata {
  message Page {
    repeated uint64 buffer_offsets = 1;
    repeated uint64 buffer_sizes = 2;
    uint64 length = 3;
    Encoding encoding = 4;
    uint64 priority = 5;
  }
  Encoding encoding = 1;
  repeated Page pages = 2;
  repeated uint64 buffer_offsets = 3;
  repeated uint64 buffer_sizes = 4;
}
`;

/** protos/table.proto (package lance.table): the dataset manifest. */
const table = `
syntax = "proto3";
package lance.table;
message Manifest {
  repeated lance.file.Field fields = 1;
  repeated DataFragment fragments = 2;
  uint64 version = 3;
  uint64 version_aux_data = 4;
  map<string, bytes> schema_metadata = 5;
  optional uint64 index_section = 6;
  lance.wk.Timestamp timestamp = 7;
  string tag = 8;
  uint64 reader_feature_flags = 9;
  uint64 writer_feature_flags = 10;
  optional uint32 max_fragment_id = 11;
  string transaction_file = 12;
  uint64 next_row_id = 14;
  map<string, string> config = 16;
  map<string, string> table_metadata = 19;
  optional string branch = 20;
  optional uint64 transaction_section = 21;
  message WriterVersion {
    string library = 1;
    string version = 2;
  }
  WriterVersion writer_version = 13;
  message DataStorageFormat {
    string file_format = 1;
    string version = 2;
  }
  DataStorageFormat data_format = 15;
  repeated BasePath base_paths = 18;
}
// protos/transaction.proto: what a commit did, in _transactions/{read_version}-{uuid}.txn, named by
// Manifest.transaction_file; Lance reads it to check a concurrent commit against its own. Only the
// operations the writer makes are declared.
message Transaction {
  uint64 read_version = 1;
  string uuid = 2;
  string tag = 3;
  map<string, string> transaction_properties = 4;
  message Append {
    repeated DataFragment fragments = 1;
  }
  message Overwrite {
    repeated DataFragment fragments = 1;
    repeated lance.file.Field schema = 2;
    map<string, bytes> schema_metadata = 3;
    map<string, string> config_upsert_values = 4;
    repeated BasePath initial_bases = 5;
  }
  message UpdateBases {
    repeated BasePath new_bases = 1;
  }
  oneof operation {
    Append append = 100;
    Overwrite overwrite = 102;
    UpdateBases update_bases = 114;
  }
}
message BasePath {
  uint32 id = 1;
  optional string name = 2;
  bool is_dataset_root = 3;
  string path = 4;
}
message DataFragment {
  uint64 id = 1;
  repeated DataFile files = 2;
  DeletionFile deletion_file = 3;
  uint64 physical_rows = 4;
}
message DataFile {
  string path = 1;
  repeated int32 fields = 2;
  repeated int32 column_indices = 3;
  uint32 file_major_version = 4;
  uint32 file_minor_version = 5;
  uint64 file_size_bytes = 6;
  optional uint32 base_id = 7;
}
message DeletionFile {
  enum DeletionFileType { ARROW_ARRAY = 0; BITMAP = 1; }
  DeletionFileType file_type = 1;
  uint64 read_version = 2;
  uint64 id = 3;
  uint64 num_deleted_rows = 4;
  optional uint32 base_id = 7;
}
`;

/** protos/encodings_v2_0.proto (package lance.encodings): the 2.0 ArrayEncoding tree. */
const encodings20 = `
syntax = "proto3";
package lance.encodings;
message Buffer {
  uint32 buffer_index = 1;
  enum BufferType { page = 0; column = 1; file = 2; }
  BufferType buffer_type = 2;
}
message Nullable {
  message NoNull { ArrayEncoding values = 1; }
  message AllNull {}
  message SomeNull { ArrayEncoding validity = 1; ArrayEncoding values = 2; }
  oneof nullability {
    NoNull no_nulls = 1;
    SomeNull some_nulls = 2;
    AllNull all_nulls = 3;
  }
}
message List {
  ArrayEncoding offsets = 1;
  uint64 null_offset_adjustment = 2;
  uint64 num_items = 3;
}
message FixedSizeList {
  uint32 dimension = 1;
  ArrayEncoding items = 2;
  bool has_validity = 3;
}
message Compression {
  string scheme = 1;
  optional int32 level = 2;
}
message Flat {
  uint64 bits_per_value = 1;
  Buffer buffer = 2;
  Compression compression = 3;
}
message Constant { bytes value = 1; }
message Bitpacked {
  uint64 compressed_bits_per_value = 1;
  uint64 uncompressed_bits_per_value = 2;
  Buffer buffer = 3;
  bool signed = 4;
}
message BitpackedForNonNeg {
  uint64 compressed_bits_per_value = 1;
  uint64 uncompressed_bits_per_value = 2;
  Buffer buffer = 3;
}
message SimpleStruct {}
message Binary {
  ArrayEncoding indices = 1;
  ArrayEncoding bytes = 2;
  uint64 null_adjustment = 3;
}
message Fsst {
  ArrayEncoding binary = 1;
  bytes symbol_table = 2;
}
message Dictionary {
  ArrayEncoding indices = 1;
  ArrayEncoding items = 2;
  uint32 num_dictionary_items = 3;
}
message PackedStruct {
  repeated ArrayEncoding inner = 1;
  Buffer buffer = 2;
}
message FixedSizeBinary {
  ArrayEncoding bytes = 1;
  uint32 byte_width = 2;
}
message ArrayEncoding {
  oneof array_encoding {
    Flat flat = 1;
    Nullable nullable = 2;
    FixedSizeList fixed_size_list = 3;
    List list = 4;
    SimpleStruct struct = 5;
    Binary binary = 6;
    Dictionary dictionary = 7;
    Fsst fsst = 8;
    PackedStruct packed_struct = 9;
    Bitpacked bitpacked = 10;
    FixedSizeBinary fixed_size_binary = 11;
    BitpackedForNonNeg bitpacked_for_non_neg = 12;
    Constant constant = 13;
    lance.wk.Empty inline_bitpacking = 14;
    lance.wk.Empty out_of_line_bitpacking = 15;
    lance.wk.Empty variable = 16;
    lance.wk.Empty packed_struct_fixed_width_mini_block = 17;
    lance.wk.Empty block = 18;
    lance.wk.Empty rle = 19;
    lance.wk.Empty general_mini_block = 20;
    lance.wk.Empty byte_stream_split = 21;
  }
}
message Blob { ColumnEncoding inner = 1; }
message ColumnEncoding {
  oneof column_encoding {
    lance.wk.Empty values = 1;
    lance.wk.Empty zone_index = 2;
    Blob blob = 3;
  }
}
`;

/**
 * protos/encodings_v2_1.proto (package lance.encodings21): structural page layouts and compressive
 * encodings of file versions 2.1 and 2.2. ConstantLayout fields 6..10 are lance 10 additions to the
 * message at PageLayout field 2 (called AllNullLayout in the Nov 2025 protos), and so is
 * MiniBlockLayout.has_large_chunk = 10 (set on every 2.2 mini-block page LanceDB 0.39 writes).
 */
const encodings21 = `
syntax = "proto3";
package lance.encodings21;
enum RepDefLayer {
  REPDEF_UNSPECIFIED = 0;
  REPDEF_ALL_VALID_ITEM = 1;
  REPDEF_ALL_VALID_LIST = 2;
  REPDEF_NULLABLE_ITEM = 3;
  REPDEF_NULLABLE_LIST = 4;
  REPDEF_EMPTYABLE_LIST = 5;
  REPDEF_NULL_AND_EMPTY_LIST = 6;
}
message MiniBlockLayout {
  CompressiveEncoding rep_compression = 1;
  CompressiveEncoding def_compression = 2;
  CompressiveEncoding value_compression = 3;
  CompressiveEncoding dictionary = 4;
  uint64 num_dictionary_items = 5;
  repeated RepDefLayer layers = 6;
  uint64 num_buffers = 7;
  uint32 repetition_index_depth = 8;
  uint64 num_items = 9;
  bool has_large_chunk = 10;
}
message FullZipLayout {
  uint32 bits_rep = 1;
  uint32 bits_def = 2;
  oneof details {
    uint32 bits_per_value = 3;
    uint32 bits_per_offset = 4;
  }
  uint32 num_items = 5;
  uint32 num_visible_items = 6;
  CompressiveEncoding value_compression = 7;
  repeated RepDefLayer layers = 8;
}
message ConstantLayout {
  repeated RepDefLayer layers = 5;
  optional bytes inline_value = 6;
  CompressiveEncoding rep_compression = 7;
  CompressiveEncoding def_compression = 8;
  uint64 num_rep_values = 9;
  uint64 num_def_values = 10;
}
message BlobLayout {
  PageLayout inner_layout = 1;
  repeated RepDefLayer layers = 2;
}
message PageLayout {
  oneof layout {
    MiniBlockLayout mini_block_layout = 1;
    ConstantLayout constant_layout = 2;
    FullZipLayout full_zip_layout = 3;
    BlobLayout blob_layout = 4;
  }
}
enum CompressionScheme {
  COMPRESSION_ALGORITHM_UNSPECIFIED = 0;
  COMPRESSION_ALGORITHM_LZ4 = 1;
  COMPRESSION_ALGORITHM_ZSTD = 2;
}
message BufferCompression {
  CompressionScheme scheme = 1;
  optional int32 level = 2;
}
message Flat {
  uint64 bits_per_value = 1;
  optional BufferCompression data = 2;
}
message Variable {
  CompressiveEncoding offsets = 1;
  optional BufferCompression values = 2;
}
message Constant { optional bytes value = 1; }
message OutOfLineBitpacking {
  uint64 uncompressed_bits_per_value = 1;
  CompressiveEncoding values = 3;
}
message InlineBitpacking {
  uint64 uncompressed_bits_per_value = 1;
  optional BufferCompression values = 2;
}
message Fsst {
  bytes symbol_table = 1;
  CompressiveEncoding values = 2;
}
message Dictionary {
  CompressiveEncoding indices = 1;
  CompressiveEncoding items = 2;
  uint32 num_dictionary_items = 3;
}
message Rle {
  CompressiveEncoding values = 1;
  CompressiveEncoding run_lengths = 2;
}
message FixedSizeList {
  uint64 items_per_value = 1;
  CompressiveEncoding values = 2;
  bool has_validity = 3;
}
message PackedStruct {
  repeated uint64 bits_per_value = 1;
  CompressiveEncoding values = 2;
}
message VariablePackedStruct {
  message FieldEncoding {
    CompressiveEncoding value = 1;
    oneof layout {
      uint64 bits_per_value = 2;
      uint64 bits_per_length = 3;
    }
  }
  repeated FieldEncoding fields = 1;
}
message General {
  BufferCompression compression = 1;
  CompressiveEncoding values = 3;
}
message ByteStreamSplit { CompressiveEncoding values = 1; }
message CompressiveEncoding {
  oneof compression {
    Flat flat = 1;
    Variable variable = 2;
    Constant constant = 3;
    OutOfLineBitpacking out_of_line_bitpacking = 4;
    InlineBitpacking inline_bitpacking = 5;
    Fsst fsst = 6;
    Dictionary dictionary = 7;
    Rle rle = 8;
    ByteStreamSplit byte_stream_split = 9;
    General general = 10;
    FixedSizeList fixed_size_list = 11;
    PackedStruct packed_struct = 12;
    VariablePackedStruct variable_packed_struct = 13;
  }
}
`;

/** Every definition, in dependency order. */
export const protoSources: readonly string[] = [wellKnown, file, file2, table, encodings20, encodings21];

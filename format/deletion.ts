/**
 * Lance deletion files: which physical rows of a fragment are deleted (rust/lance-table/src/io/deletion.rs).
 * A fragment's `deletion_file` names one file `_deletions/{fragment_id}-{read_version}-{id}.{arrow|bin}`:
 *
 * - `arrow` (DeletionFileType ARROW_ARRAY, fewer than 5000 deleted rows, `BITMAP_THRESDHOLD` in
 *   rust/lance-core/src/utils/deletion.rs): an Arrow IPC *file* with one non-null UInt32 column `row_id`, in
 *   HashSet (unsorted) order, written by arrow-rs with ZSTD body compression. apache-arrow's JS reader
 *   refuses compressed bodies, so this module reads the footer and messages with apache-arrow's flatbuffer
 *   classes and inflates each buffer itself:
 *
 *   ```
 *   "ARROW1" pad to 8 | messages ... | Footer flatbuffer | i32 footer length | "ARROW1"
 *   message at Block.offset: [0xFFFFFFFF] i32 metadata length | Message flatbuffer | pad | body
 *   compressed buffer: i64 uncompressed length (-1 = stored raw) | one zstd frame (or the raw bytes)
 *   ```
 *
 * - `bitmap` (BITMAP, 5000 or more): a portable roaring bitmap (see `roaring.ts`).
 *
 * {@link parseDeletionFile} returns the deleted physical row offsets sorted ascending and de-duplicated.
 * Every length read from the bytes is checked against the buffer before use, and the number of values is
 * bounded (by the fragment's `physical_rows` when the caller passes it) before anything is allocated or
 * inflated, so a corrupt or hostile file fails with a CorruptFileError instead of exhausting memory.
 */
import { ByteBuffer } from 'flatbuffers';
import { BodyCompressionMethod } from 'apache-arrow/fb/body-compression-method';
import { CompressionType } from 'apache-arrow/fb/compression-type';
import { Endianness } from 'apache-arrow/fb/endianness';
import { Footer } from 'apache-arrow/fb/footer';
import { Int } from 'apache-arrow/fb/int';
import { Message } from 'apache-arrow/fb/message';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch } from 'apache-arrow/fb/record-batch';
import { Type } from 'apache-arrow/fb/type';
import { Decompress } from 'fzstd';
import { CorruptFileError, InvalidArgumentError, LanceLoaderError, UnsupportedError, withContext } from '../errors.js';
import { decodeRoaringBitmap, parseRoaringLayout } from './roaring.js';
import { parseZstdFrames, ZSTD_MAX_WINDOW_BYTES, type ZstdFrame } from './zstd-frame.js';

/** `arrow` = `.arrow` (DeletionFileType ARROW_ARRAY = 0), `bitmap` = `.bin` (BITMAP = 1), protos/table.proto. */
type DeletionFileKind = 'arrow' | 'bitmap';

/**
 * Upper bound on the values of one deletion file when the caller does not pass `physicalRows`
 * (2^28 offsets = 1 GiB of output). Run containers and zstd can expand a small file enormously, so
 * some bound must hold before allocating.
 */
const DEFAULT_MAX_DELETED_ROWS = 2 ** 28;
/** Row offsets in a fragment are u32. */
const MAX_FRAGMENT_ROWS = 2 ** 32;

const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const CONTINUATION = 0xffffffff;
const BLOCK_BYTES = 24; // struct Block { offset i64, metaDataLength i32 (+4 pad), bodyLength i64 }
/** Room in an Arrow deletion file for what is not row ids: magic, schema, footer, batch messages. */
const ARROW_FIXED_BYTES = 64 * 1024;
/** Roaring (roaring.ts): cookie and container count. */
const ROARING_HEADER_BYTES = 8;
/** Roaring: a container's key and cardinality, and its offset. */
const ROARING_CONTAINER_HEADER_BYTES = 8;
/** Roaring: a run container of 32768 runs (every other value), 2 + 4 bytes a run. */
const ROARING_MAX_CONTAINER_BYTES = 2 + 4 * 32768;

/**
 * Parses a Lance deletion file's bytes into the sorted, de-duplicated physical row offsets (u32) deleted
 * from the fragment.
 *
 * @param path names the file in error messages.
 * @param physicalRows the fragment's `physical_rows` (DataFragment field 4); when given, every offset must
 *   be below it and it bounds the memory spent. Without it, {@link DEFAULT_MAX_DELETED_ROWS} bounds memory.
 */
export function parseDeletionFile(
  bytes: Uint8Array,
  kind: DeletionFileKind,
  path: string,
  physicalRows?: number,
): Uint32Array {
  if (physicalRows !== undefined && !(Number.isSafeInteger(physicalRows) && physicalRows >= 0)) {
    throw new InvalidArgumentError(`physicalRows must be a non-negative integer, got ${String(physicalRows)}`, {
      path,
      physicalRows,
    });
  }
  const maxRows = physicalRows === undefined ? DEFAULT_MAX_DELETED_ROWS : Math.min(physicalRows, MAX_FRAGMENT_ROWS);
  let offsets: Uint32Array;
  if (kind === 'bitmap') {
    const layout = parseRoaringLayout(bytes, path);
    checkCount(layout.cardinality, maxRows, physicalRows, path);
    offsets = new Uint32Array(layout.cardinality);
    decodeRoaringBitmap(bytes, layout, offsets, path);
  } else if (kind === 'arrow') {
    offsets = sortUnique(readArrowRowIds(bytes, path, maxRows, physicalRows));
  } else {
    throw new InvalidArgumentError(`deletion file kind must be 'arrow' or 'bitmap', got ${String(kind)}`, {
      path,
      kind,
    });
  }
  const last = offsets.length > 0 ? offsets[offsets.length - 1] : undefined;
  if (physicalRows !== undefined && last !== undefined && last >= physicalRows) {
    throw new CorruptFileError(
      `${path}: deletes row offset ${last} but the fragment has only ${physicalRows} physical rows`,
      {
        path,
        rowOffset: last,
        physicalRows,
      },
    );
  }
  return offsets;
}

/**
 * The most bytes a deletion file of a fragment of `physicalRows` rows can take, so a larger file is refused
 * before it is read. Arrow: the row ids as u32 (stored raw, or zstd, which expands incompressible input by
 * well under 4 bytes a row) plus a fixed allowance for magic, schema, footer and record-batch messages.
 * Bitmap: every container a fragment's rows can need (one per 65536 rows), each at its largest — a run
 * container of 32768 runs — with its descriptive header, offset and run flag.
 */
export function maxDeletionFileBytes(kind: DeletionFileKind, physicalRows: number): number {
  const rows = Math.min(physicalRows, MAX_FRAGMENT_ROWS);
  if (kind === 'arrow') return ARROW_FIXED_BYTES + 8 * rows;
  const containers = Math.ceil(rows / 65536);
  return ROARING_HEADER_BYTES + containers * (ROARING_CONTAINER_HEADER_BYTES + ROARING_MAX_CONTAINER_BYTES + 1);
}

function checkCount(count: number, maxRows: number, physicalRows: number | undefined, path: string): void {
  if (count <= maxRows) return;
  const bound = physicalRows === undefined ? `the limit of ${maxRows}` : `the fragment's ${physicalRows} physical rows`;
  throw new CorruptFileError(`${path}: deletion file lists ${count} row offsets, more than ${bound}`, {
    path,
    count,
    maxRows,
  });
}

/** Sorts in place and drops repeats; returns a shorter copy only when there were repeats. */
function sortUnique(values: Uint32Array): Uint32Array {
  values.sort();
  let kept = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (kept === 0 || v !== values[kept - 1]) values[kept++] = v;
  }
  return kept === values.length ? values : values.slice(0, kept);
}

// ---------------------------------------------------------------------------------------------------
// Arrow IPC file

function arrowCorrupt(
  path: string,
  message: string,
  details: Record<string, unknown> = {},
  options?: { cause?: unknown },
): CorruptFileError {
  return new CorruptFileError(`${path}: Arrow deletion file ${message}`, { path, ...details }, options);
}

/** An i64 read from a flatbuffer as a non-negative safe integer. */
function safeLength(value: bigint, what: string, path: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw arrowCorrupt(path, `${what} is ${value}`, { what });
  return Number(value);
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < ARROW_MAGIC.length; i++) if (bytes[at + i] !== ARROW_MAGIC[i]) return false;
  return true;
}

/** All `row_id` values of every record batch, in file order. */
function readArrowRowIds(
  bytes: Uint8Array,
  path: string,
  maxRows: number,
  physicalRows: number | undefined,
): Uint32Array {
  try {
    return readArrowRowIdsUnchecked(bytes, path, maxRows, physicalRows);
  } catch (error) {
    if (error instanceof LanceLoaderError) throw error;
    // flatbuffer accessors on garbage offsets can throw (RangeError, TextDecoder errors).
    throw arrowCorrupt(
      path,
      `has malformed metadata (${error instanceof Error ? error.message : String(error)})`,
      {},
      { cause: error },
    );
  }
}

function readArrowRowIdsUnchecked(
  bytes: Uint8Array,
  path: string,
  maxRows: number,
  physicalRows: number | undefined,
): Uint32Array {
  const size = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  // "ARROW1" + 2 pad bytes, then at least the footer length and the closing magic.
  if (size < 8 + 4 + 6 || !hasMagic(bytes, 0) || !hasMagic(bytes, size - 6)) {
    throw arrowCorrupt(path, `is not an Arrow IPC file (no "ARROW1" magic at both ends; ${size} bytes)`, {
      byteLength: size,
    });
  }
  const footerLength = view.getInt32(size - 10, true);
  const footerStart = size - 10 - footerLength;
  if (footerLength <= 0 || footerStart < 8) {
    throw arrowCorrupt(path, `footer length ${footerLength} does not fit in ${size} bytes`, {
      byteOffset: size - 10,
      footerLength,
    });
  }
  const footer = Footer.getRootAsFooter(new ByteBuffer(bytes.subarray(footerStart, footerStart + footerLength)));
  checkSchema(footer, path);

  const batchCount = footer.recordBatchesLength();
  if (batchCount * BLOCK_BYTES > footerLength) {
    throw arrowCorrupt(
      path,
      `footer lists ${batchCount} record batches, more than its ${footerLength} bytes can hold`,
      { batchCount },
    );
  }
  const chunks: Uint8Array[] = []; // little-endian u32 values of each batch
  let total = 0;
  for (let b = 0; b < batchCount; b++) {
    const block = footer.recordBatches(b);
    if (block === null) throw arrowCorrupt(path, `record batch block ${b} is missing from the footer`, { batch: b });
    const at = safeLength(block.offset(), `record batch ${b} offset`, path);
    const metaLength = block.metaDataLength();
    if (at < 8 || metaLength < 8 || at + metaLength > footerStart) {
      throw arrowCorrupt(
        path,
        `record batch ${b} metadata (${metaLength} bytes at ${at}) lies outside the message area [8, ${footerStart})`,
        {
          batch: b,
          byteOffset: at,
        },
      );
    }
    const message = readMessage(bytes, view, at, metaLength, b, path);
    const bodyStart = at + metaLength;
    const bodyLength = safeLength(message.bodyLength(), `record batch ${b} body length`, path);
    if (bodyStart + bodyLength > footerStart) {
      throw arrowCorrupt(
        path,
        `record batch ${b} body (${bodyLength} bytes at ${bodyStart}) runs into the footer at ${footerStart}`,
        {
          batch: b,
          byteOffset: bodyStart,
        },
      );
    }
    const body = bytes.subarray(bodyStart, bodyStart + bodyLength);
    const values = readBatchValues(message, body, b, bodyStart, path, maxRows - total, physicalRows);
    total += values.byteLength / 4;
    chunks.push(values);
  }

  const ids = new Uint32Array(total);
  let n = 0;
  for (const chunk of chunks) {
    const chunkView = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let i = 0; i < chunk.byteLength; i += 4) ids[n++] = chunkView.getUint32(i, true);
  }
  return ids;
}

/** The footer's schema must be Lance's: exactly one field `row_id: UInt32`, non-nullable, little-endian. */
function checkSchema(footer: Footer, path: string): void {
  const schema = footer.schema();
  if (schema === null) throw arrowCorrupt(path, 'footer has no schema');
  if (schema.endianness() !== Endianness.Little) {
    throw new UnsupportedError(`${path}: Arrow deletion file is big-endian, which lance-loader does not read`, {
      path,
    });
  }
  const field = schema.fieldsLength() === 1 ? schema.fields(0) : null;
  const int = field !== null && field.typeType() === Type.Int ? (field.type(new Int()) as Int | null) : null;
  const name = field?.name() ?? null;
  if (
    field === null ||
    int === null ||
    int.bitWidth() !== 32 ||
    int.isSigned() ||
    name !== 'row_id' ||
    field.nullable()
  ) {
    throw arrowCorrupt(
      path,
      `schema is not one non-nullable UInt32 field "row_id" (${schema.fieldsLength()} fields, first "${name}")`,
      {
        fieldCount: schema.fieldsLength(),
      },
    );
  }
}

/** Reads the encapsulated Message at `at`: optional 0xFFFFFFFF continuation, i32 length, flatbuffer. */
function readMessage(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  metaLength: number,
  batch: number,
  path: string,
): Message {
  let fbStart = at + 4;
  let fbLength = view.getInt32(at, true);
  if (view.getUint32(at, true) === CONTINUATION) {
    fbStart = at + 8;
    fbLength = view.getInt32(at + 4, true);
  }
  if (fbLength <= 0 || fbStart + fbLength > at + metaLength) {
    throw arrowCorrupt(
      path,
      `record batch ${batch} message length ${fbLength} does not fit its ${metaLength}-byte metadata block at ${at}`,
      {
        batch,
        byteOffset: at,
      },
    );
  }
  const message = Message.getRootAsMessage(new ByteBuffer(bytes.subarray(fbStart, fbStart + fbLength)));
  if (message.headerType() !== MessageHeader.RecordBatch) {
    throw arrowCorrupt(
      path,
      `block ${batch} at byte ${at} holds message type ${message.headerType()}, not a record batch`,
      {
        batch,
        byteOffset: at,
      },
    );
  }
  return message;
}

/**
 * The values buffer of one record batch as little-endian u32 bytes (exactly 4 × length bytes). Checks the
 * row count against `remaining` before inflating anything.
 */
function readBatchValues(
  message: Message,
  body: Uint8Array,
  batch: number,
  bodyStart: number,
  path: string,
  remaining: number,
  physicalRows: number | undefined,
): Uint8Array {
  const header = message.header(new RecordBatch()) as RecordBatch | null;
  if (header === null) throw arrowCorrupt(path, `record batch ${batch} has no header`, { batch });
  const rows = safeLength(header.length(), `record batch ${batch} length`, path);
  if (header.nodesLength() !== 1 || header.buffersLength() !== 2) {
    throw arrowCorrupt(
      path,
      `record batch ${batch} has ${header.nodesLength()} field nodes and ${header.buffersLength()} buffers (expected 1 and 2 for one UInt32 column)`,
      {
        batch,
      },
    );
  }
  const node = header.nodes(0);
  const buffer = header.buffers(1); // buffers(0) is the validity bitmap, unused when null_count = 0
  if (node === null || buffer === null)
    throw arrowCorrupt(path, `record batch ${batch} is missing its field node or values buffer`, { batch });
  if (safeLength(node.length(), `record batch ${batch} field length`, path) !== rows) {
    throw arrowCorrupt(
      path,
      `record batch ${batch} has ${rows} rows but its row_id column has ${node.length()} values`,
      { batch },
    );
  }
  if (node.nullCount() !== 0n) {
    // Lance refuses these too: "Null values are not allowed in deletion files".
    throw arrowCorrupt(
      path,
      `record batch ${batch} has ${node.nullCount()} null row ids; nulls are not allowed in deletion files`,
      { batch },
    );
  }
  if (rows > remaining) {
    const bound = physicalRows === undefined ? 'the limit' : `the fragment's ${physicalRows} physical rows`;
    throw arrowCorrupt(path, `lists more row offsets than ${bound} (record batch ${batch} adds ${rows})`, {
      batch,
      rows,
    });
  }

  const offset = safeLength(buffer.offset(), `record batch ${batch} values buffer offset`, path);
  const length = safeLength(buffer.length(), `record batch ${batch} values buffer length`, path);
  if (offset + length > body.byteLength) {
    throw arrowCorrupt(
      path,
      `record batch ${batch} values buffer (${length} bytes at body offset ${offset}) runs past its ${body.byteLength}-byte body`,
      {
        batch,
        byteOffset: bodyStart + offset,
      },
    );
  }
  const stored = body.subarray(offset, offset + length);
  const needed = rows * 4;
  const where = `record batch ${batch} values buffer at byte ${bodyStart + offset}`;

  const compression = header.compression();
  let values = stored;
  if (compression !== null && length > 0) {
    if (compression.method() !== BodyCompressionMethod.BUFFER) {
      throw new UnsupportedError(
        `${path}: Arrow body compression method ${compression.method()} is not supported (only BUFFER)`,
        { path },
      );
    }
    if (compression.codec() !== CompressionType.ZSTD) {
      throw new UnsupportedError(
        `${path}: Arrow body compression codec ${CompressionType[compression.codec()] ?? compression.codec()} is not supported (only ZSTD)`,
        {
          path,
        },
      );
    }
    if (length < 8)
      throw arrowCorrupt(path, `${where} is ${length} bytes, too short for its 8-byte length prefix`, { batch });
    const declared = new DataView(stored.buffer, stored.byteOffset, 8).getBigInt64(0, true);
    if (declared === -1n) {
      values = stored.subarray(8);
    } else {
      // Writers may pad the buffer; more than 64 bytes beyond the values would be nonsense.
      if (declared < BigInt(needed) || declared > BigInt(needed + 64)) {
        throw arrowCorrupt(path, `${where} declares ${declared} uncompressed bytes for ${rows} u32 values`, { batch });
      }
      values = inflateZstd(stored.subarray(8), Number(declared), path, where);
    }
  }
  if (values.byteLength < needed) {
    throw arrowCorrupt(path, `${where} holds ${values.byteLength} bytes, too few for ${rows} u32 values`, { batch });
  }
  return values.subarray(0, needed);
}

/**
 * Inflates zstd data that must decompress to exactly `expected` bytes. The frames are parsed first
 * (./zstd-frame.ts) so fzstd never allocates a window larger than {@link ZSTD_MAX_WINDOW_BYTES} or a
 * content size other than `expected`, and output beyond `expected` stops decoding.
 */
function inflateZstd(src: Uint8Array, expected: number, path: string, where: string): Uint8Array {
  checkZstdFrames(src, expected, path, where);
  const out = new Uint8Array(expected);
  let written = 0;
  try {
    const stream = new Decompress((chunk) => {
      if (written + chunk.length > expected)
        throw arrowCorrupt(path, `${where} inflates to more than its declared ${expected} bytes`);
      out.set(chunk, written);
      written += chunk.length;
    });
    stream.push(src, true);
  } catch (error) {
    if (error instanceof LanceLoaderError) throw error;
    throw arrowCorrupt(
      path,
      `${where} is not valid zstd (${error instanceof Error ? error.message : String(error)})`,
      {},
      { cause: error },
    );
  }
  if (written !== expected)
    throw arrowCorrupt(path, `${where} inflates to ${written} bytes, not its declared ${expected}`);
  return out;
}

function checkZstdFrames(src: Uint8Array, expected: number, path: string, where: string): void {
  let frames: ZstdFrame[];
  try {
    frames = parseZstdFrames(src, 0);
  } catch (error) {
    throw withContext(error, `${path}: Arrow deletion file ${where}`, { path });
  }
  let contentSize = 0;
  for (const frame of frames) {
    if (frame.skippable) continue;
    if (frame.contentSize >= 0) contentSize += frame.contentSize;
    if (frame.windowSize > ZSTD_MAX_WINDOW_BYTES) {
      throw arrowCorrupt(
        path,
        `${where} asks for a ${frame.windowSize}-byte zstd window (limit ${ZSTD_MAX_WINDOW_BYTES})`,
      );
    }
  }
  const known = frames.every((frame) => frame.contentSize >= 0);
  if (known && contentSize !== expected) {
    throw arrowCorrupt(path, `${where} holds a zstd frame of ${contentSize} bytes, not the declared ${expected}`);
  }
}

/**
 * Writes one Lance data file (file version 2.1 or 2.2) from record batches, streaming: each column gathers
 * its values until a page's worth (8 MiB, LanceDB's per-column cache) is waiting, encodes that page (in
 * a worker thread when that pays: writer/encode-pool.ts) and appends its buffers to the file. The file is
 * laid out as LanceDB lays it out:
 *
 *   [page buffers, each padded with 0x48 to 64 bytes] … (pages of all columns, in the order they are encoded;
 *    a blob page's values first, each padded the same way: writer/blob.ts; larger blob v2 values go to
 *    sidecar files beside the data file)
 *   FileDescriptor (global buffer 0: schema + row count)
 *   ColumnMetadata 0 … N−1 | CMO table (u64 pos, u64 size) × N | GBO table × 1
 *   footer: u64 column_meta_start | u64 cmo_start | u64 gbo_start | u32 1 | u32 N | u16 2 | u16 1 or 2 | "LANC"
 *
 * Bytes go to a {@link FileSink}, which writes them behind the caller in large sequential `writev`s;
 * `finish` fsyncs the file before it resolves, so a manifest never names a file whose bytes could still
 * be lost.
 */
import type * as arrow from 'apache-arrow';
import { encodeAny, encodeColumnEncoding, encodeColumnMetadata, encodeFileDescriptor } from '../format/proto/encode.js';
import type { FieldProto } from '../format/proto/messages.js';
import { BlobSidecars, encodeBlobPage, encodeBlobV2Page } from './blob.js';
import { FileSink } from './file-sink.js';
import { encodePageSomewhere } from './encode-pool.js';
import type { WriteFileVersion } from './levels.js';
import { gatherLeafPage, leafChunkBytes } from './nested.js';
import { encodePage, pageHints, type EncodedPage, type PageHints } from './page.js';
import { leafField, type BlobV2Limits, type LeafColumn, type WriteColumn } from './schema.js';

/** A page is cut once a column has gathered this many bytes. */
export const PAGE_BYTES = 8 * 1024 * 1024;
const ALIGNMENT = 64;
const PAD_BYTE = 0x48;
const MAGIC = new Uint8Array([0x4c, 0x41, 0x4e, 0x43]);

/** What the manifest needs to know about a finished data file. */
export interface WrittenFile {
  /** The file's name inside `data/`. */
  name: string;
  rows: number;
  sizeBytes: number;
}

interface PageEntry {
  offsets: number[];
  sizes: number[];
  rows: number;
  firstRow: number;
  encoding: Uint8Array;
}

/** One column of the file: a leaf of top-level field `field` (an index into each batch's data). */
interface ColumnState {
  leaf: LeafColumn;
  field: number;
  hints: PageHints;
  pending: arrow.Data[];
  /** The memory of the pending chunks, counted in `held` (only with a `releaseBuffer` callback). */
  pendingBuffers: ArrayBufferLike[];
  pendingBytes: number;
  pendingRows: number;
  rowsFlushed: number;
  pages: PageEntry[];
}

const padding = new Uint8Array(ALIGNMENT).fill(PAD_BYTE);
const columnEncoding = encodeAny('lance.encodings.ColumnEncoding', encodeColumnEncoding({ values: {} }));

/**
 * The ArrayBuffers of the caller's data being written, each with the number of column chunks (of any data
 * file) still referencing it; `release` is called with one when that number drops to 0. Only buffers
 * the caller gave ({@link take}) are counted and released: those the writer makes from them (resolved
 * external blob URIs) are its own, and the caller's callback must never see them.
 */
export class HeldBuffers {
  private readonly counts = new Map<ArrayBufferLike, number>();
  constructor(private readonly release: (buffer: ArrayBufferLike) => void) {}

  /** Counts each ArrayBuffer behind `data`, one of the caller's batches' columns; returns them. */
  take(data: arrow.Data): ArrayBufferLike[] {
    return this.count(buffersOf(data));
  }

  /** Counts those ArrayBuffers behind `data` that are already held (the caller's); returns them. */
  hold(data: arrow.Data): ArrayBufferLike[] {
    return this.count([...buffersOf(data)].filter((buffer) => this.counts.has(buffer)));
  }

  /** Drops one count of each of `buffers`, releasing those left with none. */
  letGo(buffers: readonly ArrayBufferLike[]): void {
    for (const buffer of buffers) {
      const count = (this.counts.get(buffer) ?? 1) - 1;
      if (count > 0) this.counts.set(buffer, count);
      else {
        this.counts.delete(buffer);
        this.release(buffer);
      }
    }
  }

  private count(buffers: Iterable<ArrayBufferLike>): ArrayBufferLike[] {
    for (const buffer of buffers) this.counts.set(buffer, (this.counts.get(buffer) ?? 0) + 1);
    return [...buffers];
  }
}

/** The ArrayBuffers behind `data` and its children, each once however many of their arrays it backs. */
function buffersOf(data: arrow.Data): Set<ArrayBufferLike> {
  const buffers = new Set<ArrayBufferLike>();
  const visit = (d: arrow.Data): void => {
    for (const array of [d.values, d.valueOffsets, d.nullBitmap, d.typeIds] as unknown[])
      if (ArrayBuffer.isView(array) && array.byteLength > 0) buffers.add(array.buffer);
    d.children.forEach(visit);
  };
  visit(data);
  return buffers;
}

/** One data file being written. Not safe for concurrent use. */
export class DataFileWriter {
  readonly path: string;
  readonly name: string;
  private readonly sink: FileSink;
  private readonly columns: ColumnState[];
  private readonly fields: FieldProto[];
  private readonly schemaMetadata: Record<string, Uint8Array>;
  private readonly version: WriteFileVersion;
  private rowCount = 0;
  /** Pages being encoded in workers, and their value bytes. */
  private readonly encodes = new Set<Promise<void>>();
  private encodingBytes = 0;
  private encodeFailure: unknown;
  private readonly sidecars: BlobSidecars;

  private constructor(
    dir: string,
    name: string,
    sink: FileSink,
    columns: WriteColumn[],
    schemaMetadata: Record<string, Uint8Array>,
    version: WriteFileVersion,
    private readonly encodeInWorkers: boolean,
    private readonly held: HeldBuffers | undefined,
  ) {
    this.path = sink.path;
    this.name = name;
    this.sink = sink;
    this.columns = columns.flatMap((column, field) =>
      column.leaves.map((leaf) => ({
        leaf,
        field,
        hints: pageHints(leafField(column, leaf)),
        pending: [],
        pendingBuffers: [],
        pendingBytes: 0,
        pendingRows: 0,
        rowsFlushed: 0,
        pages: [],
      })),
    );
    this.fields = columns.flatMap((c) => c.fileFields ?? c.fields);
    this.sidecars = new BlobSidecars(dir, name);
    this.schemaMetadata = schemaMetadata;
    this.version = version;
  }

  /**
   * Creates `dir/name` (which must not exist) for the columns given, in file version `version`; with
   * `encodeInWorkers`, large pages that cost CPU to encode may go to worker threads (writer/encode-pool.ts).
   * With `held`, the memory of the data written is counted there and let go once its pages are written.
   */
  static create(
    dir: string,
    name: string,
    columns: WriteColumn[],
    schemaMetadata: Record<string, Uint8Array>,
    version: WriteFileVersion,
    encodeInWorkers: boolean,
    held?: HeldBuffers,
  ): DataFileWriter {
    const sink = FileSink.create(`${dir}/${name}`);
    return new DataFileWriter(dir, name, sink, columns, schemaMetadata, version, encodeInWorkers, held);
  }

  /** Rows written so far (pending pages included). */
  get rows(): number {
    return this.rowCount;
  }

  /**
   * Appends the rows of one batch: `data[i]` is top-level field i's data, all of the same length. Their memory
   * must not change until {@link finish} resolves (values are written where they lie), or, with
   * {@link HeldBuffers}, until they release that memory's ArrayBuffer. Await
   * {@link waitForRoom} before the next batch, so that memory stays bounded.
   */
  write(data: readonly arrow.Data[]): void {
    this.columns.forEach((state) => {
      const chunk = data[state.field] as arrow.Data;
      state.pending.push(chunk);
      if (this.held) state.pendingBuffers.push(...this.held.hold(chunk));
      state.pendingRows += chunk.length;
      state.pendingBytes += leafChunkBytes(state.leaf, chunk);
      if (state.pendingBytes >= PAGE_BYTES) this.flushColumn(state);
    });
    this.rowCount += data[0]?.length ?? 0;
  }

  /** Resolves once the bytes waiting to be written are few enough to take more rows. */
  async waitForRoom(): Promise<void> {
    if (this.encodeFailure !== undefined) throw this.encodeFailure;
    await this.sink.waitForRoom();
  }

  /** Once the sink has written what is appended so far, lets go of `buffers` (a page's pending memory). */
  private releaseWhenWritten(buffers: ArrayBufferLike[]): void {
    const held = this.held;
    if (!held || buffers.length === 0) return;
    this.sink.whenWritten(() => held.letGo(buffers));
  }

  private flushColumn(state: ColumnState): void {
    if (state.pendingRows === 0) return;
    const values = gatherLeafPage(state.leaf, state.pending);
    const buffers = state.pendingBuffers;
    state.pendingBuffers = [];
    const firstRow = state.rowsFlushed;
    const appendBlob = (bytes: Uint8Array): number => this.appendBuffer([bytes]);
    const page = state.leaf.blob
      ? state.leaf.blob === 'v2'
        ? encodeBlobV2Page(
            state.leaf.name,
            values,
            this.version,
            appendBlob,
            this.sidecars,
            state.leaf.blobLimits as BlobV2Limits,
          )
        : encodeBlobPage(state.leaf.name, values, this.version, appendBlob)
      : this.encodeInWorkers
        ? encodePageSomewhere(state.leaf.kind, values, this.version, state.hints, this.encodingBytes)
        : encodePage(state.leaf.kind, values, this.version, state.hints);
    // Top-level rows: a nested leaf's page holds more values than rows.
    state.rowsFlushed += state.pendingRows;
    state.pending = [];
    state.pendingBytes = 0;
    state.pendingRows = 0;
    if (!(page instanceof Promise)) {
      state.pages.push(this.appendPage(page, firstRow));
      this.releaseWhenWritten(buffers);
      return;
    }
    // Encoded in a worker: appended when it comes back, perhaps after later pages of other columns.
    const bytes = values.bytes.length;
    this.encodingBytes += bytes;
    const encoding = page
      .then(
        (encoded) => void state.pages.push(this.appendPage(encoded, firstRow)),
        (error: unknown) => void (this.encodeFailure ??= error),
      )
      .finally(() => {
        this.encodes.delete(encoding);
        this.encodingBytes -= bytes;
        this.releaseWhenWritten(buffers);
      });
    this.encodes.add(encoding);
  }

  /** Waits for the pages in workers; throws the first encode failure. */
  private async encoded(): Promise<void> {
    await Promise.all(this.encodes);
    if (this.encodeFailure !== undefined) throw this.encodeFailure;
  }

  private appendPage(page: EncodedPage, firstRow: number): PageEntry {
    const entry: PageEntry = { offsets: [], sizes: [], rows: page.rows, firstRow, encoding: page.encoding };
    for (const buffer of page.buffers) {
      const pieces = Array.isArray(buffer) ? buffer : [buffer];
      entry.offsets.push(this.sink.position);
      entry.sizes.push(pieces.reduce((sum, piece) => sum + piece.length, 0));
      this.appendBuffer(pieces);
    }
    return entry;
  }

  /** Queues one buffer (its pieces in order) padded to 64 bytes; returns its file offset. */
  private appendBuffer(pieces: readonly Uint8Array[]): number {
    const at = this.sink.position;
    let size = 0;
    for (const piece of pieces) {
      this.queue(piece);
      size += piece.length;
    }
    const pad = (ALIGNMENT - (size % ALIGNMENT)) % ALIGNMENT;
    if (pad > 0) this.queue(padding.subarray(0, pad));
    return at;
  }

  private queue(bytes: Uint8Array): void {
    this.sink.append(bytes);
  }

  /** Flushes every column's last page, writes the metadata and footer, fsyncs and closes the file. */
  async finish(): Promise<WrittenFile> {
    for (const state of this.columns) this.flushColumn(state);
    await this.encoded();
    const descriptor = encodeFileDescriptor({
      schema: { fields: this.fields, metadata: this.schemaMetadata },
      length: this.rowCount,
    });
    const gbo = [this.sink.position, descriptor.length];
    this.queue(descriptor);
    const columnMetaStart = this.sink.position;
    const cmo: number[] = [];
    for (const state of this.columns) {
      const bytes = encodeColumnMetadata({
        encoding: { direct: { encoding: columnEncoding } },
        pages: state.pages
          .sort((a, b) => a.firstRow - b.firstRow)
          .map((page) => ({
            buffer_offsets: page.offsets,
            buffer_sizes: page.sizes,
            length: page.rows,
            encoding: { direct: { encoding: page.encoding } },
            priority: page.firstRow,
          })),
        buffer_offsets: [],
        buffer_sizes: [],
      });
      cmo.push(this.sink.position, bytes.length);
      this.queue(bytes);
    }
    const cmoStart = this.sink.position;
    const tables = new DataView(new ArrayBuffer((cmo.length + 2) * 8 + 40));
    cmo.forEach((value, i) => tables.setBigUint64(i * 8, BigInt(value), true));
    const gboStart = cmoStart + cmo.length * 8;
    tables.setBigUint64(cmo.length * 8, BigInt(gbo[0] as number), true);
    tables.setBigUint64(cmo.length * 8 + 8, BigInt(gbo[1] as number), true);
    const footer = (cmo.length + 2) * 8;
    tables.setBigUint64(footer, BigInt(columnMetaStart), true);
    tables.setBigUint64(footer + 8, BigInt(cmoStart), true);
    tables.setBigUint64(footer + 16, BigInt(gboStart), true);
    tables.setUint32(footer + 24, 1, true);
    tables.setUint32(footer + 28, this.columns.length, true);
    tables.setUint16(footer + 32, 2, true);
    tables.setUint16(footer + 34, this.version === '2.2' ? 2 : 1, true);
    const tail = new Uint8Array(tables.buffer);
    tail.set(MAGIC, footer + 36);
    this.queue(tail);
    this.sidecars.finish();
    const sizeBytes = await this.sink.close();
    return { name: this.name, rows: this.rowCount, sizeBytes };
  }

  /** Stops writing, closes and removes the unfinished file (after an error). */
  async abort(): Promise<void> {
    await Promise.all(this.encodes);
    this.sidecars.abort();
    await this.sink.abort();
  }
}

/**
 * Writes one Lance data file (file version 2.1 or 2.2) from record batches, streaming: each column gathers
 * its values until a page's worth (8 MiB, LanceDB's per-column cache) is waiting, encodes that page and
 * appends its buffers to the file. The file is laid out as LanceDB lays it out:
 *
 *   [page buffers, each padded with 0x48 to 64 bytes] … (pages of all columns, in the order they fill)
 *   FileDescriptor (global buffer 0: schema + row count)
 *   ColumnMetadata 0 … N−1 | CMO table (u64 pos, u64 size) × N | GBO table × 1
 *   footer: u64 column_meta_start | u64 cmo_start | u64 gbo_start | u32 1 | u32 N | u16 2 | u16 1 or 2 | "LANC"
 *
 * Writes are gathered into large sequential `writev`s; `finish` fsyncs the file before it returns, so a
 * manifest never names a file whose bytes could still be lost.
 */
import fs from 'node:fs';
import type * as arrow from 'apache-arrow';
import { encodeAny, encodeColumnEncoding, encodeColumnMetadata, encodeFileDescriptor } from '../format/proto/encode.js';
import type { FieldProto } from '../format/proto/messages.js';
import { fsError } from './fs-error.js';
import type { WriteFileVersion } from './levels.js';
import { gatherLeafPage, leafChunkBytes } from './nested.js';
import { encodePage, pageHints, type EncodedPage, type PageHints } from './page.js';
import { leafField, type LeafColumn, type WriteColumn } from './schema.js';

/** A page is cut once a column has gathered this many bytes. */
export const PAGE_BYTES = 8 * 1024 * 1024;
const ALIGNMENT = 64;
const PAD_BYTE = 0x48;
const FLUSH_BYTES = 8 * 1024 * 1024;
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
  pendingBytes: number;
  pendingRows: number;
  rowsFlushed: number;
  pages: PageEntry[];
}

const padding = new Uint8Array(ALIGNMENT).fill(PAD_BYTE);
const columnEncoding = encodeAny('lance.encodings.ColumnEncoding', encodeColumnEncoding({ values: {} }));

/** One data file being written. Not safe for concurrent use. */
export class DataFileWriter {
  readonly path: string;
  readonly name: string;
  private readonly fd: number;
  private readonly columns: ColumnState[];
  private readonly fields: FieldProto[];
  private readonly schemaMetadata: Record<string, Uint8Array>;
  private readonly version: WriteFileVersion;
  private position = 0;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private rowCount = 0;

  private constructor(
    path: string,
    name: string,
    fd: number,
    columns: WriteColumn[],
    schemaMetadata: Record<string, Uint8Array>,
    version: WriteFileVersion,
  ) {
    this.path = path;
    this.version = version;
    this.name = name;
    this.fd = fd;
    this.columns = columns.flatMap((column, field) =>
      column.leaves.map((leaf) => ({
        leaf,
        field,
        hints: pageHints(leafField(column, leaf)),
        pending: [],
        pendingBytes: 0,
        pendingRows: 0,
        rowsFlushed: 0,
        pages: [],
      })),
    );
    this.fields = columns.flatMap((c) => c.fields);
    this.schemaMetadata = schemaMetadata;
  }

  /** Creates `dir/name` (which must not exist) for the columns given, in file version `version`. */
  static create(
    dir: string,
    name: string,
    columns: WriteColumn[],
    schemaMetadata: Record<string, Uint8Array>,
    version: WriteFileVersion,
  ): DataFileWriter {
    const path = `${dir}/${name}`;
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (cause) {
      throw fsError('creating the data file', path, cause);
    }
    return new DataFileWriter(path, name, fd, columns, schemaMetadata, version);
  }

  /** Rows written so far (pending pages included). */
  get rows(): number {
    return this.rowCount;
  }

  /** Bytes the file holds so far, pending pages excluded. */
  get bytesWritten(): number {
    return this.position;
  }

  /** Appends the rows of one batch: `data[i]` is top-level field i's data, all of the same length. */
  write(data: readonly arrow.Data[]): void {
    this.columns.forEach((state) => {
      const chunk = data[state.field] as arrow.Data;
      state.pending.push(chunk);
      state.pendingRows += chunk.length;
      state.pendingBytes += leafChunkBytes(state.leaf, chunk);
      if (state.pendingBytes >= PAGE_BYTES) this.flushColumn(state);
    });
    this.rowCount += data[0]?.length ?? 0;
  }

  private flushColumn(state: ColumnState): void {
    if (state.pendingRows === 0) return;
    const page = encodePage(state.leaf.kind, gatherLeafPage(state.leaf, state.pending), this.version, state.hints);
    state.pending = [];
    state.pendingBytes = 0;
    state.pendingRows = 0;
    state.pages.push(this.appendPage(page, state.rowsFlushed));
    state.rowsFlushed += page.rows;
  }

  private appendPage(page: EncodedPage, firstRow: number): PageEntry {
    const entry: PageEntry = { offsets: [], sizes: [], rows: page.rows, firstRow, encoding: page.encoding };
    for (const buffer of page.buffers) {
      const pieces = Array.isArray(buffer) ? buffer : [buffer];
      const size = pieces.reduce((sum, piece) => sum + piece.length, 0);
      entry.offsets.push(this.position + this.queuedBytes);
      entry.sizes.push(size);
      for (const piece of pieces) this.queue(piece);
      const pad = (ALIGNMENT - (size % ALIGNMENT)) % ALIGNMENT;
      if (pad > 0) this.queue(padding.subarray(0, pad));
    }
    return entry;
  }

  private queue(bytes: Uint8Array): void {
    this.queued.push(bytes);
    this.queuedBytes += bytes.length;
    if (this.queuedBytes >= FLUSH_BYTES) this.flushQueue();
  }

  private flushQueue(): void {
    let pieces = this.queued;
    let left = this.queuedBytes;
    this.queued = [];
    this.queuedBytes = 0;
    try {
      while (left > 0) {
        // writev takes at most IOV_MAX (1024) pieces per call.
        const batch = pieces.slice(0, 1024);
        let written = fs.writevSync(this.fd, batch, this.position);
        this.position += written;
        left -= written;
        // A short write: drop what was written and retry the rest.
        const rest: Uint8Array[] = [];
        for (const piece of pieces) {
          if (written >= piece.length) written -= piece.length;
          else {
            rest.push(written > 0 ? piece.subarray(written) : piece);
            written = 0;
          }
        }
        pieces = rest;
      }
    } catch (cause) {
      throw fsError('writing the data file', this.path, cause);
    }
  }

  /** Flushes every column's last page, writes the metadata and footer, fsyncs and closes the file. */
  finish(): WrittenFile {
    for (const state of this.columns) this.flushColumn(state);
    const descriptor = encodeFileDescriptor({
      schema: { fields: this.fields, metadata: this.schemaMetadata },
      length: this.rowCount,
    });
    const gbo = [this.position + this.queuedBytes, descriptor.length];
    this.queue(descriptor);
    const columnMetaStart = this.position + this.queuedBytes;
    const cmo: number[] = [];
    for (const state of this.columns) {
      const bytes = encodeColumnMetadata({
        encoding: { direct: { encoding: columnEncoding } },
        pages: state.pages.map((page) => ({
          buffer_offsets: page.offsets,
          buffer_sizes: page.sizes,
          length: page.rows,
          encoding: { direct: { encoding: page.encoding } },
          priority: page.firstRow,
        })),
        buffer_offsets: [],
        buffer_sizes: [],
      });
      cmo.push(this.position + this.queuedBytes, bytes.length);
      this.queue(bytes);
    }
    const cmoStart = this.position + this.queuedBytes;
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
    this.flushQueue();
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
    } catch (cause) {
      throw fsError('syncing the data file', this.path, cause);
    }
    return { name: this.name, rows: this.rowCount, sizeBytes: this.position };
  }

  /** Closes and removes the unfinished file (after an error). */
  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed by finish
    }
    fs.rmSync(this.path, { force: true });
  }
}

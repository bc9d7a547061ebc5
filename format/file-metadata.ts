/**
 * The metadata of one Lance v2 data file: footer, column metadata offset table (CMO), global buffer
 * offset table (GBO), per-column pages with their buffers and layouts, and the file's own schema (global
 * buffer 0, a lance.file.FileDescriptor).
 *
 *   [data buffers][column metadata 0..N-1][CMO: N × (u64 pos, u64 size)][GBO: G × (u64 pos, u64 size)][footer]
 *
 * Every position and size read here is checked against the file size, so no later read can point past the
 * end of the file, and no allocation is larger than the file justifies.
 */
import { CorruptFileError } from '../errors.js';
import { FOOTER_BYTES, readU64, type FileVersion, type Footer } from './footer.js';
import { parsePageLayout, type PageLayout } from './layout.js';
import { decodeColumnMetadata, decodeFileDescriptor, type FieldProto } from './proto/messages.js';

/** A byte range of a file; `end` is exclusive. */
export interface ByteRange {
  offset: number;
  size: number;
}

/** One page of one column. */
export interface PageInfo {
  /** Index of the page within its column. */
  index: number;
  /** Row number of the page's first row within the file. */
  rowStart: number;
  numRows: number;
  buffers: ByteRange[];
  layout: PageLayout;
}

export interface ColumnInfo {
  index: number;
  pages: PageInfo[];
  /** Column-level buffers (unused by the layouts lance-loader decodes). */
  buffers: ByteRange[];
}

export interface FileMetadata {
  path: string;
  fileSize: number;
  version: FileVersion;
  footer: Footer;
  numRows: number;
  /** The file's schema: a flattened pre-order list of fields (parents before children). */
  fields: FieldProto[];
  schemaMetadata: Record<string, Uint8Array>;
  columns: ColumnInfo[];
}

/** The region at the end of a file that holds all of its metadata, from the footer alone. */
export function metadataRegion(footer: Footer, fileSize: number): ByteRange {
  const offset = Math.min(footer.columnMetaStart, footer.cmoTableOffset, footer.gboTableOffset);
  return { offset, size: fileSize - offset };
}

function checkRange(range: ByteRange, fileSize: number, path: string, what: string): ByteRange {
  if (range.offset + range.size > fileSize) {
    throw new CorruptFileError(
      `${path}: ${what} points past the end of the file (bytes ${range.offset}..${range.offset + range.size} of ${fileSize})`,
      { path, what, offset: range.offset, size: range.size, fileSize },
    );
  }
  return range;
}

/** Reads `count` (u64 position, u64 size) pairs at `offset` of `region`. */
function parseOffsetTable(
  region: Uint8Array,
  offset: number,
  count: number,
  fileSize: number,
  path: string,
  what: string,
): ByteRange[] {
  const view = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const table: ByteRange[] = [];
  for (let i = 0; i < count; i++) {
    const at = offset + i * 16;
    const range = {
      offset: readU64(view, at, path, `${what} ${i} position`),
      size: readU64(view, at + 8, path, `${what} ${i} size`),
    };
    table.push(checkRange(range, fileSize, path, `${what} ${i}`));
  }
  return table;
}

/** The positions of the global buffers (buffer 0 holds the schema), from the metadata region. */
export function parseGlobalBufferTable(
  region: Uint8Array,
  regionStart: number,
  footer: Footer,
  fileSize: number,
  path: string,
): ByteRange[] {
  return parseOffsetTable(
    region,
    footer.gboTableOffset - regionStart,
    footer.numGlobalBuffers,
    fileSize,
    path,
    'global buffer',
  );
}

/**
 * Parses the whole file metadata. `region` holds the bytes of {@link metadataRegion}; `schemaBytes` the
 * bytes of global buffer 0.
 */
export function parseFileMetadata(
  region: Uint8Array,
  regionStart: number,
  schemaBytes: Uint8Array,
  footer: Footer,
  fileSize: number,
  path: string,
): FileMetadata {
  const descriptor = decodeFileDescriptor(schemaBytes, `${path} (schema in global buffer 0)`);
  const numRows = descriptor.length;
  const columnTable = parseOffsetTable(
    region,
    footer.cmoTableOffset - regionStart,
    footer.numColumns,
    fileSize,
    path,
    'column metadata',
  );
  const columns = columnTable.map((range, index) => {
    const where = `${path} column ${index}`;
    if (range.offset < regionStart || range.offset + range.size > fileSize - FOOTER_BYTES) {
      throw new CorruptFileError(`${where}: metadata lies outside the metadata region`, { path, column: index });
    }
    const bytes = region.subarray(range.offset - regionStart, range.offset - regionStart + range.size);
    const proto = decodeColumnMetadata(bytes, where);
    let rowStart = 0;
    const pages = proto.pages.map((page, pageIndex): PageInfo => {
      const pageWhere = `${where} page ${pageIndex}`;
      if (page.buffer_offsets.length !== page.buffer_sizes.length) {
        throw new CorruptFileError(
          `${pageWhere}: ${page.buffer_offsets.length} buffer offsets but ${page.buffer_sizes.length} sizes`,
        );
      }
      const buffers = page.buffer_offsets.map((offset, b) =>
        checkRange(
          { offset, size: page.buffer_sizes[b] ?? 0 },
          fileSize,
          path,
          `column ${index} page ${pageIndex} buffer ${b}`,
        ),
      );
      const info: PageInfo = {
        index: pageIndex,
        rowStart,
        numRows: page.length,
        buffers,
        layout: parsePageLayout(page.encoding, footer.version, pageWhere),
      };
      rowStart += page.length;
      return info;
    });
    // 2.0 list item columns count items, not rows, so only 2.1 and 2.2 pages must add up to the file's rows.
    if (footer.version !== '2.0' && rowStart !== numRows) {
      throw new CorruptFileError(`${where}: pages hold ${rowStart} rows but the file has ${numRows}`, {
        path,
        column: index,
      });
    }
    const buffers = proto.buffer_offsets.map((offset, b) =>
      checkRange({ offset, size: proto.buffer_sizes[b] ?? 0 }, fileSize, path, `column ${index} buffer ${b}`),
    );
    return { index, pages, buffers };
  });
  return {
    path,
    fileSize,
    version: footer.version,
    footer,
    numRows,
    fields: descriptor.schema?.fields ?? [],
    schemaMetadata: descriptor.schema?.metadata ?? {},
    columns,
  };
}

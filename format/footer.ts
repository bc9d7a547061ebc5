/**
 * The 40-byte footer at the end of every Lance v2 data file (protos/file2.proto, lance-file writer):
 *
 *   u64 column_meta_start | u64 cmo_table_offset | u64 gbo_table_offset |
 *   u32 num_global_buffers | u32 num_columns | u16 major | u16 minor | "LANC"
 *
 * Every offset is checked against the file size so later reads never point past the end.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';

export const FOOTER_BYTES = 40;
const MAGIC = [0x4c, 0x41, 0x4e, 0x43]; // "LANC"

/** A Lance data file version this reader knows. Footer 0.3 is what Lance writes for "2.0". */
export type FileVersion = '2.0' | '2.1' | '2.2';

export interface Footer {
  columnMetaStart: number;
  cmoTableOffset: number;
  gboTableOffset: number;
  numGlobalBuffers: number;
  numColumns: number;
  majorVersion: number;
  minorVersion: number;
  version: FileVersion;
}

/** Reads a u64 that must fit a JS number (offsets and sizes inside one file always do). */
export function readU64(view: DataView, byteOffset: number, path: string, what: string): number {
  const value = view.getBigUint64(byteOffset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptFileError(`${path}: ${what} is ${value}, beyond any file size`, { path, what });
  }
  return Number(value);
}

/** Maps footer version numbers to a file version; 0.1/0.2 (legacy) and 2.3+ are refused. */
function fileVersionOf(major: number, minor: number, path: string): FileVersion {
  if ((major === 0 && minor === 3) || (major === 2 && minor === 0)) return '2.0';
  if (major === 2 && minor === 1) return '2.1';
  if (major === 2 && minor === 2) return '2.2';
  throw new UnsupportedError(
    `${path}: Lance file version ${major}.${minor} is not supported (lance-loader reads 2.0, 2.1 and 2.2)`,
    { path, majorVersion: major, minorVersion: minor },
  );
}

/** Parses the footer from the last {@link FOOTER_BYTES} bytes of a file of `fileSize` bytes. */
export function parseFooter(tail: Uint8Array, fileSize: number, path: string): Footer {
  if (fileSize < FOOTER_BYTES || tail.length !== FOOTER_BYTES) {
    throw new CorruptFileError(
      `${path}: file is ${fileSize} bytes, too small for a Lance footer (${FOOTER_BYTES} bytes)`,
      {
        path,
        fileSize,
      },
    );
  }
  for (let i = 0; i < 4; i++) {
    if (tail[36 + i] !== MAGIC[i]) {
      throw new CorruptFileError(
        `${path}: not a Lance file, or truncated (the last 4 bytes are not the magic "LANC")`,
        { path, fileSize },
      );
    }
  }
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const footer: Footer = {
    columnMetaStart: readU64(view, 0, path, 'column metadata start'),
    cmoTableOffset: readU64(view, 8, path, 'column metadata offset table position'),
    gboTableOffset: readU64(view, 16, path, 'global buffer offset table position'),
    numGlobalBuffers: view.getUint32(24, true),
    numColumns: view.getUint32(28, true),
    majorVersion: view.getUint16(32, true),
    minorVersion: view.getUint16(34, true),
    version: '2.0',
  };
  footer.version = fileVersionOf(footer.majorVersion, footer.minorVersion, path);
  const metaEnd = fileSize - FOOTER_BYTES;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new CorruptFileError(`${path}: footer ${what} (file size ${fileSize})`, { path, fileSize, footer });
  };
  check(
    footer.columnMetaStart <= footer.cmoTableOffset,
    `column metadata start ${footer.columnMetaStart} is after its offset table ${footer.cmoTableOffset}`,
  );
  check(
    footer.cmoTableOffset + footer.numColumns * 16 <= metaEnd,
    `column offset table (${footer.numColumns} columns at ${footer.cmoTableOffset}) runs past the footer`,
  );
  check(
    footer.gboTableOffset + footer.numGlobalBuffers * 16 <= metaEnd,
    `global buffer table (${footer.numGlobalBuffers} buffers at ${footer.gboTableOffset}) runs past the footer`,
  );
  return footer;
}

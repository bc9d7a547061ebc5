/**
 * NPY files and the "NumPy batch-file" store of the Lance-vs-NumPy random-access investigation, so the
 * random-access example can compare lance-loader with that layout on the same rows.
 *
 * The store is a directory of row-major float32 matrices, `rowsPerFile` rows each, plus an index:
 *
 * ```
 *   dir/batch-00000.npy   (rowsPerFile, dim) <f4     ids in file order: rows 0 .. rowsPerFile-1
 *   dir/batch-00001.npy   ...
 *   dir/index.json        { dim, rowsPerFile, files: [...], rows: { "<id>": [file, row], ... } }
 *
 *   fetchRows([id, ...]) ──index──► (file, row) ──► load the WHOLE file (header + rowsPerFile × dim × 4 bytes)
 *                                                    └──► copy out one row; the file buffer is dropped
 * ```
 *
 * The reader deliberately keeps nothing between ids, as the investigation's loader did
 * (`np.load(file)[row]` per id): every id costs one whole-file read, so 100 rows per file means ~100× the
 * bytes of the rows returned. That read amplification is what the example measures against Lance.
 *
 * NPY format (numpy.lib.format, version 1.0): magic `\x93NUMPY`, major 1, minor 0, a little-endian u16
 * header length, then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (r, c), }`
 * padded with spaces and ending in `\n` so that the data starts at a multiple of 64 bytes. Versions 2.0
 * and 3.0 (u32 header length) are read too. Only little-endian float32 in C order is supported, which is
 * all this store writes; anything else is an Error naming the file and what was found.
 */
import { endianness } from 'node:os';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93 N U M P Y
/** Data starts at a multiple of this many bytes (numpy.lib.format.ARRAY_ALIGN). */
const ARRAY_ALIGN = 64;
/** Larger headers are not something this store writes; refuse before decoding them. */
const MAX_HEADER_BYTES = 1 << 16;

/** What an NPY header says about the array that follows it. */
export interface NpyHeader {
  /** Always `'<f4'` here (little-endian float32). */
  descr: string;
  shape: number[];
  /** Byte offset of the first value in the file. */
  dataOffset: number;
}

/** An NPY file read whole. */
export interface NpyArray {
  header: NpyHeader;
  /** Row-major values, `shape` product long; a view of the file's bytes. */
  values: Float32Array;
  /** Bytes read from disk (the whole file). */
  fileBytes: number;
}

function checkHost(): void {
  if (endianness() !== 'LE')
    throw new Error('the NPY store writes and reads <f4 through Float32Array, which needs a little-endian host');
}

/** The header (magic, version 1.0, length, padded dict) of a `<f4` C-order array of `shape`. */
export function encodeNpyHeader(shape: readonly number[]): Uint8Array {
  for (const d of shape)
    if (!Number.isSafeInteger(d) || d < 0)
      throw new Error(`NPY shape must hold non-negative integers, got [${shape.join(', ')}]`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  // 6 magic + 2 version + 2 length bytes, then the dict, spaces and a final '\n', up to a multiple of 64.
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / ARRAY_ALIGN) * ARRAY_ALIGN;
  const headerLength = total - 10;
  if (headerLength > 0xffff) throw new Error(`NPY header of ${headerLength} bytes does not fit version 1.0`);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  bytes[6] = 1; // major
  bytes[7] = 0; // minor
  new DataView(bytes.buffer).setUint16(8, headerLength, true);
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  for (let i = 0; i < text.length; i++) bytes[10 + i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Parses the header at the start of `bytes` (at least the whole header; `fileSize` checks the data length).
 * Throws an Error naming `path` for anything but a `<f4`, C-order array whose data exactly fills the file.
 */
export function parseNpyHeader(bytes: Uint8Array, fileSize: number, path = '<npy>'): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new Error(`${path}: not an NPY file (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lengthBytes: number;
  if (major === 1) lengthBytes = 2;
  else if (major === 2 || major === 3) lengthBytes = 4;
  else
    throw new Error(`${path}: NPY version ${String(major)}.${String(bytes[7])} is not supported (1.0, 2.0, 3.0 are)`);
  if (bytes.length < 8 + lengthBytes) throw new Error(`${path}: NPY header truncated`);
  const headerLength = lengthBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lengthBytes + headerLength;
  if (headerLength > MAX_HEADER_BYTES || dataOffset > bytes.length || dataOffset > fileSize) {
    throw new Error(
      `${path}: NPY header length ${headerLength} runs past the ${Math.min(bytes.length, fileSize)} bytes available`,
    );
  }
  const dict = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataOffset));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new Error(`${path}: NPY header is not a descr/fortran_order/shape dict: ${JSON.stringify(dict.trim())}`);
  if (descr !== '<f4') throw new Error(`${path}: NPY dtype ${descr} is not supported (only <f4)`);
  if (fortran !== 'False') throw new Error(`${path}: Fortran-order NPY arrays are not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d)))
    throw new Error(`${path}: NPY shape (${shapeText}) is not a tuple of integers`);
  const dataBytes = shape.reduce((a, b) => a * b, 1) * 4;
  if (dataOffset + dataBytes !== fileSize) {
    throw new Error(
      `${path}: NPY shape (${shape.join(', ')}) needs ${dataBytes} data bytes after offset ${dataOffset}, file has ${fileSize - dataOffset}`,
    );
  }
  return { descr, shape, dataOffset };
}

/** Writes `values` as an NPY 1.0 file of `shape` (row-major `<f4`). */
export async function writeNpyFile(path: string, values: Float32Array, shape: readonly number[]): Promise<void> {
  checkHost();
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length)
    throw new Error(`NPY shape (${shape.join(', ')}) holds ${count} values, got ${values.length}`);
  const header = encodeNpyHeader(shape);
  const file = await open(path, 'w');
  try {
    await file.write(header, 0, header.length, 0);
    await file.write(
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
      0,
      values.byteLength,
      header.length,
    );
  } finally {
    await file.close();
  }
}

/** Reads a whole NPY file (one read of its size into a fresh buffer) and returns its values as a view. */
export async function fetchNpyFile(path: string): Promise<NpyArray> {
  checkHost();
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    // allocUnsafeSlow: an unpooled buffer at byteOffset 0, so the 64-aligned data start is 4-aligned too.
    const bytes = Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await file.read(bytes, done, size - done, done);
      if (bytesRead === 0) throw new Error(`${path}: short read, got ${done} of ${size} bytes`);
      done += bytesRead;
    }
    const header = parseNpyHeader(bytes, size, path);
    const count = (size - header.dataOffset) / 4;
    return {
      header,
      values: new Float32Array(bytes.buffer, bytes.byteOffset + header.dataOffset, count),
      fileBytes: size,
    };
  } finally {
    await file.close();
  }
}

/** The batch-file store's `index.json`. */
export interface NpyBatchIndex {
  version: 1;
  dim: number;
  rowsPerFile: number;
  /** File names relative to the store directory. */
  files: string[];
  /** Decimal id → [file index, row within the file]. */
  rows: Record<string, [number, number]>;
}

/**
 * Writes rows `i` (id `ids[i]`, values `values[i*dim .. (i+1)*dim)`) in files of `rowsPerFile` rows, in
 * order, plus `index.json`. Ids must be distinct.
 */
export async function writeNpyBatchFiles(
  dir: string,
  ids: BigInt64Array,
  values: Float32Array,
  dim: number,
  rowsPerFile: number,
): Promise<NpyBatchIndex> {
  if (values.length !== ids.length * dim)
    throw new Error(
      `writeNpyBatchFiles: ${ids.length} ids × dim ${dim} need ${ids.length * dim} values, got ${values.length}`,
    );
  if (!Number.isInteger(rowsPerFile) || rowsPerFile < 1)
    throw new Error(`writeNpyBatchFiles: rowsPerFile must be a positive integer, got ${rowsPerFile}`);
  await mkdir(dir, { recursive: true });
  const index: NpyBatchIndex = { version: 1, dim, rowsPerFile, files: [], rows: {} };
  for (let start = 0, f = 0; start < ids.length; start += rowsPerFile, f++) {
    const n = Math.min(rowsPerFile, ids.length - start);
    const name = `batch-${String(f).padStart(5, '0')}.npy`;
    await writeNpyFile(join(dir, name), values.subarray(start * dim, (start + n) * dim), [n, dim]);
    index.files.push(name);
    for (let r = 0; r < n; r++) {
      const key = String(ids[start + r]);
      if (key in index.rows) throw new Error(`writeNpyBatchFiles: id ${key} appears twice`);
      index.rows[key] = [f, r];
    }
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return index;
}

/** Reads rows of a batch-file store by id. */
export interface NpyBatchStore {
  readonly dir: string;
  readonly index: NpyBatchIndex;
  /** Whole files loaded and their bytes, since the store was opened. */
  readonly stats: { filesLoaded: number; bytesRead: number };
  /**
   * The rows of `ids`, in the order given (duplicates allowed). Each id loads its file whole; nothing is
   * kept between ids. Each returned row is a copy (`dim` floats), so the file buffer is not kept alive.
   */
  fetchRows(ids: ArrayLike<bigint>): Promise<Float32Array[]>;
}

/** Opens a store written by {@link writeNpyBatchFiles}. */
export async function openNpyBatchStore(dir: string): Promise<NpyBatchStore> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as NpyBatchIndex;
  if (
    index.version !== 1 ||
    !Number.isInteger(index.dim) ||
    !Array.isArray(index.files) ||
    typeof index.rows !== 'object'
  ) {
    throw new Error(`${join(dir, 'index.json')}: not an NPY batch-file index (version 1)`);
  }
  const stats = { filesLoaded: 0, bytesRead: 0 };
  return {
    dir,
    index,
    stats,
    async fetchRows(ids) {
      const out: Float32Array[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = String(ids[i]);
        const where = index.rows[id];
        const name = where ? index.files[where[0]] : undefined;
        if (!where || name === undefined) throw new Error(`${dir}: no row with id ${id}`);
        const path = join(dir, name);
        const array = await fetchNpyFile(path);
        stats.filesLoaded++;
        stats.bytesRead += array.fileBytes;
        const [rows, dim] = array.header.shape;
        if (array.header.shape.length !== 2 || dim !== index.dim || rows === undefined || where[1] >= rows) {
          throw new Error(
            `${path}: shape (${array.header.shape.join(', ')}) has no row ${where[1]} of dim ${index.dim}`,
          );
        }
        out.push(array.values.slice(where[1] * dim, (where[1] + 1) * dim));
      }
      return out;
    },
  };
}

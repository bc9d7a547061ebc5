/**
 * NumPy `.npy` and `.npz` files → record batches for `writeDataset`, one file at a time (memory stays at
 * one file's arrays):
 *
 *   x.npy  shape (n,)          → column of n scalars
 *   x.npy  shape (n, a, b, …)  → column of n fixed-size lists of a·b·… values (row-major), the trailing
 *                                shape kept in field metadata `lance-loader:shape` ("[a,b,…]")
 *   y.npz                      → one column per member array (`name.npy` → `name`), same first axis
 *
 * Several files (or a directory of them, in name order) are rows one after the other; their columns
 * must agree. A directory with an `index.json` of row ids (the batch-file layout of the Lance-vs-NumPy
 * investigation) is read in the index's file order, with an `id` column holding each row's id. `.npz` members may be stored or deflated (fflate inflates them). Formats: NPY 1.0, 2.0
 * and 3.0, C order, little-endian or byte-sized int/uint/float dtypes, and bool (as uint8 0/1).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as arrow from 'apache-arrow';
import { unzipSync } from 'fflate';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { fsError } from '../writer/fs-error.js';

/** Field metadata key holding the trailing shape of an N-dimensional array column. */
export const SHAPE_METADATA = 'lance-loader:shape';

type TypedArrayType = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;

/** The dtypes converted, with their Arrow type and the typed array Arrow keeps their values in. */
const DTYPES: Record<string, { type: () => arrow.DataType; bytes: number; array: TypedArrayType }> = {
  '|b1': { type: () => new arrow.Uint8(), bytes: 1, array: Uint8Array },
  '|i1': { type: () => new arrow.Int8(), bytes: 1, array: Int8Array },
  '|u1': { type: () => new arrow.Uint8(), bytes: 1, array: Uint8Array },
  '<i2': { type: () => new arrow.Int16(), bytes: 2, array: Int16Array },
  '<u2': { type: () => new arrow.Uint16(), bytes: 2, array: Uint16Array },
  '<i4': { type: () => new arrow.Int32(), bytes: 4, array: Int32Array },
  '<u4': { type: () => new arrow.Uint32(), bytes: 4, array: Uint32Array },
  '<i8': { type: () => new arrow.Int64(), bytes: 8, array: BigInt64Array },
  '<u8': { type: () => new arrow.Uint64(), bytes: 8, array: BigUint64Array },
  '<f2': { type: () => new arrow.Float16(), bytes: 2, array: Uint16Array },
  '<f4': { type: () => new arrow.Float32(), bytes: 4, array: Float32Array },
  '<f8': { type: () => new arrow.Float64(), bytes: 8, array: Float64Array },
};

/** One array of an .npy file (or .npz member): its dtype, shape and value bytes (a view of the file). */
export interface NpyData {
  descr: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Parses a whole .npy file. */
export function parseNpy(file: Uint8Array, where: string): NpyData {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (file.length < 10 || magic.some((b, i) => file[i] !== b))
    throw new InvalidArgumentError(`${where}: not an .npy file (no \\x93NUMPY magic)`, { path: where });
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const major = file[6] as number;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(file.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new InvalidArgumentError(`${where}: cannot read the .npy header ${JSON.stringify(header.trim())}`, {
      path: where,
    });
  if (fortran === 'True')
    throw new UnsupportedError(`${where}: Fortran-order arrays cannot be converted; save it in C order`, {
      path: where,
    });
  const dtype = DTYPES[descr];
  if (!dtype)
    throw new UnsupportedError(
      `${where}: dtype ${descr} cannot be converted (accepted: ${Object.keys(DTYPES).join(' ')})`,
      {
        path: where,
        dtype: descr,
      },
    );
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.length === 0 || shape.some((n) => !Number.isSafeInteger(n) || n < 0))
    throw new InvalidArgumentError(`${where}: shape (${shapeText}) is not an array of rows`, { path: where });
  const byteLength = shape.reduce((a, b) => a * b, 1) * dtype.bytes;
  const dataStart = start + headerLength;
  if (dataStart + byteLength > file.length)
    throw new InvalidArgumentError(
      `${where}: holds ${file.length - dataStart} data bytes, its shape needs ${byteLength}`,
      {
        path: where,
      },
    );
  return { descr, shape, bytes: file.subarray(dataStart, dataStart + byteLength) };
}

/** The Arrow field an array becomes under `name`. */
export function npyField(name: string, array: NpyData): arrow.Field {
  const item = (DTYPES[array.descr] as { type: () => arrow.DataType }).type();
  if (array.shape.length === 1) return new arrow.Field(name, item, false);
  const dim = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return new arrow.Field(
    name,
    new arrow.FixedSizeList(dim, new arrow.Field('item', item, true)),
    false,
    new Map([[SHAPE_METADATA, JSON.stringify(array.shape.slice(1))]]),
  );
}

/** The values as their typed array: a view of the file's bytes when aligned (NPY pads data to 64), else a copy. */
function valuesOf(array: NpyData): ArrayBufferView {
  const dtype = DTYPES[array.descr] as { array: TypedArrayType; bytes: number };
  const aligned = array.bytes.byteOffset % dtype.bytes === 0 ? array.bytes : array.bytes.slice();
  return new (
    dtype.array as unknown as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView
  )(aligned.buffer, aligned.byteOffset, aligned.length / dtype.bytes);
}

function columnData(field: arrow.Field, array: NpyData): arrow.Data {
  const rows = array.shape[0] as number;
  const values = valuesOf(array);
  // Every dtype here is a fixed-width Arrow type whose values are this typed array.
  const scalar = (type: arrow.DataType, length: number): arrow.Data =>
    arrow.makeData({ type: type as arrow.Int32, length, nullCount: 0, data: values as Int32Array });
  if (!arrow.DataType.isFixedSizeList(field.type)) return scalar(field.type, rows);
  const child = scalar(field.type.children[0]?.type as arrow.DataType, rows * field.type.listSize);
  return arrow.makeData({ type: field.type, length: rows, nullCount: 0, child });
}

/** The arrays of one .npy or .npz file (its bytes `file`), as (column name, array) pairs. */
function arraysOf(path: string, file: Uint8Array, column: string): [string, NpyData][] {
  if (extname(path) === '.npy') return [[column, parseNpy(file, path)]];
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(file);
  } catch (cause) {
    throw new InvalidArgumentError(`${path}: not a readable .npz (zip) archive: ${(cause as Error).message}`, { path });
  }
  return Object.keys(members)
    .filter((name) => name.endsWith('.npy'))
    .sort()
    .map((name) => [name.slice(0, -4), parseNpy(members[name] as Uint8Array, `${path}:${name}`)]);
}

/** The files of an indexed batch-file directory, and the id of every row of each file. */
export interface IndexedNpyFiles {
  files: string[];
  ids: (bigint | string)[][];
}

/**
 * The batch files and row ids of a directory holding an `index.json` (the NumPy batch-file layout of the
 * Lance-vs-NumPy investigation, as examples/npy.ts writes it: `{ files: [...], rows: { "<id>": [file,
 * row] } }`), or undefined when there is none. Ids that are all decimal integers become int64, others utf8.
 */
export function readNpyIndex(dir: string): IndexedNpyFiles | undefined {
  const path = join(dir, 'index.json');
  let index: { files?: unknown; rows?: unknown };
  try {
    if (!statSync(dir).isDirectory()) return undefined;
    index = JSON.parse(readFileSync(path, 'utf8')) as typeof index;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidArgumentError(`${path}: not a readable index: ${(cause as Error).message}`, { path });
  }
  const { files, rows } = index;
  if (!Array.isArray(files) || typeof rows !== 'object' || rows === null)
    throw new InvalidArgumentError(`${path}: expected { files: [...], rows: { "<id>": [file, row] } }`, { path });
  const numeric = Object.keys(rows).every((id) => /^-?\d{1,18}$/.test(id));
  const ids: (bigint | string)[][] = files.map(() => []);
  for (const [id, place] of Object.entries(rows as Record<string, unknown>)) {
    const [file, row] = Array.isArray(place) ? (place as unknown[]) : [];
    const slots = typeof file === 'number' ? ids[file] : undefined;
    if (!slots || typeof row !== 'number' || !Number.isInteger(row) || row < 0)
      throw new InvalidArgumentError(
        `${path}: id ${id} points at ${JSON.stringify(place)}, not a [file, row] of the index`,
        {
          path,
        },
      );
    slots[row] = numeric ? BigInt(id) : id;
  }
  return { files: files.map((name) => join(dir, String(name))), ids };
}

/** The .npy/.npz files named by `inputs` (files, or directories read in name order). */
export function listNpyFiles(inputs: readonly string[]): string[] {
  const files = inputs.flatMap((input) =>
    statSync(input).isDirectory()
      ? readdirSync(input)
          .filter((name) => /\.(npy|npz)$/.test(name))
          .sort()
          .map((name) => join(input, name))
      : [input],
  );
  if (files.length === 0) throw new InvalidArgumentError(`no .npy or .npz files in ${inputs.join(', ')}`);
  return files;
}

/**
 * Memory for the bytes of .npy files, reused once the writer lets go of it (`writeDataset`'s
 * `releaseBuffer`, given {@link FileBuffers.give}): after the first few files a conversion reads into
 * memory it already has instead of allocating, faulting in and garbage-collecting every file's bytes.
 */
export class FileBuffers {
  private readonly free: ArrayBuffer[] = [];
  private readonly own = new WeakSet<ArrayBufferLike>();

  /** `bytes` bytes of a free buffer (or a new one when none is free and large enough). */
  take(bytes: number): Uint8Array {
    const at = this.free.findIndex((buffer) => buffer.byteLength >= bytes);
    const buffer = at >= 0 ? (this.free.splice(at, 1)[0] as ArrayBuffer) : new ArrayBuffer(bytes);
    this.own.add(buffer);
    return new Uint8Array(buffer, 0, bytes);
  }

  /** Takes back a buffer that {@link take} handed out; other buffers are not this pool's and are left alone. */
  readonly give = (buffer: ArrayBufferLike): void => {
    if (this.own.has(buffer)) this.free.push(buffer as ArrayBuffer);
  };
}

/**
 * The record batches of `files`, one per file; `column` names the column of plain .npy files (default:
 * the first file's name without extension). With `ids` (an indexed directory), an `id` column comes first.
 * With `buffers`, .npy files are read into its memory, which must not be reused before the consumer of
 * the batches gives it back.
 */
export async function* npyBatches(
  files: readonly string[],
  column?: string,
  ids?: (bigint | string)[][],
  buffers?: FileBuffers,
): AsyncGenerator<arrow.RecordBatch> {
  let schema: arrow.Schema | undefined;
  const name = column ?? basename(files[0] ?? 'data', extname(files[0] ?? ''));
  for await (const [index, path, file] of readAhead(files, buffers)) {
    const arrays = arraysOf(path, file, name);
    const rows = arrays[0]?.[1].shape[0] ?? 0;
    const fileIds = ids?.[index];
    const idVector = fileIds && idColumn(fileIds, rows, path);
    const arrayFields = arrays.map(([n, array]) => {
      if (array.shape[0] !== rows)
        throw new InvalidArgumentError(
          `${path}: array "${n}" has ${array.shape[0]} rows, "${arrays[0]?.[0]}" has ${rows}`,
          {
            path,
          },
        );
      return npyField(n, array);
    });
    const fields = idVector ? [new arrow.Field('id', idVector.type, false), ...arrayFields] : arrayFields;
    const fileSchema = new arrow.Schema(fields);
    if (schema && !sameFields(schema, fileSchema)) {
      throw new InvalidArgumentError(
        `${path}: its arrays (${describe(fileSchema)}) differ from the first file's (${describe(schema)})`,
        { path },
      );
    }
    schema ??= fileSchema;
    const children = arrays.map(([, array], i) => columnData(arrayFields[i] as arrow.Field, array));
    if (idVector) children.unshift(idVector.data[0] as arrow.Data);
    yield new arrow.RecordBatch(
      schema,
      arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows, nullCount: 0, children }),
    );
  }
}

/** Bytes of input files read ahead of the one being converted (at least one file is). */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/** The whole file at `path` (`into.length` bytes long when stat'ed) read into `into`. */
async function readInto(path: string, into: Uint8Array): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    let at = 0;
    while (at < into.length) {
      const { bytesRead } = await handle.read(into, at, into.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return into.subarray(0, at);
  } finally {
    await handle.close();
  }
}

/**
 * The files' bytes in order, as [index, path, bytes]. Reads run on libuv's threadpool up to
 * READ_AHEAD_BYTES ahead, so they overlap with the encoding and writing of the files before them.
 * .npy files go into `buffers` when given (.npz archives are unzipped into new memory anyway).
 */
async function* readAhead(
  files: readonly string[],
  buffers: FileBuffers | undefined,
): AsyncGenerator<[number, string, Uint8Array]> {
  const ahead: { path: string; bytes: number; read: Promise<Uint8Array> }[] = [];
  let aheadBytes = 0;
  let next = 0;
  for (let index = 0; index < files.length; index++) {
    while (next < files.length && (ahead.length === 0 || aheadBytes < READ_AHEAD_BYTES)) {
      const path = files[next++] as string;
      let bytes: number;
      try {
        bytes = statSync(path).size;
      } catch (cause) {
        throw fsError('reading the input file', path, cause);
      }
      const read = buffers && extname(path) === '.npy' ? readInto(path, buffers.take(bytes)) : readFile(path);
      // Rejections are handled where the read is awaited; this keeps one that is never awaited quiet.
      read.catch(() => undefined);
      ahead.push({ path, bytes, read });
      aheadBytes += bytes;
    }
    const { path, bytes, read } = ahead.shift() as (typeof ahead)[number];
    aheadBytes -= bytes;
    let file: Uint8Array;
    try {
      file = await read;
    } catch (cause) {
      throw fsError('reading the input file', path, cause);
    }
    yield [index, path, file];
  }
}

/** The id column of one indexed file: every row must have an id. */
function idColumn(ids: (bigint | string)[], rows: number, path: string): arrow.Vector {
  const missing = Array.from({ length: rows }, (_, r) => r).find((r) => ids[r] === undefined);
  if (missing !== undefined || ids.length !== rows)
    throw new InvalidArgumentError(`${path}: the index gives no id to row ${missing ?? rows} of its ${rows} rows`, {
      path,
    });
  return typeof ids[0] === 'bigint'
    ? arrow.makeVector(BigInt64Array.from(ids as bigint[]))
    : arrow.vectorFromArray(ids as string[], new arrow.Utf8());
}

function describe(schema: arrow.Schema): string {
  return schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ');
}

function sameFields(a: arrow.Schema, b: arrow.Schema): boolean {
  return describe(a) === describe(b);
}

/**
 * Blob values behind their descriptors. A blob column stores, per row, where its bytes are, not the
 * bytes (a take or scan returns those descriptors, as LanceDB's queries do); `dataset.takeBlobs` turns
 * descriptors into lazy {@link BlobHandle}s that read only the ranges asked for:
 *
 *   legacy blob (2.0, 2.1)   (position, size)             → bytes [position, position + size) of the data file
 *   blob v2 (2.2), by kind   0 inline                     → the same, in the data file
 *                            1 packed, 2 dedicated sidecar → data/<data file stem>/<blob_id name>.blob
 *                            3 external                   → blob_uri: local datasets, file: URIs under
 *                                                           options.externalRoots; remote datasets, a URI
 *                                                           relative to the dataset or an absolute one under it
 *
 * Every descriptor is checked against the size of the file it points into before a handle is made, so
 * a damaged descriptor is a CorruptFileError naming the file, column and row, never a huge allocation.
 * Sidecar and external files are opened once per dataset (through its storage: a remote one learns a
 * file's size from a 2-byte GET, and each read is then one ranged GET of just the bytes asked for) and
 * closed with it.
 */
import { isAbsolute, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { addReadStats, emptyReadStats, FileSource, type ByteSource, type ReadStats } from '../io/source.js';
import type { DatasetStorage } from './storage.js';

/** A lazy handle on one blob value: nothing is read until `read` or `arrayBuffer` is called. */
export interface BlobHandle {
  /** Bytes of the value, from its descriptor (no read). */
  readonly size: number;
  /** Reads `length` bytes (default: to the end) from `offset` (default 0) of the value. */
  read(offset?: number, length?: number): Promise<Uint8Array>;
  /** Reads the whole value. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * A handle and where its bytes lie, for readers that batch many values into memory of their own (the
 * DataLoader's workers, decode-workers/blob-fill.ts); not part of the public API.
 */
export interface BlobRange extends BlobHandle {
  readonly source: ByteSource;
  /** Byte offset of the value in `source`. */
  readonly position: number;
}

/** Options of `dataset.takeBlobs`. */
export interface TakeBlobsOptions {
  /**
   * Directories whose files external blobs (blob v2 kind 3, `file:` URIs) of a local dataset may be read
   * from; default none. An external blob outside them, or with another scheme, gets an `UnsupportedError`.
   * A remote dataset's external blobs are read when their URI is relative to the dataset or lies under
   * it (the same store and credentials); others get an `UnsupportedError`.
   */
  externalRoots?: readonly string[];
}

/** Where the descriptor of one requested row was read: its data file and column, and the row. */
export interface BlobOrigin {
  source: ByteSource;
  /** The data file and column, for error messages. */
  where: string;
  /** The row (visible offset) asked for. */
  row: number;
}

/**
 * Blob v2 descriptor kinds. 0–2 are what LanceDB 0.39 writes for small, large and very large values; 3
 * (a URI outside the dataset) is written only through Lance's external-base options.
 */
const INLINE = 0;
const PACKED = 1;
const DEDICATED = 2;
const EXTERNAL = 3;

/** Sidecar and external files opened for blobs, shared by a dataset's takeBlobs calls. */
export class BlobFiles {
  private readonly opened = new Map<string, Promise<ByteSource>>();

  /** `storage`: the dataset's, which opens the files; undefined: local files, every symlink followed. */
  constructor(private readonly storage: DatasetStorage | undefined) {}

  /** The root external blobs must lie under when the dataset is remote, else undefined. */
  get remoteRoot(): string | undefined {
    return this.storage?.remote ? this.storage.root : undefined;
  }

  /** `external`: a file outside the dataset's folders (a local one is not held to its symlink policy). */
  open(path: string, what: string, external = false): Promise<ByteSource> {
    let source = this.opened.get(path);
    if (!source) {
      source = this.storage ? this.storage.openBlobFile(path, what, external) : FileSource.open(path, { what });
      source.catch(() => this.opened.delete(path));
      this.opened.set(path, source);
    }
    return source;
  }

  /** What every file opened here has read so far. */
  async stats(): Promise<ReadStats> {
    const total = emptyReadStats();
    for (const source of await Promise.all(this.opened.values())) addReadStats(total, source.stats);
    return total;
  }

  async close(): Promise<void> {
    const sources = [...this.opened.values()];
    this.opened.clear();
    await Promise.all(sources.map(async (s) => (await s.catch(() => undefined))?.close()));
  }
}

/** The 32-character sidecar name of a blob id: its bits, least significant first (as Lance names it). */
export function sidecarName(blobId: number): string {
  let name = '';
  for (let bit = 0; bit < 32; bit++) name += (blobId >>> bit) & 1 ? '1' : '0';
  return `${name}.blob`;
}

/**
 * Handles for the descriptors in `descriptors` (a legacy or v2 descriptor struct, one row per
 * origin): null where the blob is null.
 */
export async function createBlobHandles(
  descriptors: arrow.Data<arrow.Struct>,
  origins: (BlobOrigin | null)[],
  files: BlobFiles,
  options: TakeBlobsOptions,
): Promise<(BlobRange | null)[]> {
  const vector = arrow.makeVector(descriptors);
  const child = (name: string) => vector.getChild(name);
  const [positions, sizes, kinds, ids, uris] = ['position', 'size', 'kind', 'blob_id', 'blob_uri'].map(child);
  const roots = checkExternalRoots(options.externalRoots);
  return Promise.all(
    origins.map(async (origin, i) => {
      if (!origin || !vector.isValid(i)) return null;
      const at = `${origin.where}: row ${origin.row}`;
      const position = safeNumber(positions?.get(i), `${at}: blob position`);
      const size = safeNumber(sizes?.get(i), `${at}: blob size`);
      const kind = kinds ? (kinds.get(i) as number) : INLINE;
      if (kind === INLINE) return blobIn(origin.source, position, size, `${at} (inline blob)`);
      if (kind === PACKED || kind === DEDICATED) {
        // A '/' join: the path may be a URL, where path.join would fold "s3://" into "s3:/".
        const path = `${origin.source.path.replace(/\.lance$/, '')}/${sidecarName(ids?.get(i) as number)}`;
        const source = await files.open(path, 'blob sidecar file');
        return blobIn(source, position, size, `${at} (blob in sidecar ${path})`);
      }
      if (kind === EXTERNAL) {
        const uri = String(uris?.get(i) ?? '');
        const base = (ids?.get(i) as number | null) ?? 0;
        // LanceDB stores a URI under a registered external base relative to it, with the base's id here.
        if (base !== 0)
          throw new UnsupportedError(
            `${at}: external blob "${uri}" is relative to the dataset's external base ${base}, which lance-loader cannot read`,
            { row: origin.row, base },
          );
        const remoteRoot = files.remoteRoot;
        const path = remoteRoot === undefined ? externalPath(uri, roots, at) : remoteExternalUrl(uri, remoteRoot, at);
        const source = await files.open(path, 'external blob file', true);
        // LanceDB records size 0 for an external file it did not measure, and reads it as the whole file.
        const length = size === 0 ? Math.max(0, source.size - position) : size;
        return blobIn(source, position, length, `${at} (external blob ${path})`);
      }
      throw new CorruptFileError(`${at}: blob descriptor of unknown kind ${kind}`, { row: origin.row, kind });
    }),
  );
}

/** `roots` (options.externalRoots) checked and resolved to absolute paths; [] when not given. */
export function checkExternalRoots(roots: readonly string[] | undefined): string[] {
  if (roots === undefined) return [];
  if (!Array.isArray(roots) || roots.some((r) => typeof r !== 'string'))
    throw new InvalidArgumentError('options.externalRoots must be an array of directory paths');
  return roots.map((r) => resolve(r));
}

/** The local path of an external blob's URI, when it is a file: URI under one of `roots`. */
function externalPath(uri: string, roots: string[], at: string): string {
  const shown = uri.replace(/[?#].*$/, '');
  if (!uri.startsWith('file:'))
    throw new UnsupportedError(
      `${at}: external blob "${shown}" is not a local file: URI, which lance-loader cannot read`,
      {
        uri: shown,
      },
    );
  const path = fileURLToPath(uri);
  const under = roots.some((root) => {
    const rel = relative(root, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  });
  if (!under)
    throw new UnsupportedError(
      `${at}: external blob ${path} is outside options.externalRoots (${roots.join(', ') || 'none given'})`,
      { path, externalRoots: roots },
    );
  return path;
}

/**
 * The URL of a remote dataset's external blob: `uri` relative to the dataset root `root`, or absolute and
 * under it (the store the dataset's storage options reach); anything else is refused.
 */
function remoteExternalUrl(uri: string, root: string, at: string): string {
  const shown = uri.replace(/[?#].*$/, '');
  const rootUrl = new URL(`${root}/`);
  let url: URL | undefined;
  try {
    url = /^[a-z][a-z0-9+.-]*:/i.test(uri) ? new URL(uri) : new URL(posix.normalize(uri), rootUrl);
  } catch {
    url = undefined;
  }
  const under =
    url !== undefined &&
    url.protocol === rootUrl.protocol &&
    url.host === rootUrl.host &&
    url.search === '' &&
    url.pathname.startsWith(rootUrl.pathname) &&
    url.pathname.length > rootUrl.pathname.length;
  if (!url || !under)
    throw new UnsupportedError(
      `${at}: external blob "${shown}" lies outside the dataset ${root}; a remote dataset's external blobs are read only under it`,
      { uri: shown, root },
    );
  return `${root}/${decodeURIComponent(url.pathname.slice(rootUrl.pathname.length))}`;
}

function safeNumber(value: bigint | null | undefined, what: string): number {
  const big = value ?? 0n;
  if (big > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CorruptFileError(`${what} is ${big}, beyond any file size`, { value: String(big) });
  return Number(big);
}

/** A handle on bytes [position, position + size) of `source`, checked to lie inside it. */
function blobIn(source: ByteSource, position: number, size: number, where: string): BlobRange {
  if (position + size > source.size)
    throw new CorruptFileError(
      `${where}: the descriptor points at bytes ${position}..${position + size}, past the end of ${source.path} (${source.size} bytes)`,
      { path: source.path, position, size, fileSize: source.size },
    );
  const read = async (offset = 0, length = size - offset): Promise<Uint8Array> => {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size)
      throw new InvalidArgumentError(`blob read offset must be an integer from 0 to ${size}, got ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > size)
      throw new InvalidArgumentError(
        `blob read length must be an integer from 0 to ${size - offset} (the blob has ${size} bytes), got ${length}`,
      );
    if (length === 0) return new Uint8Array(0);
    const [bytes] = await source.readRanges([{ offset: position + offset, size: length }]);
    return bytes as Uint8Array;
  };
  return {
    size,
    source,
    position,
    read,
    arrayBuffer: async () => {
      const bytes = await read();
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      return (whole ? bytes : bytes.slice()).buffer as ArrayBuffer;
    },
  };
}

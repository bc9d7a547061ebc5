/**
 * Blob values behind their descriptors. A blob column stores, per row, where its bytes are, not the
 * bytes (a take or scan returns those descriptors, as LanceDB's queries do); `dataset.takeBlobs` turns
 * descriptors into lazy {@link BlobHandle}s that read only the ranges asked for:
 *
 *   legacy blob (2.0, 2.1)   (position, size)             → bytes [position, position + size) of the data file
 *   blob v2 (2.2), by kind   0 inline                     → the same, in the data file
 *                            1 packed, 2 dedicated sidecar → data/<data file stem>/<blob_id name>.blob
 *                            3 external, blob_id 0        → blob_uri: local datasets, file: URIs under
 *                                                           options.externalRoots; remote datasets, a URI
 *                                                           relative to the dataset or an absolute one under it
 *                            3 external, blob_id = a base  → blob_uri relative to that base of the manifest's
 *                                                           base_paths, held to the same rules (a local base's
 *                                                           files under options.externalRoots, a remote one's
 *                                                           under the dataset); never a `..` out of the base
 *
 * Size 0 on an external blob is the whole file from its position: LanceDB records 0 for a file it did
 * not measure (it never stats one when writing) and reads it that way.
 *
 * Every descriptor is checked against the size of the file it points into before a handle is made, so
 * a damaged descriptor is a CorruptFileError naming the file, column and row, never a huge allocation.
 * Sidecar and external files are opened once per dataset (through its storage: a remote one learns a
 * file's size from a 2-byte GET, and each read is then one ranged GET of just the bytes asked for) and
 * closed with it.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import { CorruptFileError, InvalidArgumentError, IoError, UnsupportedError } from '../errors.js';
import type { BasePathProto } from '../format/proto/messages.js';
import { FileSource, type ByteSource, type ReadStats } from '../io/source.js';
import type { DatasetStorage } from './storage.js';
import { OpenFiles } from './open-files.js';

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
   * This holds for blobs relative to an external base the manifest registers too: the manifest names the
   * base, the caller allows it (`externalRoots: ['/data/media']` for a base at `file:///data/media`).
   * A remote dataset's external blobs are read when their URI is relative to the dataset or lies under
   * it (the same store and credentials), through a base or not; others get an `UnsupportedError`.
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
export const INLINE = 0;
const PACKED = 1;
const DEDICATED = 2;
export const EXTERNAL = 3;

/** How many blob files a dataset keeps open when none is being read (dataset/open-files.ts). */
const MAX_OPEN_BLOB_FILES = 128;

/** Sidecar and external files opened for blobs, shared by a dataset's takeBlobs calls. */
export class BlobFiles {
  private readonly opened: OpenFiles;
  private closed = false;
  private readonly bases: ReadonlyMap<number, BasePathProto>;

  /**
   * `storage`: the dataset's, which opens the files; undefined: local files, every symlink followed.
   * `bases`: the manifest's base_paths, which base-relative external blobs name by id. `maxOpen`: how many
   * files stay open when none of them is in use.
   */
  constructor(
    private readonly storage: DatasetStorage | undefined,
    bases: readonly BasePathProto[] = [],
    maxOpen = MAX_OPEN_BLOB_FILES,
  ) {
    this.bases = new Map(bases.map((base) => [base.id, base]));
    this.opened = new OpenFiles(maxOpen);
  }

  /** The base registered under `id`, or a CorruptFileError naming the ids there are. */
  base(id: number, at: string): BasePathProto {
    const base = this.bases.get(id);
    if (!base)
      throw new CorruptFileError(
        `${at}: external blob names external base ${id}, which the manifest does not register (bases: ${[...this.bases.keys()].join(', ') || 'none'})`,
        { base: id },
      );
    return base;
  }

  /** The root external blobs must lie under when the dataset is remote, else undefined. */
  get remoteRoot(): string | undefined {
    return this.storage?.remote ? this.storage.root : undefined;
  }

  /**
   * The source of `path`, in use until {@link release} (takeBlobs' handles keep theirs open until the
   * dataset closes). `external`: a file outside the dataset's folders (a local one is not held to its
   * symlink policy).
   */
  open(path: string, what: string, external = false): Promise<ByteSource> {
    if (this.closed) return Promise.reject(closedError(path, what));
    return this.opened.acquire(path, async () => {
      const opened = await (this.storage
        ? this.storage.openBlobFile(path, what, external)
        : FileSource.open(path, { what }));
      // An open still in flight when close() runs is closed as it completes, and its caller told why.
      if (!this.closed) return opened;
      await opened.close();
      throw closedError(path, what);
    });
  }

  /** Ends the use of the files of `ranges` that open() gave, once their values are read. */
  release(ranges: readonly (BlobRange | null)[]): void {
    for (const range of ranges) if (range) this.opened.release(range.source);
  }

  /** What every file opened here has read so far. */
  stats(): Promise<ReadStats> {
    return this.opened.stats();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.opened.close();
  }
}

function closedError(path: string, what: string): IoError {
  return new IoError(`${what} ${path} cannot be opened: its dataset is closed`, { path });
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
        const baseId = (ids?.get(i) as number | null) ?? 0;
        const remoteRoot = files.remoteRoot;
        let path: string;
        if (baseId !== 0) path = basedPath(files.base(baseId, at), uri, roots, remoteRoot, at);
        else path = remoteRoot === undefined ? externalPath(uri, roots, at) : remoteExternalUrl(uri, remoteRoot, at);
        const source = await files.open(path, 'external blob file', true).catch((cause: unknown) => {
          const shown = uri.replace(/[?#].*$/, '');
          if (!(cause instanceof IoError)) throw cause;
          throw new IoError(
            `${at}: external blob "${shown}" cannot be read: ${cause.message}`,
            {
              row: origin.row,
              uri: shown,
              path,
            },
            { cause },
          );
        });
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
  const path = uri.startsWith('file:') ? localPathOf(uri) : undefined;
  if (path === undefined)
    throw new UnsupportedError(
      `${at}: external blob "${shown}" is not a local file: URI, which lance-loader cannot read`,
      {
        uri: shown,
      },
    );
  return underRoots(path, roots, at);
}

/** The local path of a file: URL, or undefined when it names none (another host, bad escapes). */
function localPathOf(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

/** `path` when it lies under one of `roots`, else an UnsupportedError naming them and the root to add. */
function underRoots(path: string, roots: string[], at: string): string {
  if (!roots.some((root) => isStrictlyUnder(root, path)))
    throw new UnsupportedError(
      `${at}: external blob ${path} is outside options.externalRoots (${roots.join(', ') || 'none given'}); ` +
        `to read it, add a directory holding it, e.g. externalRoots: [${JSON.stringify(dirname(path))}]`,
      { path, externalRoots: roots },
    );
  return path;
}

function isStrictlyUnder(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** The local directory of a base path (a file: URL or an absolute path, as Lance takes it), else undefined. */
export function localBaseDirectory(base: BasePathProto): string | undefined {
  const path = base.path.startsWith('file:') ? localPathOf(base.path) : base.path;
  // Resolved, so one directory is one string however it was spelled (a trailing '/', a file: URL).
  return path !== undefined && isAbsolute(path) ? resolve(path) : undefined;
}

/**
 * Where an external blob relative to `base` lies: `uri` (a relative path, as LanceDB stores it) under
 * the base's directory, itself held to the rules for absolute external blobs: a local dataset's base is
 * a local directory (file: URL or absolute path) and the file lies under options.externalRoots; a
 * remote dataset's base lies under the dataset. A `uri` that is absolute or climbs out of its base with
 * `..` is a CorruptFileError: LanceDB never writes one.
 */
function basedPath(
  base: BasePathProto,
  uri: string,
  roots: string[],
  remoteRoot: string | undefined,
  at: string,
): string {
  const named = `external base ${base.id} (${base.path.replace(/[?#].*$/, '')})`;
  const parts = pathSegments(uri);
  if (!parts || /^[a-z][a-z0-9+.-]*:/i.test(uri))
    throw new CorruptFileError(`${at}: external blob "${uri}" of ${named} is not a path inside its base`, {
      uri,
      base: base.id,
    });
  if (remoteRoot !== undefined) {
    const rootUrl = new URL(`${remoteRoot}/`);
    let baseUrl: URL | undefined;
    try {
      baseUrl = new URL(base.path.endsWith('/') ? base.path : `${base.path}/`);
    } catch {
      baseUrl = undefined;
    }
    const inside =
      baseUrl?.protocol === rootUrl.protocol &&
      baseUrl.host === rootUrl.host &&
      baseUrl.search === '' &&
      baseUrl.hash === '' &&
      baseUrl.pathname.startsWith(rootUrl.pathname);
    if (!baseUrl || !inside)
      throw new UnsupportedError(
        `${at}: external blob "${uri}" is relative to ${named}, outside the dataset ${remoteRoot}; a remote dataset's external blobs are read only under it`,
        { uri, base: base.id, root: remoteRoot },
      );
    return remoteExternalUrl(joinUrl(baseUrl, parts), remoteRoot, at);
  }
  const dir = localBaseDirectory(base);
  if (dir === undefined)
    throw new UnsupportedError(
      `${at}: external blob "${uri}" is relative to ${named}, which is not a local directory (a file: URL or an absolute path); a local dataset's external bases must be`,
      { uri, base: base.id },
    );
  return underRoots(resolve(dir, ...parts), roots, at);
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
    if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) url = new URL(uri);
    else {
      const parts = pathSegments(uri);
      url = parts && new URL(joinUrl(rootUrl, parts));
    }
  } catch {
    url = undefined;
  }
  const under =
    url !== undefined &&
    url.protocol === rootUrl.protocol &&
    url.host === rootUrl.host &&
    url.search === '' &&
    url.hash === '' &&
    url.pathname.startsWith(rootUrl.pathname) &&
    url.pathname.length > rootUrl.pathname.length;
  if (!url || !under)
    throw new UnsupportedError(
      `${at}: external blob "${shown}" lies outside the dataset ${root}; a remote dataset's external blobs are read only under it`,
      { uri: shown, root },
    );
  try {
    return `${root}/${decodeURIComponent(url.pathname.slice(rootUrl.pathname.length))}`;
  } catch {
    throw new CorruptFileError(`${at}: external blob "${shown}" has a malformed %-escape in its path`, {
      uri: shown,
    });
  }
}

/**
 * The segments of `uri`, a stored relative path (a path, never a URL: '#', '?' and '%' are file name
 * characters); undefined when one is empty, '.', '..' or holds a backslash.
 */
function pathSegments(uri: string): string[] | undefined {
  const parts = uri.split('/');
  return parts.every((p) => p !== '' && p !== '.' && p !== '..' && !p.includes('\\')) ? parts : undefined;
}

/** The URL of path `parts` under `dir` (a URL ending in '/'), each segment escaped so it stays one name. */
function joinUrl(dir: URL, parts: string[]): string {
  return dir.href + parts.map(encodeURIComponent).join('/');
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

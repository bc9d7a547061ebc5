/**
 * Where a dataset's files come from: a local directory, or an object store (S3, or an http(s) server
 * answering Range requests). `Dataset` reads manifests, deletion files and data files through this one
 * interface, so the read path (plan → read → decode) is the same for both.
 *
 *   local:  readdir(_versions/) · regular files only (regular-file.ts) · FileSource (buffered preads)
 *   s3:     ListObjectsV2 of _versions/ · whole-object GETs · RemoteSource (ranged GETs, tail read on open)
 *   http:   _versions/_latest.manifest, or the version asked for by name · same GETs as s3
 *
 * Names inside a dataset (from its manifest) are checked to stay inside it before anything is opened.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CorruptFileError, InternalError, InvalidArgumentError, IoError } from '../errors.js';
import { versionOfManifestName } from '../format/manifest.js';
import { readRegularFile } from '../io/regular-file.js';
import { FileSource, type ByteSource } from '../io/source.js';
import { ObjectStore } from '../io/remote/object-store.js';
import { RangeCache } from '../io/remote/range-cache.js';
import { resolveRemoteIo, type RemoteIoOptions, type ResolvedRemoteIo } from '../io/remote/remote-options.js';
import { RemoteSource } from '../io/remote/remote-source.js';
import type { RequestPermits } from '../io/remote/shared-permits.js';
import type { StorageOptions } from '../io/remote/storage-options.js';
import { explainNotADataset } from './location.js';

/** A manifest file of `_versions/`: its version and file name. */
export interface ManifestEntry {
  /** 0 for `_latest.manifest` over http(s), whose version only its contents tell. */
  version: number;
  file: string;
}

/** A file read whole: its bytes and its full name, for messages. */
export interface WholeFile {
  bytes: Uint8Array;
  path: string;
}

export interface DatasetStorage {
  /** The dataset directory (absolute) or URL (without credentials or query string). */
  readonly root: string;
  /** The manifests of `_versions/`, oldest first; `wanted`, when the storage cannot list, is the one asked for. */
  listManifests(wanted: number | undefined): Promise<ManifestEntry[]>;
  /** Reads a file named relative to the root (`_versions/…`, `_deletions/…`), refusing one larger than `maxBytes`. */
  readWhole(name: string, what: string, maxBytes: number): Promise<WholeFile>;
  /** Opens data file `name` (relative to `data/`) whose manifest records `sizeBytes` (0: not recorded). */
  openDataFile(name: string, sizeBytes: number): Promise<ByteSource>;
  /**
   * Opens a file blob descriptors point at, by its full path or URL: a sidecar under the dataset's data/,
   * or (`external`) an external blob's file, already checked by the caller to be one it may read.
   */
  openBlobFile(path: string, what: string, external: boolean): Promise<ByteSource>;
  /** Ends requests in flight (remote); local files are closed by their sources. */
  close(): void;
  /** How a remote dataset was opened (workers open it the same way), or undefined for a local one. */
  readonly remote: RemoteAccess | undefined;
}

/** How a remote dataset is reached: its storage options as given and the resolved request settings. */
export interface RemoteAccess {
  storage: StorageOptions | undefined;
  io: ResolvedRemoteIo;
  /** In a loader's DatasetRef: the request permits its workers share (io's concurrency and bytesInFlight in total). */
  permits?: RequestPermits;
}

/** `name` (from a manifest) resolved under `root`, or a CorruptFileError when it escapes it. */
export function insideDirectory(root: string, name: string, what: string, manifestPath?: string): string {
  const full = resolve(root, name);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
    const source = manifestPath ? `${manifestPath}: manifest` : 'manifest';
    throw new CorruptFileError(`${source} names ${what} "${name}", which lies outside ${root}`, {
      path: name,
      root,
      manifest: manifestPath,
    });
  }
  return full;
}

/** A local dataset directory; `inside` is the real path every file must resolve inside (undefined: follow every symlink). */
export class LocalStorage implements DatasetStorage {
  readonly remote = undefined;

  constructor(
    readonly root: string,
    readonly inside: string | undefined,
  ) {}

  static async open(path: string, followSymlinks: 'inside' | 'all'): Promise<LocalStorage> {
    const root = resolve(path);
    // A root that does not resolve is not a dataset: listing it says so, naming what it is instead.
    const inside = followSymlinks === 'inside' ? await realpath(root).catch(() => root) : undefined;
    return new LocalStorage(root, inside);
  }

  async listManifests(): Promise<ManifestEntry[]> {
    const { root } = this;
    let names: string[];
    try {
      if (!(await stat(root)).isDirectory()) throw new IoError(`${root} is not a directory`, { path: root });
      names = await readdir(join(root, '_versions'));
    } catch (cause) {
      // A LanceDB database folder or a data file is a common mistake: say what it is and what to pass.
      const explained = await explainNotADataset(root);
      if (explained) throw explained;
      if (cause instanceof IoError) throw cause;
      throw new IoError(
        `${root} is not a Lance dataset (cannot list _versions/: ${(cause as Error).message})`,
        { path: root },
        { cause },
      );
    }
    return manifestEntries(names);
  }

  async readWhole(name: string, what: string, maxBytes: number): Promise<WholeFile> {
    const path = join(this.root, name);
    return { bytes: await readRegularFile(path, { what, maxBytes, inside: this.inside }), path };
  }

  openDataFile(name: string): Promise<ByteSource> {
    return FileSource.open(insideDirectory(join(this.root, 'data'), name, 'data file'), { inside: this.inside });
  }

  openBlobFile(path: string, what: string, external: boolean): Promise<ByteSource> {
    return FileSource.open(path, { what, inside: external ? undefined : this.inside });
  }

  close(): void {}
}

/** A dataset in an object store: `s3://bucket/prefix/table.lance` or `http(s)://host/path/table.lance`. */
export class RemoteStorage implements DatasetStorage {
  readonly root: string;

  private constructor(
    private readonly store: ObjectStore,
    readonly remote: RemoteAccess,
    private readonly cache: RangeCache | undefined,
  ) {
    this.root = store.root;
  }

  /** Checks the options (`remote` found at `options.<at>`); nothing is requested until the manifests are listed. */
  static open(
    url: string,
    storage: StorageOptions | undefined,
    remote: RemoteIoOptions | undefined,
    at: string,
  ): RemoteStorage {
    const io = resolveRemoteIo(remote, at);
    const store = ObjectStore.open(url, storage, io);
    const cache = io.cacheDir !== undefined ? new RangeCache(io.cacheDir, io.cacheBytes) : undefined;
    return new RemoteStorage(store, { storage, io }, cache);
  }

  async listManifests(wanted: number | undefined): Promise<ManifestEntry[]> {
    if (this.store.canList) {
      const listed = manifestEntries((await this.store.list('_versions')).map((o) => o.name));
      if (listed.length === 0)
        throw new IoError(`${this.root} is not a Lance dataset: _versions/ holds no manifest`, { url: this.root });
      return listed;
    }
    return wanted === undefined ? [await this.latestOverHttp()] : this.versionOverHttp(wanted);
  }

  async readWhole(name: string, what: string, maxBytes: number): Promise<WholeFile> {
    const path = `${this.root}/${name}`;
    const { bytes } = await this.store.get(name, undefined);
    if (bytes.length > maxBytes)
      throw new CorruptFileError(`${what} ${path} is ${bytes.length} bytes, more than a ${what} can be (${maxBytes})`, {
        url: path,
        size: bytes.length,
      });
    return { bytes, path };
  }

  openDataFile(name: string, sizeBytes: number): Promise<ByteSource> {
    const key = relative('/data', insideDirectory('/data', name, 'data file'));
    return RemoteSource.open(
      this.store,
      `data/${key}`,
      this.remote.io,
      sizeBytes > 0 ? sizeBytes : undefined,
      this.cache,
    );
  }

  openBlobFile(path: string, what: string): Promise<ByteSource> {
    if (!path.startsWith(`${this.root}/`))
      throw new InternalError(`${what} ${path} is not under the dataset ${this.root}`, { path, root: this.root });
    return RemoteSource.openUntailed(this.store, path.slice(this.root.length + 1), this.remote.io, this.cache);
  }

  close(): void {
    this.store.close();
    void this.cache?.close();
  }

  /** The latest version of a dataset served over http(s), which cannot be listed: `_versions/_latest.manifest`. */
  private async latestOverHttp(): Promise<ManifestEntry> {
    try {
      await this.store.get('_versions/_latest.manifest', { offset: 0, size: 1 });
    } catch (error) {
      if ((error as IoError).details?.status !== 404) throw error;
      throw new InvalidArgumentError(
        `${this.root} is served over http(s), which cannot list versions, and has no _versions/_latest.manifest: pass the version to open, e.g. { version: 3 }`,
        { url: this.root, option: 'version' },
      );
    }
    return { version: 0, file: '_latest.manifest' };
  }

  /** Version `version` over http(s): its manifest under V2 naming (what Lance writes now), else V1. */
  private async versionOverHttp(version: number): Promise<ManifestEntry[]> {
    const v2 = `${((1n << 64n) - 1n - BigInt(version)).toString().padStart(20, '0')}.manifest`;
    for (const file of [v2, `${version}.manifest`]) {
      try {
        await this.store.get(`_versions/${file}`, { offset: 0, size: 1 });
        return [{ version, file }];
      } catch (error) {
        if ((error as IoError).details?.status !== 404) throw error;
      }
    }
    throw new InvalidArgumentError(
      `${this.root} has no version ${version} (neither _versions/${v2} nor _versions/${version}.manifest exists)`,
      {
        url: this.root,
        version,
      },
    );
  }
}

/**
 * Opens the object at `url` on its own (a data file, for openFile): its store is rooted at the URL's
 * folder and closed with the source.
 */
export async function openRemoteFile(
  url: string,
  storage: StorageOptions | undefined,
  remote: RemoteIoOptions | undefined,
): Promise<ByteSource> {
  const io = resolveRemoteIo(remote, 'remote');
  const parsed = new URL(url);
  const slash = parsed.pathname.lastIndexOf('/');
  const name = decodeURIComponent(parsed.pathname.slice(slash + 1));
  const store = ObjectStore.open(`${parsed.protocol}//${parsed.host}${parsed.pathname.slice(0, slash)}`, storage, io);
  try {
    // The size first, from a small range's Content-Range: s3rver answers a suffix range (the last n bytes)
    // with the first n, and bytes=0-0 with the whole object; two bytes it answers right.
    const { objectSize } = await store.get(name, { offset: 0, size: 2 });
    return await RemoteSource.open(store, name, io, objectSize, undefined, true);
  } catch (error) {
    store.close();
    throw error;
  }
}

function manifestEntries(names: readonly string[]): ManifestEntry[] {
  const versions: ManifestEntry[] = [];
  for (const file of names) {
    const version = versionOfManifestName(file);
    if (version !== undefined) versions.push({ version, file });
  }
  return versions.sort((a, b) => a.version - b.version);
}

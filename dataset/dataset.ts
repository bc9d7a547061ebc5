/**
 * `openDataset`: a Lance dataset directory (`_versions/*.manifest`, `data/*.lance`, `_deletions/`).
 *
 * Rows are addressed by visible offset: fragments in manifest order, each contributing its physical
 * rows minus its deleted rows (like LanceDB's `takeOffsets`). A take maps each offset to (fragment,
 * physical row), groups the rows by data file and reads them through the same plan → read → decode path
 * as single files (read-rows.ts), writing every value straight into its request slot.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { CorruptFileError, InternalError, InvalidArgumentError, IoError, UnsupportedError } from '../errors.js';
import { maxDeletionFileBytes, parseDeletionFile } from '../format/deletion.js';
import type { FileMetadata } from '../format/file-metadata.js';
import { parseManifest } from '../format/manifest.js';
import type { DataFileProto, ManifestProto } from '../format/proto/messages.js';
import { buildFieldTree, fieldPaths, packedFieldKind, toArrowSchema, type LanceField } from '../format/schema.js';
import { decodeWholePage } from '../decode-workers/encodings/decode-task.js';
import type { ColumnOutput } from '../decode-workers/encodings/output.js';
import { createPageCache, type DecodedPageBudget, type PageCache } from '../io/plan.js';
import { fetchFileMetadata } from '../io/open-file.js';
import { addReadStats, FileSource, type ByteSource, type ReadStats } from '../io/source.js';
import type { RemoteIoOptions } from '../io/remote/remote-options.js';
import type { StorageOptions } from '../io/remote/storage-options.js';
import {
  checkReadableFields,
  createOutputs,
  leafColumns,
  resultSchema,
  selectFields,
  toRecordBatch,
  type LeafColumn,
} from './columns.js';
import {
  BlobFiles,
  createBlobHandles,
  type BlobHandle,
  type BlobOrigin,
  type BlobRange,
  type TakeBlobsOptions,
} from './blobs.js';
import {
  checkBatchSize,
  checkOptionsArgument,
  summarizeFile,
  type FileSummary,
  type ScanOptions,
  type TakeOptions,
} from './file.js';
import { findIdRows, IdIndex, type RowId } from './id-index.js';
import { packedToData } from './packed-struct.js';
import { columnRead, readInline, type ColumnRead, type FileRead, type OutputTask } from './read-rows.js';
import { sortWithSlots, toRowOffsets } from './rows.js';
import { allSettledOrFirstError } from '../io/settle.js';
import { resolveLocation, type DatasetLocation, type LocationArgument } from './location.js';
import { insideDirectory, LocalStorage, RemoteStorage, type DatasetStorage, type RemoteAccess } from './storage.js';

/** Options of {@link Dataset.takeByIds}. */
export interface TakeByIdsOptions extends TakeOptions {
  /** The column holding the ids (default `'id'`). */
  idColumn?: string;
}

/** Options of {@link openDataset}. */
export interface OpenDatasetOptions {
  /** Version to open (time travel); default the latest. */
  version?: number;
  /**
   * Bytes of decoded pages of small columns (fixed-width ids and labels; strings and binaries of at most
   * 256 stored bytes a row) to keep for later reads (default 0: none). With a budget, the first read
   * touching such a page reads and decodes all of it, and later random takes copy from memory instead of
   * reading and decoding a whole chunk per row. The budget also keeps the repetition indexes of
   * variable-width full-zip pages (8 bytes a row), so later takes of large values read them in one round.
   * Kept first come, first served until the budget is spent; a page is read and charged once even when
   * several reads want it at the same time.
   */
  cacheBytes?: number;
  /**
   * Which symlinks among the dataset's files (manifests, data and deletion files) are followed:
   * `'inside'` (default) only those that resolve inside the dataset directory, others are refused with
   * an `IoError`; `'all'` every one, as Lance does. The dataset directory itself may be a symlink.
   */
  followSymlinks?: FollowSymlinks;
  /**
   * Credentials, region and endpoint of an `s3://` dataset, named as LanceDB's `storageOptions`
   * (`endpoint`, `region`, `aws_access_key_id`/`accessKeyId`, `aws_secret_access_key`,
   * `aws_session_token`, `allow_http`, `virtual_hosted_style_request`). Unset ones come from the `AWS_*`
   * environment variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …).
   */
  storage?: StorageOptions;
  /** How a remote dataset is read: requests in flight, timeouts, retries, the local range cache. */
  remote?: RemoteIoOptions;
}

/** See {@link OpenDatasetOptions.followSymlinks}. */
export type FollowSymlinks = 'inside' | 'all';

/**
 * Manifests larger than this are refused before they are read. A manifest lists every fragment with its
 * files (on the order of 100 bytes each), so this holds millions of fragments; a larger file is damage,
 * or not a manifest at all.
 */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** One fragment of the dataset as the manifest describes it. */
export interface FragmentInfo {
  id: number;
  /** Rows written to the fragment's files. */
  physicalRows: number;
  /** Rows deleted from it. */
  deletedRows: number;
  /** Visible rows (physical minus deleted). */
  numRows: number;
  /** Data files, relative to the dataset's `data/` directory, with the field ids each holds. */
  files: { path: string; fields: number[]; fileVersion: string; sizeBytes: number }[];
  /** The deletion file, relative to the dataset directory, if rows were deleted. */
  deletionFile: string | null;
}

/** A version of the dataset. */
export interface VersionInfo {
  version: number;
  /** Commit time, when the manifest records one. */
  timestamp: Date | null;
}

interface OpenDataFile {
  source: ByteSource;
  meta: FileMetadata;
  cache: PageCache;
  columnOf: Map<number, number>;
}

/**
 * Which of a fragment's data files hold which leaves of some fields, and the leaves it has no data for;
 * each file's column reads are added once the file is open.
 */
interface FragmentLeaves {
  files: { file: DataFileProto; leaves: LeafColumn[]; columns?: ColumnRead[] }[];
  missing: LeafColumn[];
}

interface Fragment {
  info: FragmentInfo;
  files: DataFileProto[];
  /** Sorted physical rows deleted from the fragment. */
  deleted: Uint32Array;
  /** deleted[j] - j, nondecreasing: visible rows before each deleted row. */
  deletedRank: Float64Array;
}

/** Reads and parses manifest `file` of `_versions/`, refusing what cannot be one. */
async function fetchManifest(
  storage: DatasetStorage,
  file: string,
): Promise<{ manifest: ManifestProto; path: string }> {
  const { bytes, path } = await storage.readWhole(`_versions/${file}`, 'manifest', MAX_MANIFEST_BYTES);
  return { manifest: parseManifest(bytes, path), path };
}

const OPEN_DATASET: LocationArgument = {
  name: 'openDataset(path)',
  accepts: 'a dataset directory: a path, a file:, s3:// or http(s):// URL, or a LanceDB Table',
  tables: true,
  remote: true,
};

/**
 * Opens a Lance dataset at its latest version (or `options.version`). `location` is a local path, a
 * `file:` URL, an `s3://bucket/prefix/table.lance` or `https://host/path/table.lance` URL (see
 * {@link OpenDatasetOptions.storage} and {@link OpenDatasetOptions.remote}), or an open LanceDB `Table`
 * (read at its location, latest version unless `options.version` says otherwise).
 */
export async function openDataset(location: DatasetLocation, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const where = resolveLocation(location, OPEN_DATASET);
  checkOptionsArgument(options, 'openDataset', '{ version: 3 }');
  if (options.version !== undefined && (!Number.isInteger(options.version) || options.version <= 0)) {
    throw new InvalidArgumentError(`options.version must be a positive integer, got ${String(options.version)}`);
  }
  const cacheBytes = options.cacheBytes ?? 0;
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0)
    throw new InvalidArgumentError(
      `options.cacheBytes must be a non-negative integer, got ${String(options.cacheBytes)}`,
    );
  const followSymlinks = options.followSymlinks ?? 'inside';
  if (followSymlinks !== 'inside' && followSymlinks !== 'all')
    throw new InvalidArgumentError(
      `options.followSymlinks must be 'inside' or 'all', got ${JSON.stringify(options.followSymlinks)}`,
    );
  const storage =
    where.kind === 'local'
      ? await LocalStorage.open(where.path, followSymlinks)
      : RemoteStorage.open(where.url, options.storage, options.remote, 'remote');
  try {
    const { root } = storage;
    const versions = await storage.listManifests(options.version);
    const latest = versions[versions.length - 1];
    if (latest === undefined)
      throw new IoError(`${root} is not a Lance dataset: _versions/ holds no manifest`, { path: root });
    const version = options.version ?? latest.version;
    const entry = versions.find((v) => v.version === version);
    if (!entry) {
      throw new InvalidArgumentError(
        `${root} has no version ${version}; its versions are ${versions.map((v) => v.version).join(', ')}`,
        { version },
      );
    }
    const { manifest, path } = await fetchManifest(storage, entry.file);
    return await Dataset.create(storage, manifest, path, { bytesLeft: cacheBytes }, followSymlinks);
  } catch (error) {
    storage.close();
    throw error;
  }
}

/** A Lance dataset opened at one version. */
export class Dataset {
  /** The dataset's Arrow schema (with field metadata). */
  readonly schema: arrow.Schema;
  /** The version opened. */
  readonly version: number;
  /** Visible rows (deleted rows excluded). */
  readonly numRows: number;
  private readonly fieldTree: LanceField[];
  private readonly fragmentList: Fragment[];
  /** Visible-row offset of each fragment's first row (n + 1 entries). */
  private readonly starts: Float64Array;
  private readonly files = new Map<string, Promise<OpenDataFile>>();
  /**
   * Per fields array, per fragment: where its leaves are (planFragment). A loader's worker passes the same
   * array with every batch, so a batch does not match leaves to files and check column widths again.
   */
  private readonly fragmentLeaves = new WeakMap<readonly LanceField[], Map<Fragment, FragmentLeaves>>();
  private readonly blobFiles: BlobFiles;
  /** Id indexes by column, built by the first takeByIds on the column. */
  private readonly idIndexes = new Map<string, Promise<IdIndex>>();
  private closed = false;

  /** The dataset directory (absolute), or its URL (without credentials or query string). */
  readonly path: string;

  private constructor(
    /** Where the dataset's files come from. */
    private readonly storage: DatasetStorage,
    manifest: ManifestProto,
    fragments: Fragment[],
    /** Shared by the page caches of every data file. */
    private readonly budget: DecodedPageBudget,
    /** @internal The symlink policy the dataset was opened with (workers open it the same way). */
    readonly followSymlinks: FollowSymlinks,
  ) {
    const path = storage.root;
    this.path = path;
    this.fieldTree = buildFieldTree(manifest.fields, path);
    this.blobFiles = new BlobFiles(storage, manifest.base_paths);
    this.schema = toArrowSchema(this.fieldTree, manifest.schema_metadata);
    this.version = manifest.version;
    this.fragmentList = fragments;
    this.starts = new Float64Array(fragments.length + 1);
    fragments.forEach((f, i) => (this.starts[i + 1] = (this.starts[i] as number) + f.info.numRows));
    this.numRows = this.starts[fragments.length] as number;
  }

  /** @internal */
  static async create(
    storage: DatasetStorage,
    manifest: ManifestProto,
    manifestPath: string,
    budget: DecodedPageBudget,
    followSymlinks: FollowSymlinks,
  ): Promise<Dataset> {
    const { root } = storage;
    const dataDir = join(root, 'data');
    const fragments = await allSettledOrFirstError(
      manifest.fragments.map(async (proto): Promise<Fragment> => {
        for (const file of proto.files) {
          if (file.base_id !== undefined) {
            // LanceDB's shallow clones (cloneTable) leave the source's files under its root, base 0.
            const base = manifest.base_paths.find((b) => b.id === file.base_id);
            throw new UnsupportedError(
              `${manifestPath}: data file ${file.path} lives under base path ${file.base_id} (${base?.path ?? 'not registered'}${base?.is_dataset_root ? ", another dataset's root, as in a shallow clone" : ''}), which lance-loader does not read; open that dataset, or make a deep clone`,
              { path: file.path, base: file.base_id },
            );
          }
          insideDirectory(dataDir, file.path, 'data file', manifestPath);
        }
        let deleted: Uint32Array = new Uint32Array(0);
        let deletionFile: string | null = null;
        const d = proto.deletion_file;
        if (d && d.num_deleted_rows > 0) {
          if (d.base_id !== undefined)
            throw new UnsupportedError(`${manifestPath}: deletion file under another base path is not supported`);
          const ext = d.file_type === 'BITMAP' ? 'bin' : 'arrow';
          deletionFile = `_deletions/${proto.id}-${d.read_version}-${d.id}.${ext}`;
          insideDirectory(root, deletionFile, 'deletion file', manifestPath);
          const kind = d.file_type === 'BITMAP' ? 'bitmap' : 'arrow';
          const maxBytes = maxDeletionFileBytes(kind, proto.physical_rows);
          const { bytes, path } = await storage.readWhole(deletionFile, 'deletion file', maxBytes);
          deleted = parseDeletionFile(bytes, kind, path, proto.physical_rows);
        }
        const deletedRank = new Float64Array(deleted.length);
        for (let j = 0; j < deleted.length; j++) deletedRank[j] = (deleted[j] as number) - j;
        return {
          info: {
            id: proto.id,
            physicalRows: proto.physical_rows,
            deletedRows: deleted.length,
            numRows: proto.physical_rows - deleted.length,
            files: proto.files.map((f) => ({
              path: f.path,
              fields: f.fields,
              fileVersion: `${f.file_major_version}.${f.file_minor_version}`,
              sizeBytes: f.file_size_bytes,
            })),
            deletionFile,
          },
          files: proto.files,
          deleted,
          deletedRank,
        };
      }),
    );
    return new Dataset(storage, manifest, fragments, budget, followSymlinks);
  }

  /** The fragments of this version, in row order. */
  get fragments(): FragmentInfo[] {
    return this.fragmentList.map((f) => f.info);
  }

  /** @internal How a remote dataset was opened (the loader's workers open it the same way); undefined when local. */
  get remote(): RemoteAccess | undefined {
    return this.storage.remote;
  }

  /** @internal Bytes of OpenDatasetOptions.cacheBytes not yet spent on kept pages (the loader's memory metrics). */
  get cacheBytesLeft(): number {
    return this.budget.bytesLeft;
  }

  /**
   * @internal A digest of what this version's manifest says about the fragments (ids, rows, data and
   * deletion files): two opens of a version agree on it unless its manifest or deletion files changed.
   */
  get fragmentsDigest(): string {
    return createHash('sha256').update(JSON.stringify(this.fragments)).digest('hex');
  }

  /**
   * @internal The device and inode (regular-file.ts RegularFile.identity) of every data file opened so
   * far, by absolute path: a file replaced since (renamed over, deleted and written again) has another.
   */
  async openedFiles(): Promise<Record<string, string>> {
    const opened: Record<string, string> = {};
    for (const file of this.files.values()) {
      const { source } = await file;
      // Objects in a bucket have no device and inode; a remote loader's workers read what the URLs serve.
      if (source instanceof FileSource) opened[source.path] = source.identity;
    }
    return opened;
  }

  /** Every version of the dataset, oldest first. */
  async versions(): Promise<VersionInfo[]> {
    this.checkOpen();
    const versions = await this.storage.listManifests(this.version);
    return allSettledOrFirstError(
      versions.map(async ({ version, file }) => {
        const { manifest } = await fetchManifest(this.storage, file);
        const ts = manifest.timestamp;
        return { version, timestamp: ts ? new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6)) : null };
      }),
    );
  }

  /** Per data file: versions, columns, pages, layouts, encodings and sizes. */
  async describeFiles(): Promise<FileSummary[]> {
    this.checkOpen();
    const summaries: FileSummary[] = [];
    const nameOf = fieldPaths(this.fieldTree);
    for (const fragment of this.fragmentList) {
      for (const file of fragment.files) {
        const opened = await this.openDataFile(file, fragment);
        const names = new Map<number, string>();
        for (const [id, column] of opened.columnOf) names.set(column, nameOf.get(id) ?? String(id));
        summaries.push(summarizeFile(opened.meta, names));
      }
    }
    return summaries;
  }

  /** Reads rows by visible offset, in the order given (duplicates allowed). */
  async take(rowOffsets: ArrayLike<number | bigint>, options: TakeOptions = {}): Promise<arrow.Table> {
    this.checkOpen();
    checkOptionsArgument(options, 'take', "{ columns: ['id'] }");
    const offsets = toRowOffsets(rowOffsets, this.numRows);
    const fields = this.selectFields(options.columns);
    return new arrow.Table(this.schemaOf(fields), [await this.readOffsets(offsets, fields)]);
  }

  /**
   * Reads every visible row in order; batches hold at most `batchSize` rows and never span fragments. The
   * next batch is read while the caller holds one (two batches in memory at once); leaving the loop waits
   * for it, and its error, if any, is thrown when the loop reaches it.
   */
  async *scan(options: ScanOptions = {}): AsyncIterable<arrow.RecordBatch> {
    this.checkOpen();
    checkOptionsArgument(options, 'scan', "{ batchSize: 4096, columns: ['id'] }");
    const batchSize = checkBatchSize(options.batchSize);
    const fields = this.selectFields(options.columns);
    const batches = this.scanOffsets(batchSize);
    const read = () => {
      const next = batches.next();
      if (next.done) return undefined;
      const batch = this.readOffsets(next.value, fields);
      // Its error is thrown where the loop reaches it; until then (the caller may close the dataset while
      // holding the batch before) it is not an unhandled rejection.
      batch.catch(() => undefined);
      return batch;
    };
    // One batch ahead: the next batch's reads (libuv's threadpool) overlap this one's decode and the
    // caller's work. Leaving the loop waits for the batch ahead, so no read outlives the iteration.
    let ahead = read();
    try {
      while (ahead) {
        const current = ahead;
        ahead = read();
        yield await current;
      }
    } finally {
      await ahead?.catch(() => undefined);
    }
  }

  /** The visible offsets of a scan, batch by batch: at most `batchSize` rows, never across fragments. */
  private *scanOffsets(batchSize: number): Generator<Uint32Array> {
    for (let f = 0; f < this.fragmentList.length; f++) {
      const start = this.starts[f] as number;
      const end = this.starts[f + 1] as number;
      for (let at = start; at < end; at += batchSize) {
        const n = Math.min(batchSize, end - at);
        const offsets = new Uint32Array(n);
        for (let i = 0; i < n; i++) offsets[i] = at + i;
        yield offsets;
      }
    }
  }

  /**
   * Reads the rows holding `ids` in the id column (`options.idColumn`, default `'id'`: integers or
   * strings), in the order given (duplicates allowed). The first call for a column scans it once and
   * keeps an index of 12 bytes per row until the dataset is closed; later calls read only their rows.
   * Where several rows hold an id, the first in row order is read.
   *
   * @throws InvalidArgumentError naming the first id that no row holds, or an id of the wrong kind.
   * @throws UnsupportedError when the id column is neither integers nor strings.
   */
  async takeByIds(ids: ArrayLike<RowId>, options: TakeByIdsOptions = {}): Promise<arrow.Table> {
    this.checkOpen();
    checkOptionsArgument(options, 'takeByIds', "{ idColumn: 'object_id', columns: ['tensor'] }");
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
      throw new InvalidArgumentError(`takeByIds: ids must be an array of numbers, bigints or strings`);
    const column = options.idColumn ?? 'id';
    let index = this.idIndexes.get(column);
    if (!index) {
      const field = this.schema.fields.find((f) => f.name === column);
      if (!field)
        throw new InvalidArgumentError(`${this.path}: there is no id column "${column}"; pass options.idColumn`, {
          column,
        });
      index = IdIndex.build(column, field.type, this.numRows, this.scan({ columns: [column], batchSize: 65536 }));
      this.idIndexes.set(column, index);
      index.catch(() => this.idIndexes.delete(column));
    }
    const rows = await findIdRows(
      await index,
      ids,
      this.path,
      async (offsets) => (await this.take(offsets, { columns: [column] })).getChildAt(0) as arrow.Vector,
    );
    return this.take(rows, { columns: options.columns });
  }

  /**
   * Lazy handles on the values of blob column `column` at visible offsets `rowOffsets` (any order,
   * duplicates allowed), null for null blobs. Only the descriptors are read here; each handle's `size`
   * comes from its descriptor, and `read(offset, length)` reads just that range of the value.
   */
  async takeBlobs(
    rowOffsets: ArrayLike<number | bigint>,
    column: string,
    options: TakeBlobsOptions = {},
  ): Promise<(BlobHandle | null)[]> {
    return this.takeBlobRanges(rowOffsets, column, options);
  }

  /** @internal takeBlobs' handles with where each value lies, for the loader's workers to read values in bulk. */
  async takeBlobRanges(
    rowOffsets: ArrayLike<number | bigint>,
    column: string,
    options: TakeBlobsOptions = {},
  ): Promise<(BlobRange | null)[]> {
    this.checkOpen();
    checkOptionsArgument(options, 'takeBlobs', "{ externalRoots: ['/data/media'] }");
    const offsets = toRowOffsets(rowOffsets, this.numRows);
    const fields = this.selectFields([column]);
    const field = fields[0] as LanceField;
    const kind = packedFieldKind(field);
    if (kind !== 'blob' && kind !== 'blob-v2') {
      throw new InvalidArgumentError(
        `${this.path}: column "${column}" is not a blob column (lance-encoding:blob or lance.blob.v2)`,
        { column },
      );
    }
    const plan = await this.planRead(offsets, fields);
    const outputs = createOutputs(fields, offsets.length);
    await readInline(plan.files, plan.nullFills, outputs);
    // close() may have run during the reads: the blob files must not be opened after it.
    this.checkOpen();
    const origins: (BlobOrigin | null)[] = new Array<BlobOrigin | null>(offsets.length).fill(null);
    for (const file of plan.files) {
      const where = (file.columns[0] as ColumnRead).where;
      for (const slot of file.slots) origins[slot] = { source: file.source, where, row: offsets[slot] as number };
    }
    const descriptors = packedToData(field, outputs[0] as ColumnOutput, offsets.length) as arrow.Data<arrow.Struct>;
    return createBlobHandles(descriptors, origins, this.blobFiles, options);
  }

  /** @internal Ends the loader's use of the blob files of `ranges` (from takeBlobRanges) once their values are read. */
  releaseBlobRanges(ranges: readonly (BlobRange | null)[]): void {
    this.blobFiles.release(ranges);
  }

  /** @internal What every file of the dataset opened so far has read (tests count the bytes a read costs). */
  async readStats(): Promise<ReadStats> {
    const total = await this.blobFiles.stats();
    for (const opened of this.files.values()) addReadStats(total, (await opened).source.stats);
    return total;
  }

  /**
   * Closes every open data file and blob file. A local file is closed once the reads already handed to
   * the OS have returned (they keep their bytes); its reads still queued, and reads asked for later, fail
   * with an IoError. Requests to a remote dataset still in flight are aborted.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.storage.close();
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all([
      ...files.map(async (p) => (await p.catch(() => undefined))?.source.close()),
      this.blobFiles.close(),
    ]);
  }

  private checkOpen(): void {
    if (this.closed) throw new InvalidArgumentError(`dataset ${this.path} is closed`);
  }

  private schemaOf(fields: LanceField[]): arrow.Schema {
    return resultSchema(fields, this.schema.metadata);
  }

  /** Maps a visible offset within a fragment to its physical row. */
  private physicalRow(fragment: Fragment, visible: number): number {
    const rank = fragment.deletedRank;
    let lo = 0;
    let hi = rank.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((rank[mid] as number) <= visible) lo = mid + 1;
      else hi = mid;
    }
    return visible + lo;
  }

  private async readOffsets(offsets: Uint32Array, fields: LanceField[]): Promise<arrow.RecordBatch> {
    checkReadableFields(fields, this.path);
    // Planned before outputs are sized: planning checks each column's width against its pages.
    const plan = await this.planRead(offsets, fields);
    const outputs = createOutputs(fields, offsets.length);
    await readInline(plan.files, plan.nullFills, outputs);
    return toRecordBatch(this.schema, fields, outputs, offsets.length);
  }

  /** @internal The top-level fields named by `columns` (all when undefined). */
  selectFields(columns: readonly string[] | undefined): LanceField[] {
    return selectFields(this.fieldTree, columns, this.path);
  }

  /**
   * @internal Checks the fixed width of each of `fields` against the pages of every data file that holds
   * it (read-rows.ts checkFixedWidth), as a take does before sizing its outputs: for a caller that sizes
   * memory by the schema's widths before reading anything (the loader's batch slots). Opens those files.
   */
  async checkWidths(fields: LanceField[]): Promise<void> {
    const firstRows: number[] = [];
    for (let f = 0; f < this.fragmentList.length; f++) {
      const start = this.starts[f] as number;
      if ((this.starts[f + 1] as number) > start) firstRows.push(start);
    }
    // Planning a row of each fragment opens its files and checks every column read (columnRead).
    await this.planRead(Uint32Array.from(firstRows), fields);
  }

  /**
   * @internal What reading `offsets` (visible, any order) of `fields` into outputs `0..fields.length-1`
   * takes: one {@link FileRead} per data file touched, and null fills for fields a fragment lacks.
   */
  async planRead(offsets: Uint32Array, fields: LanceField[]): Promise<{ files: FileRead[]; nullFills: OutputTask[] }> {
    this.checkOpen();
    const n = offsets.length;
    const sorted = sortWithSlots(offsets);
    const files: Promise<FileRead[]>[] = [];
    const nullFills: OutputTask[] = [];
    let i = 0;
    let f = 0;
    // Sorted: only the last can be past the end (callers validate; this keeps a bad one from looping).
    if (n > 0 && (sorted.rows[n - 1] as number) >= this.numRows) {
      throw new InternalError(
        `${this.path}: row offset ${sorted.rows[n - 1]} planned past the dataset's ${this.numRows} rows`,
      );
    }
    while (i < n) {
      const offset = sorted.rows[i] as number;
      while ((this.starts[f + 1] as number) <= offset) f++;
      const end = this.starts[f + 1] as number;
      let j = i;
      while (j < n && (sorted.rows[j] as number) < end) j++;
      const fragment = this.fragmentList[f] as Fragment;
      const rows = new Uint32Array(j - i);
      for (let k = i; k < j; k++)
        rows[k - i] = this.physicalRow(fragment, (sorted.rows[k] as number) - (this.starts[f] as number));
      files.push(this.planFragment(fragment, fields, rows, sorted.slots.subarray(i, j), nullFills));
      i = j;
    }
    return { files: (await Promise.all(files)).flat(), nullFills };
  }

  private async planFragment(
    fragment: Fragment,
    fields: LanceField[],
    rows: Uint32Array,
    slots: Uint32Array,
    nullFills: OutputTask[],
  ): Promise<FileRead[]> {
    const { files, missing } = this.leavesOf(fragment, fields);
    for (const { output } of missing)
      nullFills.push({
        output,
        task: { kind: 'constant', where: `${this.path} fragment ${fragment.info.id}`, slots, inlineValue: null },
      });
    return Promise.all(
      files.map(async (entry): Promise<FileRead> => {
        const opened = await this.openDataFile(entry.file, fragment);
        entry.columns ??= entry.leaves.map((leaf): ColumnRead => {
          const index = opened.columnOf.get(leaf.field.id) as number;
          const column = opened.meta.columns[index];
          if (!column)
            throw new CorruptFileError(
              `${opened.source.path}: manifest maps column "${leaf.name}" to column ${index}, but the file has ${opened.meta.columns.length}`,
            );
          const columnOf = (id: number) => opened.meta.columns[opened.columnOf.get(id) ?? -1];
          return columnRead(leaf, column, index, opened.source.path, columnOf);
        });
        const { source, cache } = opened;
        return { path: source.path, source, cache, columns: entry.columns, rows, slots };
      }),
    );
  }

  /** Which data file of `fragment` holds each leaf of `fields` (kept per fields array and fragment). */
  private leavesOf(fragment: Fragment, fields: LanceField[]): FragmentLeaves {
    let byFragment = this.fragmentLeaves.get(fields);
    if (!byFragment) this.fragmentLeaves.set(fields, (byFragment = new Map()));
    const known = byFragment.get(fragment);
    if (known) return known;
    const byFile = new Map<DataFileProto, LeafColumn[]>();
    const missing: LeafColumn[] = [];
    for (const leaf of leafColumns(fields)) {
      const { field } = leaf;
      const file = fragment.files.find((df) =>
        df.fields.some((id, c) => id === field.id && (df.column_indices[c] ?? -1) >= 0),
      );
      if (!file) {
        if (!leaf.nullable)
          throw new CorruptFileError(
            `${this.path}: fragment ${fragment.info.id} has no data for non-nullable column "${leaf.name}"`,
          );
        missing.push(leaf);
        continue;
      }
      byFile.set(file, [...(byFile.get(file) ?? []), leaf]);
    }
    const leaves = { files: [...byFile].map(([file, wanted]) => ({ file, leaves: wanted })), missing };
    byFragment.set(fragment, leaves);
    return leaves;
  }

  private openDataFile(file: DataFileProto, fragment: Fragment): Promise<OpenDataFile> {
    let opened = this.files.get(file.path);
    if (!opened) {
      opened = (async () => {
        const source = await this.storage.openDataFile(file.path, file.file_size_bytes);
        const { path } = source;
        try {
          const meta = await fetchFileMetadata(source);
          if (meta.numRows !== fragment.info.physicalRows) {
            throw new CorruptFileError(
              `${path}: file has ${meta.numRows} rows but the manifest says fragment ${fragment.info.id} has ${fragment.info.physicalRows}`,
              { path },
            );
          }
          const columnOf = new Map<number, number>();
          file.fields.forEach((id, i) => {
            const c = file.column_indices[i];
            if (c !== undefined && c >= 0) columnOf.set(id, c);
          });
          return { source, meta, cache: createPageCache(decodeWholePage, this.budget), columnOf };
        } catch (error) {
          await source.close();
          throw error;
        }
      })();
      opened.catch(() => this.files.delete(file.path));
      this.files.set(file.path, opened);
    }
    return opened;
  }
}

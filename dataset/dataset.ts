/**
 * `openDataset`: a Lance dataset directory (`_versions/*.manifest`, `data/*.lance`, `_deletions/`).
 *
 * Rows are addressed by visible offset: fragments in manifest order, each contributing its physical
 * rows minus its deleted rows (like LanceDB's `takeOffsets`). A take maps each offset to (fragment,
 * physical row), groups the rows by data file and reads them through the same plan → read → decode path
 * as single files (read-rows.ts), writing every value straight into its request slot.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as arrow from 'apache-arrow';
import { CorruptFileError, InternalError, InvalidArgumentError, IoError, UnsupportedError } from '../errors.js';
import { maxDeletionFileBytes, parseDeletionFile } from '../format/deletion.js';
import type { FileMetadata } from '../format/file-metadata.js';
import { parseManifest, versionOfManifestName } from '../format/manifest.js';
import type { DataFileProto, ManifestProto } from '../format/proto/messages.js';
import { buildFieldTree, flattenFields, packedFieldKind, toArrowSchema, type LanceField } from '../format/schema.js';
import { decodeWholePage } from '../decode-workers/encodings/decode-task.js';
import type { ColumnOutput } from '../decode-workers/encodings/output.js';
import { createPageCache, type DecodedPageBudget, type PageCache } from '../io/plan.js';
import { fetchFileMetadata } from '../io/open-file.js';
import { readRegularFile } from '../io/regular-file.js';
import { addReadStats, FileSource, type ByteSource, type ReadStats } from '../io/source.js';
import { BlobFiles, createBlobHandles, type BlobHandle, type BlobOrigin, type TakeBlobsOptions } from './blobs.js';
import { checkReadableFields, createOutputs, selectFields, toRecordBatch } from './columns.js';
import {
  checkBatchSize,
  checkOptionsArgument,
  summarizeFile,
  type FileSummary,
  type ScanOptions,
  type TakeOptions,
} from './file.js';
import { packedToData } from './packed-struct.js';
import { columnRead, readInline, type ColumnRead, type FileRead, type OutputTask } from './read-rows.js';
import { sortWithSlots, toRowOffsets } from './rows.js';
import { explainNotADataset, toLocalPath, type DatasetLocation, type LocationArgument } from './location.js';

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

interface Fragment {
  info: FragmentInfo;
  files: DataFileProto[];
  /** Sorted physical rows deleted from the fragment. */
  deleted: Uint32Array;
  /** deleted[j] - j, nondecreasing: visible rows before each deleted row. */
  deletedRank: Float64Array;
}

function insideDirectory(root: string, path: string, what: string, manifestPath?: string): string {
  const full = resolve(root, path);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
    const source = manifestPath ? `${manifestPath}: manifest` : 'manifest';
    throw new CorruptFileError(`${source} names ${what} "${path}", which lies outside ${root}`, {
      path,
      root,
      manifest: manifestPath,
    });
  }
  return full;
}

/** Reads and parses the manifest at `path`, refusing what cannot be one (regular-file.ts). */
async function fetchManifest(path: string, inside: string | undefined): Promise<ManifestProto> {
  return parseManifest(await readRegularFile(path, { what: 'manifest', maxBytes: MAX_MANIFEST_BYTES, inside }), path);
}

const OPEN_DATASET: LocationArgument = {
  name: 'openDataset(path)',
  accepts: 'a dataset directory: a path, a file: URL or a LanceDB Table',
  tables: true,
};

/**
 * Opens a Lance dataset directory at its latest version (or `options.version`). `location` is a local
 * path, a `file:` URL or an open local LanceDB `Table` (read at its directory, latest version unless
 * `options.version` says otherwise); remote URLs are rejected with an `UnsupportedError`.
 */
export async function openDataset(location: DatasetLocation, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const path = toLocalPath(location, OPEN_DATASET);
  checkOptionsArgument(options, 'openDataset', '{ version: 3 }');
  if (options.version !== undefined && (!Number.isInteger(options.version) || options.version <= 0)) {
    throw new InvalidArgumentError(`options.version must be a positive integer, got ${String(options.version)}`);
  }
  const root = resolve(path);
  const versions = await listVersions(root);
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
  const manifestPath = join(root, '_versions', entry.file);
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
  const inside = followSymlinks === 'inside' ? await realpath(root) : undefined;
  const manifest = await fetchManifest(manifestPath, inside);
  return Dataset.create(root, manifest, manifestPath, { bytesLeft: cacheBytes }, followSymlinks, inside);
}

async function listVersions(root: string): Promise<{ version: number; file: string }[]> {
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
  const versions: { version: number; file: string }[] = [];
  for (const file of names) {
    const version = versionOfManifestName(file);
    if (version !== undefined) versions.push({ version, file });
  }
  return versions.sort((a, b) => a.version - b.version);
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
  private readonly blobFiles: BlobFiles;
  private closed = false;

  private constructor(
    /** The dataset directory (absolute). */
    readonly path: string,
    manifest: ManifestProto,
    fragments: Fragment[],
    /** Shared by the page caches of every data file. */
    private readonly budget: DecodedPageBudget,
    /** @internal The symlink policy the dataset was opened with (workers open it the same way). */
    readonly followSymlinks: FollowSymlinks,
    /** The real path every file must resolve inside, or undefined to follow every symlink. */
    private readonly inside: string | undefined,
  ) {
    this.fieldTree = buildFieldTree(manifest.fields, path);
    this.blobFiles = new BlobFiles(inside);
    this.schema = toArrowSchema(this.fieldTree, manifest.schema_metadata);
    this.version = manifest.version;
    this.fragmentList = fragments;
    this.starts = new Float64Array(fragments.length + 1);
    fragments.forEach((f, i) => (this.starts[i + 1] = (this.starts[i] as number) + f.info.numRows));
    this.numRows = this.starts[fragments.length] as number;
  }

  /** @internal */
  static async create(
    root: string,
    manifest: ManifestProto,
    manifestPath: string,
    budget: DecodedPageBudget,
    followSymlinks: FollowSymlinks,
    inside: string | undefined,
  ): Promise<Dataset> {
    const dataDir = join(root, 'data');
    const fragments = await Promise.all(
      manifest.fragments.map(async (proto): Promise<Fragment> => {
        for (const file of proto.files) {
          if (file.base_id !== undefined)
            throw new UnsupportedError(
              `${manifestPath}: data file ${file.path} lives under another base path, which lance-loader does not support`,
            );
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
          const full = insideDirectory(root, deletionFile, 'deletion file', manifestPath);
          const kind = d.file_type === 'BITMAP' ? 'bitmap' : 'arrow';
          const maxBytes = maxDeletionFileBytes(kind, proto.physical_rows);
          const bytes = await readRegularFile(full, { what: 'deletion file', maxBytes, inside });
          deleted = parseDeletionFile(bytes, kind, full, proto.physical_rows);
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
    return new Dataset(root, manifest, fragments, budget, followSymlinks, inside);
  }

  /** The fragments of this version, in row order. */
  get fragments(): FragmentInfo[] {
    return this.fragmentList.map((f) => f.info);
  }

  /** @internal Bytes of OpenDatasetOptions.cacheBytes not yet spent on kept pages (the loader's memory metrics). */
  get cacheBytesLeft(): number {
    return this.budget.bytesLeft;
  }

  /** Every version of the dataset, oldest first. */
  async versions(): Promise<VersionInfo[]> {
    this.checkOpen();
    const versions = await listVersions(this.path);
    return Promise.all(
      versions.map(async ({ version, file }) => {
        const manifest = await fetchManifest(join(this.path, '_versions', file), this.inside);
        const ts = manifest.timestamp;
        return { version, timestamp: ts ? new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6)) : null };
      }),
    );
  }

  /** Per data file: versions, columns, pages, layouts, encodings and sizes. */
  async describeFiles(): Promise<FileSummary[]> {
    this.checkOpen();
    const summaries: FileSummary[] = [];
    const nameOf = new Map(flattenFields(this.fieldTree).map((f) => [f.id, f.name]));
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

  /** Reads every visible row in order; batches hold at most `batchSize` rows and never span fragments. */
  async *scan(options: ScanOptions = {}): AsyncIterable<arrow.RecordBatch> {
    this.checkOpen();
    checkOptionsArgument(options, 'scan', "{ batchSize: 4096, columns: ['id'] }");
    const batchSize = checkBatchSize(options.batchSize);
    const fields = this.selectFields(options.columns);
    for (let f = 0; f < this.fragmentList.length; f++) {
      const start = this.starts[f] as number;
      const end = this.starts[f + 1] as number;
      for (let at = start; at < end; at += batchSize) {
        const n = Math.min(batchSize, end - at);
        const offsets = new Uint32Array(n);
        for (let i = 0; i < n; i++) offsets[i] = at + i;
        yield await this.readOffsets(offsets, fields);
      }
    }
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
    const origins: (BlobOrigin | null)[] = new Array<BlobOrigin | null>(offsets.length).fill(null);
    for (const file of plan.files) {
      const where = (file.columns[0] as ColumnRead).where;
      for (const slot of file.slots) origins[slot] = { source: file.source, where, row: offsets[slot] as number };
    }
    const descriptors = packedToData(field, outputs[0] as ColumnOutput, offsets.length) as arrow.Data<arrow.Struct>;
    return createBlobHandles(descriptors, origins, this.blobFiles, options);
  }

  /** @internal What every file of the dataset opened so far has read (tests count the bytes a read costs). */
  async readStats(): Promise<ReadStats> {
    const total = await this.blobFiles.stats();
    for (const opened of this.files.values()) addReadStats(total, (await opened).source.stats);
    return total;
  }

  /** Closes every open data file. */
  async close(): Promise<void> {
    this.closed = true;
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
    return new arrow.Schema(
      fields.map((f) => this.schema.fields.find((sf) => sf.name === f.name) as arrow.Field),
      this.schema.metadata,
    );
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
    checkReadableFields(fields);
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
    const byFile = new Map<DataFileProto, { field: LanceField; output: number }[]>();
    fields.forEach((field, output) => {
      const file = fragment.files.find((df) =>
        df.fields.some((id, c) => id === field.id && (df.column_indices[c] ?? -1) >= 0),
      );
      if (!file) {
        if (!field.nullable)
          throw new CorruptFileError(
            `${this.path}: fragment ${fragment.info.id} has no data for non-nullable column "${field.name}"`,
          );
        nullFills.push({
          output,
          task: { kind: 'constant', where: `${this.path} fragment ${fragment.info.id}`, slots, inlineValue: null },
        });
        return;
      }
      byFile.set(file, [...(byFile.get(file) ?? []), { field, output }]);
    });
    return Promise.all(
      [...byFile].map(async ([file, wanted]): Promise<FileRead> => {
        const opened = await this.openDataFile(file, fragment);
        const columns = wanted.map(({ field, output }): ColumnRead => {
          const index = opened.columnOf.get(field.id) as number;
          const column = opened.meta.columns[index];
          if (!column)
            throw new CorruptFileError(
              `${opened.source.path}: manifest maps column "${field.name}" to column ${index}, but the file has ${opened.meta.columns.length}`,
            );
          return columnRead(field, column, index, output, opened.source.path);
        });
        return { path: opened.source.path, source: opened.source, cache: opened.cache, columns, rows, slots };
      }),
    );
  }

  private openDataFile(file: DataFileProto, fragment: Fragment): Promise<OpenDataFile> {
    const path = insideDirectory(join(this.path, 'data'), file.path, 'data file');
    let opened = this.files.get(path);
    if (!opened) {
      opened = (async () => {
        const source = await FileSource.open(path, { inside: this.inside });
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
      opened.catch(() => this.files.delete(path));
      this.files.set(path, opened);
    }
    return opened;
  }
}

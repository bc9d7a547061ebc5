/**
 * `writeDataset`: record batches → data files → a manifest → a committed version.
 *
 *   data ──openInput──► batches ──► DataFileWriter (pages of 8 MiB per column, file cut at
 *                                   1,048,576 rows) ──fsync──► data/<random>.lance, one fragment each
 *                                                                   │
 *   latest manifest (append: fields, fragments, deletions kept) ────┤
 *                                                                   ▼
 *        _transactions/<read version>-<uuid>.txn (what this commit does, for Lance's conflict checks)
 *                                                                   ▼
 *                                 manifest of version N + 1 ──commitManifest──► _versions/
 *
 * Memory stays bounded: a column holds at most one page's values before they are encoded, and at most
 * 24 MiB of encoded pages wait to be written (writer/file-sink.ts writes them behind the encoding).
 * An append that loses the race for its version re-reads the winner's manifest and commits on top of it
 * (its data files are reused: fragment ids live in the manifest only); an append that registers new
 * external bases commits them first in an UpdateBases version of their own (writer/bases.ts). Create
 * and overwrite fail with a {@link CommitConflictError} instead. On any error the files written so far
 * are removed and the dataset stays at the version it had.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import type * as arrow from 'apache-arrow';
import { CommitConflictError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { FLAG_BASE_PATHS } from '../format/manifest.js';
import type { BasePathProto, FieldProto, ManifestProto } from '../format/proto/messages.js';
import { toLocalPath } from '../dataset/location.js';
import { commitBases, externalBasesOf, missingBases } from './bases.js';
import { resolveExternalBlobs, type ExternalBlobPolicy } from './blob.js';
import {
  commitManifest,
  indexSectionOf,
  manifestFileBytes,
  manifestTimestamp,
  readLatestVersion,
  syncDirectory,
  writeTransactionFile,
  type CommittedVersion,
} from './commit.js';
import { DataFileWriter, HeldBuffers, type WrittenFile } from './data-file.js';
import { encodeInWorkersByDefault } from './encode-pool.js';
import { openInput, type WriteData } from './input.js';
import type { WriteFileVersion } from './levels.js';
import { prepareCompression } from './page.js';
import {
  fieldShape,
  isBlobV2Field,
  isPackedField,
  leafField,
  planColumns,
  schemaMetadataBytes,
  withExistingFields,
  type WriteColumn,
} from './schema.js';

/** Options of {@link writeDataset}. */
export interface WriteDatasetOptions {
  /**
   * `create` (default): a new dataset; fails if one exists at the path. `append`: new fragments after
   * the existing ones, whose schema the data must match. `overwrite`: a new version holding only this
   * data (older versions stay readable by time travel); creates the dataset if there is none.
   */
  mode?: 'create' | 'append' | 'overwrite';
  /**
   * The Lance file version of the data files: `'2.2'` (default, as LanceDB 0.39 writes) or `'2.1'`. An
   * append writes the version the dataset already stores.
   */
  fileVersion?: WriteFileVersion;
  /** The column types of row objects (required when `data` is rows; ignored for Arrow data). */
  schema?: arrow.Schema;
  /**
   * List fields to store as `large_list` (64-bit offsets in Arrow), by dotted path from the top-level
   * column down: `['tags', 'meta.boxes', 'nested.item']`. apache-arrow 18 has no LargeList type, so the
   * data brings these fields as lists; their pages are the same in file versions 2.1 and 2.2, only the
   * schema differs, and LanceDB then reads them as `LargeList`. A path that names no field of the data,
   * or a field that is not a list, is an InvalidArgumentError naming it. On append the dataset's types
   * stand: a path here must name a large_list field of the dataset, and a large_list field not named
   * here takes list data as well.
   */
  largeLists?: readonly string[];
  /** Rows per record batch built from row objects (default 8192). */
  rowsPerBatch?: number;
  /** Rows per data file (default 1,048,576, LanceDB's); each data file is one fragment. */
  maxRowsPerFile?: number;
  /**
   * Encode large pages whose encoding costs CPU (bit-packed integers, short strings) in worker threads,
   * in parallel with each other and with the calling thread. Default: on when the machine has more than
   * 2 cores (`os.availableParallelism()`), else every page is encoded on the calling thread: moving a
   * page to a worker and back costs CPU, which only spare cores repay. The threads are shared by every
   * write of the process: one per core the calling thread leaves, at most 8 (each holds ~35 MiB), started
   * as pages wait for them and stopped 5 s after the last page.
   */
  encodeInWorkers?: boolean;
  /**
   * Called with each ArrayBuffer behind the data's columns once the writer holds no reference to it any
   * more (its bytes are in the data file, or encoded into other memory), so that a producer of batches
   * can reuse that memory for later ones; never with memory the writer makes itself (such as resolved
   * external blob URIs). Without it, a batch's memory must not change until `writeDataset` resolves:
   * values are written where they lie.
   */
  releaseBuffer?: (buffer: ArrayBufferLike) => void;
  /**
   * Directories (absolute paths or `file:` URLs) that blob v2 rows given as `{ data: null, uri }` may
   * point into: each is registered in the manifest as an external base (LanceDB's `base_paths`, with
   * reader and writer feature flag 16), and a URI under one is stored relative to it, with its id. A
   * base the dataset already registers keeps its id; the dataset's own bases count without being
   * listed here. LanceDB reads such rows with `fetchBlobs`, lance-loader with `takeBlobs` (given the
   * base in `externalRoots`). An append, or an overwrite of an existing dataset, that registers a new
   * base commits two versions, as Lance does: an UpdateBases version that registers it, then the
   * Append or Overwrite (Lance registers bases in neither; only a create registers them in its own
   * version); should the second fail, the dataset keeps the first, as after Lance's `add_bases`. A
   * directory is one base however it is spelled (a path or a `file:` URL, with or without a trailing
   * '/'). Each base registered is named after its directory's last segment (`media`; `media-2` when
   * the dataset has a base of that name), as Lance's `add_bases` needs: it refuses a base whose name a
   * registered base has, two unnamed ones included.
   */
  externalBases?: readonly (string | URL)[];
  /**
   * Store a blob's URI that lies under no external base as it is, absolute (a local path as its
   * `file:` URL), as Lance's `allow_external_blob_outside_bases` does. Default false: such a row is an
   * InvalidArgumentError naming its column and row, as in LanceDB.
   */
  allowExternalBlobOutsideBases?: boolean;
}

/** What {@link writeDataset} committed. */
export interface WriteResult {
  /** The version committed. */
  version: number;
  /** Rows written by this call. */
  rows: number;
  /** Data files (fragments) written by this call. */
  files: number;
}

const DEFAULT_MAX_ROWS_PER_FILE = 1024 * 1024;
const DEFAULT_FILE_VERSION: WriteFileVersion = '2.2';
const WRITABLE_VERSIONS: readonly string[] = ['2.1', '2.2'];
const MAX_APPEND_ATTEMPTS = 20;
const WRITER_VERSION = { library: 'lance-loader', version: '0.1.0' };
// Reader feature flag 2 (stable row ids) needs row-id sequences per fragment, which the writer does not make.
const FLAG_STABLE_ROW_IDS = 2n;

/** A data file name as Lance makes them: 24 binary digits then 26 hex digits, from 16 random bytes. */
function dataFileName(): string {
  const bytes = randomBytes(16);
  let name = '';
  for (const byte of bytes.subarray(0, 3)) name += byte.toString(2).padStart(8, '0');
  return `${name}${bytes.subarray(3).toString('hex')}.lance`;
}

function checkOptions(
  options: WriteDatasetOptions,
): Required<Pick<WriteDatasetOptions, 'mode' | 'maxRowsPerFile' | 'fileVersion' | 'encodeInWorkers'>> {
  const mode = options.mode ?? 'create';
  if (!['create', 'append', 'overwrite'].includes(mode)) {
    throw new InvalidArgumentError(
      `options.mode must be 'create', 'append' or 'overwrite'; got ${JSON.stringify(mode)}`,
      {
        option: 'mode',
      },
    );
  }
  const fileVersion = options.fileVersion ?? DEFAULT_FILE_VERSION;
  if (!WRITABLE_VERSIONS.includes(fileVersion)) {
    throw new UnsupportedError(
      `options.fileVersion ${JSON.stringify(fileVersion)} cannot be written; lance-loader writes file versions '2.1' and '2.2'`,
      { option: 'fileVersion' },
    );
  }
  const maxRowsPerFile = options.maxRowsPerFile ?? DEFAULT_MAX_ROWS_PER_FILE;
  if (!Number.isInteger(maxRowsPerFile) || maxRowsPerFile < 1) {
    throw new InvalidArgumentError(`options.maxRowsPerFile must be a positive integer; got ${String(maxRowsPerFile)}`, {
      option: 'maxRowsPerFile',
    });
  }
  if (options.encodeInWorkers !== undefined && typeof options.encodeInWorkers !== 'boolean') {
    throw new InvalidArgumentError(
      `options.encodeInWorkers must be true or false; got ${JSON.stringify(options.encodeInWorkers)}`,
      { option: 'encodeInWorkers' },
    );
  }
  if (options.releaseBuffer !== undefined && typeof options.releaseBuffer !== 'function') {
    throw new InvalidArgumentError(`options.releaseBuffer must be a function; got ${typeof options.releaseBuffer}`, {
      option: 'releaseBuffer',
    });
  }
  if (options.rowsPerBatch !== undefined && (!Number.isInteger(options.rowsPerBatch) || options.rowsPerBatch < 1)) {
    throw new InvalidArgumentError(
      `options.rowsPerBatch must be a positive integer; got ${String(options.rowsPerBatch)}`,
      {
        option: 'rowsPerBatch',
      },
    );
  }
  const largeLists: unknown = options.largeLists;
  if (largeLists !== undefined && (!Array.isArray(largeLists) || !largeLists.every((p) => typeof p === 'string'))) {
    throw new InvalidArgumentError(
      `options.largeLists must be an array of dotted field paths (strings), such as ['tags', 'meta.boxes']; got ${JSON.stringify(largeLists)}`,
      { option: 'largeLists' },
    );
  }
  const encodeInWorkers = options.encodeInWorkers ?? encodeInWorkersByDefault();
  const allow = options.allowExternalBlobOutsideBases;
  if (allow !== undefined && typeof allow !== 'boolean') {
    throw new InvalidArgumentError(
      `options.allowExternalBlobOutsideBases must be true or false; got ${JSON.stringify(allow)}`,
      {
        option: 'allowExternalBlobOutsideBases',
      },
    );
  }
  return { mode, maxRowsPerFile, fileVersion, encodeInWorkers };
}

/** The columns an append writes: the dataset's fields, matched by name and type against the data. */
function appendColumns(
  root: string,
  committed: CommittedVersion,
  schema: arrow.Schema,
  largeLists: readonly string[],
): WriteColumn[] {
  const { manifest } = committed;
  if ((manifest.reader_feature_flags & FLAG_STABLE_ROW_IDS) !== 0n) {
    throw new UnsupportedError(`${root}: the dataset uses stable row ids, which lance-loader cannot append to yet`, {
      path: root,
    });
  }
  const stored = datasetFileVersion(committed);
  if (!WRITABLE_VERSIONS.includes(stored)) {
    throw new UnsupportedError(
      `${root}: the dataset stores file version ${stored}; lance-loader appends to file versions 2.1 and 2.2`,
      { path: root, fileVersion: stored },
    );
  }
  const planned = new Map(planColumns(schema, 0, largeLists).map((c) => [c.field.name, c]));
  const mismatch = (message: string, details: Record<string, unknown>): InvalidArgumentError =>
    new InvalidArgumentError(`${root}: the data does not match the dataset's schema: ${message}`, {
      path: root,
      ...details,
    });
  const columns = manifest.fields
    .filter((f) => f.parent_id === -1)
    .map((existing: FieldProto) => {
      const column = planned.get(existing.name);
      if (!column)
        throw mismatch(`column "${existing.name}" (${existing.logical_type}) is missing`, { column: existing.name });
      planned.delete(existing.name);
      const stored = subtree(manifest.fields, existing);
      if (fieldShape(column.fields) !== fieldShape(stored)) {
        const [expected, actual] = [describeField(stored), describeField(column.fields)];
        throw mismatch(`column "${existing.name}" is ${actual} in the data and ${expected} in the dataset`, {
          column: existing.name,
          expected,
          actual,
        });
      }
      // A large_list asked for must be one in the dataset; a dataset's large_list takes list data too.
      const widened = column.fields.findIndex(
        (field, i) => field.logical_type.startsWith('large_') && !stored[i]?.logical_type.startsWith('large_'),
      );
      if (widened >= 0) {
        const field = stored[widened] as FieldProto;
        throw mismatch(
          `column "${existing.name}": options.largeLists names field "${field.name}", which the dataset stores as ${field.logical_type}; an append keeps the dataset's types`,
          { column: existing.name, option: 'largeLists' },
        );
      }
      // Packing decides the columns: the data and the dataset must agree on it, field by field.
      const packing = stored.findIndex(
        (field, i) => isPackedField(field) !== isPackedField(column.fields[i] as FieldProto),
      );
      if (packing >= 0) {
        const field = stored[packing] as FieldProto;
        const [expected, actual] = isPackedField(field) ? ['packed', 'not'] : ['not packed', 'is'];
        throw mismatch(
          `column "${existing.name}": struct "${field.name}" is ${expected} (lance-encoding:packed) in the dataset, and ${actual} in the data`,
          { column: existing.name },
        );
      }
      if (isBlobV2Field(existing) !== (column.fileFields !== undefined)) {
        const [expected, actual] = isBlobV2Field(existing)
          ? ['a blob v2 column', 'not']
          : ['not a blob v2 column', 'is'];
        throw mismatch(
          `column "${existing.name}" is ${expected} (lance.blob.v2) in the dataset, and ${actual} in the data`,
          { column: existing.name },
        );
      }
      return withExistingFields(column, stored);
    });
  const [extra] = planned.keys();
  if (extra !== undefined) throw mismatch(`column "${extra}" is not in the dataset`, { column: extra });
  return columns;
}

/** `top` and its descendants among a manifest's fields, in pre-order. */
function subtree(fields: readonly FieldProto[], top: FieldProto): FieldProto[] {
  const out = [top];
  for (const field of fields) if (field.parent_id === top.id) out.push(...subtree(fields, field));
  return out;
}

/** A field's logical type with its children's, e.g. `list<string>` or `struct<int32, list<float>>`. */
function describeField(fields: readonly FieldProto[]): string {
  const [top] = fields;
  if (!top) return '';
  const children = fields.filter((f) => f.parent_id === top.id);
  if (children.length === 0) return top.logical_type;
  const inner = children.map((child) => describeField(subtree(fields, child)));
  return `${top.logical_type.split('.')[0]}<${inner.join(', ')}>`;
}

/** Writes the batches into data files under `dataDir`; returns the files, all fsynced. */
async function writeFiles(
  dataDir: string,
  columns: WriteColumn[],
  schema: arrow.Schema,
  batches: AsyncIterable<arrow.RecordBatch>,
  maxRowsPerFile: number,
  version: WriteFileVersion,
  encodeInWorkers: boolean,
  written: string[],
  releaseBuffer: ((buffer: ArrayBufferLike) => void) | undefined,
  external: ExternalBlobPolicy,
): Promise<WrittenFile[]> {
  const files: WrittenFile[] = [];
  const held = releaseBuffer && new HeldBuffers(releaseBuffer);
  const metadata = schemaMetadataBytes(schema);
  const order = columns.map((c) => schema.fields.findIndex((f) => f.name === c.field.name));
  let writer: DataFileWriter | undefined;
  let rowsSeen = 0;
  try {
    for await (const batch of batches) {
      const children = order.map((i) => batch.data.children[i] as arrow.Data);
      checkBatch(batch, columns, children, schema, rowsSeen);
      // Held here too, so that a data file finished mid-batch does not release what the next one takes.
      const batchBuffers = held && children.flatMap((data) => held.take(data));
      const resolved = children.map((data, i) => {
        const column = columns[i] as WriteColumn;
        return column.leaves[0]?.blob === 'v2'
          ? resolveExternalBlobs(column.field.name, data, rowsSeen, external)
          : data;
      });
      let start = 0;
      while (start < batch.numRows) {
        if (!writer) {
          writer = DataFileWriter.create(dataDir, dataFileName(), columns, metadata, version, encodeInWorkers, held);
          written.push(writer.path);
        }
        const take = Math.min(batch.numRows - start, maxRowsPerFile - writer.rows);
        writer.write(
          start === 0 && take === batch.numRows ? resolved : resolved.map((data) => data.slice(start, take)),
        );
        start += take;
        if (writer.rows >= maxRowsPerFile) {
          files.push(await writer.finish());
          writer = undefined;
        } else await writer.waitForRoom();
      }
      if (batchBuffers) held.letGo(batchBuffers);
      rowsSeen += batch.numRows;
    }
    if (writer) files.push(await writer.finish());
  } catch (error) {
    await writer?.abort();
    throw error;
  }
  return files;
}

function checkBatch(
  batch: arrow.RecordBatch,
  columns: WriteColumn[],
  children: arrow.Data[],
  schema: arrow.Schema,
  rowsSeen: number,
): void {
  const sameShape =
    batch.schema.fields.length === schema.fields.length &&
    batch.schema.fields.every(
      (f, i) => f.name === schema.fields[i]?.name && String(f.type) === String(schema.fields[i]?.type),
    );
  if (!sameShape) {
    throw new InvalidArgumentError(
      `data: the record batch starting at row ${rowsSeen} has schema ${batch.schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ')}, unlike the first batch's`,
      { row: rowsSeen },
    );
  }
  columns.forEach((column, i) => {
    const data = children[i] as arrow.Data;
    if (!column.lance.nullable && data.nullCount > 0) {
      throw new InvalidArgumentError(
        `data: column "${column.field.name}" is not nullable but has ${data.nullCount} null(s) in rows ${rowsSeen}..${rowsSeen + batch.numRows - 1}`,
        { column: column.field.name, row: rowsSeen },
      );
    }
  });
}

/** The data files this write adds, the fields they hold and the field ids of their leaf columns. */
interface NewFiles {
  files: WrittenFile[];
  fields: FieldProto[];
  leafIds: number[];
  fileVersion: WriteFileVersion;
}

/** The fragments of the files written, one each, numbered from `firstId`. */
function fragmentsOf({ files, leafIds, fileVersion }: NewFiles, firstId: number): ManifestProto['fragments'] {
  return files.map((file, i) => ({
    id: firstId + i,
    files: [
      {
        path: file.name,
        fields: leafIds,
        column_indices: leafIds.map((_, c) => c),
        file_major_version: 2,
        file_minor_version: fileVersion === '2.2' ? 2 : 1,
        file_size_bytes: file.sizeBytes,
      },
    ],
    physical_rows: file.rows,
  }));
}

/**
 * The manifest of `version`. From `base` (the previous version, for an append; its configuration only,
 * for an overwrite) it keeps the fragments with their deletion files, feature flags, table config and
 * fragment numbering; the transaction fields, which describe the previous commit, are replaced by
 * `transactionFile`.
 */
function buildManifest(
  base: Partial<ManifestProto>,
  version: number,
  added: NewFiles,
  schemaMetadata: Record<string, Uint8Array>,
  transactionFile: string,
  basePaths: BasePathProto[],
): ManifestProto {
  // Lance sets feature flag 16 for readers and writers whenever the manifest registers a base path.
  const baseFlag = basePaths.length > 0 ? FLAG_BASE_PATHS : 0n;
  const kept = base.fragments ?? [];
  let nextId = base.max_fragment_id !== undefined ? base.max_fragment_id + 1 : 0;
  for (const fragment of kept) nextId = Math.max(nextId, fragment.id + 1);
  const fragments = [...kept, ...fragmentsOf(added, nextId)];
  nextId += added.files.length;
  const manifest: ManifestProto = {
    fields: added.fields,
    fragments,
    version,
    schema_metadata: schemaMetadata,
    timestamp: manifestTimestamp(),
    tag: '',
    reader_feature_flags: (base.reader_feature_flags ?? 0n) | baseFlag,
    writer_feature_flags: (base.writer_feature_flags ?? 0n) | baseFlag,
    writer_version: WRITER_VERSION,
    data_format: { file_format: 'lance', version: added.fileVersion },
    base_paths: basePaths,
    next_row_id: base.next_row_id ?? 0,
    config: base.config ?? {},
    table_metadata: base.table_metadata ?? {},
    transaction_file: transactionFile,
  };
  const maxId = Math.max(nextId - 1, base.max_fragment_id ?? -1);
  if (maxId >= 0) manifest.max_fragment_id = maxId;
  return manifest;
}

/**
 * Writes `data` as a Lance dataset at `path` (a directory path or a `file:` URL), or appends to or
 * overwrites the one there, and commits it as a new version that LanceDB and {@link openDataset} read.
 *
 * Data files use file version 2.2 (LanceDB 0.39's default; `fileVersion: '2.1'` for 2.1) with LanceDB's
 * layouts: mini-block pages for values under 256 bytes, full-zip pages for larger ones (vectors of 64+
 * floats, images, long strings), and in 2.2 constant pages where every valid value is the same.
 * Writable column types: ints, floats (16/32/64-bit), bool, date32/date64, timestamps, utf8, binary,
 * large utf8/binary, fixed-size binary, and fixed-size lists of fixed-width values, each nullable or not,
 * and lists (`large_list` by `options.largeLists`), maps and structs of these.
 *
 * ```ts
 * await writeDataset('data/emb.lance', table);                              // a new dataset
 * await writeDataset('data/emb.lance', moreBatches, { mode: 'append' });
 * await writeDataset('data/rows.lance', rows(), { schema, mode: 'overwrite' });
 * ```
 *
 * @throws InvalidArgumentError for bad options, a dataset that exists (create) or is missing (append),
 *   data that does not match the dataset's schema (append), or nulls in a non-nullable column.
 * @throws UnsupportedError for a column type the writer cannot write.
 * @throws CommitConflictError when another writer committed first and the write cannot be retried.
 * @throws IoError when a file cannot be written (the dataset stays at its previous version).
 */
export async function writeDataset(
  path: string | URL,
  data: WriteData,
  options: WriteDatasetOptions = {},
): Promise<WriteResult> {
  const root = toLocalPath(path, {
    name: 'writeDataset(path)',
    accepts: 'a dataset directory: a path or a file: URL',
    tables: false,
  });
  const checked = checkOptions(options);
  const { mode, maxRowsPerFile, encodeInWorkers } = checked;
  const { schema, batches } = await openInput(data, options);
  let committed = readLatestVersion(root);
  if (mode === 'create' && committed) {
    throw new InvalidArgumentError(
      `${root}: a dataset already exists here (version ${committed.version}); pass mode 'append' or 'overwrite'`,
      { path: root, version: committed.version },
    );
  }
  if (mode === 'append' && !committed) {
    throw new InvalidArgumentError(`${root}: there is no dataset to append to; pass mode 'create'`, { path: root });
  }
  const largeLists = options.largeLists ?? [];
  const columns =
    mode === 'append' && committed
      ? appendColumns(root, committed, schema, largeLists)
      : planColumns(schema, 0, largeLists);
  const fileVersion = mode === 'append' && committed ? appendVersion(root, committed, options) : checked.fileVersion;
  const bases = externalBasesOf(
    mode === 'create' ? [] : (committed?.manifest.base_paths ?? []),
    options.externalBases,
    options.allowExternalBlobOutsideBases ?? false,
  );
  await prepareCompression(columns.flatMap((c) => c.leaves.map((leaf) => leafField(c, leaf))));
  const dataDir = join(root, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const written: string[] = [];
  try {
    const files = await writeFiles(
      dataDir,
      columns,
      schema,
      batches,
      maxRowsPerFile,
      fileVersion,
      encodeInWorkers,
      written,
      options.releaseBuffer,
      bases.policy,
    );
    syncDirectory(dataDir);
    const fields = columns.flatMap((c) => c.fields);
    const leafIds = columns.flatMap((c) => c.leaves.map((leaf) => leaf.fieldId));
    const added: NewFiles = { files, fields, leafIds, fileVersion };
    const metadata = mode === 'append' && committed ? committed.manifest.schema_metadata : schemaMetadataBytes(schema);
    const fragments = fragmentsOf(added, 0);
    const readVersion = committed?.version ?? 0;
    const transactionFile = writeTransactionFile(
      root,
      mode === 'append'
        ? { readVersion, operation: 'append', fragments }
        : {
            readVersion,
            operation: 'overwrite',
            fragments,
            fields,
            schemaMetadata: metadata,
            // Lance registers bases in an Overwrite only when it creates the dataset.
            initialBases: committed ? [] : bases.added,
          },
    );
    written.push(join(root, '_transactions', transactionFile));
    for (let attempt = 1; ; attempt++) {
      // Lance's Append, and its Overwrite of an existing dataset, cannot register bases: an UpdateBases
      // version registers them first. A base another writer registered differently is a conflict no
      // retry mends.
      const newBases = committed ? missingBases(root, committed.manifest.base_paths, bases.added) : [];
      try {
        if (committed && newBases.length > 0) committed = commitBases(root, committed, newBases, WRITER_VERSION);
        const version = (committed?.version ?? 0) + 1;
        const base = mode === 'append' ? (committed?.manifest ?? {}) : configOf(committed);
        const basePaths = committed?.manifest.base_paths ?? bases.basePaths;
        const manifest = buildManifest(base, version, added, metadata, transactionFile, basePaths);
        const indexSection = mode === 'append' && committed ? indexSectionOf(committed) : undefined;
        commitManifest(root, version, manifestFileBytes(manifest, indexSection));
        return { version, rows: files.reduce((sum, f) => sum + f.rows, 0), files: files.length };
      } catch (error) {
        if (!(error instanceof CommitConflictError) || mode !== 'append' || attempt >= MAX_APPEND_ATTEMPTS) {
          if (error instanceof CommitConflictError && mode === 'append') {
            throw new CommitConflictError(`${error.message}, ${attempt} times in a row; giving up`, error.details);
          }
          throw error;
        }
        committed = readLatestVersion(root);
        const again = committed && appendColumns(root, committed, schema, largeLists);
        if (!again || again.flatMap((c) => c.fields).some((f, i) => f.id !== fields[i]?.id)) {
          throw new CommitConflictError(
            `${root}: another writer replaced the dataset's schema while this append was written`,
            {
              path: root,
            },
          );
        }
      }
    }
  } catch (error) {
    // A data file's blob sidecars are in the folder named after it.
    for (const file of written) {
      fs.rmSync(file, { force: true });
      fs.rmSync(file.replace(/\.lance$/, ''), { recursive: true, force: true });
    }
    throw error;
  }
}

/** The file version a dataset's manifest records (2.0 when it records none, as in the oldest datasets). */
function datasetFileVersion(committed: CommittedVersion): string {
  return committed.manifest.data_format?.version ?? '2.0';
}

/** The file version an append writes: the dataset's, which `options.fileVersion` may name but not change. */
function appendVersion(root: string, committed: CommittedVersion, options: WriteDatasetOptions): WriteFileVersion {
  const stored = datasetFileVersion(committed) as WriteFileVersion;
  if (options.fileVersion !== undefined && options.fileVersion !== stored) {
    throw new InvalidArgumentError(
      `${root}: options.fileVersion is ${JSON.stringify(options.fileVersion)} but the dataset stores file version ${stored}; an append writes the dataset's version (leave fileVersion out)`,
      { path: root, option: 'fileVersion', fileVersion: stored },
    );
  }
  return stored;
}

/** What an overwrite keeps of the previous version: its table configuration and fragment numbering. */
function configOf(committed: CommittedVersion | undefined): Partial<ManifestProto> {
  if (!committed) return {};
  const { config, table_metadata, max_fragment_id } = committed.manifest;
  return { config, table_metadata, max_fragment_id };
}

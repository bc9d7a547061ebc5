/**
 * `openFile`: one Lance data file (`.lance`) read on its own, with the schema stored in the file.
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError, InvalidArgumentError, LanceLoaderError } from '../errors.js';
import { describeValue } from '../samplers/options.js';
import type { FileMetadata, PageInfo } from '../format/file-metadata.js';
import { describeLayout } from '../format/layout.js';
import { checkPageSupported } from '../format/page-support.js';
import { describeLayers, pageLayers } from '../format/repdef.js';
import { buildFieldTree, fieldPaths, toArrowSchema, type LanceField } from '../format/schema.js';
import { decodeWholePage } from '../decode-workers/encodings/decode-task.js';
import { createPageCache, type PageCache } from '../io/plan.js';
import { fetchFileMetadata } from '../io/open-file.js';
import { FileSource, type ByteSource } from '../io/source.js';
import {
  checkReadableFields,
  columnIndexesOfFile,
  createOutputs,
  leafColumns,
  selectFields,
  toRecordBatch,
} from './columns.js';
import { columnRead, readInline, type ColumnRead } from './read-rows.js';
import { sortWithSlots, toRowOffsets } from './rows.js';
import type { RemoteIoOptions } from '../io/remote/remote-options.js';
import type { StorageOptions } from '../io/remote/storage-options.js';
import { explainNotAFile, resolveLocation, type LocationArgument } from './location.js';
import { openRemoteFile } from './storage.js';

/** Options of `take`. */
export interface TakeOptions {
  /** Top-level column names to read (default: all). */
  columns?: readonly string[];
}

/** Options of `scan`. */
export interface ScanOptions extends TakeOptions {
  /** Rows per yielded record batch (default 8192). */
  batchSize?: number;
}

/** What `metadata()` reports about a file: versions, columns, pages, layouts, encodings and sizes. */
export interface FileSummary {
  path: string;
  fileSize: number;
  version: string;
  numRows: number;
  columns: {
    index: number;
    field: string | null;
    /** `unsupported`: why lance-loader cannot decode the page yet (absent when it can). */
    pages: { rows: number; layout: string; bufferSizes: number[]; unsupported?: string }[];
    bytes: number;
  }[];
}

/** Whether `value` can be an options argument: an object, not null or an array. */
export function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the options argument of `call` (left out, it is the parameter's default `{}`), so that
 * `take(rows, null)` is an InvalidArgumentError rather than a TypeError on `null.columns`.
 */
export function checkOptionsArgument(options: unknown, call: string, example: string): void {
  if (!isOptionsObject(options)) {
    throw new InvalidArgumentError(
      `${call}: options must be an object such as ${example} (or left out), got ${describeValue(options)}`,
      { option: 'options' },
    );
  }
}

/** Checks a batchSize option. */
export function checkBatchSize(batchSize: unknown): number {
  const value = batchSize ?? 8192;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 1 << 24) {
    throw new InvalidArgumentError(
      `options.batchSize must be an integer from 1 to ${1 << 24}, got ${String(batchSize)}`,
    );
  }
  return value;
}

/** Summarises a file's columns and pages. */
export function summarizeFile(meta: FileMetadata, fieldOfColumn: Map<number, string>): FileSummary {
  return {
    path: meta.path,
    fileSize: meta.fileSize,
    version: meta.version,
    numRows: meta.numRows,
    columns: meta.columns.map((c) => ({
      index: c.index,
      field: fieldOfColumn.get(c.index) ?? null,
      pages: c.pages.map((p) => {
        const page: FileSummary['columns'][number]['pages'][number] = {
          rows: p.numRows,
          layout: describeLayout(p.layout, p.buffers.length) + describeLayers(pageLayers(p.layout)),
          bufferSizes: p.buffers.map((b) => b.size),
        };
        const unsupported = unsupportedReason(p);
        if (unsupported !== undefined) page.unsupported = unsupported;
        return page;
      }),
      bytes: c.pages.reduce((sum, p) => sum + p.buffers.reduce((s, b) => s + b.size, 0), 0),
    })),
  };
}

/** Why lance-loader cannot decode a page (the error's text after the page it names), or undefined. */
function unsupportedReason(page: PageInfo): string | undefined {
  // A nested leaf's pages (more than one rep/def layer) are checked against its field's layers as they are read.
  if ((pageLayers(page.layout)?.length ?? 0) > 1) return undefined;
  try {
    checkPageSupported(page, 'page');
    return undefined;
  } catch (error) {
    if (!(error instanceof LanceLoaderError)) throw error;
    return error.message.replace(/^page: /, '');
  }
}

/** A single Lance data file opened for reading. */
export class LanceFile {
  /** The file's Arrow schema (with field metadata). */
  readonly schema: arrow.Schema;
  private readonly cache: PageCache = createPageCache(decodeWholePage);
  private readonly columnOf: Map<number, number>;

  private constructor(
    private readonly source: ByteSource,
    private readonly meta: FileMetadata,
    private readonly fields: LanceField[],
  ) {
    this.schema = toArrowSchema(fields, meta.schemaMetadata);
    this.columnOf = columnIndexesOfFile(fields, meta.version);
    const needed = this.columnOf.size;
    if (needed !== meta.columns.length) {
      throw new CorruptFileError(
        `${meta.path}: the file's schema needs ${needed} columns (file version ${meta.version}) but the file has ${meta.columns.length}`,
        {
          path: meta.path,
          expected: needed,
          actual: meta.columns.length,
        },
      );
    }
    if (meta.version === '2.0') this.checkRowCounts(fields);
  }

  /**
   * 2.0 pages need not add up to the file's rows in list item columns, so parseFileMetadata cannot check
   * them; every column outside a list must hold exactly the file's rows.
   */
  private checkRowCounts(fields: LanceField[]): void {
    for (const field of fields) {
      const index = this.columnOf.get(field.id);
      const column = index === undefined ? undefined : this.meta.columns[index];
      const rows = column ? column.pages.reduce((sum, page) => sum + page.numRows, 0) : this.meta.numRows;
      if (rows !== this.meta.numRows) {
        throw new CorruptFileError(
          `${this.meta.path} column ${index} ("${field.name}"): pages hold ${rows} rows but the file has ${this.meta.numRows}`,
          {
            path: this.meta.path,
            column: index,
          },
        );
      }
      if (!field.logicalType.includes('list')) this.checkRowCounts(field.children);
    }
  }

  /** @internal */
  static async open(source: ByteSource): Promise<LanceFile> {
    try {
      const meta = await fetchFileMetadata(source);
      return new LanceFile(source, meta, buildFieldTree(meta.fields, source.path));
    } catch (error) {
      await source.close();
      throw error;
    }
  }

  /** Rows in the file. */
  get numRows(): number {
    return this.meta.numRows;
  }

  /** Versions, columns, pages, layouts, encodings and buffer sizes of the file. */
  metadata(): FileSummary {
    const names = new Map<number, string>();
    for (const [id, path] of fieldPaths(this.fields)) {
      const c = this.columnOf.get(id);
      if (c !== undefined) names.set(c, path);
    }
    return summarizeFile(this.meta, names);
  }

  /** Reads rows by offset, in the order given (duplicates allowed). */
  async take(rowOffsets: ArrayLike<number | bigint>, options: TakeOptions = {}): Promise<arrow.Table> {
    checkOptionsArgument(options, 'take', "{ columns: ['id'] }");
    const rows = toRowOffsets(rowOffsets, this.numRows);
    return new arrow.Table([await this.readBatch(rows, selectFields(this.fields, options.columns, this.source.path))]);
  }

  /** Reads every row in order, `batchSize` rows per record batch. */
  async *scan(options: ScanOptions = {}): AsyncIterable<arrow.RecordBatch> {
    checkOptionsArgument(options, 'scan', "{ batchSize: 4096, columns: ['id'] }");
    const batchSize = checkBatchSize(options.batchSize);
    const fields = selectFields(this.fields, options.columns, this.source.path);
    for (let start = 0; start < this.numRows; start += batchSize) {
      const end = Math.min(this.numRows, start + batchSize);
      const rows = new Uint32Array(end - start);
      for (let i = 0; i < rows.length; i++) rows[i] = start + i;
      yield await this.readBatch(rows, fields);
    }
  }

  private async readBatch(rows: Uint32Array, fields: LanceField[]): Promise<arrow.RecordBatch> {
    checkReadableFields(fields, this.source.path);
    const sorted = sortWithSlots(rows);
    const columns = leafColumns(fields).map((leaf): ColumnRead => {
      const index = this.columnOf.get(leaf.field.id);
      const column = index === undefined ? undefined : this.meta.columns[index];
      if (!column)
        throw new InvalidArgumentError(`${this.source.path}: field "${leaf.name}" has no column in this file`);
      const columnOf = (id: number) => this.meta.columns[this.columnOf.get(id) ?? -1];
      return columnRead(leaf, column, index as number, this.source.path, columnOf);
    });
    // After columnRead, which checks each column's width against its pages before outputs are sized by it.
    const outputs = createOutputs(fields, rows.length);
    const read = {
      path: this.source.path,
      source: this.source,
      cache: this.cache,
      columns,
      rows: sorted.rows,
      slots: sorted.slots,
    };
    await readInline([read], [], outputs);
    return toRecordBatch(this.schema, fields, outputs, rows.length);
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.source.close();
  }
}

const OPEN_FILE: LocationArgument = {
  name: 'openFile(path)',
  accepts: 'a .lance data file: a path, a file: URL, or an s3:// or http(s):// URL',
  tables: false,
  remote: true,
};

/** Options of {@link openFile}: how a remote file is reached (as {@link OpenDatasetOptions}). */
export interface OpenFileOptions {
  /** Credentials, region and endpoint of an `s3://` file, as OpenDatasetOptions.storage. */
  storage?: StorageOptions;
  /** Requests of a remote file: timeouts and retries, as OpenDatasetOptions.remote. */
  remote?: RemoteIoOptions;
}

/**
 * Opens a single `.lance` data file, given as a local path, a `file:` URL, or an `s3://` or `http(s)://`
 * URL (read by range requests, as a remote dataset's files are).
 */
export async function openFile(location: string | URL, options: OpenFileOptions = {}): Promise<LanceFile> {
  const where = resolveLocation(location, OPEN_FILE);
  checkOptionsArgument(options, 'openFile', '{ storage: { region: "us-east-1" } }');
  if (where.kind === 'remote') return LanceFile.open(await openRemoteFile(where.url, options.storage, options.remote));
  let source: FileSource;
  try {
    source = await FileSource.open(where.path);
  } catch (error) {
    throw (await explainNotAFile(where.path)) ?? error;
  }
  return LanceFile.open(source);
}

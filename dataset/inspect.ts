/**
 * `inspect`: what a Lance dataset directory or a single `.lance` data file holds, as one plain-data
 * report (JSON-safe: no bigints, Maps or Dates) and as aligned text. The CLI (`cli.ts`) prints one or
 * the other; everything it shows comes from the public API (`openDataset`, `openFile`).
 *
 *   path ──stat──► dataset dir ──openDataset──► versions, schema, fragments, describeFiles() ─┐
 *            └───► file.lance ──openFile─────► schema, metadata() ─────────────────────────────┴► InspectReport ─► text
 *
 * Per column it reports page count, rows, total page-buffer bytes and the page layouts grouped by their
 * layout string in first-seen order (`3 × MiniBlock{values=Flat(32b)}`), so a file with thousands of
 * pages still gives a bounded report. Fields and pages that lance-loader cannot read yet are marked with
 * the reason (`✗ …`).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type * as arrow from 'apache-arrow';
import { InternalError, InvalidArgumentError } from '../errors.js';
import { openDataset } from './dataset.js';
import { unreadableReason } from './columns.js';
import { openFile, type FileSummary } from './file.js';
import type { RemoteIoOptions } from '../io/remote/remote-options.js';
import type { StorageOptions } from '../io/remote/storage-options.js';
import { resolveLocation, type DatasetLocation, type LocationArgument } from './location.js';

/** Options of {@link inspect}. */
export interface InspectOptions {
  /** Dataset version to open (datasets only); default the latest. */
  version?: number;
  /** Credentials, region and endpoint of an `s3://` dataset or file, as OpenDatasetOptions.storage. */
  storage?: StorageOptions;
  /** Requests of a remote dataset or file, as OpenDatasetOptions.remote. */
  remote?: RemoteIoOptions;
}

export interface FieldReport {
  name: string;
  /** The Arrow type as apache-arrow prints it, e.g. `Float32`, `List<Int32>`. */
  type: string;
  nullable: boolean;
  metadata: Record<string, string>;
  /** Why lance-loader cannot read the field yet, or null when it can. */
  unreadable: string | null;
}

export interface ColumnReport {
  index: number;
  /** The field the column holds (leaf name), or null when the file does not say. */
  field: string | null;
  pages: number;
  rows: number;
  /** Bytes of all page buffers of the column. */
  bytes: number;
  /** Page layouts grouped by layout string, in first-seen order. */
  layouts: { layout: string; pages: number }[];
  /** Why lance-loader cannot decode some of the column's pages, one entry per reason (empty: it can). */
  unreadable: { reason: string; pages: number }[];
}

export interface DataFileReport {
  /** Absolute path of the file, or its URL (without credentials or query string). */
  path: string;
  /** Lance file format version, e.g. `2.1`. */
  fileVersion: string;
  numRows: number;
  fileSize: number;
  columns: ColumnReport[];
}

export interface FragmentReport {
  id: number;
  physicalRows: number;
  deletedRows: number;
  /** Visible rows (physical minus deleted). */
  numRows: number;
  /** Relative to the dataset directory, or null. */
  deletionFile: string | null;
  /** Data files, with `path` relative to the dataset's `data/` directory. */
  files: ({ path: string; fields: number[] } & Omit<DataFileReport, 'path'>)[];
}

export type InspectReport =
  | {
      kind: 'dataset';
      path: string;
      version: number;
      versions: { version: number; timestamp: string | null }[];
      schema: FieldReport[];
      schemaMetadata: Record<string, string>;
      numRows: number;
      fragments: FragmentReport[];
    }
  | ({ kind: 'file'; schema: FieldReport[]; schemaMetadata: Record<string, string> } & DataFileReport);

const INSPECT: LocationArgument = {
  name: 'inspect(path)',
  accepts: 'a dataset directory or a .lance data file: a path, a file:, s3:// or http(s):// URL, or a LanceDB Table',
  tables: true,
  remote: true,
};

/** A remote data file's URL: a `.lance` object in a `data/` folder, where Lance keeps them. */
const REMOTE_DATA_FILE = /\/data\/[^/]+\.lance$/;

/**
 * Inspects a dataset directory, or a single data file when the path ends in `.lance` and is a file (a
 * remote URL: when it names a `.lance` object in a `data/` folder). `location` is given as for
 * `openDataset` (a path, a `file:`, `s3://` or `http(s)://` URL, or a LanceDB Table).
 */
export async function inspect(location: DatasetLocation, options: InspectOptions = {}): Promise<InspectReport> {
  const where = resolveLocation(location, INSPECT);
  const { storage, remote } = options;
  const full = where.kind === 'remote' ? where.url : resolve(where.path);
  const isFile =
    where.kind === 'remote'
      ? REMOTE_DATA_FILE.test(new URL(where.url).pathname)
      : full.endsWith('.lance') &&
        (await stat(full).then(
          (s) => s.isFile(),
          () => false,
        ));
  if (!isFile) return inspectDataset(full, options);
  if (options.version !== undefined)
    throw new InvalidArgumentError(
      `${full} is a single data file, which has no versions; a version applies to datasets only`,
    );
  const file = await openFile(full, { storage, remote });
  try {
    // A remote file's path is its URL as the store shows it: without credentials or query string.
    const { path: shown, ...summary } = toFileReport(file.metadata());
    return {
      kind: 'file',
      path: where.kind === 'remote' ? shown : full,
      ...summary,
      schema: reportOfSchema(file.schema),
      schemaMetadata: Object.fromEntries(file.schema.metadata),
    };
  } finally {
    await file.close();
  }
}

async function inspectDataset(path: string, options: InspectOptions): Promise<InspectReport> {
  const ds = await openDataset(path, options);
  try {
    const versions = (await ds.versions()).map((v) => ({
      version: v.version,
      timestamp: v.timestamp?.toISOString() ?? null,
    }));
    // describeFiles() lists the data files fragment by fragment, in the order of `fragments[].files`.
    const summaries = await ds.describeFiles();
    let next = 0;
    const fragments = ds.fragments.map((f): FragmentReport => ({
      id: f.id,
      physicalRows: f.physicalRows,
      deletedRows: f.deletedRows,
      numRows: f.numRows,
      deletionFile: f.deletionFile,
      files: f.files.map((file) => {
        const summary = summaries[next++];
        if (!summary)
          throw new InternalError(`describeFiles() returned ${summaries.length} files, fewer than the fragments list`);
        const { path: _path, ...rest } = toFileReport(summary);
        return { path: file.path, fields: file.fields, ...rest };
      }),
    }));
    return {
      kind: 'dataset',
      path,
      version: ds.version,
      versions,
      schema: reportOfSchema(ds.schema),
      schemaMetadata: Object.fromEntries(ds.schema.metadata),
      numRows: ds.numRows,
      fragments,
    };
  } finally {
    await ds.close();
  }
}

function reportOfSchema(schema: arrow.Schema): FieldReport[] {
  return schema.fields.map((f) => ({
    name: f.name,
    type: String(f.type),
    nullable: f.nullable,
    metadata: Object.fromEntries(f.metadata),
    unreadable: unreadableReason(f.type) ?? null,
  }));
}

/** A file summary with each column's pages reduced to totals and grouped layouts. */
export function toFileReport(summary: FileSummary): DataFileReport {
  return {
    path: summary.path,
    fileVersion: summary.version,
    numRows: summary.numRows,
    fileSize: summary.fileSize,
    columns: summary.columns.map((c) => {
      const layouts = new Map<string, number>();
      const unreadable = new Map<string, number>();
      for (const p of c.pages) {
        layouts.set(p.layout, (layouts.get(p.layout) ?? 0) + 1);
        if (p.unsupported !== undefined) unreadable.set(p.unsupported, (unreadable.get(p.unsupported) ?? 0) + 1);
      }
      return {
        index: c.index,
        field: c.field,
        pages: c.pages.length,
        rows: c.pages.reduce((sum, p) => sum + p.rows, 0),
        bytes: c.bytes,
        layouts: [...layouts].map(([layout, pages]) => ({ layout, pages })),
        unreadable: [...unreadable].map(([reason, pages]) => ({ reason, pages })),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Text

/** The report as aligned, human-readable text (ends with a newline). */
export function formatInspectReport(report: InspectReport): string {
  const out: string[] = [];
  if (report.kind === 'dataset') {
    const latest = report.versions[report.versions.length - 1]?.version;
    const physical = report.fragments.reduce((s, f) => s + f.physicalRows, 0);
    out.push(
      ...formatTable([
        ['dataset', report.path],
        ['version', `${report.version}${report.version === latest ? ' (latest)' : ` (latest is ${latest ?? '?'})`}`],
        ['rows', `${report.numRows} visible (${physical} physical, ${physical - report.numRows} deleted)`],
      ]),
      '',
      `versions (${report.versions.length})`,
      ...indent(
        formatTable(
          report.versions.map((v) => [
            String(v.version),
            v.timestamp ?? '-',
            v.version === report.version ? '← opened' : '',
          ]),
          [true],
        ),
      ),
      '',
      ...formatSchema(report.schema, report.schemaMetadata),
      '',
      `fragments (${report.fragments.length})`,
      ...indent(
        formatTable(
          [['id', 'physical rows', 'deleted', 'visible', 'data files', 'deletion file']].concat(
            report.fragments.map((f) => [
              String(f.id),
              String(f.physicalRows),
              String(f.deletedRows),
              String(f.numRows),
              String(f.files.length),
              f.deletionFile ?? '-',
            ]),
          ),
          [true, true, true, true, true],
        ),
      ),
    );
    for (const f of report.fragments) {
      for (const file of f.files) {
        out.push(
          '',
          `fragment ${f.id}: data/${file.path}`,
          ...indent(formatTable(fileFacts(file))),
          ...indent(formatColumns(file.columns)),
        );
      }
    }
  } else {
    out.push(...formatTable([['file', report.path], ...fileFacts(report)]), '');
    out.push(
      ...formatSchema(report.schema, report.schemaMetadata),
      '',
      'columns',
      ...indent(formatColumns(report.columns)),
    );
  }
  return out.join('\n') + '\n';
}

/** Label/value rows about a data file. */
function fileFacts(file: Omit<DataFileReport, 'path'> & { fields?: number[] }): string[][] {
  return [
    ['format', file.fileVersion],
    ['rows', String(file.numRows)],
    ['size', formatBytes(file.fileSize)],
    ...(file.fields ? [['field ids', file.fields.join(', ')]] : []),
  ];
}

function formatSchema(fields: FieldReport[], metadata: Record<string, string>): string[] {
  const lines = [`schema (${fields.length} field${fields.length === 1 ? '' : 's'})`];
  lines.push(
    ...indent(
      formatTable(
        fields.map((f) => [
          f.name,
          f.type,
          f.nullable ? 'nullable' : 'not null',
          formatMetadata(f.metadata),
          f.unreadable === null ? '' : `✗ cannot read yet: ${f.unreadable}`,
        ]),
      ),
    ),
  );
  if (Object.keys(metadata).length > 0) lines.push(`  schema metadata: ${formatMetadata(metadata)}`);
  return lines;
}

function formatColumns(columns: ColumnReport[]): string[] {
  const header = ['column', 'field', 'pages', 'rows', 'bytes', 'layouts'];
  const rows = columns.map((c) => [
    String(c.index),
    c.field ?? '-',
    String(c.pages),
    String(c.rows),
    formatBytes(c.bytes),
    c.layouts.map((l) => `${l.pages} × ${l.layout}`).join(', ') +
      c.unreadable.map((u) => `  ✗ ${u.pages} page${u.pages === 1 ? '' : 's'} cannot be read: ${u.reason}`).join(''),
  ]);
  return formatTable([header, ...rows], [true, false, true, true, true]);
}

/** `{key=value, …}` with long values cut, or '' when empty. */
function formatMetadata(metadata: Record<string, string>): string {
  const entries = Object.entries(metadata);
  if (entries.length === 0) return '';
  const cut = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
  return `{${entries.map(([k, v]) => `${k}=${cut(v)}`).join(', ')}}`;
}

/** Bytes with a binary unit: `410 B`, `2.7 KiB`, `1.5 GiB`. */
function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Pads cells into columns two spaces apart; `right[i]` right-aligns column i. Trailing blanks trimmed. */
function formatTable(rows: string[][], right: boolean[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const width = i === row.length - 1 && !right[i] ? 0 : (widths[i] ?? 0);
        return right[i] ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `  ${line}`);
}

/**
 * What may be passed where a dataset or a data file is expected, turned into a local path, a remote URL
 * or a typed error before anything is opened; and, when a path turns out not to be a dataset, what it is instead.
 *
 *   string ─┬─ "scheme://…" ─┬─ file:// ──fileURLToPath──► local path
 *   URL ────┘                ├─ s3, http(s) ─────────────► remote URL (datasets only; else UnsupportedError)
 *                            └─ gs, az, … ───────────────► UnsupportedError
 *           └─ anything else ────────────────────────────► local path (relative to the working directory)
 *   LanceDB Table ──display(): "NativeTable(name, uri=…, …)"──► the uri, as a string above
 *                 └─ "RemoteTable(name)" (LanceDB Cloud) ─────► UnsupportedError
 *   anything else ───────────────────────────────────────► InvalidArgumentError naming the argument
 *
 * `@lancedb/lancedb` is only a dev dependency, so a Table is recognised by its shape, never imported.
 * Its `display()` is the one place its JS API shows the table's location (0.37–0.39).
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InternalError, InvalidArgumentError, UnsupportedError } from '../errors.js';

/**
 * The part of a LanceDB `Table` (`@lancedb/lancedb`) lance-loader uses: an open local table is read at
 * the location its `display()` names.
 */
export interface LanceDbTableLike {
  readonly name: string;
  display(): string;
}

/**
 * Where a dataset is: a local path (relative to the working directory), a `file:` URL (string or `URL`),
 * an `s3://bucket/prefix/table.lance` or `https://host/path/table.lance` URL, or an open LanceDB `Table`
 * (local or on S3). Other URLs (`gs://`, `az://`, …) are rejected with an `UnsupportedError`.
 */
export type DatasetLocation = string | URL | LanceDbTableLike;

/** The argument being resolved, for messages: its name and what it accepts. */
export interface LocationArgument {
  /** e.g. `openDataset(path)`. */
  name: string;
  /** e.g. `a dataset directory: a path, a file: URL or a LanceDB Table`. */
  accepts: string;
  /** Whether a LanceDB Table may stand for the path (tables are datasets, never single files). */
  tables: boolean;
  /** Whether an s3:// or http(s):// URL is accepted (datasets are; single files and inspect are local only). */
  remote?: boolean;
}

/** A resolved location: a local path, or a remote dataset's URL (s3, http, https) as given. */
export type ResolvedLocation = { kind: 'local'; path: string } | { kind: 'remote'; url: string };

/** URL schemes read remotely. */
const REMOTE_SCHEMES = new Set(['s3', 'http', 'https']);

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The local path `value` names, or a typed error naming `argument` and what was passed. */
export function toLocalPath(value: unknown, argument: LocationArgument): string {
  const location = resolveLocation(value, { ...argument, remote: false });
  if (location.kind === 'remote') throw new InternalError(`${argument.name} resolved to a remote URL`);
  return location.path;
}

/** Where `value` is (local, or remote when `argument.remote`), or a typed error naming `argument` and what was passed. */
export function resolveLocation(value: unknown, argument: LocationArgument): ResolvedLocation {
  if (typeof value === 'string') return locationOfString(value, argument);
  if (value instanceof URL) return locationOfString(value.href, argument);
  if (isLanceDbTable(value)) {
    if (!argument.tables)
      throw new InvalidArgumentError(
        `${argument.name} must be ${argument.accepts}; got ${describeValue(value)}, which is a dataset: open it with openDataset`,
        { argument: argument.name, received: 'LanceDB Table' },
      );
    return locationOfString(locationOfTable(value, argument), argument);
  }
  throw new InvalidArgumentError(`${argument.name} must be ${argument.accepts}; got ${describeValue(value)}`, {
    argument: argument.name,
    received: value === null ? 'null' : typeof value,
  });
}

function locationOfString(text: string, argument: LocationArgument): ResolvedLocation {
  if (text.length === 0)
    throw new InvalidArgumentError(`${argument.name} must be ${argument.accepts}; got an empty string`, {
      argument: argument.name,
    });
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', path: text };
  if (scheme !== 'file') {
    const url = redactUrl(text);
    if (REMOTE_SCHEMES.has(scheme) && argument.remote) return { kind: 'remote', url: text };
    const readable = REMOTE_SCHEMES.has(scheme)
      ? `${argument.name} reads local files only (openDataset and createLoader read s3:// and http(s):// datasets)`
      : 'lance-loader cannot read it: it reads local, s3:// and http(s):// datasets; copy or mount the dataset locally and pass its path';
    throw new UnsupportedError(`${url} is a remote URL (${scheme}://): ${readable}`, { url, scheme });
  }
  try {
    return { kind: 'local', path: fileURLToPath(text) };
  } catch (cause) {
    throw new InvalidArgumentError(
      `${argument.name}: ${redactUrl(text)} names no local path (${(cause as Error).message}); write file:///absolute/path or pass the path itself`,
      { argument: argument.name, url: redactUrl(text) },
    );
  }
}

/** The URL without credentials, query string or fragment, so it can go into a message or a log. */
function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return text.replace(/[?#].*$/s, '').replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
  }
}

function isLanceDbTable(value: unknown): value is LanceDbTableLike & { isOpen(): boolean } {
  if (typeof value !== 'object' || value === null) return false;
  const table = value as Record<string, unknown>;
  return (
    typeof table.name === 'string' &&
    typeof table.display === 'function' &&
    typeof table.isOpen === 'function' &&
    typeof table.query === 'function'
  );
}

/** LanceDB's Rust `Display` of a local table: `NativeTable(<name>, uri=<uri>, read_consistency_interval=<…>)`. */
const NATIVE_TABLE = /^NativeTable\(.*?, uri=(.*), read_consistency_interval=[^,]*\)$/s;

function locationOfTable(table: LanceDbTableLike & { isOpen(): boolean }, argument: LocationArgument): string {
  const hint = `pass its path instead, e.g. path.join(dbUri, '${table.name}.lance')`;
  if (!table.isOpen())
    throw new InvalidArgumentError(`${argument.name} got a closed LanceDB Table ("${table.name}"); ${hint}`, {
      argument: argument.name,
      table: table.name,
    });
  const shown = table.display();
  const uri = NATIVE_TABLE.exec(shown)?.[1];
  if (uri !== undefined) return uri;
  if (shown.startsWith('RemoteTable('))
    throw new UnsupportedError(
      `${argument.name} got a LanceDB Cloud Table ("${table.name}"), which lance-loader cannot read; pass the s3:// URL of its dataset if you have one`,
      { argument: argument.name, table: table.name },
    );
  throw new InvalidArgumentError(
    `${argument.name} got a LanceDB Table ("${table.name}") whose location lance-loader cannot learn (its display() is "${shown}"); ${hint}`,
    { argument: argument.name, table: table.name },
  );
}

/** What a value is, for a message: `a number (123)`, `null`, `a plain object`, `a Dataset object`. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (isLanceDbTable(value)) return `a LanceDB Table ("${value.name}")`;
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return `a ${typeof value} (${String(value)})`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    case 'object': {
      const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      if (Array.isArray(value)) return 'an array';
      return typeof name === 'string' && name !== 'Object' && name !== '' ? `a ${name} object` : 'a plain object';
    }
    default:
      return typeof value;
  }
}

/** Table names listed in a message at most; the rest are counted. */
const MAX_LISTED_TABLES = 10;

/**
 * Why `path`, which is not a Lance dataset directory, cannot be opened as one, when it is something
 * recognisable: a LanceDB database folder (its `*.lance` directories are the tables) or a single data
 * file. Undefined otherwise, so the caller reports its own "not a Lance dataset".
 */
export async function explainNotADataset(path: string): Promise<InvalidArgumentError | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile() && path.endsWith('.lance')) {
    const dataset = dirname(dirname(path));
    const inDataset = basename(dirname(path)) === 'data' && (await isDatasetDirectory(dataset));
    return new InvalidArgumentError(
      `${path} is a single Lance data file, not a dataset directory: open it with openFile(path)` +
        (inDataset ? `, or open its dataset ${dataset} with openDataset` : ''),
      { path, ...(inDataset ? { dataset } : {}) },
    );
  }
  if (!info?.isDirectory()) return undefined;
  const entries: Dirent[] = await readdir(path, { withFileTypes: true }).catch(() => []);
  const tables = entries
    .filter((e) => e.isDirectory() && e.name.endsWith('.lance'))
    .map((e) => e.name)
    .sort();
  const first = tables[0];
  if (first === undefined) return undefined;
  const listed = tables.slice(0, MAX_LISTED_TABLES).map((t) => t.slice(0, -'.lance'.length));
  const more = tables.length > listed.length ? ` and ${tables.length - listed.length} more` : '';
  return new InvalidArgumentError(
    `${path} is a LanceDB database folder, not a table: it holds the table${tables.length === 1 ? '' : 's'} ${listed.join(', ')}${more}; pass one of them, e.g. ${join(path, first)}`,
    { path, tables: tables.map((t) => t.slice(0, -'.lance'.length)) },
  );
}

/**
 * Why `path`, which is not a regular file, cannot be opened as a data file, when it is a dataset
 * directory; undefined otherwise.
 */
export async function explainNotAFile(path: string): Promise<InvalidArgumentError | undefined> {
  if (!(await isDatasetDirectory(path))) return undefined;
  return new InvalidArgumentError(
    `${path} is a Lance dataset directory, not a single data file: open it with openDataset(path)`,
    { path },
  );
}

async function isDatasetDirectory(path: string): Promise<boolean> {
  return stat(join(path, '_versions')).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

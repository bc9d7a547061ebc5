/**
 * Shared helpers of the bad-input tests: LanceDB-written fixture datasets (file versions 2.0, 2.1 and 2.2) copied
 * into temp directories to be damaged, readers that touch every byte a reader can see, an assertion on typed
 * errors, a memory bound, and byte surgery on data files and manifests (protobufs re-encoded with protobufjs
 * from lance-loader's own definitions).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { Table, Utf8, tableFromArrays, vectorFromArray } from 'apache-arrow';
import protobuf from 'protobufjs';
import { expect } from 'vitest';
import { LanceLoaderError, openDataset, openFile, type ErrorCode } from '../../index.js';
import { protoSources } from '../../format/proto/definitions.js';

// ---------------------------------------------------------------------------------------------------
// Fixtures: one small table (id Int32, x Float32, s Utf8) written as file versions 2.0, 2.1 and 2.2.

export const NUM_ROWS = 300;
export const VERSIONS = ['2.0', '2.1', '2.2'] as const;
type Version = (typeof VERSIONS)[number];

const tempDirs: string[] = [];
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llbad-'));
  tempDirs.push(dir);
  return dir;
}

function sampleTable(): Table {
  const base = tableFromArrays({
    id: Int32Array.from({ length: NUM_ROWS }, (_, i) => i),
    x: Float32Array.from({ length: NUM_ROWS }, (_, i) => i * 0.5),
  });
  const strings = Array.from({ length: NUM_ROWS }, (_, i) => `row-${i}-${'x'.repeat(i % 7)}`);
  return new Table({ id: base.getChild('id')!, x: base.getChild('x')!, s: vectorFromArray(strings, new Utf8()) });
}

export async function writeDataset(
  version: Version,
  edit?: (table: lancedb.Table) => Promise<unknown>,
): Promise<string> {
  const dir = tempDir();
  const db = await lancedb.connect(dir);
  const table = await db.createTable('t', sampleTable(), {
    storageOptions: { new_table_data_storage_version: version },
  });
  await edit?.(table);
  table.close();
  return path.join(dir, 't.lance');
}

const pristine = new Map<Version, string>();

/** A fresh copy of the pristine dataset of `version`, safe to damage. */
export function copyDataset(version: Version): { root: string; dataFile: string; manifest: string } {
  const source = pristine.get(version);
  if (!source) throw new Error(`no pristine ${version} dataset`);
  const root = path.join(tempDir(), 't.lance');
  fs.cpSync(source, root, { recursive: true });
  return { root, dataFile: onlyDataFile(root), manifest: latestManifest(root) };
}

function onlyDataFile(root: string): string {
  const files = fs.readdirSync(path.join(root, 'data')).filter((f) => f.endsWith('.lance'));
  if (files.length !== 1) throw new Error(`expected one data file in ${root}, found ${files.length}`);
  return path.join(root, 'data', files[0] as string);
}

function latestManifest(root: string): string {
  // V2 naming: u64::MAX − version, so the newest version sorts first.
  const names = fs
    .readdirSync(path.join(root, '_versions'))
    .filter((f) => f.endsWith('.manifest'))
    .sort();
  return path.join(root, '_versions', names[0] as string);
}

// ---------------------------------------------------------------------------------------------------
// Reading and asserting

/** Everything a reader can see of a file, as text: schema, a full scan, a shuffled take. */
export async function readAllOfFile(file: string): Promise<string> {
  const lance = await openFile(file);
  try {
    const lines = [lance.schema.fields.map((f) => `${f.name}:${f.type}`).join(',')];
    for await (const batch of lance.scan({ batchSize: 100 }))
      lines.push(...batch.toArray().map((row) => JSON.stringify(row.toJSON())));
    const take = await lance.take([NUM_ROWS - 1, 0, 7, 150, 7]);
    lines.push(...take.toArray().map((row) => JSON.stringify(row.toJSON())));
    return lines.join('\n');
  } finally {
    await lance.close();
  }
}

export async function readAllOfDataset(root: string): Promise<string> {
  const ds = await openDataset(root);
  try {
    const lines: string[] = [];
    for await (const batch of ds.scan({ batchSize: 128 }))
      lines.push(...batch.toArray().map((row) => JSON.stringify(row.toJSON())));
    const take = await ds.take([NUM_ROWS - 1, 0, 7]);
    lines.push(...take.toArray().map((row) => JSON.stringify(row.toJSON())));
    return lines.join('\n');
  } finally {
    await ds.close();
  }
}

type ErrorClass = new (...args: never[]) => LanceLoaderError;

/** Awaits `run` and asserts it rejects with `Class`/`code` and a message containing every `needle`. */
export async function expectFailure(
  run: () => Promise<unknown>,
  Class: ErrorClass,
  code: ErrorCode,
  ...needles: (string | RegExp)[]
): Promise<LanceLoaderError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof Class)) {
    throw new Error(
      `expected ${Class.name}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
    );
  }
  expect(caught.code).toBe(code);
  for (const needle of needles) {
    if (typeof needle === 'string') expect(caught.message).toContain(needle);
    else expect(caught.message).toMatch(needle);
  }
  return caught;
}

/** Runs `run` and asserts that array-buffer memory did not grow by more than `limitBytes`. */
export async function withinMemory<T>(limitBytes: number, run: () => Promise<T>): Promise<T> {
  const before = process.memoryUsage().arrayBuffers;
  const result = await run();
  const grown = process.memoryUsage().arrayBuffers - before;
  expect(grown).toBeLessThan(limitBytes);
  return result;
}

export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------
// Byte surgery on data files:
//   [data buffers][global buffers][column metadata 0..N-1][CMO: N × (u64 pos, u64 size)][GBO][footer 40 B]
//   footer = u64 column_meta_start | u64 cmo_table_offset | u64 gbo_table_offset |
//            u32 num_global_buffers | u32 num_columns | u16 major | u16 minor | "LANC"

const protoRoot = new protobuf.Root();
for (const source of protoSources) protobuf.parse(source, protoRoot, { keepCase: true });
protoRoot.resolveAll();
const ColumnMetadata = protoRoot.lookupType('lance.file.v2.ColumnMetadata');
const FileDescriptor = protoRoot.lookupType('lance.file.FileDescriptor');
export const AnyMessage = protoRoot.lookupType('lance.wk.Any');
export const PageLayout = protoRoot.lookupType('lance.encodings21.PageLayout');
const Manifest = protoRoot.lookupType('lance.table.Manifest');

/** Mutable views of decoded messages (protobufjs messages with keepCase field names). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- protobufjs messages are untyped trees the tests mutate
export type Msg = Record<string, any>;

export interface Range {
  offset: number;
  size: number;
}

interface FileParts {
  bytes: Buffer;
  columnMetaStart: number;
  cmoTableOffset: number;
  gboTableOffset: number;
  columns: Range[];
  globals: Range[];
}

export const FOOTER = 40;

export function parseParts(bytes: Buffer): FileParts {
  const footer = bytes.length - FOOTER;
  const u64 = (at: number) => Number(bytes.readBigUInt64LE(at));
  const table = (at: number, count: number): Range[] =>
    Array.from({ length: count }, (_, i) => ({ offset: u64(at + i * 16), size: u64(at + i * 16 + 8) }));
  const cmoTableOffset = u64(footer + 8);
  const gboTableOffset = u64(footer + 16);
  return {
    bytes,
    columnMetaStart: u64(footer),
    cmoTableOffset,
    gboTableOffset,
    columns: table(cmoTableOffset, bytes.readUInt32LE(footer + 28)),
    globals: table(gboTableOffset, bytes.readUInt32LE(footer + 24)),
  };
}

const slice = (bytes: Buffer, range: Range) => bytes.subarray(range.offset, range.offset + range.size);

export function decodeColumn(parts: FileParts, index: number): Msg {
  return ColumnMetadata.decode(slice(parts.bytes, parts.columns[index] as Range)) as Msg;
}

/**
 * Rebuilds a data file with edited column metadata and/or schema (global buffer 0): keeps the bytes before
 * the column metadata, appends an edited schema there, then re-encoded column metadata, both offset tables
 * and a footer with the same version. With no edits the result reads exactly like the original.
 */
export function rewriteDataFile(
  file: string,
  edit: { column?: (index: number, column: Msg) => void; descriptor?: (descriptor: Msg) => void },
): void {
  const parts = parseParts(fs.readFileSync(file));
  const chunks: Uint8Array[] = [parts.bytes.subarray(0, parts.columnMetaStart)];
  let at = parts.columnMetaStart;
  const append = (bytes: Uint8Array): Range => {
    chunks.push(bytes);
    const range = { offset: at, size: bytes.length };
    at += bytes.length;
    return range;
  };
  const globals = parts.globals.map((range, i) => {
    if (i !== 0 || !edit.descriptor) return range;
    const descriptor = FileDescriptor.decode(slice(parts.bytes, range)) as Msg;
    edit.descriptor(descriptor);
    return append(FileDescriptor.encode(descriptor).finish());
  });
  const columnMetaStart = at;
  const columns = parts.columns.map((_, i) => {
    const column = decodeColumn(parts, i);
    edit.column?.(i, column);
    return append(ColumnMetadata.encode(column).finish());
  });
  const offsetTable = (ranges: Range[]) => {
    const table = Buffer.alloc(ranges.length * 16);
    ranges.forEach((r, i) => {
      table.writeBigUInt64LE(BigInt(r.offset), i * 16);
      table.writeBigUInt64LE(BigInt(r.size), i * 16 + 8);
    });
    return table;
  };
  const cmoTableOffset = append(offsetTable(columns)).offset;
  const gboTableOffset = append(offsetTable(globals)).offset;
  const footer = Buffer.from(parts.bytes.subarray(parts.bytes.length - FOOTER));
  footer.writeBigUInt64LE(BigInt(columnMetaStart), 0);
  footer.writeBigUInt64LE(BigInt(cmoTableOffset), 8);
  footer.writeBigUInt64LE(BigInt(gboTableOffset), 16);
  append(footer);
  fs.writeFileSync(file, Buffer.concat(chunks));
}

/** Edits the 2.1 PageLayout inside a page's Encoding{direct{Any{PageLayout}}}. */
export function editPageLayout(page: Msg, edit: (layout: Msg) => void): void {
  const any = AnyMessage.decode(page.encoding.direct.encoding) as Msg;
  const layout = PageLayout.decode(any.value) as Msg;
  edit(layout);
  any.value = PageLayout.encode(layout).finish();
  page.encoding.direct.encoding = AnyMessage.encode(any).finish();
}

/** Overwrites bytes of a file in place. */
export function patchFile(file: string, at: number, bytes: ArrayLike<number>): void {
  const data = fs.readFileSync(file);
  data.set(bytes, at);
  fs.writeFileSync(file, data);
}

export function u64Bytes(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}

export function u32Bytes(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

// Manifest surgery: [sections] u32 len | Manifest | i64 manifest_pos | u16 major | u16 minor | "LANC"

function readManifest(file: string): Msg {
  const bytes = fs.readFileSync(file);
  const position = Number(bytes.readBigInt64LE(bytes.length - 16));
  const length = bytes.readUInt32LE(position);
  return Manifest.decode(bytes.subarray(position + 4, position + 4 + length)) as Msg;
}

/** Writes `manifest` (plus `extraFields`, raw protobuf bytes appended to its encoding) as a manifest file. */
function writeManifest(file: string, manifest: Msg, extraFields: ArrayLike<number> = []): void {
  const body = Buffer.concat([Manifest.encode(manifest).finish(), Uint8Array.from(extraFields)]);
  const out = Buffer.alloc(4 + body.length + 16);
  out.writeUInt32LE(body.length, 0);
  out.set(body, 4);
  out.writeBigInt64LE(0n, 4 + body.length); // the u32 length prefix is at byte 0
  out.writeUInt16LE(0, 4 + body.length + 8);
  out.writeUInt16LE(2, 4 + body.length + 10);
  out.write('LANC', 4 + body.length + 12, 'latin1');
  fs.writeFileSync(file, out);
}

/** Gives field `name` of a protobuf schema the logical type `logicalType`. */
export function retype(fields: Msg[], name: string, logicalType: string): void {
  const field = fields.find((f) => f.name === name);
  if (!field) throw new Error(`no field ${name}`);
  field.logical_type = logicalType;
}

export function editManifest(file: string, edit: (manifest: Msg) => void, extraFields: ArrayLike<number> = []): void {
  const manifest = readManifest(file);
  edit(manifest);
  writeManifest(file, manifest, extraFields);
}

/** Writes the pristine datasets; call from `beforeAll`. */
export async function writePristineDatasets(): Promise<void> {
  for (const version of VERSIONS) pristine.set(version, await writeDataset(version));
}

/** Removes every temp directory made so far; call from `afterAll`. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * External blob v2 rows (`{ data: null, uri }`) written by lance-loader and by LanceDB 0.39, read by
 * both. LanceDB's JS API stores a URI only under an external base the manifest registers, and cannot
 * register one, so its rows here are appended to tables whose bases lance-loader's writer registered
 * (`externalBases`); lance-loader also writes absolute URIs (`allowExternalBlobOutsideBases`), as Lance's
 * Python and Rust APIs do. Every value is compared with LanceDB's `fetchBlobs`; descriptors with
 * LanceDB's query.
 */
import fs from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { rejection } from '../caught.js';
import { CorruptFileError, InternalError, IoError, UnsupportedError, openDataset, writeDataset } from '../../index.js';
import { toLanceDbArrow } from '../fixtures/arrow-bridge.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { oracleScan } from '../fixtures/oracle.js';
import { gatherBlobV2Page } from '../../writer/blob.js';
import { manifestFileName, readLatestVersion } from '../../writer/commit.js';
import { parseManifest } from '../../format/manifest.js';
import type { BasePathProto, ManifestProto } from '../../format/proto/messages.js';
import { protoSources } from '../../format/proto/definitions.js';
import { editManifest } from '../dataset/bad-input-helpers.js';
import { hex, scanOurs } from './read-back.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-blob-external-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * External files: `me dia/` (a base), a folder inside it whose name has what URLs escape (stored as
 * LanceDB stores it), `other/` outside every base.
 */
const media = join(root, 'me dia');
const sub = 'sub #%41é';
const other = join(root, 'other');
fs.mkdirSync(join(media, sub), { recursive: true });
fs.mkdirSync(other);
const bytesOf = (seed: number, size: number) => Uint8Array.from({ length: size }, (_, j) => (seed * 13 + j * 7) & 0xff);
const files: Record<string, Uint8Array> = {
  [join(media, 'a.bin')]: bytesOf(1, 1000),
  [join(media, sub, 'big.bin')]: bytesOf(2, 200_000),
  [join(media, 'c.bin')]: bytesOf(3, 0),
  [join(other, 'd.bin')]: bytesOf(4, 5000),
};
for (const [path, bytes] of Object.entries(files)) fs.writeFileSync(path, bytes);

const BLOB_V2 = new Map([['ARROW:extension:name', 'lance.blob.v2']]);
const blobType = new arrow.Struct([
  new arrow.Field('data', new arrow.LargeBinary(), true),
  new arrow.Field('uri', new arrow.Utf8(), true),
]);
const schema = new arrow.Schema([
  new arrow.Field('idx', new arrow.Int32(), false),
  new arrow.Field('image', blobType, true, BLOB_V2),
]);

/** A blob row: its bytes, a URI, or null. */
type Blob = { data: Uint8Array } | { uri: string } | null;

/** `{ idx, image }` rows from `first` on, as an Arrow table. */
function blobTable(first: number, blobs: Blob[]): arrow.Table {
  const rows = blobs.map((blob, k) => ({
    idx: first + k,
    image: blob === null ? null : { data: 'data' in blob ? blob.data : null, uri: 'uri' in blob ? blob.uri : null },
  }));
  const image = arrow.makeBuilder({ type: blobType, nullValues: [null, undefined] });
  const idx = arrow.makeBuilder({ type: new arrow.Int32() });
  for (const row of rows) {
    image.append(row.image as unknown as arrow.StructRowProxy | null);
    idx.append(row.idx);
  }
  const struct = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: rows.length,
    children: [idx.finish().flush(), image.finish().flush()],
  });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

/** What each row's blob should read as (hex), from the files or the bytes given. */
function expected(blobs: Blob[]): (string | null)[] {
  return blobs.map((blob) => {
    if (blob === null) return null;
    if ('data' in blob) return hex(blob.data);
    const path = blob.uri.startsWith('file:') ? fileURLToPath(blob.uri) : blob.uri;
    return hex(files[path]);
  });
}

async function withTable<T>(path: string, use: (table: lancedb.Table) => Promise<T>): Promise<T> {
  const db = await lancedb.connect(dirname(path));
  const table = await db.openTable(basename(path, '.lance'));
  try {
    return await use(table);
  } finally {
    table.close();
    db.close();
  }
}

/** Every row's blob as LanceDB's `fetchBlobs` returns it (hex), in row order, at `version` (default: the latest). */
function lanceDbBlobs(path: string, version?: number): Promise<(string | null)[]> {
  return withTable(path, async (table) => {
    if (version !== undefined) await table.checkout(version);
    const rows = await table.query().select(['idx']).withRowId().toArray();
    const blobs = await table.fetchBlobs(
      'image',
      rows.map((row) => row._rowid as bigint),
    );
    return blobs.map((b) => hex(b));
  });
}

/** Every row's blob as lance-loader's `takeBlobs` returns it (hex), with `externalRoots`. */
async function ourBlobs(path: string, externalRoots: string[]): Promise<(string | null)[]> {
  const ds = await openDataset(path);
  try {
    const rows = Array.from({ length: ds.numRows }, (_, i) => i);
    const handles = await ds.takeBlobs(rows, 'image', { externalRoots });
    return await Promise.all(handles.map(async (h) => (h ? hex(new Uint8Array(await h.arrayBuffer())) : null)));
  } finally {
    await ds.close();
  }
}

/** LanceDB's `table.add` of `blobs` to the table at `path`. */
function lanceDbAdd(path: string, first: number, blobs: Blob[]): Promise<void> {
  return withTable(path, async (table) => void (await table.add(toLanceDbArrow(blobTable(first, blobs)))));
}

/**
 * A manifest's base paths, each as its four fields: a parsed optional field (`name`) also comes with
 * protobufjs's `_name`, its synthetic oneof.
 */
function basesOf(manifest: ManifestProto | undefined): BasePathProto[] | undefined {
  return manifest?.base_paths.map(({ id, name, is_dataset_root, path }) => ({ id, name, is_dataset_root, path }));
}

/** The descriptors LanceDB's query returns for rows `from`..`to` (exclusive) of the image column. */
async function descriptors(path: string, from: number, to: number): Promise<unknown[]> {
  const table = await oracleScan(path, ['image']);
  return Array.from({ length: to - from }, (_, k) => {
    const row = table.get(from + k)?.image as arrow.StructRowProxy | null;
    return row ? { ...row.toJSON(), position: Number(row.position), size: Number(row.size) } : null;
  });
}

describe('external blobs under a base, written by lance-loader and LanceDB into one table', () => {
  const path = join(root, 'based.lance');
  const ours: Blob[] = [
    { data: bytesOf(9, 300) },
    { uri: join(media, 'a.bin') },
    { uri: pathToFileURL(join(media, sub, 'big.bin')).href },
    null,
    { uri: join(media, 'c.bin') },
  ];
  const theirs: Blob[] = [{ uri: pathToFileURL(join(media, 'a.bin')).href }, { uri: join(media, sub, 'big.bin') }];
  const ourAppend: Blob[] = [{ uri: join(media, sub, 'big.bin') }, { data: bytesOf(8, 70_000) }];
  const all = [...ours, ...theirs, ...ourAppend];

  it('is created by lance-loader with the base registered and flag 16 set, as LanceDB sets it', async () => {
    await writeDataset(path, blobTable(0, ours), { externalBases: [media] });
    const { manifest } = readLatestVersion(path) ?? {};
    expect(basesOf(manifest)).toEqual([
      { id: 1, name: 'me dia', is_dataset_root: false, path: pathToFileURL(media).href },
    ]);
    expect([manifest?.reader_feature_flags, manifest?.writer_feature_flags]).toEqual([16n, 16n]);
  });

  it('takes LanceDB appends of external rows, which store the same descriptors lance-loader stores', async () => {
    await lanceDbAdd(path, ours.length, theirs);
    const { manifest } = readLatestVersion(path) ?? {};
    expect(manifest?.base_paths.map((b) => b.id)).toEqual([1]);
    expect(manifest?.reader_feature_flags).toBe(16n);
    expect(await descriptors(path, 1, 3)).toEqual(await descriptors(path, 5, 7));
    expect(await descriptors(path, 1, 3)).toEqual([
      { kind: 3, position: 0, size: 0, blob_id: 1, blob_uri: 'a.bin' },
      { kind: 3, position: 0, size: 0, blob_id: 1, blob_uri: `${sub}/big.bin` },
    ]);
  });

  it("reuses the dataset's base id when lance-loader appends after LanceDB", async () => {
    await writeDataset(path, blobTable(all.length - ourAppend.length, ourAppend), {
      mode: 'append',
      externalBases: [pathToFileURL(media)],
    });
    const { manifest } = readLatestVersion(path) ?? {};
    expect(manifest?.base_paths.map((b) => b.id)).toEqual([1]);
    expect(await descriptors(path, 7, 8)).toEqual([
      { kind: 3, position: 0, size: 0, blob_id: 1, blob_uri: `${sub}/big.bin` },
    ]);
  });

  it("has every value fetched by LanceDB's fetchBlobs", async () => {
    expect(await lanceDbBlobs(path)).toEqual(expected(all));
  });

  it("has every value taken by lance-loader's takeBlobs, the base under externalRoots", async () => {
    expect(await ourBlobs(path, [media])).toEqual(expected(all));
  });

  it('scans to the descriptors LanceDB reads', async () => {
    expectTablesEqual(await scanOurs(path), await oracleScan(path), { label: 'lance-loader' });
  });

  it('refuses base-relative blobs when the base is not under externalRoots', async () => {
    const error = await rejection(ourBlobs(path, [other]));
    expect(error).toBeInstanceOf(UnsupportedError);
    expect(error.message).toContain(
      `external blob ${join(media, 'a.bin')} is outside options.externalRoots (${other})`,
    );
  });
});

it("keeps the dataset's bases on overwrite, as Lance does, and resolves URIs against them", async () => {
  const path = join(root, 'overwritten.lance');
  await writeDataset(path, blobTable(0, [{ uri: join(media, 'a.bin') }]), { externalBases: [media] });
  await writeDataset(path, blobTable(0, [{ uri: join(media, 'c.bin') }]), { mode: 'overwrite' });
  const { manifest } = readLatestVersion(path) ?? {};
  expect(manifest?.base_paths.map((b) => [b.id, b.path])).toEqual([[1, pathToFileURL(media).href]]);
  expect(manifest?.reader_feature_flags).toBe(16n);
  expect(await descriptors(path, 0, 1)).toEqual([{ kind: 3, position: 0, size: 0, blob_id: 1, blob_uri: 'c.bin' }]);
  expect(await lanceDbBlobs(path)).toEqual([hex(files[join(media, 'c.bin')])]);
});

/** The operation (oneof member) of each transaction file, by the version whose manifest names it. */
function transactionsByVersion(path: string): Record<number, Record<string, unknown>> {
  const protos = new protobuf.Root();
  for (const source of protoSources) protobuf.parse(source, protos, { keepCase: true });
  const Transaction = protos.resolveAll().lookupType('lance.table.Transaction');
  const out: Record<number, Record<string, unknown>> = {};
  for (const name of fs.readdirSync(join(path, '_versions')).filter((n) => n.endsWith('.manifest'))) {
    const manifest = parseManifest(fs.readFileSync(join(path, '_versions', name)), name);
    const bytes = fs.readFileSync(join(path, '_transactions', manifest.transaction_file ?? ''));
    out[manifest.version] = Transaction.toObject(Transaction.decode(bytes), { longs: Number, arrays: true });
  }
  return out;
}

/** A dataset's manifest at `version`. */
function manifestAt(path: string, version: number): ManifestProto {
  const name = manifestFileName(version);
  return parseManifest(fs.readFileSync(join(path, '_versions', name)), name);
}

describe('an append that registers a new external base', () => {
  const path = join(root, 'update-bases.lance');
  const created: Blob[] = [{ uri: join(media, 'a.bin') }];
  const appended: Blob[] = [{ uri: join(other, 'd.bin') }, { data: bytesOf(7, 900) }];
  const theirs: Blob[] = [{ data: bytesOf(6, 20) }];
  let stale: { table: lancedb.Table; db: lancedb.Connection } | undefined;

  beforeAll(async () => {
    await writeDataset(path, blobTable(0, created), { externalBases: [media] });
    const db = await lancedb.connect(root);
    const table = await db.openTable('update-bases');
    await table.countRows();
    stale = { table, db };
    await writeDataset(path, blobTable(1, appended), { mode: 'append', externalBases: [other] });
  });
  afterAll(() => {
    stale?.table.close();
    stale?.db.close();
  });

  it("commits the base in an UpdateBases version of its own, then the Append, as Lance's add_bases does", () => {
    const [v1, v2, v3] = [1, 2, 3].map((v) => manifestAt(path, v));
    const bases = [
      { id: 1, name: 'me dia', is_dataset_root: false, path: pathToFileURL(media).href },
      { id: 2, name: 'other', is_dataset_root: false, path: pathToFileURL(other).href },
    ];
    expect(v2?.fragments).toEqual(v1?.fragments);
    expect([basesOf(v2), v2?.reader_feature_flags, v2?.writer_feature_flags]).toEqual([bases, 16n, 16n]);
    expect([v3?.fragments.length, basesOf(v3)]).toEqual([2, bases]);
    const transactions = transactionsByVersion(path);
    expect(transactions[2]?.update_bases).toEqual({ new_bases: bases.slice(1) });
    expect(transactions[2]?.read_version).toBe(1);
    expect(Object.keys(transactions[3] ?? {})).toContain('append');
  });

  it('is read by LanceDB at every version, with every blob fetched', async () => {
    expect(await lanceDbBlobs(path, 1)).toEqual(expected(created));
    expect(await lanceDbBlobs(path, 2)).toEqual(expected(created));
    expect(await lanceDbBlobs(path, 3)).toEqual(expected([...created, ...appended]));
  });

  it('lets a LanceDB handle opened before both versions append after them', async () => {
    await stale?.table.add(toLanceDbArrow(blobTable(3, theirs)));
    expect(await stale?.table.version()).toBe(4);
    const all = [...created, ...appended, ...theirs];
    expect(await lanceDbBlobs(path)).toEqual(expected(all));
    expect(await ourBlobs(path, [media, other])).toEqual(expected(all));
  });
});

describe('an overwrite of a dataset that registers a new external base', () => {
  const path = join(root, 'overwrite-bases.lance');
  const created: Blob[] = [{ uri: join(media, 'a.bin') }, { data: bytesOf(2, 40) }];
  const overwritten: Blob[] = [{ uri: join(other, 'd.bin') }, { uri: join(media, 'c.bin') }, null];
  const bases = [
    { id: 1, name: 'me dia', is_dataset_root: false, path: pathToFileURL(media).href },
    { id: 2, name: 'other', is_dataset_root: false, path: pathToFileURL(other).href },
  ];

  beforeAll(async () => {
    await writeDataset(path, blobTable(0, created), { externalBases: [media] });
    await writeDataset(path, blobTable(0, overwritten), { mode: 'overwrite', externalBases: [other] });
  });

  it('registers the base in an UpdateBases version, then commits an Overwrite that registers none', () => {
    const transactions = transactionsByVersion(path);
    expect(transactions[1]?.overwrite).toMatchObject({ initial_bases: bases.slice(0, 1) });
    expect([transactions[2]?.update_bases, transactions[2]?.read_version]).toEqual([{ new_bases: bases.slice(1) }, 1]);
    expect(transactions[3]?.overwrite).toMatchObject({ initial_bases: [] });
  });

  it('keeps the old rows in the UpdateBases version and ends with both bases and only the new rows', () => {
    const [v1, v2, v3] = [1, 2, 3].map((v) => manifestAt(path, v));
    expect([v2?.fragments, basesOf(v2)]).toEqual([v1?.fragments, bases]);
    expect([v3?.fragments.map((f) => f.physical_rows), basesOf(v3)]).toEqual([[overwritten.length], bases]);
    expect([v3?.reader_feature_flags, v3?.writer_feature_flags]).toEqual([16n, 16n]);
  });

  it('is read by LanceDB at every version, with every blob fetched', async () => {
    expect(await lanceDbBlobs(path, 1)).toEqual(expected(created));
    expect(await lanceDbBlobs(path, 2)).toEqual(expected(created));
    expect(await lanceDbBlobs(path, 3)).toEqual(expected(overwritten));
  });
});

it('names each base it registers after its directory, suffixed when the dataset has a base of that name', async () => {
  const path = join(root, 'named.lance');
  const clips = ['a', 'b', 'c'].map((parent) => join(root, parent, 'clips'));
  await writeDataset(path, blobTable(0, [null]), { externalBases: clips.slice(0, 2) });
  await writeDataset(path, blobTable(1, [null]), { mode: 'append', externalBases: clips });
  const { manifest } = readLatestVersion(path) ?? {};
  expect(manifest?.base_paths.map((b) => [b.id, b.name])).toEqual([
    [1, 'clips'],
    [2, 'clips-2'],
    [3, 'clips-3'],
  ]);
});

/**
 * `table`'s batches, the rest only once `gate` resolves; `reached` is called when the writer asks for
 * the second batch (it has read the dataset's latest version by then).
 */
async function* heldBack(
  table: arrow.Table,
  reached: () => void,
  gate: Promise<unknown>,
): AsyncGenerator<arrow.RecordBatch> {
  const [first, ...rest] = table.batches;
  if (first) yield first;
  reached();
  await gate;
  yield* rest;
}

it('registers one base when two racing appends both register its directory', async () => {
  const path = join(root, 'race-bases.lance');
  await writeDataset(path, blobTable(0, [{ data: bytesOf(1, 3) }]));
  const late: Blob[] = [null, { uri: join(other, 'd.bin') }];
  const early: Blob[] = [{ uri: pathToFileURL(join(other, 'd.bin')).href }];
  let reached = (): void => undefined;
  let open = (): void => undefined;
  const waiting = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (open = resolve));
  const lateTable = new arrow.Table([
    ...blobTable(1, late.slice(0, 1)).batches,
    ...blobTable(2, late.slice(1)).batches,
  ]);
  const loser = writeDataset(path, heldBack(lateTable, reached, gate), { mode: 'append', externalBases: [other] });
  await waiting;
  const winner = await writeDataset(path, blobTable(3, early), {
    mode: 'append',
    externalBases: [`${pathToFileURL(other).href}/`],
  });
  open();
  // The winner's UpdateBases took version 2 and its Append 3; the loser, which read version 1, finds
  // the base registered under the id its blobs name and appends as version 4.
  expect([winner.version, (await loser).version]).toEqual([3, 4]);
  const { manifest } = readLatestVersion(path) ?? {};
  expect(basesOf(manifest)).toEqual([
    { id: 1, name: 'other', is_dataset_root: false, path: pathToFileURL(other).href },
  ]);
  const transactions = transactionsByVersion(path);
  expect([transactions[4]?.read_version, Object.keys(transactions[4] ?? {})]).toEqual([
    1,
    expect.arrayContaining(['append']),
  ]);
  expect(await lanceDbBlobs(path)).toEqual(expected([{ data: bytesOf(1, 3) }, ...early, ...late]));
});

describe('absolute external blobs', () => {
  const path = join(root, 'absolute.lance');
  const blobs: Blob[] = [
    { uri: join(other, 'd.bin') },
    { uri: pathToFileURL(join(media, 'a.bin')).href },
    { data: bytesOf(5, 10) },
  ];

  it('are written outside every base only with allowExternalBlobOutsideBases, as file: URIs with blob_id 0', async () => {
    await writeDataset(path, blobTable(0, blobs), { allowExternalBlobOutsideBases: true });
    expect(await descriptors(path, 0, 2)).toEqual([
      { kind: 3, position: 0, size: 0, blob_id: 0, blob_uri: pathToFileURL(join(other, 'd.bin')).href },
      { kind: 3, position: 0, size: 0, blob_id: 0, blob_uri: pathToFileURL(join(media, 'a.bin')).href },
    ]);
    const { manifest } = readLatestVersion(path) ?? {};
    expect([manifest?.base_paths, manifest?.reader_feature_flags]).toEqual([[], 0n]);
  });

  it('are read by LanceDB and by lance-loader value for value', async () => {
    expect(await lanceDbBlobs(path)).toEqual(expected(blobs));
    expect(await ourBlobs(path, [root])).toEqual(expected(blobs));
  });
});

describe('bad external blob input', () => {
  it('refuses a URI outside every base, naming the column and the row, and commits nothing', async () => {
    const path = join(root, 'outside.lance');
    const batches = [blobTable(0, [{ data: bytesOf(1, 5) }]), blobTable(1, [null, { uri: join(other, 'd.bin') }])];
    const error = await rejection(
      writeDataset(path, [...batches[0]!.batches, ...batches[1]!.batches], { externalBases: [media] }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'image', row: 2 } });
    expect(error.message).toBe(
      `data: column "image": row 2 is an external blob whose uri "${join(other, 'd.bin')}" lies outside every external base (options.externalBases and the dataset's: ${media}); register a directory holding it in options.externalBases, or pass allowExternalBlobOutsideBases: true to store it as an absolute URI`,
    );
    expect(fs.existsSync(join(path, '_versions'))).toBe(false);
  });

  it("refuses a URI that climbs out of its base with '..', as one outside it", async () => {
    const uri = `${media}/../other/d.bin`;
    const error = await rejection(
      writeDataset(join(root, 'climb.lance'), blobTable(0, [{ uri }]), { externalBases: [media] }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'image', row: 0, uri } });
  });

  it.each([
    ['a relative path', { uri: 'a.bin' }, 'is neither an absolute path nor a URI'],
    ['data and a uri both', { uri: join(media, 'a.bin'), data: bytesOf(1, 3) }, 'comes with data as well'],
  ])('refuses %s, naming the row', async (_, blob, reason) => {
    const rows = [
      { idx: 0, image: null },
      { idx: 1, image: { data: null, ...blob } },
    ];
    const error = await rejection(writeDataset(join(root, 'bad.lance'), rows, { schema, externalBases: [media] }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'image', row: 1 } });
    expect(error.message).toContain(reason);
  });

  it('refuses a URI that does not parse, outside every base, naming the row', async () => {
    const uri = 's3://bad host/x.bin';
    const error = await rejection(
      writeDataset(join(root, 'badurl.lance'), blobTable(0, [null, { uri }]), { allowExternalBlobOutsideBases: true }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'image', row: 1, uri } });
    expect(error.message).toBe(`data: column "image": row 1 is an external blob whose uri "${uri}" is not a valid URI`);
  });

  it('stops a batch whose uri rows were never resolved with an InternalError, not a null blob', () => {
    const batch = blobTable(0, [{ data: bytesOf(1, 3) }, { uri: join(media, 'a.bin') }]);
    const image = batch.batches[0]!.data.children[1] as arrow.Data;
    expect(() => gatherBlobV2Page([image])).toThrow(InternalError);
  });

  it('registers a directory given twice, as a file: URL with a trailing slash and as a path, once', async () => {
    const path = join(root, 'twice.lance');
    await writeDataset(path, blobTable(0, [{ uri: join(media, 'a.bin') }]), {
      externalBases: [`${pathToFileURL(media).href}/`, media, `${media}/`],
    });
    const { manifest } = readLatestVersion(path) ?? {};
    expect(manifest?.base_paths.map((b) => b.path)).toEqual([pathToFileURL(media).href]);
  });

  it('refuses an external base that is not an absolute directory, naming the option', async () => {
    const error = await rejection(
      writeDataset(join(root, 'relbase.lance'), blobTable(0, [null]), { externalBases: [media, 'media'] }),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { option: 'options.externalBases[1]' } });
  });

  it('reads a missing external file as an IoError naming the row and the URI, in LanceDB too an error', async () => {
    const path = join(root, 'missing.lance');
    await writeDataset(path, blobTable(0, [{ data: bytesOf(1, 4) }, { uri: join(media, 'gone.bin') }]), {
      externalBases: [media],
    });
    await expect(lanceDbBlobs(path)).rejects.toThrow();
    const error = await rejection(ourBlobs(path, [media]));
    expect(error).toBeInstanceOf(IoError);
    expect(error).toMatchObject({ details: { row: 1, uri: 'gone.bin' } });
  });

  it('reads a base id the manifest does not register as a CorruptFileError', async () => {
    const path = join(root, 'unregistered.lance');
    await writeDataset(path, blobTable(0, [{ uri: join(media, 'a.bin') }]), { externalBases: [media] });
    const manifest = join(path, '_versions', fs.readdirSync(join(path, '_versions'))[0] as string);
    editManifest(manifest, (m) => (m.base_paths = []));
    const error = await rejection(ourBlobs(path, [media]));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain(
      'external blob names external base 1, which the manifest does not register (bases: none)',
    );
  });
});

describe('external blobs with releaseBuffer', () => {
  it("hands back only the caller's buffers, not those the writer makes for resolved URIs", async () => {
    const blobs: Blob[] = [
      { data: bytesOf(6, 40) },
      { uri: join(media, 'a.bin') },
      null,
      { uri: join(media, 'c.bin') },
    ];
    const table = blobTable(0, blobs);
    const given = new Set<ArrayBufferLike>();
    const visit = (data: arrow.Data): void => {
      for (const array of [data.values, data.valueOffsets, data.nullBitmap] as unknown[])
        if (ArrayBuffer.isView(array)) given.add(array.buffer);
      data.children.forEach(visit);
    };
    table.batches.forEach((batch) => visit(batch.data));
    const released: ArrayBufferLike[] = [];
    const path = join(root, 'release.lance');
    await writeDataset(path, table, { externalBases: [media], releaseBuffer: (buffer) => released.push(buffer) });
    expect(released.length).toBeGreaterThan(0);
    expect(released.filter((buffer) => !given.has(buffer))).toEqual([]);
    expect(await ourBlobs(path, [media])).toEqual(expected(blobs));
  });
});

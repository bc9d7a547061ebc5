/**
 * Blob columns, as LanceDB 0.39 writes them.
 *
 * Legacy blobs (`lance-encoding:blob` on large_binary, file version 2.1), as LanceDB's
 * BlobStructuralEncoder writes them: each value's bytes go into the data file out of line, ahead of the
 * page, 64-byte aligned, and the page holds one descriptor per row, a packed struct of two u64:
 *
 *   valid, non-empty value   (position, size)   position: the file offset of its bytes
 *   empty value              (0, 0)
 *   null                     (def << 16, 0)     the row's definition level, smuggled into the position
 *
 *   page: BlobLayout { layers: [NULLABLE_ITEM | ALL_VALID_ITEM],
 *                      inner_layout: MiniBlock { PackedStruct([64, 64], Flat(128)) } }
 *
 * Descriptors are never null themselves, so the inner page has no levels. dataset/blobs.ts reads them
 * back. LanceDB refuses these columns in file version 2.2 (blob v2 replaces them); so does the writer.
 *
 * Blob v2 (`ARROW:extension:name = lance.blob.v2` on struct<data: large_binary, uri: utf8>, file
 * version 2.2): each row is a descriptor, a variable packed struct (writer/packed.ts) in a full-zip
 * page, and where the bytes go depends on their size (LanceDB's defaults, surveyed value by value):
 *
 *   size ≤ 64 KiB          kind 0 (inline)     in the data file, 64-byte aligned, ahead of the page
 *   64 KiB < size ≤ 4 MiB  kind 1 (packed)     appended to the data file's packed sidecar
 *   size > 4 MiB           kind 2 (dedicated)  a sidecar of its own
 *
 * (the limits a field's `lance-encoding:blob-*-threshold` metadata sets, as LanceDB's `blob()` records
 * them, replace these; a pack-file threshold starts a new packed sidecar before one would pass it)
 *
 *   descriptor: kind u8 | position u64 | size u64 | blob_id u32 | u32 length + blob_uri ("")
 *   sidecars:   data/<data file stem>/<blob_id, 32 bits LSB first>.blob, ids from 1 in order of use
 *
 * An empty value is inline at the position the next inline value would take; a null row (or a valid struct whose `data` is null) is a null
 * descriptor. A row with a `uri` instead of `data` is an external blob, written as LanceDB 0.39 writes
 * one (resolveExternalBlobs):
 *
 *   under a base the manifest registers   kind 3 | position 0 | size 0 | blob_id = the base's id | the
 *   (the longest that holds it)           path relative to the base, '/'-separated
 *   elsewhere, when allowed               kind 3 | position 0 | size 0 | blob_id 0 | the absolute URI
 *                                         (a local path as its file: URL)
 *
 * Size 0 is "the whole object, sized when read": LanceDB never stats the file when writing, so a file
 * that is missing or changes later is the reader's to report. A URI outside every base, without
 * `allowExternalBlobOutsideBases`, is refused as LanceDB refuses it.
 */
import fs from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as arrow from 'apache-arrow';
import { InternalError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { concatBytes } from '../format/bytes.js';
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { PageLayoutProto } from '../format/proto/messages.js';
import { syncDirectory } from './commit.js';
import { fsError } from './fs-error.js';
import type { WriteFileVersion } from './levels.js';
import { encodeMiniBlockPage } from './miniblock.js';
import { encodeVariablePackedPage } from './packed.js';
import type { EncodedPage } from './page.js';
import type { BlobV2Limits, PackedChild } from './schema.js';
import { gatherPageValues, type PageValues } from './values.js';

/** The definition level of a null row of a flat nullable column. */
const NULL_DEF = 1;

/**
 * Encodes a page of a blob column: `appendBlob` writes a value's bytes into the data file (aligned as
 * page buffers are) and returns their file offset, before the page's own buffers are appended.
 */
export function encodeBlobPage(
  column: string,
  values: PageValues,
  version: WriteFileVersion,
  appendBlob: (bytes: Uint8Array) => number,
): EncodedPage {
  if (version !== '2.1') {
    throw new UnsupportedError(
      `column "${column}" is a blob column (lance-encoding:blob), which file version ${version} does not have (LanceDB refuses it too); write it with fileVersion '2.1'`,
      { column, fileVersion: version },
    );
  }
  const offsets = values.offsets as Float64Array;
  const descriptors = new BigUint64Array(values.rows * 2);
  for (let r = 0; r < values.rows; r++) {
    if (values.validity && !values.validity[r]) {
      descriptors[2 * r] = BigInt(NULL_DEF << 16);
      continue;
    }
    const [start, end] = [offsets[r] as number, offsets[r + 1] as number];
    if (end === start) continue;
    descriptors[2 * r] = BigInt(appendBlob(values.bytes.subarray(start, end)));
    descriptors[2 * r + 1] = BigInt(end - start);
  }
  const page = encodeMiniBlockPage(
    { kind: 'fixed', byteWidth: 16 },
    { rows: values.rows, nullCount: 0, bytes: new Uint8Array(descriptors.buffer) },
    version,
    { plain: true, wrapEncoding: (inner) => ({ packed_struct: { bits_per_value: [64, 64], values: inner } }) },
  );
  if (!page) throw new InternalError(`column "${column}": blob descriptors did not fit mini-block chunks`);
  const layout: PageLayoutProto = {
    blob_layout: {
      inner_layout: { mini_block_layout: page.layout },
      layers: [values.validity ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM'],
    },
  };
  return {
    rows: values.rows,
    buffers: page.buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout(layout)),
  };
}

const KIND_INLINE = 0;
const KIND_PACKED = 1;
const KIND_DEDICATED = 2;
const KIND_EXTERNAL = 3;
/** kind | position | size | blob_id | blob_uri (length-prefixed; empty but for external blobs). */
const DESCRIPTOR_CHILDREN: PackedChild[] = [
  { kind: 'fixed', byteWidth: 1 },
  { kind: 'fixed', byteWidth: 8 },
  { kind: 'fixed', byteWidth: 8 },
  { kind: 'fixed', byteWidth: 4 },
  { kind: 'variable', lengthBytes: 4 },
];
const DESCRIPTOR_BYTES = 1 + 8 + 8 + 4 + 4;

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

/** The external bases a write may store URIs under, and whether a URI outside them is stored as it is. */
export interface ExternalBlobPolicy {
  /** Local bases by the id the manifest registers them under: each directory (resolved), and it with a '/' after. */
  bases: readonly { id: number; dir: string; prefix: string }[];
  /** LanceDB's `allow_external_blob_outside_bases`: store a URI outside every base as absolute (blob_id 0). */
  allowOutsideBases: boolean;
}

const isValidAt = (d: arrow.Data, r: number): boolean =>
  d.nullCount === 0 || !d.nullBitmap || bitAt(d.nullBitmap, d.offset + r) === 1;

/** A local path as `path.resolve` would give it, without its cost when it is already in that form. */
function normalPath(path: string): string {
  return path.length > 1 && !path.endsWith('/') && !/\/\.{0,2}(\/|$)/.test(path) ? path : resolve(path);
}

/** What the descriptor stores for an external blob at `uri` (see the module comment), or an error's reason. */
function storedExternal(uri: string, policy: ExternalBlobPolicy): { baseId: number; uri: string } | string {
  let path: string | undefined;
  if (uri.startsWith('file:')) {
    try {
      path = normalPath(fileURLToPath(uri));
    } catch {
      return 'is not a local file: URL';
    }
  } else if (isAbsolute(uri)) path = normalPath(uri);
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return 'is neither an absolute path nor a URI';
  if (path !== undefined) {
    // Paths and base directories are normalized, so a prefix ending in '/' is "inside".
    let best: { id: number; prefix: string } | undefined;
    for (const { id, prefix } of policy.bases)
      if (path.length > prefix.length && path.startsWith(prefix) && (!best || prefix.length > best.prefix.length))
        best = { id, prefix };
    if (best) return { baseId: best.id, uri: path.slice(best.prefix.length).split(sep).join('/') };
  }
  if (!policy.allowOutsideBases) {
    const bases = policy.bases.map((b) => b.dir).join(', ') || 'none';
    return `lies outside every external base (options.externalBases and the dataset's: ${bases}); register a directory holding it in options.externalBases, or pass allowExternalBlobOutsideBases: true to store it as an absolute URI`;
  }
  if (path !== undefined) return { baseId: 0, uri: pathToFileURL(path).href };
  try {
    return { baseId: 0, uri: new URL(uri).href };
  } catch {
    return 'is not a valid URI';
  }
}

/**
 * One batch of a blob v2 column with its external rows (a `uri` and no `data`) resolved: the same data
 * when no row has a uri, else a struct of `data`, the URI each external row's descriptor stores, and
 * its blob_id (the base's id, or 0). A row with both, an empty or relative URI, or one outside every
 * base (unless `policy` allows it) is an InvalidArgumentError naming the column and the row
 * (`firstRow` + its index in the batch).
 */
export function resolveExternalBlobs(
  column: string,
  data: arrow.Data,
  firstRow: number,
  policy: ExternalBlobPolicy,
): arrow.Data {
  const [bytes, uri] = data.children as [arrow.Data, arrow.Data];
  if (uri.nullCount === uri.length) return data;
  const n = data.length;
  const stored: Uint8Array[] = [];
  const ids = new Uint32Array(n);
  const idBitmap = new Uint8Array(Math.ceil(n / 8));
  const uriOffsets = new Int32Array(n + 1);
  const texts = new arrow.Vector([uri]);
  const encoder = new TextEncoder();
  const fail = (r: number, text: string, reason: string): InvalidArgumentError =>
    new InvalidArgumentError(
      `data: column "${column}": row ${firstRow + r} is an external blob whose uri ${JSON.stringify(text)} ${reason}`,
      { column, row: firstRow + r, uri: text },
    );
  let external = 0;
  let length = 0;
  for (let r = 0; r < n; r++) {
    uriOffsets[r] = length;
    if (!isValidAt(data, r) || !isValidAt(uri, r)) continue;
    const text = texts.get(r) as string;
    if (isValidAt(bytes, r)) throw fail(r, text, 'comes with data as well; give a blob its bytes or its uri, not both');
    const resolved = storedExternal(text, policy);
    if (typeof resolved === 'string') throw fail(r, text, resolved);
    const encoded = encoder.encode(resolved.uri);
    stored.push(encoded);
    length += encoded.length;
    ids[r] = resolved.baseId;
    idBitmap[r >> 3] = (idBitmap[r >> 3] as number) | (1 << (r & 7));
    external++;
  }
  uriOffsets[n] = length;
  const uriBytes = concatBytes(stored);
  const storedUri = arrow.makeData({
    type: new arrow.Utf8(),
    length: n,
    nullCount: n - external,
    nullBitmap: idBitmap,
    valueOffsets: uriOffsets,
    data: uriBytes,
  });
  const blobIds = arrow.makeData({
    type: new arrow.Uint32(),
    length: n,
    nullCount: n - external,
    nullBitmap: idBitmap,
    data: ids,
  });
  const type = new arrow.Struct([
    ...(data.type as arrow.Struct).children,
    new arrow.Field('blob_id', new arrow.Uint32(), true),
  ]);
  return arrow.makeData({
    type,
    length: n,
    nullCount: data.nullCount,
    nullBitmap: data.nullBitmap,
    offset: data.offset,
    children: [bytes, storedUri, blobIds],
  });
}

/** An external blob's descriptor fields, as {@link resolveExternalBlobs} resolved them. */
interface ExternalBlob {
  baseId: number;
  uri: Uint8Array;
}

/** A blob v2 page's values: the `data` bytes, and per row the external blob a row is (undefined for others). */
export interface BlobV2PageValues extends PageValues {
  external?: (ExternalBlob | undefined)[];
}

/**
 * One batch of a blob v2 column: its `data` child as large_binary, null where the struct is null or
 * has neither data nor a resolved uri (an external row is valid, its bytes unused).
 */
function blobV2Data(data: arrow.Data): arrow.Data {
  const [bytes, uri, ids] = data.children as [arrow.Data, arrow.Data | undefined, arrow.Data | undefined];
  const nullBitmap = new Uint8Array(Math.ceil(data.length / 8));
  let nullCount = 0;
  for (let r = 0; r < data.length; r++) {
    const valid = isValidAt(data, r);
    const resolved = ids !== undefined && isValidAt(ids, r);
    // A uri that resolveExternalBlobs never saw would otherwise be written as a null blob.
    if (valid && !resolved && !isValidAt(bytes, r) && uri !== undefined && isValidAt(uri, r))
      throw new InternalError(`blob v2 row ${r} of its batch has a uri but no resolved blob id`, { row: r });
    if (valid && (isValidAt(bytes, r) || resolved))
      nullBitmap[r >> 3] = (nullBitmap[r >> 3] as number) | (1 << (r & 7));
    else nullCount++;
  }
  return arrow.makeData({
    type: new arrow.LargeBinary(),
    length: data.length,
    nullCount,
    nullBitmap: nullCount > 0 ? nullBitmap : undefined,
    valueOffsets: bytes.valueOffsets as BigInt64Array,
    data: bytes.values as Uint8Array,
  });
}

/** A page of blob v2 values from successive batches (as {@link resolveExternalBlobs} left them). */
export function gatherBlobV2Page(chunks: readonly arrow.Data[]): BlobV2PageValues {
  const values: BlobV2PageValues = gatherPageValues({ kind: 'variable', offsetBytes: 8 }, chunks.map(blobV2Data));
  if (chunks.every((data) => data.children.length < 3)) return values;
  const external: (ExternalBlob | undefined)[] = [];
  for (const data of chunks) {
    const [, uri, ids] = data.children as [arrow.Data, arrow.Data, arrow.Data | undefined];
    const [offsets, text] = [uri.valueOffsets as Int32Array, uri.values as Uint8Array];
    for (let r = 0; r < data.length; r++) {
      const resolved = ids !== undefined && isValidAt(data, r) && isValidAt(ids, r);
      external.push(
        resolved ? { baseId: ids.values[r] as number, uri: text.subarray(offsets[r], offsets[r + 1]) } : undefined,
      );
    }
  }
  values.external = external;
  return values;
}

/** The sidecar files of one data file's blob v2 values: `data/<stem>/<blob_id>.blob`. */
export class BlobSidecars {
  private readonly dir: string;
  private nextId = 1;
  private packed: { fd: number; path: string; id: number; size: number } | undefined;
  private readonly written: string[] = [];

  constructor(dataDir: string, dataFileName: string) {
    this.dir = join(dataDir, dataFileName.replace(/\.lance$/, ''));
  }

  private create(id: number): { fd: number; path: string } {
    const name = `${[...Array(32).keys()].map((bit) => (id >>> bit) & 1).join('')}.blob`;
    const path = join(this.dir, name);
    try {
      if (this.written.length === 0) fs.mkdirSync(this.dir, { recursive: true });
      this.written.push(path);
      return { fd: fs.openSync(path, 'wx'), path };
    } catch (cause) {
      throw fsError('creating a blob sidecar', path, cause);
    }
  }

  private write(fd: number, path: string, bytes: Uint8Array): void {
    try {
      for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at);
    } catch (cause) {
      throw fsError('writing a blob sidecar', path, cause);
    }
  }

  /**
   * Appends a value to the packed sidecar, first closing it for a new one when the value would take it
   * past `packFileMaxBytes`; returns the value's blob id and position.
   */
  appendPacked(bytes: Uint8Array, packFileMaxBytes: number): { id: number; position: number } {
    if (this.packed && this.packed.size > 0 && this.packed.size + bytes.length > packFileMaxBytes) this.closePacked();
    if (!this.packed) {
      const id = this.nextId++;
      this.packed = { ...this.create(id), id, size: 0 };
    }
    const { fd, path, id, size } = this.packed;
    this.write(fd, path, bytes);
    this.packed.size += bytes.length;
    return { id, position: size };
  }

  /** Writes a value into a sidecar of its own, fsynced; returns its blob id. */
  writeDedicated(bytes: Uint8Array): number {
    const id = this.nextId++;
    const { fd, path } = this.create(id);
    try {
      this.write(fd, path, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return id;
  }

  private closePacked(): void {
    if (!this.packed) return;
    const { fd } = this.packed;
    this.packed = undefined;
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** fsyncs and closes the packed sidecar and the sidecar folder, so a manifest never names lost bytes. */
  finish(): void {
    this.closePacked();
    if (this.written.length > 0) syncDirectory(this.dir);
  }

  /** Closes and removes every sidecar written (after an error). */
  abort(): void {
    if (this.packed) fs.closeSync(this.packed.fd);
    this.packed = undefined;
    if (this.written.length > 0) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Encodes a page of a blob v2 column (as {@link gatherBlobV2Page} gathers it): external blobs' descriptors as resolved, inline
 * values through `appendInline` (which writes them into the data file, aligned as page buffers are, and
 * returns their offset), larger ones into `sidecars`, then the descriptors as a full-zip page.
 */
export function encodeBlobV2Page(
  column: string,
  values: BlobV2PageValues,
  version: WriteFileVersion,
  appendInline: (bytes: Uint8Array) => number,
  sidecars: BlobSidecars,
  limits: BlobV2Limits,
): EncodedPage {
  if (version !== '2.2') {
    throw new UnsupportedError(
      `column "${column}" is a blob v2 column (lance.blob.v2), which file version ${version} does not have; write it with fileVersion '2.2' (or use lance-encoding:blob on large_binary in 2.1)`,
      { column, fileVersion: version },
    );
  }
  const offsets = values.offsets as Float64Array;
  const external = values.external;
  const rowOffsets = new Float64Array(values.rows + 1);
  let uriBytes = 0;
  for (const blob of external ?? []) uriBytes += blob?.uri.length ?? 0;
  const rows = new Uint8Array((values.rows - values.nullCount) * DESCRIPTOR_BYTES + uriBytes);
  const view = new DataView(rows.buffer);
  let at = 0;
  for (let r = 0; r < values.rows; r++) {
    const blob = external?.[r];
    if (blob) {
      view.setUint8(at, KIND_EXTERNAL);
      view.setUint32(at + 17, blob.baseId, true);
      view.setUint32(at + 21, blob.uri.length, true);
      rows.set(blob.uri, at + DESCRIPTOR_BYTES);
      at += DESCRIPTOR_BYTES + blob.uri.length;
    } else if (!values.validity || values.validity[r]) {
      const bytes = values.bytes.subarray(offsets[r] as number, offsets[r + 1] as number);
      let [kind, position, id] = [KIND_INLINE, 0, 0];
      if (bytes.length > limits.packedMaxBytes) [kind, id] = [KIND_DEDICATED, sidecars.writeDedicated(bytes)];
      else if (bytes.length > limits.inlineMaxBytes) {
        const packed = sidecars.appendPacked(bytes, limits.packFileMaxBytes);
        [kind, position, id] = [KIND_PACKED, packed.position, packed.id];
      } else position = appendInline(bytes);
      view.setUint8(at, kind);
      view.setBigUint64(at + 1, BigInt(position), true);
      view.setBigUint64(at + 9, BigInt(bytes.length), true);
      view.setUint32(at + 17, id, true);
      at += DESCRIPTOR_BYTES;
    }
    rowOffsets[r + 1] = at;
  }
  const descriptors: PageValues = { ...values, bytes: rows, offsets: rowOffsets };
  const page = encodeVariablePackedPage(column, descriptors, DESCRIPTOR_CHILDREN, version);
  return {
    rows: values.rows,
    buffers: page.buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout({ full_zip_layout: page.layout })),
  };
}

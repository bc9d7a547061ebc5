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
 * descriptor. External URIs (`uri` set) are not written: UnsupportedError. LanceDB 0.39 stores one only
 * under an external base registered in the manifest (`base_paths`, which its JS API cannot register;
 * outside a base only with Lance's `allow_external_blob_outside_bases`, which it does not expose either):
 * kind 3, position 0, size 0 (the whole object, sized when read), blob_id the base's id, blob_uri
 * relative to the base, and reader and writer feature flag 16 on the manifest. Writing that needs base
 * registration in the commit, and the reader to resolve such descriptors, first.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { InternalError, UnsupportedError } from '../errors.js';
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { PageLayoutProto } from '../format/proto/messages.js';
import { syncDirectory } from './commit.js';
import { fsError } from './fs-error.js';
import type { WriteFileVersion } from './levels.js';
import { encodeMiniBlockPage } from './miniblock.js';
import { encodeVariablePackedPage } from './packed.js';
import type { EncodedPage } from './page.js';
import type { BlobV2Limits, PackedChild } from './schema.js';
import type { PageValues } from './values.js';

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
/** kind | position | size | blob_id | blob_uri (length-prefixed, always empty here). */
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

/**
 * One batch of a blob v2 column: its `data` child as large_binary, null where the struct or its data is
 * null; UnsupportedError for a row with a `uri` (an external blob).
 */
export function blobV2Data(column: string, data: arrow.Data): arrow.Data {
  const [bytes, uri] = data.children as [arrow.Data, arrow.Data];
  const isValid = (d: arrow.Data, r: number): boolean =>
    d.nullCount === 0 || !d.nullBitmap || bitAt(d.nullBitmap, d.offset + r) === 1;
  const nullBitmap = new Uint8Array(Math.ceil(data.length / 8));
  let nullCount = 0;
  for (let r = 0; r < data.length; r++) {
    if (!isValid(data, r)) {
      nullCount++;
      continue;
    }
    if (isValid(uri, r)) {
      throw new UnsupportedError(
        `column "${column}": row ${r} of its batch is an external blob (uri set), which lance-loader cannot write yet; give its bytes as data`,
        { column, row: r },
      );
    }
    if (isValid(bytes, r)) nullBitmap[r >> 3] = (nullBitmap[r >> 3] as number) | (1 << (r & 7));
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
 * Encodes a page of a blob v2 column (its `data` values, as {@link blobV2Data} gives them): inline
 * values through `appendInline` (which writes them into the data file, aligned as page buffers are, and
 * returns their offset), larger ones into `sidecars`, then the descriptors as a full-zip page.
 */
export function encodeBlobV2Page(
  column: string,
  values: PageValues,
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
  const rowOffsets = new Float64Array(values.rows + 1);
  const rows = new Uint8Array((values.rows - values.nullCount) * DESCRIPTOR_BYTES);
  const view = new DataView(rows.buffer);
  let at = 0;
  for (let r = 0; r < values.rows; r++) {
    if (!values.validity || values.validity[r]) {
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

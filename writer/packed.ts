/**
 * Packed structs (`lance-encoding:packed`), as LanceDB writes them: one column whose value per row is
 * the row's child values one after another, so a row reads in one piece.
 *
 * Fixed-width children only (file versions 2.1 and 2.2), in mini-block or full-zip pages:
 *
 *   struct<x: float32, y: float32, cls: int32>   row r → x[r] | y[r] | cls[r]   (12 bytes)
 *   values: PackedStruct { bits_per_value: [32, 32, 32], values: Flat(96) }
 *
 * With variable-width children (file version 2.2 only: LanceDB refuses them in 2.1, and so does the
 * writer), always full-zip, each child compressed value by value by its own encoding, chosen as for a
 * column of its own (FSST from 32 KiB of values with one of 5 bytes or more, whether text or binary):
 *
 *   struct<id: int32, name: utf8>   row r → id[r] | u32 length | name[r] (plain or FSST)
 *   values: VariablePackedStruct { fields: [Flat(32) bits_per_value 32,
 *                                           Fsst(Variable(Flat(32))) bits_per_length 32] }
 *
 * Blob v2 descriptors (writer/blob.ts) are such rows too. The struct's own nulls are the column's; its
 * children's values are all that is stored, so a null child inside a valid row cannot be written
 * (UnsupportedError naming the column and row).
 */
import * as arrow from 'apache-arrow';
import { UnsupportedError } from '../errors.js';
import type {
  CompressiveEncodingProto,
  FullZipLayoutProto,
  VariablePackedFieldProto,
} from '../format/proto/messages.js';
import { compressFsst } from './fsst.js';
import { encodeFullZipPage } from './fullzip.js';
import type { WriteFileVersion } from './levels.js';
import type { PackedChild } from './schema.js';
import type { PageBuffer, PageValues } from './values.js';

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

/** Whether row r of the struct is valid. */
function validRows(data: arrow.Data): (r: number) => boolean {
  return (r) => data.nullCount === 0 || !data.nullBitmap || bitAt(data.nullBitmap, data.offset + r) === 1;
}

/** The struct's validity as a bitmap starting at bit 0 (its own may start at a bit offset: a sliced batch). */
function rebasedBitmap(data: arrow.Data, rowValid: (r: number) => boolean): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(data.length / 8));
  for (let r = 0; r < data.length; r++) if (rowValid(r)) bitmap[r >> 3] = (bitmap[r >> 3] as number) | (1 << (r & 7));
  return bitmap;
}

function nullChildError(column: string, child: string, row: number): UnsupportedError {
  return new UnsupportedError(
    `column "${column}": packed struct child "${child}" is null in a valid row (row ${row} of its batch); a packed struct stores its children's values only`,
    { column, row },
  );
}

/**
 * One batch's struct data as fixed-size binary rows of its children's bytes (`bits`: each child's
 * width), with the struct's validity.
 */
export function packStructRows(column: string, data: arrow.Data, bits: readonly number[]): arrow.Data {
  const widths = bits.map((b) => b / 8);
  const rowBytes = widths.reduce((sum, width) => sum + width, 0);
  const n = data.length;
  const out = new Uint8Array(n * rowBytes);
  const rowValid = validRows(data);
  const nullBitmap = data.nullCount > 0 ? rebasedBitmap(data, rowValid) : undefined;
  let at = 0;
  data.children.forEach((child, c) => {
    const width = widths[c] as number;
    const view = child.values as ArrayBufferView;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, n * width);
    for (let r = 0; r < n; r++) {
      if (child.nullCount > 0 && child.nullBitmap && !bitAt(child.nullBitmap, child.offset + r) && rowValid(r))
        throw nullChildError(column, String(data.type.children[c]?.name), r);
      out.set(bytes.subarray(r * width, (r + 1) * width), r * rowBytes + at);
    }
    at += width;
  });
  return arrow.makeData({
    type: new arrow.FixedSizeBinary(rowBytes),
    length: n,
    nullCount: data.nullCount,
    nullBitmap,
    data: out,
  });
}

/** The encoding of packed rows around the encoding of their bytes. */
export function packedEncoding(bits: readonly number[], inner: CompressiveEncodingProto): CompressiveEncodingProto {
  return { packed_struct: { bits_per_value: [...bits], values: inner } };
}

/**
 * One batch's struct data as binary rows in the plain form of a variable packed row: each child in
 * order, a fixed-width one as its bytes, a variable-width one as its length (`lengthBytes`, LE) and its
 * bytes; a null row is empty (the page's levels say it is null).
 */
export function packVariableRows(column: string, data: arrow.Data, children: readonly PackedChild[]): arrow.Data {
  const n = data.length;
  const rowValid = validRows(data);
  const offsets = new Int32Array(n + 1);
  const sources = data.children.map((child, c) => {
    const spec = children[c] as PackedChild;
    const bytes =
      spec.kind === 'fixed'
        ? new Uint8Array((child.values as ArrayBufferView).buffer, (child.values as ArrayBufferView).byteOffset)
        : (child.values as Uint8Array);
    return { child, spec, bytes, starts: child.valueOffsets as Int32Array | BigInt64Array | undefined };
  });
  let total = 0;
  for (let r = 0; r < n; r++) {
    if (rowValid(r)) {
      for (const [c, { child, spec, starts }] of sources.entries()) {
        if (child.nullCount > 0 && child.nullBitmap && !bitAt(child.nullBitmap, child.offset + r))
          throw nullChildError(column, String(data.type.children[c]?.name), r);
        total +=
          spec.kind === 'fixed'
            ? spec.byteWidth
            : spec.lengthBytes + Number((starts as Int32Array)[r + 1]) - Number((starts as Int32Array)[r]);
      }
    }
    if (total > 0x7fffffff) {
      throw new UnsupportedError(
        `column "${column}": a batch holds over 2 GiB of packed struct rows; write it in smaller batches`,
        { column },
      );
    }
    offsets[r + 1] = total;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  for (let r = 0; r < n; r++) {
    let at = offsets[r] as number;
    if (at === offsets[r + 1]) continue;
    for (const { spec, bytes, starts } of sources) {
      if (spec.kind === 'fixed') {
        out.set(bytes.subarray(r * spec.byteWidth, (r + 1) * spec.byteWidth), at);
        at += spec.byteWidth;
        continue;
      }
      const start = Number((starts as Int32Array)[r]);
      const length = Number((starts as Int32Array)[r + 1]) - start;
      writeLength(view, at, spec.lengthBytes, length);
      out.set(bytes.subarray(start, start + length), at + spec.lengthBytes);
      at += spec.lengthBytes + length;
    }
  }
  return arrow.makeData({
    type: new arrow.Binary(),
    length: n,
    nullCount: data.nullCount,
    nullBitmap: data.nullCount > 0 ? rebasedBitmap(data, rowValid) : undefined,
    valueOffsets: offsets,
    data: out,
  });
}

/** FSST pays from this many bytes of a child's values with one at least this long (LanceDB's thresholds). */
const FSST_MIN_BYTES = 32 * 1024;
const FSST_MIN_LONGEST = 5;
/**
 * LanceDB compresses a child with values longer than this with zstd value by value, which
 * lance-loader's reader does not read inside packed rows: such a child is written plain.
 */
const FSST_MAX_LONGEST = 32 * 1024;

function readLength(view: DataView, at: number, lengthBytes: 4 | 8): number {
  return lengthBytes === 4 ? view.getUint32(at, true) : Number(view.getBigUint64(at, true));
}

function writeLength(view: DataView, at: number, lengthBytes: 4 | 8, length: number): void {
  if (lengthBytes === 4) view.setUint32(at, length, true);
  else view.setBigUint64(at, BigInt(length), true);
}

/** The values of variable child `c` in the valid rows of a page of plain packed rows, one after another. */
function childValues(values: PageValues, children: readonly PackedChild[], c: number): PageValues {
  const offsets = values.offsets as Float64Array;
  const { bytes } = values;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = [];
  const lengths: number[] = [];
  let total = 0;
  for (let r = 0; r < values.rows; r++) {
    if (values.validity && !values.validity[r]) continue;
    let at = offsets[r] as number;
    for (let k = 0; k <= c; k++) {
      const child = children[k] as PackedChild;
      if (child.kind === 'fixed') {
        at += child.byteWidth;
        continue;
      }
      const length = readLength(view, at, child.lengthBytes);
      at += child.lengthBytes;
      if (k === c) {
        starts.push(at);
        lengths.push(length);
        total += length;
      }
      at += length;
    }
  }
  const out = new Uint8Array(total);
  const outOffsets = new Float64Array(starts.length + 1);
  starts.forEach((start, i) => {
    const at = outOffsets[i] as number;
    out.set(bytes.subarray(start, start + (lengths[i] as number)), at);
    outOffsets[i + 1] = at + (lengths[i] as number);
  });
  return { rows: starts.length, nullCount: 0, bytes: out, offsets: outOffsets };
}

/** A variable child's values compressed as LanceDB compresses them, and the encoding that says how. */
function compressChild(
  child: Extract<PackedChild, { kind: 'variable' }>,
  values: PageValues,
): { values: PageValues; encoding: CompressiveEncodingProto } {
  const variable: CompressiveEncodingProto = {
    variable: { offsets: { flat: { bits_per_value: child.lengthBytes * 8 } } },
  };
  if (child.compression === 'none') return { values, encoding: variable };
  const offsets = values.offsets as Float64Array;
  let longest = 0;
  for (let i = 0; i < values.rows; i++)
    longest = Math.max(longest, (offsets[i + 1] as number) - (offsets[i] as number));
  const dataBytes = values.bytes.length + (values.rows + 1) * child.lengthBytes;
  const wanted =
    child.compression === 'fsst' ||
    (longest >= FSST_MIN_LONGEST && longest <= FSST_MAX_LONGEST && dataBytes >= FSST_MIN_BYTES);
  const fsst = wanted ? compressFsst(values) : undefined;
  if (!fsst) return { values, encoding: variable };
  return { values: fsst.values, encoding: { fsst: { symbol_table: fsst.symbolTable, values: variable } } };
}

/** The page's rows again, with each variable child's values taken from `childValues` (valid rows only). */
function repack(
  values: PageValues,
  children: readonly PackedChild[],
  childValues: readonly (PageValues | undefined)[],
): PageValues {
  const valid = values.rows - values.nullCount;
  let total = 0;
  children.forEach((child, c) => {
    total +=
      child.kind === 'fixed'
        ? valid * child.byteWidth
        : valid * child.lengthBytes + (childValues[c] as PageValues).bytes.length;
  });
  const src = values.bytes;
  const srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const offsets = values.offsets as Float64Array;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const outOffsets = new Float64Array(values.rows + 1);
  let to = 0;
  let k = 0;
  for (let r = 0; r < values.rows; r++) {
    if (!values.validity || values.validity[r]) {
      let at = offsets[r] as number;
      children.forEach((child, c) => {
        if (child.kind === 'fixed') {
          out.set(src.subarray(at, at + child.byteWidth), to);
          at += child.byteWidth;
          to += child.byteWidth;
          return;
        }
        at += child.lengthBytes + readLength(srcView, at, child.lengthBytes);
        const own = childValues[c] as PageValues;
        const ownOffsets = own.offsets as Float64Array;
        const [start, end] = [ownOffsets[k] as number, ownOffsets[k + 1] as number];
        writeLength(view, to, child.lengthBytes, end - start);
        out.set(own.bytes.subarray(start, end), to + child.lengthBytes);
        to += child.lengthBytes + end - start;
      });
      k++;
    }
    outOffsets[r + 1] = to;
  }
  return { ...values, bytes: out, offsets: outOffsets };
}

/**
 * A full-zip page of plain packed rows (as {@link packVariableRows} makes them), each variable child
 * compressed on its own; UnsupportedError in file version 2.1, which has no VariablePackedStruct.
 */
export function encodeVariablePackedPage(
  column: string,
  values: PageValues,
  children: readonly PackedChild[],
  version: WriteFileVersion,
): { buffers: PageBuffer[]; layout: FullZipLayoutProto } {
  if (version !== '2.2') {
    throw new UnsupportedError(
      `column "${column}" is a packed struct (lance-encoding:packed) with variable-width children, which file version ${version} does not have (LanceDB refuses it too); write it with fileVersion '2.2'`,
      { column, fileVersion: version },
    );
  }
  const compressed = children.map((child, c) =>
    child.kind === 'fixed' ? undefined : compressChild(child, childValues(values, children, c)),
  );
  const fields: VariablePackedFieldProto[] = children.map((child, c) =>
    child.kind === 'fixed'
      ? { value: { flat: { bits_per_value: child.byteWidth * 8 } }, bits_per_value: child.byteWidth * 8 }
      : { value: compressed[c]?.encoding, bits_per_length: child.lengthBytes * 8 },
  );
  const rows = compressed.some((c) => c?.encoding.fsst !== undefined)
    ? repack(
        values,
        children,
        compressed.map((c) => c?.values),
      )
    : values;
  return encodeFullZipPage({ kind: 'variable', offsetBytes: 4 }, rows, () => ({ variable_packed_struct: { fields } }));
}

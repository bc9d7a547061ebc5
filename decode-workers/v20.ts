/**
 * File version 2.0: the lance.encodings.ArrayEncoding tree (lance-encoding `previous/`). For flat
 * columns the tree reduces to one of a few shapes, each a handful of Arrow-like buffers in the page:
 *
 *   fixed      Nullable(NoNull|SomeNull(validity=Flat(1b)), Flat(b) | FixedSizeList(dim, …Flat(b)))
 *   binary     Binary(indices=…Flat(64b) end offsets, bytes=Flat(8b[, zstd|lz4])), optional Fsst wrapper;
 *              a null row stores its end offset + null_adjustment
 *   dictionary Dictionary(indices=…Flat(8|16|32b), items=Binary(…)). Two conventions, chosen by the field
 *              type: strings Lance dictionary-encoded itself use index 0 for null and 1-based items
 *              (previous/encodings/physical/dictionary.rs DictionaryPageDecoder); Arrow dictionary
 *              input keeps its indices and stores nulls as null items (AlreadyDictionaryEncoder)
 *   all null   Nullable(AllNull)
 *
 * {@link resolveV20Shape} turns the tree into a shape (rejecting anything else with UnsupportedError);
 * io/v20-plan.ts plans the reads; {@link runV20Task} decodes them.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { ByteRange, PageInfo } from '../format/file-metadata.js';
import type { RowRun } from './decode-task.js';
import { describeArrayEncoding } from '../format/layout.js';
import type { ArrayEncodingProto } from '../format/proto/messages.js';
import { decompressBuffer } from './compression.js';
import { fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { appendFsst, appendVariable, setNull, type ColumnOutput } from './output.js';

/** The largest decompressed 2.0 bytes buffer accepted. */
const MAX_BINARY_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export interface V20Binary {
  /** u64 end offset per row. */
  indices: ByteRange;
  bytes: ByteRange;
  compression: 'zstd' | 'lz4' | null;
  nullAdjustment: number;
  fsstSymbols: Uint8Array | null;
}

export type V20Shape =
  | { kind: 'fixed'; bitWidth: number; values: ByteRange; validity: ByteRange | null }
  | { kind: 'binary'; binary: V20Binary }
  | { kind: 'dictionary'; indexBits: number; indices: ByteRange; items: V20Binary; numItems: number; nullsInItems: boolean }
  | { kind: 'allnull' };

/** Page-relative views read for a task (see io/v20-plan.ts for what each holds). */
export interface V20Buffers {
  /** fixed: per run of rows, the values bytes of the run. */
  values?: Uint8Array[];
  /** fixed with validity: per run, the validity bitmap bytes covering the run (from byte floor(first/8)). */
  validity?: Uint8Array[];
  /** binary/dictionary: per run, u64 end offsets of rows first-1 (when first > 0) .. last. */
  indices?: Uint8Array[];
  /** binary: per run, the bytes between the run's first start and last end (uncompressed buffers only). */
  bytes?: Uint8Array[];
  /** binary with a compressed bytes buffer, or dictionary items: whole buffers. */
  wholeBytes?: Uint8Array;
  wholeItemIndices?: Uint8Array;
  /** The runs of consecutive rows the per-run views above cover. */
  runs: RowRun[];
}

function unsupported(encoding: ArrayEncodingProto | undefined, where: string): never {
  throw new UnsupportedError(`${where}: 2.0 encoding ${describeArrayEncoding(encoding)} is not supported by lance-loader`, {
    encoding: describeArrayEncoding(encoding),
  });
}

function pageBuffer(page: PageInfo, encoding: ArrayEncodingProto | undefined, where: string): ByteRange {
  const buffer = encoding?.flat?.buffer;
  if (!buffer || buffer.buffer_type !== 'page') unsupported(encoding, where);
  const range = page.buffers[buffer.buffer_index];
  if (!range) throw new CorruptFileError(`${where}: encoding names page buffer ${buffer.buffer_index} of ${page.buffers.length}`);
  return range;
}

/** Strips a Nullable(NoNull) wrapper. */
function unwrapNoNull(encoding: ArrayEncodingProto | undefined): ArrayEncodingProto | undefined {
  if (encoding?.array_encoding === 'nullable' && encoding.nullable?.nullability === 'no_nulls') return encoding.nullable.no_nulls?.values;
  return encoding;
}

function flatOf(encoding: ArrayEncodingProto | undefined, page: PageInfo, where: string): { bits: number; range: ByteRange; compression: string } {
  const e = unwrapNoNull(encoding);
  if (e?.array_encoding !== 'flat' || !e.flat) unsupported(encoding, where);
  return { bits: e.flat.bits_per_value, range: pageBuffer(page, e, where), compression: e.flat.compression?.scheme ?? '' };
}

function binaryOf(encoding: ArrayEncodingProto | undefined, page: PageInfo, where: string, fsstSymbols: Uint8Array | null): V20Binary {
  if (encoding?.array_encoding === 'fsst' && encoding.fsst && !fsstSymbols) {
    return binaryOf(encoding.fsst.binary, page, where, encoding.fsst.symbol_table);
  }
  if (encoding?.array_encoding !== 'binary' || !encoding.binary) unsupported(encoding, where);
  const indices = flatOf(encoding.binary.indices, page, where);
  const bytes = flatOf(encoding.binary.bytes, page, where);
  if (indices.bits !== 64 || indices.compression || bytes.bits !== 8) unsupported(encoding, where);
  const scheme = bytes.compression;
  if (scheme && scheme !== 'zstd' && scheme !== 'lz4' && scheme !== 'none') unsupported(encoding, where);
  return {
    indices: indices.range,
    bytes: bytes.range,
    compression: scheme === 'zstd' || scheme === 'lz4' ? scheme : null,
    nullAdjustment: encoding.binary.null_adjustment,
    fsstSymbols,
  };
}

function fixedOf(encoding: ArrayEncodingProto | undefined, page: PageInfo, where: string): { bitWidth: number; values: ByteRange } {
  const e = unwrapNoNull(encoding);
  if (e?.array_encoding === 'fixed_size_list' && e.fixed_size_list) {
    const inner = fixedOf(e.fixed_size_list.items, page, where);
    if (e.fixed_size_list.has_validity || inner.bitWidth % 8 !== 0) unsupported(encoding, where);
    return { bitWidth: inner.bitWidth * e.fixed_size_list.dimension, values: inner.values };
  }
  const flat = flatOf(e, page, where);
  if (flat.compression || (flat.bits !== 1 && flat.bits % 8 !== 0) || flat.bits === 0) unsupported(encoding, where);
  return { bitWidth: flat.bits, values: flat.range };
}

/** Reduces a page's encoding tree to a shape lance-loader can read. */
export function resolveV20Shape(encoding: ArrayEncodingProto, page: PageInfo, where: string, arrowDictionary = false): V20Shape {
  switch (encoding.array_encoding) {
    case 'nullable': {
      const n = encoding.nullable;
      if (n?.nullability === 'all_nulls') return { kind: 'allnull' };
      if (n?.nullability === 'no_nulls') {
        const inner = n.no_nulls?.values;
        if (inner?.array_encoding === 'binary' || inner?.array_encoding === 'fsst' || inner?.array_encoding === 'dictionary') {
          return resolveV20Shape(inner, page, where, arrowDictionary);
        }
        return { kind: 'fixed', ...fixedOf(inner, page, where), validity: null };
      }
      if (n?.nullability === 'some_nulls') {
        const validity = flatOf(n.some_nulls?.validity, page, where);
        if (validity.bits !== 1) unsupported(encoding, where);
        return { kind: 'fixed', ...fixedOf(n.some_nulls?.values, page, where), validity: validity.range };
      }
      return unsupported(encoding, where);
    }
    case 'binary':
    case 'fsst':
      return { kind: 'binary', binary: binaryOf(encoding, page, where, null) };
    case 'dictionary': {
      const d = encoding.dictionary;
      if (!d) return unsupported(encoding, where);
      const indices = flatOf(d.indices, page, where);
      if (indices.compression || ![8, 16, 32].includes(indices.bits)) unsupported(encoding, where);
      return {
        kind: 'dictionary',
        indexBits: indices.bits,
        indices: indices.range,
        items: binaryOf(d.items, page, where, null),
        numItems: d.num_dictionary_items,
        nullsInItems: arrowDictionary,
      };
    }
    default:
      return unsupported(encoding, where);
  }
}

/** Reads u64 end offsets from a view as numbers. */
function endOffsets(view: Uint8Array, where: string): Float64Array {
  if (view.length % 8 !== 0) throw new CorruptFileError(`${where}: binary offsets of ${view.length} bytes`);
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const out = new Float64Array(view.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
  return out;
}

/** Decodes the bytes of whole binary/items buffers (decompressing when needed). */
export function binaryBytes(binary: V20Binary, whole: Uint8Array, where: string): Uint8Array {
  return binary.compression ? decompressBuffer(binary.compression, whole, MAX_BINARY_BYTES) : whole;
}

function appendBinaryValue(out: ColumnOutput, slot: number, src: Uint8Array, start: number, end: number, fsst: FsstSymbolTable | null, where: string): void {
  if (out.kind !== 'variable') throw new CorruptFileError(`${where}: binary values for a fixed-width column`);
  if (start > end || end > src.length) throw new CorruptFileError(`${where}: binary value bytes ${start}..${end} are outside ${src.length} bytes`);
  if (fsst) appendFsst(out, slot, fsst, src, start, end);
  else appendVariable(out, slot, src, start, end);
}

/** Decodes 2.0 rows read per io/v20-plan.ts into `out`. */
export function runV20Task(shape: V20Shape, buffers: V20Buffers, rows: Uint32Array, slots: Uint32Array, out: ColumnOutput, where: string): void {
  switch (shape.kind) {
    case 'allnull':
      for (let i = 0; i < slots.length; i++) setNull(out, slots[i] as number);
      return;
    case 'fixed': {
      if (out.kind !== 'fixed') throw new CorruptFileError(`${where}: fixed-width values for a variable-width column`);
      const valueBytes = shape.bitWidth === 1 ? 1 : shape.bitWidth / 8;
      if (valueBytes !== out.byteWidth) {
        throw new CorruptFileError(`${where}: page values are ${shape.bitWidth} bits wide, the column's type needs ${out.byteWidth * 8}`);
      }
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const values = buffers.values?.[k];
        const validity = buffers.validity?.[k];
        if (!values) throw new CorruptFileError(`${where}: missing values for run ${k}`);
        for (let i = from; i < to; i++) {
          const row = rows[i] as number;
          const slot = slots[i] as number;
          if (validity) {
            const bit = row - (first & ~7);
            if ((((validity[bit >>> 3] as number) >>> (bit & 7)) & 1) === 0) {
              setNull(out, slot);
              continue;
            }
          }
          if (shape.bitWidth === 1) {
            const bit = row - (first & ~7);
            out.values[slot] = ((values[bit >>> 3] as number) >>> (bit & 7)) & 1;
          } else {
            const w = shape.bitWidth / 8;
            const at = (row - first) * w;
            if (at + w > values.length) throw new CorruptFileError(`${where}: row ${row} is past the values read`);
            out.values.set(values.subarray(at, at + w), slot * w);
          }
        }
      }
      return;
    }
    case 'binary': {
      const b = shape.binary;
      const fsst = b.fsstSymbols ? fsstSymbolTable(b.fsstSymbols) : null;
      const whole = buffers.wholeBytes ? binaryBytes(b, buffers.wholeBytes, where) : null;
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const ends = endOffsets(buffers.indices?.[k] ?? new Uint8Array(0), where);
        const lead = first > 0 ? 1 : 0;
        const adjust = (v: number) => (v >= b.nullAdjustment ? v - b.nullAdjustment : v);
        const runStart = first > 0 ? adjust(ends[0] as number) : 0;
        const src = whole ?? buffers.bytes?.[k];
        if (!src) throw new CorruptFileError(`${where}: missing binary bytes for run ${k}`);
        const base = whole ? 0 : runStart;
        for (let i = from; i < to; i++) {
          const r = (rows[i] as number) - first + lead;
          const raw = ends[r];
          if (raw === undefined) throw new CorruptFileError(`${where}: binary offsets do not cover row ${rows[i]}`);
          const slot = slots[i] as number;
          if (raw >= b.nullAdjustment) {
            setNull(out, slot);
            continue;
          }
          const start = r === 0 ? 0 : adjust(ends[r - 1] as number);
          appendBinaryValue(out, slot, src, start - base, raw - base, fsst, where);
        }
      }
      return;
    }
    case 'dictionary': {
      const items = shape.items;
      const itemEnds = endOffsets(buffers.wholeItemIndices ?? new Uint8Array(0), where);
      const itemBytes = binaryBytes(items, buffers.wholeBytes ?? new Uint8Array(0), where);
      const fsst = items.fsstSymbols ? fsstSymbolTable(items.fsstSymbols) : null;
      const w = shape.indexBits / 8;
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const view = buffers.indices?.[k] ?? new Uint8Array(0);
        const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
        for (let i = from; i < to; i++) {
          const at = ((rows[i] as number) - first) * w;
          if (at + w > view.length) throw new CorruptFileError(`${where}: dictionary indices do not cover row ${rows[i]}`);
          const raw = w === 1 ? dv.getUint8(at) : w === 2 ? dv.getUint16(at, true) : dv.getUint32(at, true);
          const slot = slots[i] as number;
          if (!shape.nullsInItems && raw === 0) {
            setNull(out, slot);
            continue;
          }
          const index = shape.nullsInItems ? raw : raw - 1;
          const rawEnd = itemEnds[index];
          if (rawEnd === undefined) throw new CorruptFileError(`${where}: dictionary index ${raw} is beyond ${itemEnds.length} items`);
          if (rawEnd >= items.nullAdjustment) {
            setNull(out, slot);
            continue;
          }
          const adjust = (v: number) => (v >= items.nullAdjustment ? v - items.nullAdjustment : v);
          const end = rawEnd;
          const start = index === 0 ? 0 : adjust(itemEnds[index - 1] as number);
          appendBinaryValue(out, slot, itemBytes, start, end, fsst, where);
        }
      }
      return;
    }
  }
}

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
 * io/v20-plan.ts plans the reads; decode-workers/encodings/v20.ts decodes them.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { ByteRange, PageInfo } from './file-metadata.js';
import { describeArrayEncoding } from './layout.js';
import type { ArrayEncodingProto } from './proto/messages.js';

export interface V20Binary {
  /** u64 end offset per row. */
  indices: ByteRange;
  bytes: ByteRange;
  compression: 'zstd' | 'lz4' | null;
  nullAdjustment: number;
  fsstSymbols: Uint8Array | null;
}

/** The items' bitmap of fixed-size lists with null items: `perValue` bits per row, row i's from bit i × perValue. */
export interface V20ItemValidity {
  range: ByteRange;
  perValue: number;
}

export type V20Shape =
  | {
      kind: 'fixed';
      bitWidth: number;
      values: ByteRange;
      validity: ByteRange | null;
      itemValidity: V20ItemValidity | null;
    }
  | { kind: 'binary'; binary: V20Binary }
  | {
      kind: 'dictionary';
      indexBits: number;
      indices: ByteRange;
      items: V20Binary;
      numItems: number;
      nullsInItems: boolean;
    }
  | { kind: 'allnull' };

function unsupported(encoding: ArrayEncodingProto | undefined, where: string): never {
  throw new UnsupportedError(
    `${where}: 2.0 encoding ${describeArrayEncoding(encoding)} is not supported by lance-loader`,
    {
      encoding: describeArrayEncoding(encoding),
    },
  );
}

function pageBuffer(page: PageInfo, encoding: ArrayEncodingProto | undefined, where: string): ByteRange {
  const buffer = encoding?.flat?.buffer;
  if (!buffer || buffer.buffer_type !== 'page') unsupported(encoding, where);
  const range = page.buffers[buffer.buffer_index];
  if (!range)
    throw new CorruptFileError(`${where}: encoding names page buffer ${buffer.buffer_index} of ${page.buffers.length}`);
  return range;
}

/** Strips a Nullable(NoNull) wrapper. */
function unwrapNoNull(encoding: ArrayEncodingProto | undefined): ArrayEncodingProto | undefined {
  if (encoding?.array_encoding === 'nullable' && encoding.nullable?.nullability === 'no_nulls')
    return encoding.nullable.no_nulls?.values;
  return encoding;
}

function flatOf(
  encoding: ArrayEncodingProto | undefined,
  page: PageInfo,
  where: string,
): { bits: number; range: ByteRange; compression: string } {
  const e = unwrapNoNull(encoding);
  if (e?.array_encoding !== 'flat' || !e.flat) unsupported(encoding, where);
  return {
    bits: e.flat.bits_per_value,
    range: pageBuffer(page, e, where),
    compression: e.flat.compression?.scheme ?? '',
  };
}

function binaryOf(
  encoding: ArrayEncodingProto | undefined,
  page: PageInfo,
  where: string,
  fsstSymbols: Uint8Array | null,
): V20Binary {
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

/**
 * Fixed-width values: Flat, or FixedSizeList(dim, …) of them, whose items may be
 * Nullable(SomeNull(bitmap), Flat): fixed-size lists with null items (only the innermost items).
 */
function fixedOf(
  encoding: ArrayEncodingProto | undefined,
  page: PageInfo,
  where: string,
): { bitWidth: number; values: ByteRange; itemValidity: V20ItemValidity | null } {
  const e = unwrapNoNull(encoding);
  if (e?.array_encoding === 'fixed_size_list' && e.fixed_size_list) {
    const { dimension, items } = e.fixed_size_list;
    const someNull = items?.array_encoding === 'nullable' && items.nullable?.nullability === 'some_nulls';
    const inner = fixedOf(someNull ? items.nullable?.some_nulls?.values : items, page, where);
    if (e.fixed_size_list.has_validity || inner.bitWidth % 8 !== 0 || (someNull && inner.itemValidity))
      unsupported(encoding, where);
    const bitmap = someNull ? flatOf(items.nullable?.some_nulls?.validity, page, where) : null;
    if (bitmap && bitmap.bits !== 1) unsupported(encoding, where);
    const itemValidity = bitmap
      ? { range: bitmap.range, perValue: dimension }
      : inner.itemValidity && { ...inner.itemValidity, perValue: inner.itemValidity.perValue * dimension };
    return { bitWidth: inner.bitWidth * dimension, values: inner.values, itemValidity };
  }
  const flat = flatOf(e, page, where);
  if (flat.compression || (flat.bits !== 1 && flat.bits % 8 !== 0) || flat.bits === 0) unsupported(encoding, where);
  return { bitWidth: flat.bits, values: flat.range, itemValidity: null };
}

/** Reduces a page's encoding tree to a shape lance-loader can read. */
export function resolveV20Shape(
  encoding: ArrayEncodingProto,
  page: PageInfo,
  where: string,
  arrowDictionary = false,
): V20Shape {
  switch (encoding.array_encoding) {
    case 'nullable': {
      const n = encoding.nullable;
      if (n?.nullability === 'all_nulls') return { kind: 'allnull' };
      if (n?.nullability === 'no_nulls') {
        const inner = n.no_nulls?.values;
        if (
          inner?.array_encoding === 'binary' ||
          inner?.array_encoding === 'fsst' ||
          inner?.array_encoding === 'dictionary'
        ) {
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
    case 'packed_struct':
      return { kind: 'fixed', ...packedStructOf(encoding, page, where), validity: null, itemValidity: null };
    default:
      return unsupported(encoding, where);
  }
}

/**
 * A 2.0 PackedStruct (lance-encoding previous/encodings/physical/packed_struct.rs): the fixed-width
 * fields of each row side by side in one page buffer, read like one fixed-width value per row.
 */
function packedStructOf(
  encoding: ArrayEncodingProto,
  page: PageInfo,
  where: string,
): { bitWidth: number; values: ByteRange } {
  const packed = encoding.packed_struct;
  const buffer = packed?.buffer;
  if (!packed || packed.inner.length === 0 || buffer?.buffer_type !== 'page') unsupported(encoding, where);
  let bitWidth = 0;
  for (const inner of packed.inner) {
    const flat = unwrapNoNull(inner);
    const bits = flat?.array_encoding === 'flat' ? flat.flat?.bits_per_value : undefined;
    if (bits === undefined || bits === 0 || bits % 8 !== 0 || flat?.flat?.compression) unsupported(encoding, where);
    bitWidth += bits;
  }
  const values = page.buffers[buffer.buffer_index];
  if (!values)
    throw new CorruptFileError(`${where}: encoding names page buffer ${buffer.buffer_index} of ${page.buffers.length}`);
  return { bitWidth, values };
}

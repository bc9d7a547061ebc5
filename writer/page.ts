/**
 * One page of one column: the structural layout chosen as LanceDB chooses it, then encoded.
 *
 *   no value slot holds a valid value        → all null: ConstantLayout without a value; no buffers for a
 *                                               flat column, [rep, def] buffers for a nested leaf
 *   (2.2) every valid value is the same      → ConstantLayout with that value (writer/constant.ts)
 *   strings/binary of few distinct values    → mini-block of dictionary indices (writer/dictionary.ts);
 *   (2.2) 64-bit values of few distinct ones   the same, with their values as the dictionary
 *   widest value under 256 bytes             → mini-block (unless a nested leaf's levels overflow a chunk)
 *   otherwise                                → full-zip
 *
 * Compression as LanceDB picks it by default: fixed-width mini-block values run-length encoded,
 * bit-packed or plain, whichever is smallest (writer/miniblock.ts); strings (utf8) of at least 32 KiB
 * with a value of 5 bytes or more FSST-compressed (writer/fsst.ts), in either layout. A field's
 * `lance-encoding:compression` changes that: `none` leaves values plain (dictionary indices too), `fsst`
 * asks for FSST on any strings, `zstd`/`lz4` compress mini-block value buffers instead of FSST
 * (writer/general-compression.ts), and wide strings/binary (full-zip) value by value with zstd.
 * Levels as writer/levels.ts picks. A nested leaf's page counts its top-level rows, not its values.
 *
 * Unlike LanceDB, wide values over 32 KiB are not zstd-compressed unless the field asks: images and
 * other already-compressed blobs would cost the time without saving bytes.
 */
import type * as arrow from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { CompressiveEncodingProto, ConstantLayoutProto, PageLayoutProto } from '../format/proto/messages.js';
import { encodeConstantPage } from './constant.js';
import { compressDictionary, encodeDictionary, encodeFixedDictionary } from './dictionary.js';
import { compressFsst } from './fsst.js';
import { encodeFullZipPage } from './fullzip.js';
import { compressBuffer, generalEncoding, loadZstd, type GeneralCompression } from './general-compression.js';
import { levelCodec, type WriteFileVersion } from './levels.js';
import { encodeMiniBlockPage, type MiniBlockOptions } from './miniblock.js';
import { encodeVariablePackedPage, packedEncoding } from './packed.js';
import { packedBits, packedChildren, type ColumnKind, type PackedChild } from './schema.js';
import {
  levelBytes,
  levelsOf,
  rowBytes,
  WIDE_ROW_BYTES,
  type PageBuffer,
  type PageLevels,
  type PageValues,
} from './values.js';

/** An encoded page: its buffers in order and its `Page.encoding` bytes (an Any of a PageLayout). */
export interface EncodedPage {
  rows: number;
  buffers: PageBuffer[];
  encoding: Uint8Array;
}

/** What a column's field asks of its pages' compression, and whether its values are text. */
export interface PageHints {
  /** `lance-encoding:compression`, with `lance-encoding:compression-level` for zstd. */
  compression?: GeneralCompression | 'none' | 'fsst';
  /** utf8 values (FSST is for text; binary values stay as they are). */
  text: boolean;
  /** A packed struct's rows: the bits of each child (writer/packed.ts); they stay plain, as in LanceDB. */
  packed?: number[];
  /** A packed struct with variable-width children: its children (writer/packed.ts), and the column's name. */
  packedChildren?: { column: string; children: PackedChild[] };
}

const COMPRESSION_KEY = 'lance-encoding:compression';
const LEVEL_KEY = 'lance-encoding:compression-level';
/** FSST pays from this many bytes of strings with a value at least this long (LanceDB's thresholds). */
const FSST_MIN_PAGE_BYTES = 32 * 1024;
const FSST_MIN_LONGEST = 5;

/** The hints of a column's Arrow field; an unknown compression is an InvalidArgumentError naming the column. */
export function pageHints(field: arrow.Field): PageHints {
  const packed = packedBits(field);
  if (packed) return { text: false, packed };
  const children = packedChildren(field);
  if (children) return { text: false, packedChildren: { column: field.name, children } };
  const typeName = String(field.type);
  const text = typeName === 'Utf8' || typeName === 'LargeUtf8';
  const scheme = field.metadata.get(COMPRESSION_KEY);
  if (scheme === undefined) return { text };
  if (scheme === 'none' || scheme === 'fsst') return { text, compression: scheme };
  if (scheme !== 'zstd' && scheme !== 'lz4') {
    throw new InvalidArgumentError(
      `column "${field.name}": ${COMPRESSION_KEY} is ${JSON.stringify(scheme)}; accepted: zstd, lz4, fsst, none`,
      { column: field.name, option: COMPRESSION_KEY },
    );
  }
  const level = Number(field.metadata.get(LEVEL_KEY));
  // LanceDB ignores a level that is not an integer, as it does here.
  return { text, compression: Number.isInteger(level) ? { scheme, level } : { scheme } };
}

/**
 * Checks every column's compression metadata (InvalidArgumentError before any file is written) and loads
 * zstd when a column asks for it.
 */
export async function prepareCompression(fields: readonly arrow.Field[]): Promise<void> {
  if (fields.map(pageHints).some(needsZstd)) await loadZstd();
}

/** Whether pages with these hints may compress with zstd: lz4 too, as wide values get zstd whichever was asked. */
export function needsZstd(hints: PageHints): boolean {
  return typeof hints.compression === 'object';
}

function widestValue(kind: ColumnKind, values: PageValues): number {
  if (kind.kind === 'bool') return 1;
  if (kind.kind !== 'variable') return rowBytes(kind);
  const offsets = values.offsets as Float64Array;
  let widest = 0;
  for (let r = 0; r < values.rows; r++) {
    if (values.validity && !values.validity[r]) continue;
    const length = (offsets[r + 1] as number) - (offsets[r] as number);
    if (length > widest) widest = length;
  }
  return widest;
}

/**
 * An all-null page of a nested leaf: its levels as [rep, def] buffers, raw u16 in 2.1, each compressed
 * as one block (and the codec named in the layout) in 2.2, as LanceDB writes them.
 */
function allNullLevels(
  levels: PageLevels,
  version: WriteFileVersion,
): { buffers: PageBuffer[]; layout: ConstantLayoutProto } {
  const layout: ConstantLayoutProto = { layers: levels.layers, num_rep_values: 0, num_def_values: 0 };
  if (version === '2.1') return { buffers: [levelBytes(levels.rep), levelBytes(levels.def)], layout };
  const compress = (all: Uint16Array | undefined): { bytes: Uint8Array; encoding?: CompressiveEncodingProto } => {
    if (!all) return { bytes: new Uint8Array(0) };
    const codec = levelCodec(all, version);
    return { bytes: codec.compress(all), encoding: codec.encoding };
  };
  const [rep, def] = [compress(levels.rep), compress(levels.def)];
  // Compressed levels need their counts, which LanceDB records only here.
  layout.num_rep_values = levels.rep?.length ?? 0;
  layout.num_def_values = levels.def?.length ?? 0;
  if (rep.encoding) layout.rep_compression = rep.encoding;
  if (def.encoding) layout.def_compression = def.encoding;
  return { buffers: [rep.bytes, def.bytes], layout };
}

/** Whether LanceDB would FSST-compress this page of variable-width values. */
function wantsFsst(hints: PageHints, values: PageValues, widest: number, offsetBytes: number): boolean {
  if (hints.compression === 'fsst') return true;
  if (!hints.text || hints.compression !== undefined) return false;
  const offsets = values.offsets as Float64Array;
  const dataBytes = (offsets[values.rows] as number) - (offsets[0] as number) + (values.rows + 1) * offsetBytes;
  return widest >= FSST_MIN_LONGEST && dataBytes >= FSST_MIN_PAGE_BYTES;
}

/** Page values as they go into a layout, and the wrapper that names their compression. */
interface CompressedValues {
  values: PageValues;
  wrapEncoding?: (inner: CompressiveEncodingProto) => CompressiveEncodingProto;
}

/**
 * Wide values of a field that asks for zstd or lz4, compressed one by one with zstd at its default level
 * (LanceDB writes zstd here whichever of the two was asked), when the page holds at least 32 KiB.
 */
function zstdPerValue(values: PageValues, offsetBytes: number): CompressedValues {
  const offsets = values.offsets as Float64Array;
  const dataBytes = (offsets[values.rows] as number) - (offsets[0] as number) + (values.rows + 1) * offsetBytes;
  if (dataBytes < FSST_MIN_PAGE_BYTES) return { values };
  const pieces: Uint8Array[] = [];
  const out = new Float64Array(values.rows + 1);
  for (let r = 0; r < values.rows; r++) {
    const valid = !values.validity || values.validity[r];
    const piece = valid
      ? compressBuffer(values.bytes.subarray(offsets[r] as number, offsets[r + 1] as number), { scheme: 'zstd' })
      : new Uint8Array(0);
    pieces.push(piece);
    out[r + 1] = (out[r] as number) + piece.length;
  }
  const bytes = new Uint8Array(out[values.rows] as number);
  pieces.forEach((piece, r) => bytes.set(piece, out[r] as number));
  return {
    values: { ...values, bytes, offsets: out },
    wrapEncoding: (inner) => generalEncoding({ scheme: 'zstd', level: 0 }, inner),
  };
}

/** The page's values, FSST-compressed when LanceDB would compress them, and the wrapper that says so. */
function fsstValues(kind: ColumnKind, values: PageValues, widest: number, hints: PageHints): CompressedValues {
  if (kind.kind !== 'variable' || !wantsFsst(hints, values, widest, kind.offsetBytes)) return { values };
  const fsst = compressFsst(values);
  if (!fsst) return { values };
  return {
    values: fsst.values,
    wrapEncoding: (inner) => ({ fsst: { symbol_table: fsst.symbolTable, values: inner } }),
  };
}

/** A page's layout and buffers, with its values compressed as LanceDB compresses them. */
function encodeLayout(
  kind: ColumnKind,
  values: PageValues,
  version: WriteFileVersion,
  hints: PageHints,
): { layout: PageLayoutProto; buffers: PageBuffer[] } {
  if (values.nullCount === values.rows) {
    if (!values.levels) {
      const layout: PageLayoutProto = {
        constant_layout: { layers: ['REPDEF_NULLABLE_ITEM'], num_rep_values: 0, num_def_values: 0 },
      };
      return { layout, buffers: [] };
    }
    const page = allNullLevels(values.levels, version);
    return { layout: { constant_layout: page.layout }, buffers: page.buffers };
  }
  if (hints.packedChildren) {
    const { column, children } = hints.packedChildren;
    const page = encodeVariablePackedPage(column, values, children, version);
    return { layout: { full_zip_layout: page.layout }, buffers: page.buffers };
  }
  const packed = hints.packed;
  if (packed) {
    const wrapEncoding = (inner: CompressiveEncodingProto): CompressiveEncodingProto => packedEncoding(packed, inner);
    const page =
      rowBytes(kind) < WIDE_ROW_BYTES
        ? encodeMiniBlockPage(kind, values, version, { plain: true, wrapEncoding })
        : undefined;
    if (page) return { layout: { mini_block_layout: page.layout }, buffers: page.buffers };
    const wide = encodeFullZipPage(kind, values, wrapEncoding);
    return { layout: { full_zip_layout: wide.layout }, buffers: wide.buffers };
  }
  const constant = version === '2.2' ? encodeConstantPage(kind, values, () => levelsOf(values)) : undefined;
  if (constant) return { layout: { constant_layout: constant.layout }, buffers: constant.buffers };
  const general = typeof hints.compression === 'object' ? hints.compression : undefined;
  const plain = hints.compression === 'none';
  const dictionary =
    kind.kind === 'variable'
      ? encodeDictionary(values, kind.offsetBytes)
      : kind.kind === 'fixed' && version === '2.2' && hints.compression === undefined
        ? encodeFixedDictionary(values, kind.byteWidth)
        : undefined;
  if (dictionary) {
    const indices: PageValues = { ...values, bytes: dictionary.indices, offsets: undefined };
    // LanceDB 0.39 compresses a 2.2 page's dictionary (2.1 leaves it plain).
    const options: MiniBlockOptions = {
      dictionary: version === '2.2' ? compressDictionary(dictionary) : dictionary,
      general,
      plain,
    };
    const page = encodeMiniBlockPage({ kind: 'fixed', byteWidth: 4 }, indices, version, options);
    if (page) return { layout: { mini_block_layout: page.layout }, buffers: page.buffers };
  }
  const widest = widestValue(kind, values);
  const compressed = fsstValues(kind, values, widest, hints);
  if (widest < WIDE_ROW_BYTES) {
    const options: MiniBlockOptions = { wrapEncoding: compressed.wrapEncoding, general, plain };
    const page = encodeMiniBlockPage(kind, compressed.values, version, options);
    if (page) return { layout: { mini_block_layout: page.layout }, buffers: page.buffers };
  }
  const wide = kind.kind === 'variable' && general ? zstdPerValue(values, kind.offsetBytes) : compressed;
  const page = encodeFullZipPage(kind, wide.values, wide.wrapEncoding);
  return { layout: { full_zip_layout: page.layout }, buffers: page.buffers };
}

/** Encodes one page of a column in file version `version`. */
export function encodePage(
  kind: ColumnKind,
  values: PageValues,
  version: WriteFileVersion,
  hints: PageHints = { text: false },
): EncodedPage {
  const { layout, buffers } = encodeLayout(kind, values, version, hints);
  return {
    rows: values.levels?.rows ?? values.rows,
    buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout(layout)),
  };
}

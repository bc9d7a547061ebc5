/**
 * The 2.1 mini-block layout (lance.encodings21.MiniBlockLayout; lance-encoding
 * encodings/logical/primitive.rs). A page has buffers:
 *
 *   [0] chunk metadata: one u16 word per chunk (2.1); bytes = ((word >> 4) + 1) * 8,
 *       values = 2^(word & 0xF) except the last chunk, which holds the rest of the page's items
 *   [1] chunk data, the chunks back to back
 *   [2] the page dictionary, when `dictionary` is set
 *
 * One chunk:
 *
 *   u16 num_levels | u16 rep_size? | u16 def_size? | num_buffers × u16 buffer sizes | pad to 8
 *   rep bytes, pad 8 | def bytes, pad 8 | value buffer 0, pad 8 | value buffer 1, pad 8 | …
 *
 * Random access reads whole chunks: a take decodes each touched chunk once and gathers its rows.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { MiniBlockLayoutProto } from '../format/proto/messages.js';
import { gatherFixed } from './gather.js';
import { appendFsst, appendVariable, setNull, type ColumnOutput, type VariableOutput } from './output.js';
import { decodeBlockValues, decodeLevels, decodeMiniBlockValues, type DecodedValues, type WantedValues } from './values.js';

const ALIGN = 8;
/** Most items one chunk can hold: the chunk metadata word stores log2(items) in 4 bits. */
const MAX_CHUNK_ITEMS = 2 ** 15;

/** Where each chunk of a page sits and which items it holds; index i..i+1 bound chunk i. */
export interface ChunkTable {
  /** Byte offset of each chunk within the chunk data buffer (n + 1 entries). */
  byteOffsets: Float64Array;
  /** First item of each chunk (n + 1 entries; the last is the page's item count). */
  itemStarts: Float64Array;
}

/** Parses the chunk metadata buffer of a page holding `numItems` items in `dataBytes` of chunk data. */
export function parseChunkTable(meta: Uint8Array, numItems: number, dataBytes: number, where: string): ChunkTable {
  if (meta.length % 2 !== 0) throw new CorruptFileError(`${where}: chunk metadata is ${meta.length} bytes, not a whole number of u16 words`);
  const n = meta.length / 2;
  const byteOffsets = new Float64Array(n + 1);
  const itemStarts = new Float64Array(n + 1);
  let bytes = 0;
  let items = 0;
  for (let i = 0; i < n; i++) {
    const word = (meta[2 * i] as number) | ((meta[2 * i + 1] as number) << 8);
    bytes += ((word >>> 4) + 1) * 8;
    const count = i === n - 1 ? numItems - items : 2 ** (word & 0xf);
    // The last chunk holds the rest of the page; like every chunk it has at most 2^15 items.
    if (count < 0 || count > MAX_CHUNK_ITEMS) {
      throw new CorruptFileError(`${where}: chunk ${i} of ${n} would hold ${count} items (the page has ${numItems}, chunks hold 0..${MAX_CHUNK_ITEMS})`);
    }
    items += count;
    byteOffsets[i + 1] = bytes;
    itemStarts[i + 1] = items;
  }
  if (items !== numItems || (n === 0 && numItems !== 0) || bytes > dataBytes) {
    throw new CorruptFileError(
      `${where}: chunk table of ${n} chunks covers ${items} items in ${bytes} bytes, but the page has ${numItems} items in ${dataBytes} bytes`,
    );
  }
  return { byteOffsets, itemStarts };
}

/** The decoded contents of one chunk. */
export interface DecodedChunk {
  values: DecodedValues;
  /** Definition levels (0 = valid), or null when every item is valid. */
  def: Uint16Array | null;
}

/** Checks that lance-loader can decode the page's structure (flat columns, no repetition). */
export function checkMiniBlockSupported(layout: MiniBlockLayoutProto, where: string): void {
  if (layout.rep_compression || layout.repetition_index_depth > 0) {
    throw new UnsupportedError(`${where}: nested (list) mini-block pages are not supported yet`, { layers: layout.layers });
  }
  for (const layer of layout.layers) {
    if (layer !== 'REPDEF_ALL_VALID_ITEM' && layer !== 'REPDEF_NULLABLE_ITEM') {
      throw new UnsupportedError(`${where}: mini-block pages with ${layer} layers (nested data) are not supported yet`, { layers: layout.layers });
    }
  }
  if (layout.layers.length > 1) {
    throw new UnsupportedError(`${where}: mini-block pages with ${layout.layers.length} rep/def layers (struct fields) are not supported yet`);
  }
}

/** Decodes one chunk of `itemCount` items (only the `wanted` ones where that is cheaper). */
export function decodeMiniBlockChunk(layout: MiniBlockLayoutProto, chunk: Uint8Array, itemCount: number, where: string, wanted?: WantedValues): DecodedChunk {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const numBuffers = layout.num_buffers;
  const hasDef = layout.def_compression !== undefined;
  const headerBytes = 2 + (hasDef ? 2 : 0) + 2 * numBuffers;
  if (numBuffers > 64 || chunk.length < headerBytes) {
    throw new CorruptFileError(`${where}: chunk of ${chunk.length} bytes is too small for its header (${numBuffers} buffers)`);
  }
  const numLevels = view.getUint16(0, true);
  let at = 2;
  let defSize = 0;
  if (hasDef) {
    defSize = view.getUint16(at, true);
    at += 2;
  }
  const sizes: number[] = [];
  for (let i = 0; i < numBuffers; i++, at += 2) sizes.push(view.getUint16(at, true));
  const pad = (x: number) => x + ((ALIGN - (x % ALIGN)) % ALIGN);
  at = pad(at);
  const take = (size: number, what: string) => {
    if (at + size > chunk.length) {
      throw new CorruptFileError(`${where}: chunk ${what} (${size} bytes at ${at}) runs past the chunk's ${chunk.length} bytes`);
    }
    const slice = chunk.subarray(at, at + size);
    at = pad(at + size);
    return slice;
  };
  let def: Uint16Array | null = null;
  if (hasDef) {
    if (numLevels !== itemCount) throw new CorruptFileError(`${where}: chunk has ${numLevels} levels for ${itemCount} items`);
    def = decodeLevels(layout.def_compression, take(defSize, 'definition levels'), numLevels, where);
  }
  const buffers = sizes.map((size, i) => take(size, `value buffer ${i}`));
  const values = decodeMiniBlockValues(layout.value_compression, buffers, itemCount, where, wanted);
  return { values, def };
}

/** The page dictionary (buffer 2), decoded once per page. */
export function decodeMiniBlockDictionary(layout: MiniBlockLayoutProto, bytes: Uint8Array, where: string): DecodedValues {
  return decodeBlockValues(layout.dictionary, bytes, layout.num_dictionary_items, `${where} dictionary`);
}

/** Rows of one chunk to copy out: entries [from, to) of `rows`/`slots`, rows counted from the page start. */
export interface ChunkRows {
  rows: Uint32Array;
  slots: Uint32Array;
  from: number;
  to: number;
  /** Page item index of the chunk's first item. */
  itemStart: number;
}

/** Copies the requested rows of a decoded chunk into the output, resolving dictionary indices. */
export function gatherChunk(chunk: DecodedChunk, sel: ChunkRows, dictionary: DecodedValues | null, out: ColumnOutput, where: string): void {
  const { rows, slots, from, to, itemStart } = sel;
  const { values, def } = chunk;
  if (def) {
    for (let i = from; i < to; i++) {
      if (def[(rows[i] as number) - itemStart] !== 0) setNull(out, slots[i] as number);
    }
  }
  if (dictionary) {
    if (values.kind !== 'fixed') throw new CorruptFileError(`${where}: dictionary indices are not fixed-width`);
    gatherDictionary(values, dictionary, sel, def, out, where);
    return;
  }
  if (values.kind === 'fixed') {
    if (out.kind !== 'fixed' || out.byteWidth !== values.byteWidth) {
      throw new CorruptFileError(`${where}: page values are ${values.byteWidth} bytes wide, the column's type needs ${out.kind === 'fixed' ? out.byteWidth : 'variable width'}`);
    }
    gatherFixed(values.bytes, values.byteWidth, rows, slots, from, to, itemStart, out);
    return;
  }
  if (out.kind !== 'variable') throw new CorruptFileError(`${where}: page holds variable-width values for a fixed-width column`);
  for (let i = from; i < to; i++) {
    const item = (rows[i] as number) - itemStart;
    if (def && def[item] !== 0) continue;
    appendValue(out, slots[i] as number, values, item);
  }
}

/** Copies variable-width value `item` into `slot`, expanding FSST on the way. */
function appendValue(out: VariableOutput, slot: number, values: DecodedValues & { kind: 'variable' }, item: number): void {
  const start = values.offsets[item] as number;
  const end = values.offsets[item + 1] as number;
  if (values.fsst) appendFsst(out, slot, values.fsst, values.data, start, end);
  else appendVariable(out, slot, values.data, start, end);
}

function gatherDictionary(
  indices: DecodedValues & { kind: 'fixed' },
  dictionary: DecodedValues,
  sel: ChunkRows,
  def: Uint16Array | null,
  out: ColumnOutput,
  where: string,
): void {
  const { rows, slots, from, to, itemStart } = sel;
  const width = indices.byteWidth;
  const view = new DataView(indices.bytes.buffer, indices.bytes.byteOffset, indices.bytes.byteLength);
  for (let i = from; i < to; i++) {
    const item = (rows[i] as number) - itemStart;
    if (def && def[item] !== 0) continue;
    const index = width === 4 ? view.getUint32(item * 4, true) : width === 2 ? view.getUint16(item * 2, true) : width === 1 ? view.getUint8(item) : Number(view.getBigUint64(item * 8, true));
    if (index >= dictionary.count) throw new CorruptFileError(`${where}: dictionary index ${index} is out of range (${dictionary.count} items)`);
    const slot = slots[i] as number;
    if (dictionary.kind === 'variable') {
      if (out.kind !== 'variable') throw new CorruptFileError(`${where}: string dictionary for a fixed-width column`);
      appendValue(out, slot, dictionary, index);
    } else {
      if (out.kind !== 'fixed' || out.byteWidth !== dictionary.byteWidth) throw new CorruptFileError(`${where}: dictionary values do not match the column's width`);
      out.values.set(dictionary.bytes.subarray(index * dictionary.byteWidth, (index + 1) * dictionary.byteWidth), slot * dictionary.byteWidth);
    }
  }
}

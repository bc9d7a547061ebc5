/**
 * Decoding 2.1/2.2 mini-block chunks (the page index is format/miniblock-layout.ts). One chunk:
 *
 *   u16 num_levels | u16 rep_size? | u16 def_size? | num_buffers × (u16, or u32 with has_large_chunk)
 *   buffer sizes | pad to 8
 *   rep bytes, pad 8 | def bytes, pad 8 | value buffer 0, pad 8 | value buffer 1, pad 8 | …
 *
 * Random access reads whole chunks: a take decodes each touched chunk once and gathers its rows.
 */
import { CorruptFileError } from '../../errors.js';
import { chunkWordBytes } from '../../format/miniblock-layout.js';
import type { MiniBlockLayoutProto } from '../../format/proto/messages.js';
import { gatherFixed } from './gather.js';
import { appendFsst, appendVariable, setNull, type ColumnOutput, type VariableOutput } from './output.js';
import {
  decodeBlockValues,
  decodeLevels,
  decodeMiniBlockValues,
  type DecodedValues,
  type WantedValues,
} from './values.js';

const ALIGN = 8;
/** The decoded contents of one chunk. */
interface DecodedChunk {
  values: DecodedValues;
  /** Definition levels (0 = valid), or null when every item is valid. */
  def: Uint16Array | null;
  /** Repetition levels (pages of lists), or null. */
  rep: Uint16Array | null;
}

/** Decodes one chunk of `itemCount` items (only the `wanted` ones where that is cheaper). */
export function decodeMiniBlockChunk(
  layout: MiniBlockLayoutProto,
  chunk: Uint8Array,
  itemCount: number,
  where: string,
  wanted?: WantedValues,
): DecodedChunk {
  const { rep, def, buffers } = readMiniBlockChunk(layout, chunk, itemCount, where);
  const values = decodeMiniBlockValues(layout.value_compression, buffers, itemCount, where, wanted);
  return { values, def, rep };
}

/** A chunk's levels, decoded, and its value buffers, still encoded (decodeMiniBlockValues decodes them). */
export interface ChunkLevels {
  def: Uint16Array | null;
  rep: Uint16Array | null;
  buffers: Uint8Array[];
}

/** Reads one chunk's header, decodes its levels and cuts out its value buffers. */
export function readMiniBlockChunk(
  layout: MiniBlockLayoutProto,
  chunk: Uint8Array,
  itemCount: number,
  where: string,
): ChunkLevels {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const numBuffers = layout.num_buffers;
  const hasDef = layout.def_compression !== undefined;
  const sizeBytes = chunkWordBytes(layout);
  const hasRep = layout.rep_compression !== undefined;
  const headerBytes = 2 + (hasRep ? 2 : 0) + (hasDef ? 2 : 0) + sizeBytes * numBuffers;
  if (numBuffers > 64 || chunk.length < headerBytes) {
    throw new CorruptFileError(
      `${where}: chunk of ${chunk.length} bytes is too small for its header (${numBuffers} buffers)`,
    );
  }
  const numLevels = view.getUint16(0, true);
  let at = 2;
  let repSize = 0;
  if (hasRep) {
    repSize = view.getUint16(at, true);
    at += 2;
  }
  let defSize = 0;
  if (hasDef) {
    defSize = view.getUint16(at, true);
    at += 2;
  }
  const sizes: number[] = [];
  for (let i = 0; i < numBuffers; i++, at += sizeBytes)
    sizes.push(sizeBytes === 2 ? view.getUint16(at, true) : view.getUint32(at, true));
  const pad = (x: number) => x + ((ALIGN - (x % ALIGN)) % ALIGN);
  at = pad(at);
  const take = (size: number, what: string) => {
    if (at + size > chunk.length) {
      throw new CorruptFileError(
        `${where}: chunk ${what} (${size} bytes at ${at}) runs past the chunk's ${chunk.length} bytes`,
      );
    }
    const slice = chunk.subarray(at, at + size);
    at = pad(at + size);
    return slice;
  };
  // Null and empty lists have levels but no items: only chunks of lists have more levels than items.
  if ((hasDef || hasRep) && (hasRep && hasDef ? numLevels < itemCount : numLevels !== itemCount))
    throw new CorruptFileError(`${where}: chunk has ${numLevels} levels for ${itemCount} items`);
  const rep = hasRep
    ? decodeLevels(layout.rep_compression, take(repSize, 'repetition levels'), numLevels, where)
    : null;
  const def = hasDef
    ? decodeLevels(layout.def_compression, take(defSize, 'definition levels'), numLevels, where)
    : null;
  const buffers = sizes.map((size, i) => take(size, `value buffer ${i}`));
  return { rep, def, buffers };
}

/** The page dictionary (buffer 2), decoded once per page. */
export function decodeMiniBlockDictionary(
  layout: MiniBlockLayoutProto,
  bytes: Uint8Array,
  where: string,
): DecodedValues {
  return decodeBlockValues(layout.dictionary, bytes, layout.num_dictionary_items, `${where} dictionary`);
}

/** Rows of one chunk to copy out: entries [from, to) of `rows`/`slots`, rows counted from the page start. */
interface ChunkRows {
  rows: Uint32Array;
  slots: Uint32Array;
  from: number;
  to: number;
  /** Page item index of the chunk's first item. */
  itemStart: number;
}

/** Copies the requested rows of a decoded chunk into the output, resolving dictionary indices. */
export function gatherChunk(
  chunk: DecodedChunk,
  sel: ChunkRows,
  dictionary: DecodedValues | null,
  out: ColumnOutput,
  where: string,
): void {
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
      throw new CorruptFileError(
        `${where}: page values are ${values.byteWidth} bytes wide, the column's type needs ${out.kind === 'fixed' ? out.byteWidth : 'variable width'}`,
      );
    }
    gatherFixed(values.bytes, values.byteWidth, rows, slots, from, to, itemStart, out, values.itemValidity, where);
    return;
  }
  if (out.kind !== 'variable')
    throw new CorruptFileError(`${where}: page holds variable-width values for a fixed-width column`);
  for (let i = from; i < to; i++) {
    const item = (rows[i] as number) - itemStart;
    if (def && def[item] !== 0) continue;
    appendValue(out, slots[i] as number, values, item);
  }
}

/** Copies variable-width value `item` into `slot`, expanding FSST on the way. */
function appendValue(
  out: VariableOutput,
  slot: number,
  values: DecodedValues & { kind: 'variable' },
  item: number,
): void {
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
    const index =
      width === 4
        ? view.getUint32(item * 4, true)
        : width === 2
          ? view.getUint16(item * 2, true)
          : width === 1
            ? view.getUint8(item)
            : Number(view.getBigUint64(item * 8, true));
    if (index >= dictionary.count)
      throw new CorruptFileError(`${where}: dictionary index ${index} is out of range (${dictionary.count} items)`);
    const slot = slots[i] as number;
    if (dictionary.kind === 'variable') {
      if (out.kind !== 'variable') throw new CorruptFileError(`${where}: string dictionary for a fixed-width column`);
      appendValue(out, slot, dictionary, index);
    } else {
      if (out.kind !== 'fixed' || out.byteWidth !== dictionary.byteWidth)
        throw new CorruptFileError(`${where}: dictionary values do not match the column's width`);
      out.values.set(
        dictionary.bytes.subarray(index * dictionary.byteWidth, (index + 1) * dictionary.byteWidth),
        slot * dictionary.byteWidth,
      );
    }
  }
}

/**
 * Dictionary encoding of a page of strings or binary values (and, in file version 2.2, of 64-bit values:
 * encodeFixedDictionary), exactly where LanceDB 0.39 (lance-encoding 12) uses it. Its rule, from
 * `PrimitiveStructuralEncoder::should_dictionary_encode` and `dict::dictionary_encode`:
 *
 *   1. a page of at least 100 values (null rows count: their slots are values too, usually empty);
 *   2. a sample of min(values, 4096) rows, when at least 1024: 32 blocks spread over the page, the
 *      first ⌊samples / 32⌋ rows of each. With `unique` distinct values among them, the page is left
 *      alone when unique / sampled ≥ 0.98, or when ⌈unique / sampled × values⌉ > ⌊values / 2⌋;
 *   3. the dictionary is then built in row order and given up once it would hold more than
 *      ⌊values / 2⌋ items (at most 100,000), or once its encoded size passes ⌊0.8 × plain size⌋:
 *
 *        encoded = item bytes + values × 4 (u32 indices) + (items + 1) × offset bytes (none for 64-bit)
 *        plain   = value bytes + (values + 1) × offset bytes                        (values × 8 for 64-bit)
 *
 * Every count is exact, so the choice is the same as LanceDB's for every page (the sample counts the
 * distinct xxh3 hashes of values, the same number barring a 64-bit collision). Dictionary items are the
 * distinct values in the order of their first row, null rows' slots included, as LanceDB keeps them:
 *
 *   buffer 2 (strings) = u32 32 | u32 bytes_start | (items + 1) u32 offsets from 0 | value bytes
 *                        (u64 fields for 64-bit offsets: the `Variable` block encoding)
 *
 * Values are hashed (whole up to 256 bytes; longer ones by their length, 16 bytes at each end and 32
 * spread over them) into an open-addressing table of typed arrays, and compared whole only when hashes
 * meet, so long values (images) are not read byte by byte.
 */
import type { CompressiveEncodingProto } from '../format/proto/messages.js';
import { bitpackBlock } from './bitpack.js';
import { compressBuffer, generalEncoding, type GeneralCompression } from './general-compression.js';
import type { PageValues } from './values.js';

const MIN_ROWS = 100;
const MAX_SIZE_RATIO = 0.8;
/** Items allowed: ⌊values / DIVISOR⌋, at most MAX_ITEMS. */
const DIVISOR = 2;
const MAX_ITEMS = 100_000;
/** Bytes per index in LanceDB's size budget (u32 indices). */
const INDEX_BYTES = 4;
const MAX_SAMPLES = 4096;
const MIN_SAMPLES = 1024;
const SAMPLE_BLOCKS = 32;
const NEAR_UNIQUE = 0.98;
/** Values up to this long are hashed whole; longer ones by their length, both ends and 32 spread bytes. */
const WHOLE_HASH_BYTES = 256;
const HASHED_END_BYTES = 16;
const SPREAD_BYTES = 32;
const LZ4: GeneralCompression = { scheme: 'lz4' };

/** A page's values as dictionary indices and the dictionary block that resolves them. */
export interface DictionaryPage {
  /** One u32 index per row, little endian. */
  indices: Uint8Array;
  /** The dictionary, `Variable` block encoded (buffer 2 of the mini-block page). */
  items: Uint8Array;
  itemCount: number;
  encoding: CompressiveEncodingProto;
}

/** What LanceDB lets a page's dictionary cost before it gives up on it. */
interface DictionaryBudget {
  maxItems: number;
  /** ⌊0.8 × plain size⌋: item bytes + indices + item offsets may not pass it. */
  maxBytes: number;
  /** Bytes per item offset in the encoded size (0 for 64-bit values). */
  offsetBytes: number;
}

const mix = (hash: number, byte: number): number => Math.imul(hash ^ byte, 0x01000193);

/** FNV-1a of the value's length and bytes: all of them when short, else both ends and spread samples. */
function hashValue(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  let hash = mix(0x811c9dc5, length);
  if (length <= WHOLE_HASH_BYTES) {
    for (let i = start; i < end; i++) hash = mix(hash, bytes[i] as number);
    return hash >>> 0;
  }
  for (let i = 0; i < HASHED_END_BYTES; i++) {
    hash = mix(mix(hash, bytes[start + i] as number), bytes[end - 1 - i] as number);
  }
  for (let k = 1; k <= SPREAD_BYTES; k++) hash = mix(hash, bytes[start + Math.floor((k * length) / 33)] as number);
  return hash >>> 0;
}

function sameValue(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** A page's values: row r is bytes[offsets[r]..offsets[r + 1]], or `width` bytes at r × width. */
interface ValueBytes {
  bytes: Uint8Array;
  offsets: Float64Array | undefined;
  width: number;
}

/**
 * The distinct values among the page's rows (those listed in `rows`, in order, or all `pageRows` of
 * them): each such row's index into them, in the order of their first row. Undefined as soon as the
 * items pass `budget`, whose size counts an index for every one of the page's rows.
 */
function dictionaryIndices(
  values: ValueBytes,
  rows: Int32Array | undefined,
  pageRows: number,
  budget: DictionaryBudget,
): { indices: Uint32Array; itemRows: Int32Array; count: number } | undefined {
  const { bytes, offsets, width } = values;
  const listed = rows ? rows.length : pageRows;
  const maxItems = Math.min(budget.maxItems, listed);
  // Open addressing: slot → 1 + item, items → the row that first held them.
  const slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * maxItems + 2)));
  const mask = slots.length - 1;
  const itemRows = new Int32Array(maxItems);
  // Indices and the first offset cost the same whatever the items are.
  const fixedBytes = pageRows * INDEX_BYTES + budget.offsetBytes;
  const { maxBytes, offsetBytes } = budget;
  let itemBytes = 0;
  let count = 0;
  const indices = new Uint32Array(listed);
  for (let i = 0; i < listed; i++) {
    const row = rows ? (rows[i] as number) : i;
    const start = offsets ? (offsets[row] as number) : row * width;
    const end = offsets ? (offsets[row + 1] as number) : start + width;
    let slot = hashValue(bytes, start, end) & mask;
    let index = -1;
    for (;;) {
      const held = slots[slot] as number;
      if (held === 0) break;
      const heldRow = itemRows[held - 1] as number;
      const heldStart = offsets ? (offsets[heldRow] as number) : heldRow * width;
      const heldEnd = offsets ? (offsets[heldRow + 1] as number) : heldStart + width;
      if (sameValue(bytes, heldStart, heldEnd, start, end)) {
        index = held - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (index < 0) {
      if (count >= maxItems) return undefined;
      itemBytes += end - start + offsetBytes;
      if (itemBytes + fixedBytes > maxBytes) return undefined;
      index = count++;
      itemRows[index] = row;
      slots[slot] = index + 1;
    }
    indices[i] = index;
  }
  return { indices, itemRows: itemRows.subarray(0, count), count };
}

/** The rows LanceDB samples from a page of `rows` values (none when under 1024 would be sampled). */
function sampleRows(rows: number): Int32Array | undefined {
  const samples = Math.min(rows, MAX_SAMPLES);
  if (samples < MIN_SAMPLES) return undefined;
  const perBlock = Math.floor(samples / SAMPLE_BLOCKS);
  const sampled = new Int32Array(perBlock * SAMPLE_BLOCKS);
  let at = 0;
  for (let block = 0; block < SAMPLE_BLOCKS; block++) {
    const start = Math.floor((block * rows) / SAMPLE_BLOCKS);
    const next = Math.floor(((block + 1) * rows) / SAMPLE_BLOCKS);
    for (let row = start; row < start + Math.min(perBlock, next - start); row++) sampled[at++] = row;
  }
  return sampled.subarray(0, at);
}

/**
 * LanceDB's budget for a dictionary of the page's `rows` values of `plainBytes`, or undefined when
 * it does not try one: too few values, or a sample that looks near-unique or projects more distinct
 * values than the budget allows.
 */
function budgetOf(
  values: ValueBytes,
  rows: number,
  plainBytes: number,
  offsetBytes: number,
): DictionaryBudget | undefined {
  if (rows < MIN_ROWS || plainBytes === 0) return undefined;
  const maxItems = Math.min(Math.floor(rows / DIVISOR), MAX_ITEMS);
  const sampled = sampleRows(rows);
  if (sampled && sampled.length >= MIN_SAMPLES) {
    const unlimited = { maxItems: sampled.length, maxBytes: Infinity, offsetBytes: 0 };
    const unique = dictionaryIndices(values, sampled, 0, unlimited)?.count ?? sampled.length;
    const ratio = unique / sampled.length;
    if (ratio >= NEAR_UNIQUE || Math.ceil(ratio * rows) > maxItems) return undefined;
  }
  return { maxItems, maxBytes: Math.floor(plainBytes * MAX_SIZE_RATIO), offsetBytes };
}

/**
 * The page as dictionary indices and items when LanceDB would dictionary-encode it (variable-width
 * values with `offsetBytes` 4 or 8), else undefined.
 */
export function encodeDictionary(values: PageValues, offsetBytes: 4 | 8): DictionaryPage | undefined {
  const { rows, offsets, bytes } = values;
  if (!offsets) return undefined;
  const plain = (offsets[rows] as number) - (offsets[0] as number) + (rows + 1) * offsetBytes;
  const page = { bytes, offsets, width: 0 };
  const budget = budgetOf(page, rows, plain, offsetBytes);
  const found = budget && dictionaryIndices(page, undefined, rows, budget);
  if (!found) return undefined;
  const { indices, itemRows, count } = found;

  const wide = offsetBytes === 8;
  const header = wide ? 16 : 8;
  const bytesStart = header + (count + 1) * offsetBytes;
  let itemBytes = 0;
  for (let i = 0; i < count; i++) {
    const r = itemRows[i] as number;
    itemBytes += (offsets[r + 1] as number) - (offsets[r] as number);
  }
  const items = new Uint8Array(bytesStart + itemBytes);
  const view = new DataView(items.buffer);
  const put = (at: number, value: number): void => {
    if (wide) view.setBigUint64(at, BigInt(value), true);
    else view.setUint32(at, value, true);
  };
  put(0, offsetBytes * 8);
  put(wide ? 8 : 4, bytesStart);
  let at = 0;
  itemRows.forEach((r, i) => {
    const start = offsets[r] as number;
    const end = offsets[r + 1] as number;
    put(header + i * offsetBytes, at);
    items.set(bytes.subarray(start, end), bytesStart + at);
    at += end - start;
  });
  put(header + count * offsetBytes, at);
  return {
    indices: new Uint8Array(indices.buffer),
    items,
    itemCount: count,
    encoding: { variable: { offsets: { flat: { bits_per_value: offsetBytes * 8 } } } },
  };
}

/**
 * The page as dictionary indices and items when LanceDB 0.39 would dictionary-encode it in file version
 * 2.2 (64-bit values: ints, floats, dates, timestamps), else undefined: the same rule as for strings,
 * with items of 8 bytes and no offsets, so at most 0.3 × values distinct ones (items × 8 + values × 4 ≤
 * ⌊0.8 × values × 8⌋), never for narrower values. Items are the distinct values in the order of their
 * first row, `Flat` encoded.
 */
export function encodeFixedDictionary(values: PageValues, byteWidth: number): DictionaryPage | undefined {
  const { rows, bytes } = values;
  if (byteWidth !== 8 || values.nullCount === rows) return undefined;
  const page = { bytes, offsets: undefined, width: byteWidth };
  const budget = budgetOf(page, rows, rows * byteWidth, 0);
  const found = budget && dictionaryIndices(page, undefined, rows, budget);
  if (!found) return undefined;
  const { indices, itemRows, count } = found;
  const items = new Uint8Array(count * byteWidth);
  itemRows.forEach((r, i) => items.set(bytes.subarray(r * byteWidth, (r + 1) * byteWidth), i * byteWidth));
  return {
    indices: new Uint8Array(indices.buffer),
    items,
    itemCount: count,
    encoding: { flat: { bits_per_value: byteWidth * 8 } },
  };
}

/**
 * A file version 2.2 page's dictionary compressed as one block, as LanceDB 0.39 compresses it
 * (`create_block_compressor`): 64-bit items bit-packed when that shrinks them (writer/bitpack.ts's
 * `bitpackBlock`: InlineBitpacking up to 1024 items, OutOfLineBitpacking at the widest width above),
 * otherwise, and always for strings and binary values, lz4 around the items' own encoding.
 */
export function compressDictionary(dictionary: DictionaryPage): DictionaryPage {
  const { items, itemCount, encoding } = dictionary;
  const packed = encoding.flat ? bitpackBlock(items, itemCount, encoding.flat.bits_per_value) : undefined;
  if (packed) return { ...dictionary, items: packed.bytes, encoding: packed.encoding };
  return { ...dictionary, items: compressBuffer(items, LZ4), encoding: generalEncoding(LZ4, encoding) };
}

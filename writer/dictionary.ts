/**
 * Dictionary encoding of a page of strings or binary values (and, in file version 2.2, of 64-bit values:
 * encodeFixedDictionary), as LanceDB decides it: a page of at least
 * 100 non-null values whose dictionary form is estimated under 0.8 × its plain size is stored as u32
 * indices (the mini-block values, compressed like any fixed-width values) and the distinct values once,
 * in buffer 2. Null rows do not count (LanceDB 0.39 leaves pages of many nulls and few distinct values
 * undictionaried, which only this reading of its estimate explains):
 *
 *   estimate  = distinct × (average value bytes + offset bytes) + valid × offset bytes
 *   plain     = value bytes + (valid + 1) × offset bytes         (average = plain / valid, rounded down)
 *   buffer 2  = u32 32 | u32 bytes_start | (distinct + 1) u32 offsets from 0 | value bytes
 *               (u64 fields for 64-bit offsets: the `Variable` block encoding)
 *
 * LanceDB (lance-encoding `should_dictionary_encode`) compares the same estimate with 0.8, but with the
 * distinct count from a HyperLogLog of precision 4 (16 registers) over xxh3 hashes, so within about ±15 %
 * of the threshold its choice follows the hashes of the values: on 3000-row pages it kept dictionaries
 * up to 1,358 distinct 8-byte values where this count stops at 1,028, and stopped at 1,470 for 20- and
 * 60-byte values where this count goes on to 1,591 and 2,016. Counting exactly, the writer picks the
 * smaller encoding there; further from the threshold both choose alike
 * (test/writer/dictionary-choice.test.ts).
 *
 * Items keep the order of their first row. Counting stops as soon as the distinct values pass what the
 * estimate allows. Values are hashed (whole up to 256 bytes; longer ones by their length, 16 bytes at
 * each end and 32 spread over them) into an open-addressing table of typed arrays, and compared whole
 * only when hashes meet, so long values (images) are not read byte by byte. A null row gets index 0.
 */
import type { CompressiveEncodingProto } from '../format/proto/messages.js';
import type { PageValues } from './values.js';

const MIN_ROWS = 100;
const MAX_SIZE_RATIO = 0.8;
/** Values up to this long are hashed whole; longer ones by their length, both ends and 32 spread bytes. */
const WHOLE_HASH_BYTES = 256;
const HASHED_END_BYTES = 16;
const SPREAD_BYTES = 32;

/** A page's values as dictionary indices and the dictionary block that resolves them. */
export interface DictionaryPage {
  /** One u32 index per row, little endian. */
  indices: Uint8Array;
  /** The dictionary, `Variable` block encoded (buffer 2 of the mini-block page). */
  items: Uint8Array;
  itemCount: number;
  encoding: CompressiveEncodingProto;
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

/**
 * Each valid row's index into the distinct values of `rows` rows (the byte range of row r is
 * `range(r)`), in the order of their first row; undefined once there would be more than `maxDistinct`.
 */
function dictionaryIndices(
  values: PageValues,
  range: (row: number) => [number, number],
  maxDistinct: number,
): { indices: Uint32Array; itemRows: Int32Array; count: number } | undefined {
  const { rows, validity, bytes } = values;
  const valid = rows - values.nullCount;
  // Open addressing: slot → 1 + item, items → the row that first held them.
  const slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * Math.min(valid, maxDistinct + 1))));
  const mask = slots.length - 1;
  const itemRows = new Int32Array(Math.min(valid, maxDistinct));
  let count = 0;
  const indices = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    if (validity && !validity[r]) continue;
    const [start, end] = range(r);
    let slot = hashValue(bytes, start, end) & mask;
    let index = -1;
    for (;;) {
      const held = slots[slot] as number;
      if (held === 0) break;
      const [heldStart, heldEnd] = range(itemRows[held - 1] as number);
      if (sameValue(bytes, heldStart, heldEnd, start, end)) {
        index = held - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (index < 0) {
      if (count >= maxDistinct) return undefined;
      index = count++;
      itemRows[index] = r;
      slots[slot] = index + 1;
    }
    indices[r] = index;
  }
  return { indices, itemRows: itemRows.subarray(0, count), count };
}

/**
 * The page as dictionary indices and items when LanceDB would dictionary-encode it (variable-width
 * values with `offsetBytes` 4 or 8), else undefined.
 */
export function encodeDictionary(values: PageValues, offsetBytes: 4 | 8): DictionaryPage | undefined {
  const { rows, offsets, bytes } = values;
  const valid = rows - values.nullCount;
  if (valid < MIN_ROWS || !offsets) return undefined;
  const plain = (offsets[rows] as number) - (offsets[0] as number) + (valid + 1) * offsetBytes;
  const average = Math.floor(plain / valid);
  // distinct × (average + offsetBytes) + valid rows × offsetBytes < 0.8 × plain
  const maxDistinct = Math.ceil((MAX_SIZE_RATIO * plain - valid * offsetBytes) / (average + offsetBytes)) - 1;
  if (maxDistinct < 1) return undefined;
  const found = dictionaryIndices(values, (r) => [offsets[r] as number, offsets[r + 1] as number], maxDistinct);
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

/** Bytes per index in LanceDB's estimate of a fixed-width dictionary page. */
const INDEX_BYTES = 4;

/**
 * The page as dictionary indices and items when LanceDB 0.39 would dictionary-encode it in file version
 * 2.2 (64-bit values: ints, floats, dates, timestamps), else undefined. LanceDB estimates a page of
 * `rows` values as distinct × value bytes + rows × 4 bytes of indices and takes the dictionary under 0.8 ×
 * its plain size (rows × value bytes): at most 0.3 × rows distinct 64-bit values, never for narrower ones.
 * Items are the distinct values in the order of their first row, `Flat` encoded.
 */
export function encodeFixedDictionary(values: PageValues, byteWidth: number): DictionaryPage | undefined {
  const { rows } = values;
  if (byteWidth !== 8 || rows < MIN_ROWS || values.nullCount === rows) return undefined;
  // distinct × byteWidth + rows × 4 < 0.8 × rows × byteWidth
  const maxDistinct = Math.ceil((MAX_SIZE_RATIO * rows * byteWidth - rows * INDEX_BYTES) / byteWidth) - 1;
  if (maxDistinct < 1) return undefined;
  const found = dictionaryIndices(values, (r) => [r * byteWidth, (r + 1) * byteWidth], maxDistinct);
  if (!found) return undefined;
  const { indices, itemRows, count } = found;
  const items = new Uint8Array(count * byteWidth);
  itemRows.forEach((r, i) => items.set(values.bytes.subarray(r * byteWidth, (r + 1) * byteWidth), i * byteWidth));
  return {
    indices: new Uint8Array(indices.buffer),
    items,
    itemCount: count,
    encoding: { flat: { bits_per_value: byteWidth * 8 } },
  };
}

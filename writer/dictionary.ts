/**
 * Dictionary encoding of a page of strings or binary values, as LanceDB decides it: a page of at least
 * 100 values whose dictionary form is estimated under 0.8 × its plain size is stored as u32 indices (the
 * mini-block values, compressed like any fixed-width values) and the distinct values once, in buffer 2:
 *
 *   estimate  = distinct × (average value bytes + offset bytes) + rows × offset bytes
 *   plain     = value bytes + (rows + 1) × offset bytes           (average = plain / rows, rounded down)
 *   buffer 2  = u32 32 | u32 bytes_start | (distinct + 1) u32 offsets from 0 | value bytes
 *               (u64 fields for 64-bit offsets: the `Variable` block encoding)
 *
 * Items keep the order of their first row. Counting stops as soon as the distinct values pass what the
 * estimate allows, so a high-cardinality page costs little; values are told apart by their length and
 * up to 48 sampled bytes, and compared whole only when those agree, so long values (images) are not
 * hashed byte by byte. A null row has no bytes and shares the index of the empty value.
 */
import { Buffer } from 'node:buffer';
import type { CompressiveEncodingProto } from '../format/proto/messages.js';
import type { PageValues } from './values.js';

const MIN_ROWS = 100;
const MAX_SIZE_RATIO = 0.8;
/** Values up to this long are their own key; longer ones are keyed by a sample of their bytes. */
const WHOLE_KEY_BYTES = 48;
const SAMPLE_BYTES = 16;

/** A page's values as dictionary indices and the dictionary block that resolves them. */
export interface DictionaryPage {
  /** One u32 index per row, little endian. */
  indices: Uint8Array;
  /** The dictionary, `Variable` block encoded (buffer 2 of the mini-block page). */
  items: Uint8Array;
  itemCount: number;
  encoding: CompressiveEncodingProto;
}

function keyOf(bytes: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length <= WHOLE_KEY_BYTES) return bytes.toString('latin1', start, end);
  const middle = start + ((length - SAMPLE_BYTES) >> 1);
  return (
    `${length}:` +
    bytes.toString('latin1', start, start + SAMPLE_BYTES) +
    bytes.toString('latin1', middle, middle + SAMPLE_BYTES) +
    bytes.toString('latin1', end - SAMPLE_BYTES, end)
  );
}

function equalRanges(bytes: Uint8Array, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/**
 * The page as dictionary indices and items when LanceDB would dictionary-encode it (variable-width
 * values with `offsetBytes` 4 or 8), else undefined.
 */
export function encodeDictionary(values: PageValues, offsetBytes: 4 | 8): DictionaryPage | undefined {
  const rows = values.rows;
  const offsets = values.offsets;
  if (rows < MIN_ROWS || !offsets) return undefined;
  const { bytes } = values;
  const keyBytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const base = offsets[0] as number;
  const plain = (offsets[rows] as number) - base + (rows + 1) * offsetBytes;
  const average = Math.floor(plain / rows);
  // distinct × (average + offsetBytes) + rows × offsetBytes < 0.8 × plain
  const maxDistinct = Math.ceil((MAX_SIZE_RATIO * plain - rows * offsetBytes) / (average + offsetBytes)) - 1;
  if (maxDistinct < 1) return undefined;

  const firstRows = new Map<string, number[]>(); // key → the first row of each distinct value with that key
  const itemRows: number[] = [];
  const indices = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = offsets[r] as number;
    const end = offsets[r + 1] as number;
    const key = keyOf(keyBytes, start, end);
    let candidates = firstRows.get(key);
    let index = -1;
    if (candidates === undefined) {
      candidates = [];
      firstRows.set(key, candidates);
    } else if (end - start <= WHOLE_KEY_BYTES) {
      index = candidates[0] as number;
    } else {
      for (const item of candidates) {
        const at = offsets[itemRows[item] as number] as number;
        if (equalRanges(bytes, at, start, end - start)) {
          index = item;
          break;
        }
      }
    }
    if (index < 0) {
      if (itemRows.length >= maxDistinct) return undefined;
      index = itemRows.length;
      itemRows.push(r);
      candidates.push(index);
    }
    indices[r] = index;
  }

  const count = itemRows.length;
  const wide = offsetBytes === 8;
  const header = wide ? 16 : 8;
  const bytesStart = header + (count + 1) * offsetBytes;
  let itemBytes = 0;
  for (const r of itemRows) itemBytes += (offsets[r + 1] as number) - (offsets[r] as number);
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

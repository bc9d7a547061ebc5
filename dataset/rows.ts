/**
 * Row-offset arguments: validation (integers within [0, numRows)) and the sort that turns a request in
 * any order into ascending file rows plus the output slot of each, so pages are read in file order and
 * values land in request order.
 */
import { InvalidArgumentError } from '../errors.js';

/** Offsets are carried in Uint32Arrays; larger ones would wrap silently, so they are refused here. */
const MAX_ROW_OFFSET = 0xffffffff;

/** Validates `offsets` against `numRows` and copies them into a Uint32Array. */
export function toRowOffsets(offsets: ArrayLike<number | bigint>, numRows: number, what = 'row offset'): Uint32Array {
  if (offsets === null || typeof offsets !== 'object' || typeof offsets.length !== 'number') {
    throw new InvalidArgumentError(
      `${what}s must be an array or typed array of integers, got ${offsets === null ? 'null' : typeof offsets}`,
    );
  }
  const length = offsets.length;
  if (!Number.isInteger(length) || length < 0 || length > MAX_ROW_OFFSET) {
    throw new InvalidArgumentError(
      `${what}s must be an array or typed array of integers, got an object with length ${length}`,
    );
  }
  const limit = Math.min(numRows, MAX_ROW_OFFSET + 1);
  // Validate every entry before allocating, so a bogus array-like cannot trigger a huge allocation.
  for (let i = 0; i < length; i++) {
    const raw = offsets[i];
    const value = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new InvalidArgumentError(
        `${what} ${String(raw)} at index ${i} is not an integer (offsets must be integers from 0 to ${limit - 1})`,
        {
          index: i,
          offset: String(raw),
          numRows,
        },
      );
    }
    if (value < 0 || value >= limit) {
      throw new InvalidArgumentError(
        `${what} ${String(raw)} at index ${i} is out of range: the dataset has ${numRows} rows (valid offsets 0..${limit - 1})`,
        {
          index: i,
          offset: String(raw),
          numRows,
        },
      );
    }
  }
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    const raw = offsets[i] as number | bigint;
    out[i] = typeof raw === 'bigint' ? Number(raw) : raw;
  }
  return out;
}

/** Rows sorted ascending with the slot (request position) of each; no copy when already ascending. */
export function sortWithSlots(rows: Uint32Array): { rows: Uint32Array; slots: Uint32Array } {
  let ascending = true;
  for (let i = 1; i < rows.length && ascending; i++) ascending = (rows[i] as number) >= (rows[i - 1] as number);
  const slots = new Uint32Array(rows.length);
  if (ascending) {
    for (let i = 0; i < slots.length; i++) slots[i] = i;
    return { rows, slots };
  }
  const sorted = new Uint32Array(rows.length);
  if (rows.length <= SLOT_SPAN) {
    // row * SLOT_SPAN + slot stays below 2^53: one native numeric sort, no comparator calls.
    const keys = new Float64Array(rows.length);
    for (let i = 0; i < keys.length; i++) keys[i] = (rows[i] as number) * SLOT_SPAN + i;
    keys.sort();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as number;
      const slot = key % SLOT_SPAN;
      slots[i] = slot;
      sorted[i] = (key - slot) / SLOT_SPAN;
    }
    return { rows: sorted, slots };
  }
  for (let i = 0; i < slots.length; i++) slots[i] = i;
  slots.sort((a, b) => (rows[a] as number) - (rows[b] as number) || a - b);
  for (let i = 0; i < sorted.length; i++) sorted[i] = rows[slots[i] as number] as number;
  return { rows: sorted, slots };
}

/** Batches of up to this many rows sort as packed (row, slot) keys: 2^32 rows × 2^21 slots < 2^53. */
const SLOT_SPAN = 2 ** 21;

/**
 * Row lookup by id: an index from the values of an id column (integers or strings) to visible row
 * offsets, built on demand from one scan of that column and kept while the dataset is open.
 *
 *   scan(id column) ──► keys: BigInt64Array (the integer, or a 64-bit hash of the string's UTF-8)
 *                       rows: Uint32Array   (visible offset of each key)
 *                 sorted by (key, row) ──► binary search per id asked
 *
 * Memory is 12 bytes per row, whatever the id type; the column's values are not kept. A string id's
 * hash can collide with another's, so the rows found for string ids are checked against the ids asked
 * (the caller reads the id column of those rows anyway) and a collision falls back to the other rows
 * sharing the hash. Where several rows share an id, the first in row order is the one found.
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError, UnsupportedError } from '../errors.js';

/** An id asked for: a number or bigint for an integer id column, a string for a string one. */
export type RowId = number | bigint | string;

/** What is needed to build an index: the id column's batches in row order. */
export type IdBatches = AsyncIterable<arrow.RecordBatch>;

const encoder = new TextEncoder();

/** FNV-1a over the UTF-8 bytes, in two 32-bit lanes with different offsets, as one signed 64-bit key. */
function hashString(value: string): bigint {
  const bytes = encoder.encode(value);
  let low = 0x811c9dc5;
  let high = 0x01000193 ^ bytes.length;
  for (const byte of bytes) {
    low = Math.imul(low ^ byte, 0x01000193);
    high = Math.imul(high ^ byte, 0x5bd1e995);
  }
  return BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));
}

function isIntegerType(type: arrow.DataType): boolean {
  return arrow.DataType.isInt(type);
}

function isStringType(type: arrow.DataType): boolean {
  return arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type);
}

/** The row index of one id column. */
export class IdIndex {
  readonly column: string;
  readonly strings: boolean;
  private readonly keys: BigInt64Array;
  private readonly rows: Uint32Array;

  private constructor(column: string, strings: boolean, keys: BigInt64Array, rows: Uint32Array) {
    this.column = column;
    this.strings = strings;
    this.keys = keys;
    this.rows = rows;
  }

  /** Builds the index of `column` (of type `type`) from its batches, `numRows` rows in all. */
  static async build(column: string, type: arrow.DataType, numRows: number, batches: IdBatches): Promise<IdIndex> {
    const strings = isStringType(type);
    if (!strings && !isIntegerType(type)) {
      throw new UnsupportedError(
        `id column "${column}" is ${String(type)}; ids are looked up in integer or string columns`,
        { column, type: String(type) },
      );
    }
    const keys = new BigInt64Array(numRows);
    const nullRows = new Set<number>();
    let row = 0;
    for await (const batch of batches) {
      const vector = batch.getChildAt(0) as arrow.Vector;
      for (let i = 0; i < batch.numRows; i++, row++) {
        const value = vector.get(i) as number | bigint | string | null;
        // A null id is never found: its row is left out of the sorted rows.
        if (value === null) nullRows.add(row);
        else keys[row] = strings ? hashString(value as string) : BigInt.asIntN(64, BigInt(value));
      }
    }
    const order = sortedRows(keys, nullRows);
    const sortedKeys = new BigInt64Array(order.length);
    for (let i = 0; i < order.length; i++) sortedKeys[i] = keys[order[i] as number] as bigint;
    return new IdIndex(column, strings, sortedKeys, order);
  }

  /**
   * The rows holding `id`, first in row order first: exactly one candidate for integer ids, and for a
   * string id every row whose hash matches (the caller keeps the one whose value matches).
   */
  candidates(id: RowId): Uint32Array {
    const key = this.keyOf(id);
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.keys[mid] as bigint) < key) low = mid + 1;
      else high = mid;
    }
    let end = low;
    while (end < this.keys.length && this.keys[end] === key) end++;
    return this.strings ? this.rows.subarray(low, end) : this.rows.subarray(low, Math.min(end, low + 1));
  }

  private keyOf(id: RowId): bigint {
    if (this.strings) {
      if (typeof id !== 'string')
        throw new InvalidArgumentError(`ids: column "${this.column}" holds strings; got ${typeof id} ${String(id)}`, {
          column: this.column,
        });
      return hashString(id);
    }
    if (typeof id === 'bigint') return BigInt.asIntN(64, id);
    if (typeof id === 'number' && Number.isSafeInteger(id)) return BigInt(id);
    throw new InvalidArgumentError(
      `ids: column "${this.column}" holds integers; got ${typeof id} ${JSON.stringify(String(id))}`,
      { column: this.column },
    );
  }
}

/** Rows (minus null ones) sorted by (key, row); a column already in key order skips the sort. */
function sortedRows(keys: BigInt64Array, nulls: Set<number>): Uint32Array {
  let ascending = nulls.size === 0;
  for (let i = 1; ascending && i < keys.length; i++) ascending = (keys[i - 1] as bigint) <= (keys[i] as bigint);
  if (ascending) return Uint32Array.from({ length: keys.length }, (_, i) => i);
  const order = new Uint32Array(keys.length - nulls.size);
  let at = 0;
  for (let i = 0; i < keys.length; i++) if (!nulls.has(i)) order[at++] = i;
  order.sort((a, b) => {
    const ka = keys[a] as bigint;
    const kb = keys[b] as bigint;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  return order;
}

/**
 * The visible offset of the row holding each of `ids`, in order. `readIds` reads the id column at
 * given rows; it is called once, for string ids only, to tell a match from a hash collision.
 *
 * @throws InvalidArgumentError naming the first id that no row holds.
 */
export async function findIdRows(
  index: IdIndex,
  ids: ArrayLike<RowId>,
  where: string,
  readIds: (rows: Uint32Array) => Promise<arrow.Vector>,
): Promise<Uint32Array> {
  const found = new Uint32Array(ids.length);
  const candidates = Array.from({ length: ids.length }, (_, i) => index.candidates(ids[i] as RowId));
  const missing = (i: number): InvalidArgumentError =>
    new InvalidArgumentError(`${where}: no row has id ${JSON.stringify(String(ids[i]))} in column "${index.column}"`, {
      column: index.column,
      id: String(ids[i]),
    });
  if (!index.strings) {
    candidates.forEach((rows, i) => {
      if (rows.length === 0) throw missing(i);
      found[i] = rows[0] as number;
    });
    return found;
  }
  const all = new Uint32Array(candidates.reduce((sum, rows) => sum + rows.length, 0));
  let at = 0;
  for (const rows of candidates) {
    all.set(rows, at);
    at += rows.length;
  }
  const values = await readIds(all);
  at = 0;
  candidates.forEach((rows, i) => {
    let match = -1;
    for (let c = 0; c < rows.length && match < 0; c++) if (values.get(at + c) === ids[i]) match = rows[c] as number;
    if (match < 0) throw missing(i);
    found[i] = match;
    at += rows.length;
  });
  return found;
}

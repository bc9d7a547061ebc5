/**
 * What the DataLoader yields: one batch of rows with each column as a typed array plus a shape.
 *
 * Memory: `values`, `offsets` and `validity` view the batch's slot of shared memory (SharedArrayBuffer)
 * and stay valid until `release()`; after release the slot is reused for a later batch, so anything kept
 * longer must be copied (the tfjs adapter copies into tensors before releasing).
 */

/** Element types of batch columns. */
export type ColumnDType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bool'
  | 'utf8'
  | 'binary';

export type ColumnValues =
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** One column of a batch. */
export interface BatchColumn {
  dtype: ColumnDType;
  /**
   * Fixed width: the values, row-major, `shape[0]` rows (float16 as raw Uint16Array bits, bool as one
   * Uint8Array byte 0/1 per value, fixed_size_binary as Uint8Array bytes).
   * utf8/binary: the concatenated bytes (Uint8Array) of all rows.
   */
  values: ColumnValues;
  /** `[rows, ...per-row dims]`: `[rows]` for scalars, `[rows, dim]` for fixed-size lists, or the column's `shape` option. */
  shape: number[];
  /** utf8/binary only: `rows + 1` byte offsets into `values`. */
  offsets?: Int32Array;
  /** One byte per row, 1 = valid; present only when the field is nullable. */
  validity?: Uint8Array;
}

/** A batch of rows from the loader. */
export interface Batch {
  epoch: number;
  /** Position of the batch within the epoch (for this rank). */
  index: number;
  /** Visible row offsets of the rows, in batch order (`dataset.take(batch.rowOffsets)` gives the same values). */
  rowOffsets: Uint32Array;
  numRows: number;
  columns: Record<string, BatchColumn>;
  /** Hands the batch's memory back to the loader. Idempotent. */
  release(): void;
}

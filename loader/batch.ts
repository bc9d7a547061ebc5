/**
 * What the DataLoader yields: one batch of rows with each column as a typed array plus a shape.
 *
 * Memory: `values`, `offsets` and `validity` view the batch's slot of shared memory (SharedArrayBuffer)
 * and stay valid until `release()`; after release the slot is reused for a later batch, so anything kept
 * longer must be copied (the tfjs adapter copies into tensors before releasing).
 *
 * Use after release is caught where it costs one comparison: every release bumps the slot's generation,
 * and `batch.columns` and each column of it check that the generation is still the batch's own, throwing
 * an InvalidStateError otherwise. A typed array taken out before release cannot be revoked (SharedArrayBuffers
 * cannot be detached, and a check per element would cost every reader): it silently shows the slot's next
 * batch.
 */
import { InvalidStateError } from '../errors.js';

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
  /**
   * utf8/binary: `rows + 1` byte offsets into `values`. Ragged lists: `rows + 1` offsets into the list's
   * elements: the items (row `r` is items `offsets[r] .. offsets[r + 1]`), or for a list of lists the
   * inner lists (`innerOffsets[0]`).
   */
  offsets?: Int32Array;
  /**
   * Ragged lists of lists only: for each list level below the rows, outermost first, `elements + 1`
   * offsets into the next level's elements, the last level's into the items (nested row splits).
   */
  innerOffsets?: Int32Array[];
  /** Ragged lists of lists only: per level of `innerOffsets`, one byte per element, 1 = valid (a null inner list is empty). */
  innerValidity?: Uint8Array[];
  /**
   * Ragged lists of strings or binaries only: `items + 1` byte offsets into `values` (item `k` is
   * `values[itemOffsets[k] .. itemOffsets[k + 1]]`; a null item is empty).
   */
  itemOffsets?: Int32Array;
  /** Ragged lists of fixed-size lists (e.g. boxes of 4 floats): the shape of one item; `values` holds items × its product. */
  itemShape?: number[];
  /** One byte per row, 1 = valid; present only when the field is nullable. */
  validity?: Uint8Array;
  /** Padded lists (options.pad) only: per row, how many of its `shape[1]` values are list items (the rest is padding). */
  lengths?: Int32Array;
  /**
   * When some item of the batch is null (absent: every item is valid), 1 = valid: ragged lists and
   * fixed-size lists one byte per item (a null item reads as 0, or empty for strings; an item under a
   * null struct of a list of structs is null), ragged lists of fixed-size lists one byte per value of
   * `values` (`[items × size]`, 0 under a null item or a null value); padded lists `[rows × length]`
   * bytes, 0 also on padding.
   */
  itemValidity?: Uint8Array;
}

/** A batch of rows from the loader. */
export interface Batch {
  epoch: number;
  /** Position of the batch within the epoch (for this rank). */
  index: number;
  /** Visible row offsets of the rows, in batch order (`dataset.take(batch.rowOffsets)` gives the same values). */
  rowOffsets: Uint32Array;
  numRows: number;
  /**
   * The columns by name. Reading this, or a column of it, after `release()` throws an InvalidStateError;
   * typed arrays taken out before `release()` are not revoked and show a later batch's values once the
   * slot is reused, so copy what you keep.
   */
  readonly columns: Readonly<Record<string, BatchColumn>>;
  /**
   * Hands the batch's memory back to the loader, which reuses it for a later batch. Idempotent: a second
   * call never frees the slot again, even when it already holds another batch.
   */
  release(): void;
}

/** The loader's slot a batch lives in, as far as the batch's release() is concerned. */
export interface BatchLease {
  /** Moves on at every release, so a batch can tell whether the slot is still its own. */
  generation: number;
  /** Whether the loader may load another batch into the slot. */
  free: boolean;
}

/**
 * A batch whose columns stay readable until its release() moves the lease's generation on; `onRelease`
 * runs once, after the lease is free.
 */
export function createBatch(
  fields: Omit<Batch, 'columns' | 'release'>,
  columns: Record<string, BatchColumn>,
  lease: BatchLease,
  onRelease?: () => void,
): Batch {
  const generation = lease.generation;
  const check = () => {
    if (lease.generation !== generation) {
      throw new InvalidStateError(
        `batch ${fields.index} of epoch ${fields.epoch} was released and its memory may hold another batch; read its columns before release(), or copy them`,
        { epoch: fields.epoch, batch: fields.index },
      );
    }
  };
  const guarded: Record<string, BatchColumn> = {};
  for (const [name, column] of Object.entries(columns)) {
    Object.defineProperty(guarded, name, {
      enumerable: true,
      get: () => {
        check();
        return column;
      },
    });
  }
  Object.freeze(guarded);
  return {
    ...fields,
    get columns() {
      check();
      return guarded;
    },
    release: () => {
      if (lease.generation !== generation) return;
      lease.generation++;
      lease.free = true;
      onRelease?.();
    },
  };
}

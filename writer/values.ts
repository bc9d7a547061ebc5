/**
 * A column's values gathered for one page: the Arrow chunks of successive record batches are copied,
 * once, into contiguous buffers in the layout the page encoders take (fixed-width bytes, packed bits, or
 * offsets + bytes, with one validity byte per row when some row is null). Arrow slices are honoured:
 * fixed-width buffers come already sliced, bitmaps carry a bit offset, variable-width offsets are
 * absolute into an unsliced data buffer.
 */
import type * as arrow from 'apache-arrow';
import type { RepDefLayerName } from '../format/proto/messages.js';
import type { ColumnKind } from './schema.js';

/**
 * The repetition and definition levels of a page of a nested leaf (format/repdef.ts explains them): one
 * entry per item, null or empty list, in order.
 */
export interface PageLevels {
  /** Top-level rows the page holds. */
  rows: number;
  /** Repetition levels: `maxRep` starts a row (columns with lists only). */
  rep?: Uint16Array;
  /** Definition levels: 0 = valid at every layer (columns with a null or empty layer only). */
  def?: Uint16Array;
  /** The page's layers, leaf outwards. */
  layers: RepDefLayerName[];
  maxRep: number;
  /** Entries whose definition level is above this have no value (null or empty lists, or under them). */
  maxVisibleDef: number;
}

/** One page's worth of a column's values. */
export interface PageValues {
  /** Values in the page: rows of a flat column, the items with a value slot of a nested leaf. */
  rows: number;
  /** The levels of a nested leaf (undefined for a flat column, whose levels follow from `validity`). */
  levels?: PageLevels;
  nullCount: number;
  /** One byte per row, 1 = valid; undefined when no row is null. */
  validity?: Uint8Array;
  /** fixed / fsl: rows × width bytes; bool: rows bits, LSB first; variable: the concatenated values. */
  bytes: Uint8Array;
  /**
   * Wide fixed-width rows without nulls from several chunks: the chunks' bytes where they lie, in
   * order (`bytes` is then empty); only full-zip pages take them, as one gathered write.
   */
  pieces?: Uint8Array[];
  /** variable only: rows + 1 offsets into `bytes`, starting at 0. */
  offsets?: Float64Array;
  /**
   * fsl only, when an item of the page is null: rows × dimension bits, LSB first, 1 = valid. LanceDB
   * keeps it beside the values (a bitmap buffer per mini-block chunk, a bitmap before each full-zip value)
   * rather than in the levels.
   */
  itemValidity?: Uint8Array;
}

/**
 * A page's levels as the page encoders write them: a nested leaf's own, or a flat column's definition
 * levels from its validity (1 = null), none when no row is null.
 */
export function levelsOf(values: PageValues): Pick<PageLevels, 'rep' | 'def' | 'layers' | 'maxVisibleDef'> {
  if (values.levels) return values.levels;
  const validity = values.validity;
  return {
    def: validity ? Uint16Array.from(validity, (valid) => (valid ? 0 : 1)) : undefined,
    layers: [validity ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM'],
    maxVisibleDef: 1,
  };
}

/** The bytes of u16 levels, or an empty buffer for a page without that kind of level. */
export function levelBytes(levels: Uint16Array | undefined): Uint8Array {
  return levels ? new Uint8Array(levels.buffer, levels.byteOffset, levels.byteLength) : new Uint8Array(0);
}

/** Rows this wide go to full-zip pages (writer/page.ts), which can write several chunks without a copy. */
export const WIDE_ROW_BYTES = 256;

/** One buffer of an encoded page: its bytes, or its bytes as consecutive pieces (written gathered). */
export type PageBuffer = Uint8Array | Uint8Array[];

/** Bytes per row of a fixed-width kind (bool and variable have none). */
export function rowBytes(kind: ColumnKind): number {
  if (kind.kind === 'fixed') return kind.byteWidth;
  if (kind.kind === 'fsl') return (kind.dimension * kind.itemBits) / 8;
  return 0;
}

function bytesOf(view: ArrayBufferView, byteLength: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, byteLength);
}

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

function variableBytesOf(data: arrow.Data): Uint8Array {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  return (data.values as Uint8Array).subarray(Number(offsets[0]), Number(offsets[data.length]));
}

/**
 * Whether the items of a fixed-size-list chunk have nulls. Items under null rows count: LanceDB keeps
 * the child array's bitmap whole, and apache-arrow marks a null vector's items null.
 */
export function hasNullItems(data: arrow.Data): boolean {
  const items = data.children[0];
  return items !== undefined && items.nullCount > 0 && items.nullBitmap !== undefined && items.nullBitmap !== null;
}

/** Sets the validity bits of the items of row `row` of a fixed-size-list chunk at row `outRow` of `out`. */
export function copyItemValidity(
  data: arrow.Data,
  row: number,
  dimension: number,
  out: Uint8Array,
  outRow: number,
): void {
  const items = data.children[0];
  const bits = items?.nullCount ? items.nullBitmap : undefined;
  const from = (items?.offset ?? 0) + row * dimension;
  const to = outRow * dimension;
  for (let k = 0; k < dimension; k++) {
    if (bits && !bitAt(bits, from + k)) continue;
    out[(to + k) >> 3] = (out[(to + k) >> 3] as number) | (1 << ((to + k) & 7));
  }
}

/** The payload bytes a chunk adds to a page (what the page size limit counts). */
export function chunkBytes(kind: ColumnKind, data: arrow.Data): number {
  if (kind.kind === 'bool') return Math.ceil(data.length / 8);
  if (kind.kind === 'variable') {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    return Number(offsets[data.length]) - Number(offsets[0]) + data.length * kind.offsetBytes;
  }
  return data.length * rowBytes(kind);
}

/**
 * Copies `chunks` (Arrow data of one column, in row order) into one page's buffers; a single chunk of
 * fixed-width values without nulls is used where it lies, without a copy.
 */
export function gatherPageValues(kind: ColumnKind, chunks: readonly arrow.Data[]): PageValues {
  const [only] = chunks;
  const fixedBytes = (data: arrow.Data): Uint8Array =>
    bytesOf(
      (kind.kind === 'fsl' ? data.children[0]?.values : data.values) as ArrayBufferView,
      data.length * rowBytes(kind),
    );
  const nullItems = kind.kind === 'fsl' && chunks.some(hasNullItems);
  if (
    chunks.length === 1 &&
    only &&
    only.nullCount === 0 &&
    !nullItems &&
    (kind.kind === 'fixed' || kind.kind === 'fsl')
  ) {
    return { rows: only.length, nullCount: 0, bytes: fixedBytes(only) };
  }
  if (rowBytes(kind) >= WIDE_ROW_BYTES && !nullItems && chunks.every((data) => data.nullCount === 0)) {
    const rows = chunks.reduce((sum, data) => sum + data.length, 0);
    return { rows, nullCount: 0, bytes: new Uint8Array(0), pieces: chunks.map(fixedBytes) };
  }
  let rows = 0;
  let nullCount = 0;
  let payload = 0;
  for (const data of chunks) {
    rows += data.length;
    nullCount += data.nullCount;
    if (kind.kind === 'variable') {
      const offsets = data.valueOffsets as Int32Array | BigInt64Array;
      payload += Number(offsets[data.length]) - Number(offsets[0]);
    }
  }
  const validity = nullCount > 0 ? new Uint8Array(rows) : undefined;
  let bytes: Uint8Array;
  let offsets: Float64Array | undefined;
  if (kind.kind === 'bool') bytes = new Uint8Array(Math.ceil(rows / 8));
  else if (kind.kind === 'variable') {
    // One chunk's bytes are used where they lie; several are concatenated.
    bytes = chunks.length === 1 && only ? variableBytesOf(only) : new Uint8Array(payload);
    offsets = new Float64Array(rows + 1);
  } else bytes = new Uint8Array(rows * rowBytes(kind));
  const dimension = kind.kind === 'fsl' ? kind.dimension : 0;
  const itemValidity = nullItems ? new Uint8Array(Math.ceil((rows * dimension) / 8)) : undefined;

  let row = 0;
  let byteAt = 0;
  for (const data of chunks) {
    const n = data.length;
    if (validity) {
      if (data.nullCount === 0 || !data.nullBitmap) validity.fill(1, row, row + n);
      else for (let i = 0; i < n; i++) validity[row + i] = bitAt(data.nullBitmap, data.offset + i);
    }
    if (kind.kind === 'bool') {
      const bits = data.values as Uint8Array;
      for (let i = 0; i < n; i++) {
        if (bitAt(bits, data.offset + i))
          bytes[(row + i) >> 3] = (bytes[(row + i) >> 3] as number) | (1 << ((row + i) & 7));
      }
    } else if (kind.kind === 'variable' && offsets) {
      const source = data.valueOffsets as Int32Array | BigInt64Array;
      const first = Number(source[0]);
      const last = Number(source[n]);
      if (chunks.length > 1) bytes.set(variableBytesOf(data), byteAt);
      for (let i = 1; i <= n; i++) offsets[row + i] = byteAt + Number(source[i]) - first;
      byteAt += last - first;
    } else {
      const width = rowBytes(kind);
      const values = (kind.kind === 'fsl' ? data.children[0]?.values : data.values) as ArrayBufferView;
      bytes.set(bytesOf(values, n * width), row * width);
      if (itemValidity) for (let i = 0; i < n; i++) copyItemValidity(data, i, dimension, itemValidity, row + i);
    }
    row += n;
  }
  const page: PageValues = { rows, nullCount, bytes, offsets };
  if (validity) page.validity = validity;
  if (itemValidity) page.itemValidity = itemValidity;
  return page;
}

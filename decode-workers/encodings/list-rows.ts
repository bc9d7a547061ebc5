/**
 * The loader's commonest nested shape, one list layer over a fixed-width leaf (list<int32>,
 * list<float32>, …; list and items nullable or not), written row by row straight into the batch: padded
 * to `length` items per row in the slot's shared memory, or ragged as one variable-width value per slot.
 *
 *   mini-block chunks of a group ─► rep/def levels ─► each wanted row's first value and item count
 *        ─► the row's window (truncated rows keep `length` items) ─► the window's values, decoded for the
 *           windows alone (FastLanes rows outside them are skipped) ─► copied into the row's place
 *
 * No level entries are kept and nothing is unravelled: per group, the windows and places of its rows
 * (a few numbers per row, in this thread's scratch) and one chunk's levels at a time. Pages of other
 * kinds (full-zip, constant, dictionary, 2.0) decode through the general nested path (nested.ts,
 * unravel.ts) for their rows and are written by the same row writer (decode-task.ts), so the result is
 * the general path's (decode-workers/nested-fill.ts) whatever the page kinds: null lists are all padding
 * (validity 0), empty lists valid with length 0, null items the pad value (padded) or zeros (ragged).
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError } from '../../errors.js';
import { canonicalDef, type LayerKind } from '../../format/repdef.js';
import { chunkGroupsOf, type DecodeTask, type NestedChunkGroup } from '../../io/plan-steps.js';
import { createRandom, epochSeedKey } from '../../samplers/random.js';
import { readMiniBlockChunk, type ChunkLevels } from './miniblock.js';
import { compactNested, type NestedOutput } from './nested-output.js';
import {
  compactVariable,
  createVariableOutput,
  reserveCapacity,
  reserveVariable,
  type ScratchBudget,
  type VariableOutput,
} from './output.js';
import { unravelLevels } from './unravel.js';
import { decodeMiniBlockValues } from './values.js';

/** Where a padded list column's rows go in a batch slot (the loader's 'padded' output, decode-workers/messages.ts). */
export interface PaddedTarget {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  /** Bytes of one item. */
  itemBytes: number;
  /** Items per row. */
  length: number;
  numSlots: number;
  /** Byte offset of one int32 length per slot. */
  lengthsOffset: number;
  /** Byte offset of one validity byte per slot (the list's), or -1 when the column is not nullable. */
  validityOffset: number;
  /** The pad value as `itemBytes` little-endian bytes: fills short rows and null items. */
  padBytes: Uint8Array;
  truncate: 'end' | 'start' | 'random';
  /** What random truncation draws from, with the row offset. */
  seed: number;
  epoch: number;
}

export interface ListOutput {
  kind: 'list';
  layers: LayerKind[];
  byteWidth: number;
  numSlots: number;
  /** The batch's row offset of each slot: what random truncation draws from. */
  batchRows: Uint32Array;
  padded: {
    target: PaddedTarget;
    values: Uint8Array;
    lengths: Int32Array;
    validity: Uint8Array | null;
    zeroPad: boolean;
    /** Places (item index in `values`) written with a null item: the batch's item validity comes from them. */
    nullPlaces: number[];
  } | null;
  /** Ragged rows: each slot's items as one value (null items zeroed), validity when the column is nullable. */
  ragged: VariableOutput | null;
  /** Ragged rows for Arrow: a byte per item (1 = valid), kept like `ragged` (byte k of it is item k there). */
  itemValidity: VariableOutput | null;
  /** Budget of the general path's scratch, for pages it decodes. */
  budget: ScratchBudget | undefined;
  /** Rows written so far. */
  written: number;
  /** Null items written so far. */
  nullItems: number;
}

/** Whether a leaf of `layers` and `byteWidth` takes this path: one list over fixed-width items. */
export function isSingleList(
  layers: readonly LayerKind[],
  byteWidth: number | undefined,
  leafType: arrow.DataType,
): byteWidth is number {
  // Fixed-size lists with nullable items carry item validity buffers this path does not read.
  const nullableItems = arrow.DataType.isFixedSizeList(leafType) && leafType.children[0]?.nullable !== false;
  return (
    byteWidth !== undefined && !nullableItems && layers.length === 2 && layers[0] === 'item' && layers[1] === 'list'
  );
}

/** An output writing rows padded into `target`; `batchRows` are the batch's row offsets by slot. */
export function createPaddedListOutput(
  target: PaddedTarget,
  batchRows: Uint32Array,
  layers: LayerKind[],
  budget?: ScratchBudget,
): ListOutput {
  const { buffer, byteOffset, itemBytes, length, numSlots } = target;
  return {
    kind: 'list',
    layers,
    byteWidth: itemBytes,
    numSlots,
    batchRows,
    padded: {
      target,
      values: new Uint8Array(buffer, byteOffset, numSlots * length * itemBytes),
      lengths: new Int32Array(buffer, target.lengthsOffset, numSlots),
      validity: target.validityOffset >= 0 ? new Uint8Array(buffer, target.validityOffset, numSlots) : null,
      zeroPad: target.padBytes.every((b) => b === 0),
      nullPlaces: [],
    },
    ragged: null,
    itemValidity: null,
    budget,
    written: 0,
    nullItems: 0,
  };
}

/**
 * An output writing each row's items as one variable-width value of its slot; with `itemValidity`, also
 * which items are null (for Arrow, where a null item is not a zero).
 */
export function createRaggedListOutput(
  numSlots: number,
  byteWidth: number,
  nullable: boolean,
  layers: LayerKind[],
  budget?: ScratchBudget,
  itemValidity = false,
): ListOutput {
  return {
    kind: 'list',
    layers,
    byteWidth,
    numSlots,
    batchRows: new Uint32Array(0),
    padded: null,
    ragged: createVariableOutput(numSlots, nullable, 1024, budget),
    itemValidity: itemValidity ? createVariableOutput(numSlots, false, 1024, budget) : null,
    budget,
    written: 0,
    nullItems: 0,
  };
}

/**
 * Checks every slot got its row and returns the ragged rows (null for padded ones, which are in the
 * slot already).
 */
export function finishListOutput(out: ListOutput, where: string): VariableOutput | null {
  if (out.written !== out.numSlots)
    throw new CorruptFileError(`${where}: levels hold ${out.written} rows where ${out.numSlots} were read`, {
      rows: out.written,
      numRows: out.numSlots,
    });
  return out.ragged;
}

/** The rows' item validity in row order (one byte per item), or null when no item is null. */
export function listItemValidity(out: ListOutput): Uint8Array | null {
  return out.itemValidity && out.nullItems > 0 ? compactVariable(out.itemValidity).data : null;
}

/** Items a row of `n` drops at its start to keep the padded length (the general path's rule). */
export function skippedItems(out: ListOutput, slot: number, n: number): number {
  const target = out.padded?.target;
  if (!target || n <= target.length || target.truncate === 'end') return 0;
  if (target.truncate === 'start') return n - target.length;
  // One stream per row: the same window whichever worker, lane or batch position loads the row.
  const row = out.batchRows[slot] as number;
  return createRandom(`${epochSeedKey(target.seed, target.epoch)}:${row}`).nextBelow(n - target.length + 1);
}

/**
 * Starts slot's row of `kept` items (valid: the list is not null): pads the rest of a padded row and
 * sets its length and validity, or reserves a ragged row's bytes. Returns where its first kept item goes.
 */
function beginRow(out: ListOutput, slot: number, kept: number, valid: boolean): number {
  const w = out.byteWidth;
  const padded = out.padded;
  out.written++;
  if (!padded) {
    const ragged = out.ragged as VariableOutput;
    const at = reserveVariable(ragged, slot, kept * w);
    if (!valid && ragged.validity) ragged.validity[slot] = 0;
    if (out.itemValidity) {
      const first = reserveVariable(out.itemValidity, slot, kept);
      out.itemValidity.data.fill(1, first, first + kept);
    }
    return at;
  }
  const rowBytes = padded.target.length * w;
  const at = slot * rowBytes;
  padded.lengths[slot] = kept;
  if (padded.validity) padded.validity[slot] = valid ? 1 : 0;
  if (kept * w < rowBytes) fillPad(padded, at + kept * w, at + rowBytes);
  return at;
}

/** Fills values[from, to) of a padded output with its pad value. */
function fillPad(padded: NonNullable<ListOutput['padded']>, from: number, to: number): void {
  const { values, target } = padded;
  if (padded.zeroPad) {
    values.fill(0, from, to);
    return;
  }
  const pattern = target.padBytes;
  values.set(pattern, from);
  for (let filled = pattern.length; from + filled < to;) {
    const n = Math.min(filled, to - from - filled);
    values.copyWithin(from + filled, from, from + n);
    filled += n;
  }
}

/** Writes a null item at byte `at`: the pad value, or zeros in a ragged row. */
function writeNullItem(out: ListOutput, at: number): void {
  const w = out.byteWidth;
  out.nullItems++;
  if (out.padded) {
    out.padded.values.set(out.padded.target.padBytes, at);
    out.padded.nullPlaces.push(at / w);
  } else (out.ragged as VariableOutput).data.fill(0, at, at + w);
  // Rows reserve their items' bytes and validity bytes in the same order: item k's byte is k × w there.
  if (out.itemValidity) out.itemValidity.data[at / w] = 0;
}

/** Copies `src[start, end)` to byte `at` of the output's memory. */
function copyItems(out: ListOutput, src: Uint8Array, start: number, end: number, at: number): void {
  const target = out.padded ? out.padded.values : (out.ragged as VariableOutput).data;
  target.set(src.subarray(start, end), at);
}

/** How many items of a row of `n` are kept: a padded row keeps at most its length. */
function keptItems(out: ListOutput, n: number): number {
  return out.padded ? Math.min(n, out.padded.target.length) : n;
}

/**
 * Writes the rows of a general-path output (`nested`, its slots 0..n−1 holding the rows of `slots`)
 * into `out`.
 */
export function writeNestedRows(nested: NestedOutput, slots: Uint32Array, out: ListOutput, where: string): void {
  const { levels, values } = compactNested(nested);
  const [items, list] = unravelLevels(levels, nested.layers, slots.length, where);
  const w = out.byteWidth;
  if (!items || !list?.offsets || nested.layers.length !== 2 || values.length !== items.count * w)
    throw new CorruptFileError(`${where}: ${items?.count ?? 0} list items decoded to ${values.length} bytes`, {
      items: items?.count,
      bytes: values.length,
    });
  writeListRows(out, slots, list.offsets, list.validity, items.nullCount > 0 ? items.validity : null, values);
}

/**
 * Writes rows given as list `offsets` (slots.length + 1, into the items) and `validity` over the items'
 * `values` (byteWidth each; `itemValidity` null when every item is valid) into `out`.
 */
export function writeListRows(
  out: ListOutput,
  slots: Uint32Array,
  offsets: Int32Array,
  validity: Uint8Array,
  itemValidity: Uint8Array | null,
  values: Uint8Array,
): void {
  const w = out.byteWidth;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as number;
    const start = offsets[i] as number;
    const n = (offsets[i + 1] as number) - start;
    const kept = keptItems(out, n);
    const first = start + skippedItems(out, slot, n);
    const at = beginRow(out, slot, kept, validity[i] === 1);
    copyItems(out, values, first * w, (first + kept) * w, at);
    if (itemValidity) for (let k = 0; k < kept; k++) if (itemValidity[first + k] === 0) writeNullItem(out, at + k * w);
  }
}

/** Per wanted row of a group: its window [start, end) among the group's values and where it goes. */
let windowStart = new Float64Array(256);
let windowEnd = new Float64Array(256);
let place = new Float64Array(256);
/** Per wanted row while levels are read: its first value, its value count and its first entry's def. */
let rowValue = new Float64Array(256);
let rowCount = new Float64Array(256);
let rowDef = new Uint16Array(256);
/** Group value indices of null items. */
let nullValues = new Float64Array(64);

/** Bytes this thread's list scratch holds (the loader's listScratch part, loader/budget.ts). */
export function listScratchBytes(): number {
  return 5 * 8 * windowStart.length + 2 * rowDef.length + nullValues.byteLength;
}

function ensureRowScratch(n: number): void {
  if (windowStart.length >= n) return;
  const size = Math.max(n, 2 * windowStart.length);
  windowStart = new Float64Array(size);
  windowEnd = new Float64Array(size);
  place = new Float64Array(size);
  rowValue = new Float64Array(size);
  rowCount = new Float64Array(size);
  rowDef = new Uint16Array(size);
}

function pushNullValue(count: number, value: number): void {
  if (count >= nullValues.length) {
    const grown = new Float64Array(2 * nullValues.length);
    grown.set(nullValues);
    nullValues = grown;
  }
  nullValues[count] = value;
}

/**
 * Rows of a mini-block page of a single-list column (io/nested-plan.ts groups). Returns false, having
 * written nothing, for pages this path does not take (dictionary-encoded values, rows not in page
 * order): the caller decodes those through the general path.
 */
export function decodeListChunks(task: DecodeTask & { kind: 'miniblock-nested' }, out: ListOutput): boolean {
  const { rows, levels } = task;
  if (task.dictionary || levels.maxRep !== 1) return false;
  for (let i = 1; i < rows.length; i++) if ((rows[i] as number) < (rows[i - 1] as number)) return false;
  for (const group of chunkGroupsOf(task)) decodeGroup(task, group, out);
  return true;
}

/**
 * Records page row `row` (first value `start`, `count` values, first entry's def `def`) for the wanted
 * rows from `j` on that are it (a row may be wanted twice); returns the next wanted row.
 */
function recordRows(
  rows: Uint32Array,
  from: number,
  j: number,
  n: number,
  row: number,
  start: number,
  count: number,
  def: number,
): number {
  while (j < n && rows[from + j] === row) {
    rowValue[j] = start;
    rowCount[j] = count;
    rowDef[j] = def;
    j++;
  }
  return j;
}

/** Reads a chunk's levels; a kernel's CorruptFileError is rethrown naming `where`. */
function chunkLevels(
  task: DecodeTask & { kind: 'miniblock-nested' },
  chunk: { bytes: Uint8Array; itemCount: number },
  where: string,
): ChunkLevels {
  try {
    return readMiniBlockChunk(task.layout, chunk.bytes, chunk.itemCount, where);
  } catch (error) {
    if (!(error instanceof CorruptFileError) || error.message.startsWith(where)) throw error;
    throw new CorruptFileError(`${where}: ${error.message}`, error.details, { cause: error });
  }
}

function decodeGroup(task: DecodeTask & { kind: 'miniblock-nested' }, group: NestedChunkGroup, out: ListOutput): void {
  const { rows, slots, levels, layout } = task;
  const { defMap, maxVisibleDef } = levels;
  const where = `${task.where} chunks from row ${group.firstRow}`;
  const { from, to, firstRow } = group;
  const n = to - from;
  ensureRowScratch(n);
  const nullItemDef = canonicalDef(out.layers, 0, 'null');
  const nullListDef = canonicalDef(out.layers, 1, 'null');
  const parts: ChunkLevels[] = [];
  // Levels → each wanted row's first value, value count and first entry's def (rows are in page order).
  // Plain locals only (no closure over them), so the entry loops keep them in registers.
  let j = 0; // wanted rows recorded so far
  let k = -1; // the current row, counted from firstRow (−1: a preamble, items of an earlier row)
  let start = 0;
  let def0 = 0;
  let value = 0;
  let nulls = 0;
  if (n > 0 && (rows[from] as number) < firstRow)
    throw new CorruptFileError(`${where}: row ${rows[from]} is not among the rows its chunks hold`, {
      row: rows[from],
    });
  for (let c = 0; c < group.chunks.length; c++) {
    const chunk = group.chunks[c] as (typeof group.chunks)[number];
    const part = chunkLevels(task, chunk, where);
    parts.push(part);
    const { rep, def } = part;
    const count = rep?.length ?? def?.length ?? chunk.itemCount;
    let starts = 0;
    const visibleBefore = value;
    for (let e = 0; e < count; e++) {
      const r = rep ? (rep[e] as number) : 1;
      if (r === 0 && !def) continue; // an item continuing its list (most entries)
      const d = def ? (def[e] as number) : 0;
      if (r > 1 || d >= defMap.length)
        throw new CorruptFileError(
          `${where}: level entry ${e} of chunk ${c} (rep ${r}, def ${d}) is out of range for the page's layers`,
        );
      // Without def levels every entry is a value: the count so far is the entry's index.
      if (!def) value = visibleBefore + e;
      if (r === 1) {
        if (k >= 0) j = recordRows(rows, from, j, n, firstRow + k, start, value - start, def0);
        k++;
        starts++;
        start = value;
        def0 = d;
      } else if (k >= 0 && def0 > maxVisibleDef) {
        throw new CorruptFileError(
          `${where}: level entry ${e} of chunk ${c} continues a list (rep ${r}) that its definition level ${def0} ends`,
        );
      }
      if (def && d <= maxVisibleDef) {
        if (d !== 0 && k >= 0) pushNullValue(nulls++, value);
        value++;
      }
    }
    if (!def) value = visibleBefore + count;
    if (starts !== chunk.rowStarts || value - visibleBefore !== chunk.itemCount)
      throw new CorruptFileError(
        `${where}: chunk ${c} of the read has ${starts} row starts and ${value - visibleBefore} values in its levels, its page index says ${chunk.rowStarts} and ${chunk.itemCount}`,
      );
  }
  if (k >= 0) j = recordRows(rows, from, j, n, firstRow + k, start, value - start, def0);
  if (j < n)
    throw new CorruptFileError(`${where}: row ${rows[from + j]} is not among the ${k + 1} rows its chunks hold`, {
      row: rows[from + j],
    });
  // Each row's window and place; rows in page order have windows in order too.
  const w = out.byteWidth;
  if (out.ragged) {
    // Grown once for the group's rows rather than row by row.
    let items = 0;
    for (let i = 0; i < n; i++) items += rowCount[i] as number;
    reserveCapacity(out.ragged, items * w);
    if (out.itemValidity) reserveCapacity(out.itemValidity, items);
  }
  for (let i = 0; i < n; i++) {
    const slot = slots[from + i] as number;
    const d = defMap[rowDef[i] as number] as number;
    const count = rowCount[i] as number;
    if (d !== 0 && d !== nullItemDef && count !== 0)
      throw new CorruptFileError(`${where}: row ${rows[from + i]} is a null or empty list with ${count} items`);
    const kept = keptItems(out, count);
    const first = (rowValue[i] as number) + skippedItems(out, slot, count);
    windowStart[i] = first;
    windowEnd[i] = first + kept;
    place[i] = beginRow(out, slot, kept, d !== nullListDef);
  }
  // Values, chunk by chunk, decoded only for the windows that reach into the chunk.
  let lo = 0;
  let chunkStart = 0;
  for (let c = 0; c < parts.length; c++) {
    const chunk = group.chunks[c] as (typeof group.chunks)[number];
    const chunkEnd = chunkStart + chunk.itemCount;
    while (lo < n && (windowEnd[lo] as number) <= chunkStart) lo++;
    let first = chunkEnd;
    let end = chunkStart;
    for (let i = lo; i < n && (windowStart[i] as number) < chunkEnd; i++) {
      if ((windowEnd[i] as number) <= (windowStart[i] as number)) continue;
      first = Math.min(first, Math.max(chunkStart, windowStart[i] as number));
      end = Math.max(end, Math.min(chunkEnd, windowEnd[i] as number));
    }
    if (first < end) {
      const decoded = decodeMiniBlockValues(
        layout.value_compression,
        (parts[c] as ChunkLevels).buffers,
        chunk.itemCount,
        where,
        { first: first - chunkStart, end: end - chunkStart },
      );
      if (decoded.kind !== 'fixed' || decoded.byteWidth !== w)
        throw new CorruptFileError(
          `${where}: page values are ${decoded.kind === 'fixed' ? `${decoded.byteWidth} bytes wide` : 'variable-width'}, the column's type needs ${w}`,
        );
      for (let i = lo; i < n && (windowStart[i] as number) < chunkEnd; i++) {
        const s = Math.max(windowStart[i] as number, chunkStart);
        const e = Math.min(windowEnd[i] as number, chunkEnd);
        if (s >= e) continue;
        copyItems(
          out,
          decoded.bytes,
          (s - chunkStart) * w,
          (e - chunkStart) * w,
          (place[i] as number) + (s - (windowStart[i] as number)) * w,
        );
      }
    }
    chunkStart = chunkEnd;
  }
  // Null items inside the windows (values in order, windows in order).
  let r = 0;
  for (let q = 0; q < nulls; q++) {
    const v = nullValues[q] as number;
    while (r < n && (windowEnd[r] as number) <= v) r++;
    for (let i = r; i < n && (windowStart[i] as number) <= v; i++)
      if (v < (windowEnd[i] as number)) writeNullItem(out, (place[i] as number) + (v - (windowStart[i] as number)) * w);
  }
}

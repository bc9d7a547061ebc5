/**
 * The output of one leaf column of a nested field (lists, structs): per slot, the row's level entries and
 * the values of its visible entries, each kept as a variable-width stream (output.ts VariableOutput), so
 * slots may be written in any order (a shuffled take decodes pages in file order) and are put in slot
 * order by one compaction, as flat variable-width columns are:
 *
 *   levels   per entry 4 bytes: u16 repetition level, u16 canonical definition level (format/repdef.ts)
 *   values   per visible entry: fixed width: byteWidth bytes (zeros for a null); variable width: the
 *            bytes of valid values back to back
 *   lengths  variable width only: per visible entry a u32 byte length (0 for a null)
 *   items    fixed_size_list leaves with null items only, from the first page that has some: per visible
 *            entry `perValue` item validity bytes (item-validity.ts; rows written before are all valid)
 *
 * A row's pieces are appended together (beginRow, then push*), so a row that spans mini-block chunks is
 * one value of each stream. Memory is what the decoded pages hold for the rows read: levels come from
 * chunk headers and page buffers whose sizes were checked against the file. {@link compactNested} gives
 * the slot-ordered levels and values; decode-workers/encodings/unravel.ts turns levels into Arrow-style
 * offsets and validity per layer.
 */
import { CorruptFileError } from '../../errors.js';
import type { LayerKind } from '../../format/repdef.js';
import type { ItemValidity } from '../../io/plan-steps.js';
import {
  compactVariable,
  createVariableOutput,
  extendVariable,
  reserveCapacity,
  reserveVariable,
  type ColumnOutput,
  type ScratchBudget,
  type VariableOutput,
} from './output.js';

export interface NestedOutput {
  kind: 'nested';
  /** The column's layers, leaf outwards (format/repdef.ts). */
  layers: LayerKind[];
  /** Bytes per leaf value, or undefined for variable-width values. */
  byteWidth: number | undefined;
  levels: VariableOutput;
  values: VariableOutput;
  lengths: VariableOutput | null;
  items: { perValue: number; validity: VariableOutput } | null;
}

/** Where a read's decoders write: a flat column's output or a nested column leaf's. */
export type ReadOutput = ColumnOutput | NestedOutput;

const LEVEL_BYTES = 4;

/** An empty nested output of `numSlots` rows for a leaf of `byteWidth` bytes (undefined: variable width). */
export function createNestedOutput(
  numSlots: number,
  layers: LayerKind[],
  byteWidth: number | undefined,
  budget?: ScratchBudget,
): NestedOutput {
  return {
    kind: 'nested',
    layers,
    byteWidth,
    levels: createVariableOutput(numSlots, false, numSlots * LEVEL_BYTES, budget),
    values: createVariableOutput(numSlots, false, 1024, budget),
    lengths: byteWidth === undefined ? createVariableOutput(numSlots, false, numSlots * 4, budget) : null,
    items: null,
  };
}

/** Starts the row of `slot`: the pushes that follow, until the next beginRow, are its entries and values. */
export function beginRow(out: NestedOutput, slot: number): void {
  reserveVariable(out.levels, slot, 0);
  reserveVariable(out.values, slot, 0);
  if (out.lengths) reserveVariable(out.lengths, slot, 0);
  if (out.items) reserveVariable(out.items.validity, slot, 0);
}

/** Appends a level entry to the current row. */
export function pushLevel(out: NestedOutput, rep: number, def: number): void {
  const at = extendVariable(out.levels, LEVEL_BYTES); // may grow levels.data: read it after
  writeLevel(out.levels.data, at, rep, def);
}

/**
 * Appends `count` level entries to the current row at once and returns them to be written: u16 words,
 * rep of entry k at 2k and its def at 2k + 1 (one capacity check for the run instead of one per entry).
 */
export function appendLevels(out: NestedOutput, count: number): Uint16Array {
  const at = extendVariable(out.levels, count * LEVEL_BYTES);
  const data = out.levels.data;
  // Levels are whole 4-byte entries from offset 0 of memory this module allocates: always aligned.
  return new Uint16Array(data.buffer, data.byteOffset + at, count * 2);
}

/** Makes room for `entries` more level entries and `valueBytes` more value bytes (grows once, not per row). */
export function reserveRows(out: NestedOutput, entries: number, valueBytes: number): void {
  reserveCapacity(out.levels, entries * LEVEL_BYTES);
  reserveCapacity(out.values, valueBytes);
}

/** Writes one level entry (u16 rep, u16 def) at byte `at` of `data`. */
function writeLevel(data: Uint8Array, at: number, rep: number, def: number): void {
  data[at] = rep & 0xff;
  data[at + 1] = rep >>> 8;
  data[at + 2] = def & 0xff;
  data[at + 3] = def >>> 8;
}

/**
 * Appends fixed-width values `src[start, end)` (whole values) to the current row, with `items`, their
 * items' validity bytes, when they are fixed-size lists with null items.
 */
export function pushFixedValues(
  out: NestedOutput,
  src: Uint8Array,
  start: number,
  end: number,
  items?: ItemValidity,
  firstValue = 0,
): void {
  // The item stream first: created now, it gives the entries written before all-valid items.
  const stream = items ? itemStream(out, items.perValue) : out.items;
  const at = extendVariable(out.values, end - start);
  out.values.data.set(src.subarray(start, end), at);
  if (!stream) return;
  const count = (end - start) / (out.byteWidth as number);
  const perValue = stream.perValue;
  const to = extendVariable(stream.validity, count * perValue);
  if (items) {
    stream.validity.data.set(items.bytes.subarray(firstValue * perValue, (firstValue + count) * perValue), to);
  } else {
    stream.validity.data.fill(1, to, to + count * perValue);
  }
}

/**
 * The item validity stream, created on the first values with null items: every visible entry written
 * before gets all-valid items (the current row's last, so that appends continue it).
 */
function itemStream(out: NestedOutput, perValue: number): { perValue: number; validity: VariableOutput } {
  if (out.items) {
    if (out.items.perValue !== perValue)
      throw new CorruptFileError(
        `item validity of ${perValue} items per value, where an earlier page had ${out.items.perValue}`,
      );
    return out.items;
  }
  const width = out.byteWidth as number;
  const values = out.values;
  const numSlots = values.lengths.length;
  const validity = createVariableOutput(numSlots, false, (values.used / width) * perValue, values.budget);
  const fill = (slot: number) => {
    const bytes = ((values.lengths[slot] as number) / width) * perValue;
    const at = reserveVariable(validity, slot, bytes);
    validity.data.fill(1, at, at + bytes);
  };
  for (let slot = 0; slot < numSlots; slot++) if (slot !== values.lastSlot && values.lengths[slot]) fill(slot);
  fill(values.lastSlot);
  out.items = { perValue, validity };
  return out.items;
}

/** Appends one variable-width value `src[start, end)` to the current row. */
export function pushVariableValue(out: NestedOutput, src: Uint8Array, start: number, end: number): void {
  const at = reserveValueBytes(out, end - start);
  out.values.data.set(src.subarray(start, end), at);
}

/**
 * Reserves `length` bytes for one variable-width value of the current row and returns where to write
 * them; {@link trimValue} gives back what a decoder did not use.
 */
export function reserveValueBytes(out: NestedOutput, length: number): number {
  const at = extendVariable(out.values, length);
  pushLength(out, length);
  return at;
}

/** Shortens the current row's last variable-width value to `length` bytes (written from `at`). */
export function trimValue(out: NestedOutput, at: number, length: number): void {
  const values = out.values;
  const reserved = values.used - at;
  values.used = at + length;
  values.lengths[values.lastSlot] = (values.lengths[values.lastSlot] as number) - reserved + length;
  const lengths = out.lengths as VariableOutput;
  const p = lengths.used - 4;
  writeU32(lengths.data, p, length);
}

/** Appends a null visible entry's value: zero bytes of the width, or an empty value. */
export function pushNullValue(out: NestedOutput): void {
  if (out.byteWidth === undefined) {
    pushLength(out, 0);
    return;
  }
  const at = extendVariable(out.values, out.byteWidth);
  out.values.data.fill(0, at, at + out.byteWidth);
  if (out.items) {
    const to = extendVariable(out.items.validity, out.items.perValue);
    out.items.validity.data.fill(1, to, to + out.items.perValue);
  }
}

function pushLength(out: NestedOutput, length: number): void {
  const lengths = out.lengths as VariableOutput;
  const at = extendVariable(lengths, 4); // may grow lengths.data: read it after
  writeU32(lengths.data, at, length);
}

function writeU32(data: Uint8Array, at: number, value: number): void {
  data[at] = value & 0xff;
  data[at + 1] = (value >>> 8) & 0xff;
  data[at + 2] = (value >>> 16) & 0xff;
  data[at + 3] = value >>> 24;
}

/** A nested output in slot order. */
export interface CompactNested {
  /** Level entries: rep at 2i, canonical def at 2i + 1. */
  levels: Uint16Array;
  /** Values of the visible entries, back to back. */
  values: Uint8Array;
  /** Variable width: byte offsets of each visible entry's value (entries + 1); null for fixed width. */
  valueOffsets: Float64Array | null;
  /** Fixed-size lists with null items: one byte per item of the visible entries, 1 = valid. */
  itemValidity: Uint8Array | null;
}

/** Puts a nested output in slot order (one copy of each stream unless slots were written in order). */
export function compactNested(out: NestedOutput): CompactNested {
  const levelBytes = compactVariable(out.levels).data;
  const levels =
    levelBytes.byteOffset % 2 === 0
      ? new Uint16Array(levelBytes.buffer, levelBytes.byteOffset, levelBytes.length / 2)
      : new Uint16Array(levelBytes.slice().buffer);
  const values = compactVariable(out.values).data;
  const itemValidity = out.items ? compactVariable(out.items.validity).data : null;
  if (!out.lengths) return { levels, values, valueOffsets: null, itemValidity };
  const lengthBytes = compactVariable(out.lengths).data;
  const view = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, lengthBytes.byteLength);
  const count = lengthBytes.length / 4;
  const valueOffsets = new Float64Array(count + 1);
  for (let i = 0; i < count; i++) valueOffsets[i + 1] = (valueOffsets[i] as number) + view.getUint32(i * 4, true);
  return { levels, values, valueOffsets, itemValidity };
}

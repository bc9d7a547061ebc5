/**
 * Nested columns of a batch, from their decoded levels and values (encodings/nested-output.ts) into the
 * batch slot's shared memory: a padded list (loader options.pad) as `length` items per row with a length
 * and validity per row, a struct child by path as a fixed-width column whose row is null when the child
 * or any struct above it is, and a ragged column (lists of fixed-width items, of strings, of lists, the
 * leaves of lists of structs) as its items in row order plus the offsets of each list level.
 *
 *   levels ─► unravelLevels (offsets and validity per layer) ─► list levels (structs folded into the
 *   validity of the list or items below them) ─► per row: its items ─► slot (padded) / slot's variable memory
 *
 * A leaf's layers from the row down alternate runs of structs and lists: a struct has as many elements as
 * the level it is in, so its validity is and-ed into that level's (a null struct makes its lists null and
 * its items null), and each list's offsets lead to the next level.
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError } from '../errors.js';
import type { OutputDescriptor, RaggedLevels } from './messages.js';
import { compactNested, type NestedOutput } from './encodings/nested-output.js';
import { unravelLevels, type UnravelledLayer } from './encodings/unravel.js';
import { createPaddedListOutput, writeListRows, type ListOutput } from './encodings/list-rows.js';
import type { FixedOutput, VariableOutput } from './encodings/output.js';
import type { LayerKind } from '../format/repdef.js';

type PaddedDescriptor = Extract<OutputDescriptor, { kind: 'padded' }>;
type FixedDescriptor = Extract<OutputDescriptor, { kind: 'fixed' }>;

/** A leaf's list levels, outermost first, and its items, with struct validity folded in. */
interface ListLevels {
  lists: { offsets: Int32Array; validity: Uint8Array }[];
  /** One byte per item, 1 = the item and every struct between it and its list are valid. */
  items: Uint8Array;
  itemNulls: number;
}

/** The list levels of `layers` (unravelled, leaf outwards, of kinds `kinds`) over `numSlots` rows. */
function listLevels(
  layers: readonly UnravelledLayer[],
  kinds: readonly LayerKind[],
  numSlots: number,
  where: string,
): ListLevels {
  const lists: ListLevels['lists'] = [];
  let validity = new Uint8Array(numSlots).fill(1);
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i] as UnravelledLayer;
    if (layer.count !== validity.length)
      throw new CorruptFileError(
        `${where}: level ${i} has ${layer.count} elements where the level above gives ${validity.length}`,
      );
    if (layer.nullCount > 0)
      for (let k = 0; k < validity.length; k++) validity[k] = (validity[k] as number) & (layer.validity[k] as number);
    if (kinds[i] !== 'list' || !layer.offsets) continue;
    lists.push({ offsets: layer.offsets, validity });
    validity = new Uint8Array(layers[i - 1]?.count ?? 0).fill(1);
  }
  return { lists, items: validity, itemNulls: validity.length - countOnes(validity) };
}

function countOnes(bytes: Uint8Array): number {
  let n = 0;
  for (let k = 0; k < bytes.length; k++) n += bytes[k] as number;
  return n;
}

/**
 * Writes a list column's rows into the slot padded to `d.length` items; `rows` are the batch's row
 * offsets (what random truncation draws from with the seed and epoch), `where` names the column. Returns
 * the batch's item validity (see {@link paddedItemValidity}).
 */
export function fillPadded(
  d: PaddedDescriptor,
  out: NestedOutput,
  rows: Uint32Array,
  where: string,
): Uint8Array | null {
  const { levels, values } = compactNested(out);
  const split = listLevels(unravelLevels(levels, out.layers, d.numSlots, where), out.layers, d.numSlots, where);
  const list = split.lists[0];
  if (split.lists.length !== 1 || !list || values.length !== split.items.length * d.itemBytes)
    throw new CorruptFileError(`${where}: ${split.items.length} list items decoded to ${values.length} bytes`, {
      items: split.items.length,
      bytes: values.length,
    });
  const slots = new Uint32Array(d.numSlots);
  for (let s = 0; s < slots.length; s++) slots[s] = s;
  const padded = createPaddedListOutput(d, rows, out.layers);
  writeListRows(padded, slots, list.offsets, list.validity, split.itemNulls > 0 ? split.items : null, values);
  return paddedItemValidity(padded);
}

/**
 * A padded list's item validity for the batch, `[rows × length]` bytes, 1 where a place holds a valid
 * item, 0 where it holds a null item or padding; null when no item of the batch is null.
 */
export function paddedItemValidity(out: ListOutput): Uint8Array | null {
  const padded = out.padded;
  if (!padded || padded.nullPlaces.length === 0) return null;
  const length = padded.target.length;
  const validity = new Uint8Array(out.numSlots * length);
  for (let s = 0; s < out.numSlots; s++) validity.fill(1, s * length, s * length + (padded.lengths[s] as number));
  for (const place of padded.nullPlaces) validity[place] = 0;
  return validity;
}

/**
 * Writes a struct child's values into the slot; a row is valid when the child and every struct above it
 * are. Returns the batch's item validity when the child is a fixed-size list with a null item in the batch
 * (`[rows × size]` bytes, 1 = the item and its row are valid; the null items' values zeroed), else null.
 */
export function fillStructLeaf(d: FixedDescriptor, out: NestedOutput, where: string): Uint8Array | null {
  const { levels, values, itemValidity } = compactNested(out);
  const layers = unravelLevels(levels, out.layers, d.numSlots, where);
  checkRows(layers, d.numSlots, values.length === d.numSlots * d.byteWidth, where);
  const rows = structValidity(layers, new Uint8Array(d.numSlots));
  const perValue = out.items?.perValue ?? 1;
  const items = itemValidity?.includes(0) ? valueValidity(rows, itemValidity, perValue, where) : null;
  if (items) zeroNullValues(values, items, d.byteWidth / perValue);
  new Uint8Array(d.buffer, d.byteOffset, values.length).set(values);
  if (d.validityOffset >= 0) new Uint8Array(d.buffer, d.validityOffset, d.numSlots).set(rows);
  return items;
}

/**
 * One byte per value of fixed-size list items (`perItem` each), 1 where the item (`items`, one byte each) and
 * the value (`values`, the file's item validity; null when every value is valid) are both valid.
 */
function valueValidity(items: Uint8Array, values: Uint8Array | null, perItem: number, where: string): Uint8Array {
  if (values && values.length !== items.length * perItem)
    throw new CorruptFileError(
      `${where}: ${values.length} item validity bytes for ${items.length} fixed-size lists of ${perItem}`,
      { items: items.length },
    );
  const out = new Uint8Array(items.length * perItem);
  for (let k = 0; k < items.length; k++) {
    if (items[k] === 0) continue;
    if (values) out.set(values.subarray(k * perItem, (k + 1) * perItem), k * perItem);
    else out.fill(1, k * perItem, (k + 1) * perItem);
  }
  return out;
}

/** Zeroes the values (of `width` bytes) whose `validity` byte is 0: the bytes under them are whatever the writer left. */
function zeroNullValues(values: Uint8Array, validity: Uint8Array, width: number): void {
  for (let k = 0; k < validity.length; k++) if (validity[k] === 0) values.fill(0, k * width, (k + 1) * width);
}

/** A nested column as a variable-width output in slot order, with its item validity and list levels. */
export interface NestedAsVariable {
  output: VariableOutput;
  /**
   * One byte per item (1 = valid) when some item of the batch is null, else null; for items that are
   * fixed-size lists one byte per value (`[items × size]`), 0 under a null item or a null value.
   */
  itemValidity: Uint8Array | null;
  /** The list levels below the rows; null for a struct child by path. */
  levels: RaggedLevels | null;
}

/**
 * A variable-width struct child (utf8, binary) or a ragged list column as a variable-width output in slot
 * order, for the worker to put in the slot's variable-width memory like a flat string column: a ragged
 * row's value is its items' bytes back to back (a null fixed-width item's zeros, a null string empty).
 * `perItem`: values per item (a fixed-size list leaf's size, see {@link valuesPerItem}).
 */
export function nestedAsVariable(
  out: NestedOutput,
  numSlots: number,
  nullable: boolean,
  where: string,
  perItem = 1,
): NestedAsVariable {
  const { levels, values, valueOffsets, itemValidity: itemValues } = compactNested(out);
  const layers = unravelLevels(levels, out.layers, numSlots, where);
  const starts = new Float64Array(numSlots);
  const lengths = new Uint32Array(numSlots);
  const output: VariableOutput = {
    kind: 'variable',
    starts,
    lengths,
    data: values,
    used: values.length,
    inOrder: true,
    lastSlot: numSlots - 1,
    validity: null,
    budget: undefined,
  };
  if (!out.layers.includes('list')) {
    checkRows(layers, numSlots, valueOffsets?.length === numSlots + 1, where);
    const offsets = valueOffsets as Float64Array;
    for (let s = 0; s < numSlots; s++) {
      starts[s] = offsets[s] as number;
      lengths[s] = (offsets[s + 1] as number) - (offsets[s] as number);
    }
    if (nullable) output.validity = structValidity(layers, new Uint8Array(numSlots));
    return { output, itemValidity: null, levels: null };
  }
  const split = listLevels(layers, out.layers, numSlots, where);
  const w = out.byteWidth;
  const items = split.items.length;
  if (w === undefined ? valueOffsets?.length !== items + 1 : values.length !== items * w)
    throw new CorruptFileError(`${where}: the levels and values of ${numSlots} rows do not match`, { rows: numSlots });
  // A list of fixed-size lists gives one validity byte per value, [items × size], as a flat one does.
  const valueNulls = out.items !== null && itemValues?.includes(0) === true;
  const perValue = perItem > 1 && (split.itemNulls > 0 || valueNulls) ? perItem : 1;
  const itemValidity =
    perValue > 1 ? valueValidity(split.items, itemValues, perItem, where) : split.itemNulls > 0 ? split.items : null;
  // The bytes under a null value are whatever the writer left there.
  if (w !== undefined && itemValidity) zeroNullValues(values, itemValidity, w / perValue);
  const byteAt = (item: number) => (w === undefined ? ((valueOffsets as Float64Array)[item] as number) : item * w);
  for (let s = 0; s < numSlots; s++) {
    let first = s;
    let end = s + 1;
    for (const { offsets } of split.lists) {
      first = offsets[first] as number;
      end = offsets[end] as number;
    }
    starts[s] = byteAt(first);
    lengths[s] = byteAt(end) - byteAt(first);
  }
  if (nullable) output.validity = (split.lists[0] as ListLevels['lists'][number]).validity;
  return {
    output,
    itemValidity,
    levels: {
      offsets: split.lists.map((l) => l.offsets.slice()),
      validity: split.lists.slice(1).map((l) => l.validity),
      itemOffsets: w === undefined ? Int32Array.from(valueOffsets as Float64Array) : null,
    },
  };
}

/** Values per item of a nested leaf of type `leafType`: a fixed-size list's size, else 1. */
export function valuesPerItem(leafType: arrow.DataType | undefined): number {
  return leafType && arrow.DataType.isFixedSizeList(leafType) ? leafType.listSize : 1;
}

function checkRows(layers: readonly UnravelledLayer[], numSlots: number, valuesMatch: boolean, where: string): void {
  if (!valuesMatch || layers.some((l) => l.count !== numSlots))
    throw new CorruptFileError(`${where}: the levels and values of ${numSlots} rows do not match`, { rows: numSlots });
}

/** Sets `validity` to 1 where every layer (the child and each struct above it) is valid. */
function structValidity(layers: readonly UnravelledLayer[], validity: Uint8Array): Uint8Array {
  validity.fill(1);
  for (const layer of layers) {
    if (layer.nullCount === 0) continue;
    for (let s = 0; s < validity.length; s++) validity[s] = (validity[s] as number) & (layer.validity[s] as number);
  }
  return validity;
}

/**
 * A flat fixed-size list column's item validity for the batch (one byte per item, slot-major), when some
 * item is null, else null; the values of null items in the slot are zeroed, as a ragged list's are.
 */
export function nullItemsOf(out: FixedOutput): Uint8Array | null {
  const items = out.itemValidity;
  if (!items || items.bytes.indexOf(0) < 0) return null;
  const itemBytes = out.byteWidth / items.perValue;
  items.bytes.forEach((valid, k) => {
    if (valid === 0) out.values.fill(0, k * itemBytes, (k + 1) * itemBytes);
  });
  return items.bytes.slice();
}

/**
 * A single list's levels from its compacted rows (`offsets`: rows + 1 byte offsets, items of `itemBytes`):
 * the fast path's ragged rows (encodings/list-rows.ts) given the general path's shape.
 */
export function singleListLevels(offsets: Float64Array, itemBytes: number): RaggedLevels {
  return { offsets: [Int32Array.from(offsets, (x) => x / itemBytes)], validity: [], itemOffsets: null };
}

/**
 * A ragged column's levels and item validity once slot `s` holds slot `source[s]`'s row (rows replaced
 * under onError 'skip'; the values themselves are moved with the other variable-width columns).
 */
export function moveRaggedLevels(
  levels: RaggedLevels,
  itemValidity: Uint8Array | undefined,
  source: Uint32Array,
): { levels: RaggedLevels; itemValidity?: Uint8Array } {
  // The old elements of the current level, in their new order (level 0: the rows).
  let elements: number[] = Array.from(source);
  const offsets: Int32Array[] = [];
  const validity: Uint8Array[] = [];
  levels.offsets.forEach((old, level) => {
    const moved = new Int32Array(elements.length + 1);
    const below: number[] = [];
    elements.forEach((e, j) => {
      for (let k = old[e] as number; k < (old[e + 1] as number); k++) below.push(k);
      moved[j + 1] = below.length;
    });
    offsets.push(moved);
    const valid = levels.validity[level - 1];
    if (valid) validity.push(Uint8Array.from(elements, (e) => valid[e] as number));
    elements = below;
  });
  let itemOffsets: Int32Array | null = null;
  const oldItems = levels.itemOffsets;
  if (oldItems) {
    itemOffsets = new Int32Array(elements.length + 1);
    elements.forEach((k, j) => {
      (itemOffsets as Int32Array)[j + 1] =
        ((itemOffsets as Int32Array)[j] as number) + (oldItems[k + 1] as number) - (oldItems[k] as number);
    });
  }
  if (!itemValidity) return { levels: { offsets, validity, itemOffsets } };
  // One byte per item, or per value of fixed-size list items.
  const items = levels.offsets.at(-1)?.at(-1) ?? 0;
  const per = items > 0 ? itemValidity.length / items : 1;
  const moved = new Uint8Array(elements.length * per);
  elements.forEach((k, j) => moved.set(itemValidity.subarray(k * per, (k + 1) * per), j * per));
  return { levels: { offsets, validity, itemOffsets }, itemValidity: moved };
}

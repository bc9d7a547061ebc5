/**
 * Nested columns of a batch, from their decoded levels and values (encodings/nested-output.ts) into the
 * batch slot's shared memory: a padded list (loader options.pad) as `length` items per row with a length
 * and validity per row, a struct child by path as a fixed-width column whose row is null when the child
 * or any struct above it is.
 *
 *   levels ─► unravelLevels (offsets and validity per layer) ─► per row: kept items ─► slot, pad after
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { OutputDescriptor } from './messages.js';
import { compactNested, type NestedOutput, type ReadOutput } from './encodings/nested-output.js';
import { unravelLevels, type UnravelledLayer } from './encodings/unravel.js';
import { createPaddedListOutput, writeNestedRows } from './encodings/list-rows.js';
import type { FixedOutput, VariableOutput } from './encodings/output.js';

type PaddedDescriptor = Extract<OutputDescriptor, { kind: 'padded' }>;
type FixedDescriptor = Extract<OutputDescriptor, { kind: 'fixed' }>;

/**
 * Writes a list column's rows into the slot padded to `d.length` items; `rows` are the batch's row
 * offsets (what random truncation draws from with the seed and epoch), `where` names the column.
 */
export function fillPadded(d: PaddedDescriptor, out: NestedOutput, rows: Uint32Array, where: string): void {
  const slots = new Uint32Array(d.numSlots);
  for (let s = 0; s < slots.length; s++) slots[s] = s;
  writeNestedRows(out, slots, createPaddedListOutput(d, rows, out.layers), where);
}

/** Writes a struct child's values into the slot; a row is valid when the child and every struct above it are. */
export function fillStructLeaf(d: FixedDescriptor, out: NestedOutput, where: string): void {
  const { levels, values } = compactNested(out);
  const layers = unravelLevels(levels, out.layers, d.numSlots, where);
  checkRows(layers, d.numSlots, values.length === d.numSlots * d.byteWidth, where);
  new Uint8Array(d.buffer, d.byteOffset, values.length).set(values);
  if (d.validityOffset >= 0) structValidity(layers, new Uint8Array(d.buffer, d.validityOffset, d.numSlots));
}

/**
 * A variable-width struct child (utf8, binary) or a ragged list of fixed-width items as a variable-width
 * output in slot order, for the worker to put in the slot's variable-width memory like a flat string
 * column: a ragged row's value is its items' bytes, a null item's zeros. With it, a ragged list's item
 * validity (one byte per item) when some item is null, else null.
 */
export function nestedAsVariable(
  out: NestedOutput,
  numSlots: number,
  nullable: boolean,
  where: string,
): [VariableOutput, Uint8Array | null] {
  const { levels, values, valueOffsets } = compactNested(out);
  const layers = unravelLevels(levels, out.layers, numSlots, where);
  const list = layers[1];
  let bytes: (k: number) => number;
  let validity: Uint8Array | null = null;
  let itemValidity: Uint8Array | null = null;
  if (out.byteWidth !== undefined && out.layers.length === 2 && list?.offsets) {
    const w = out.byteWidth;
    const offsets = list.offsets;
    checkRows([list], numSlots, values.length === (layers[0]?.count ?? 0) * w, where);
    bytes = (k) => (offsets[k] as number) * w;
    if (nullable) validity = list.validity;
    // The bytes under a null item are whatever the writer left there.
    const items = layers[0] as UnravelledLayer;
    if (items.nullCount > 0) {
      for (let k = 0; k < items.count; k++) if (items.validity[k] === 0) values.fill(0, k * w, (k + 1) * w);
      itemValidity = items.validity.slice();
    }
  } else {
    checkRows(layers, numSlots, valueOffsets?.length === numSlots + 1, where);
    bytes = (k) => (valueOffsets as Float64Array)[k] as number;
    if (nullable) validity = structValidity(layers, new Uint8Array(numSlots));
  }
  const starts = new Float64Array(numSlots);
  const lengths = new Uint32Array(numSlots);
  for (let s = 0; s < numSlots; s++) {
    starts[s] = bytes(s);
    lengths[s] = bytes(s + 1) - bytes(s);
  }
  const output: VariableOutput = {
    kind: 'variable',
    starts,
    lengths,
    data: values,
    used: values.length,
    inOrder: true,
    lastSlot: numSlots - 1,
    validity,
    budget: undefined,
  };
  return [output, itemValidity];
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
 * Refuses a batch of a nested column (a struct child) whose fixed-size lists hold null items: such a batch
 * has no place for item validity yet, and their values would pass for numbers. `column` names the column.
 */
export function refuseNullItems(out: ReadOutput, column: string, where: string): void {
  const items = out.kind === 'nested' ? out.items?.validity.data.subarray(0, out.items.validity.used) : undefined;
  if (!items || items.indexOf(0) < 0) return;
  throw new UnsupportedError(
    `${where}: fixed_size_list items are null in this batch; the loader does not batch null items of struct children yet (read the column with dataset.take or leave it out)`,
    { column },
  );
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

/**
 * Column outputs: the caller-supplied destinations decoders write into. A take of N rows allocates one
 * output per column with N slots; decoders write slot by slot (slots need not arrive in order, so a
 * shuffled take decodes pages in file order and scatters into request order).
 *
 * - fixed width (ints, floats, dates, timestamps, fixed_size_binary, fixed_size_list, bool as one byte
 *   0/1 per row): `values` holds N × byteWidth bytes, slot i at i × byteWidth.
 * - variable width (utf8, binary and their large forms): each slot's bytes are appended to `data`
 *   (which grows by doubling) and its start and length recorded; {@link compactVariable} puts them in
 *   slot order, a copy that is skipped when slots were written in order (scans).
 * - `validity` (one byte per slot, 1 = valid) exists for nullable fields only.
 * - `itemValidity` (fixed_size_list values with null items, item-validity.ts) exists once a page has some.
 */
import { ResourceError } from '../../errors.js';
import { nativeAddon } from '../../io/native-addon.js';
import type { ItemValidity } from '../../io/plan-steps.js';
import { decodeFsst, fsstDecodedLengthBound, type FsstSymbolTable } from './fsst.js';

export interface FixedOutput {
  kind: 'fixed';
  byteWidth: number;
  values: Uint8Array;
  validity: Uint8Array | null;
  itemValidity?: ItemValidity;
}

export interface VariableOutput {
  kind: 'variable';
  starts: Float64Array;
  lengths: Uint32Array;
  data: Uint8Array;
  /** Bytes of `data` in use. */
  used: number;
  /** Whether every slot so far was appended after the previous one (no compaction needed). */
  inOrder: boolean;
  lastSlot: number;
  validity: Uint8Array | null;
  /** Bytes `data` may still grow by (shared by the outputs of one batch), or undefined for no limit. */
  budget: ScratchBudget | undefined;
}

/**
 * Memory a batch's variable-width outputs may still grow into. When doubling would pass it, `data`
 * grows to exactly what it needs; past that, growth is refused with a ResourceError (MEMORY_BUDGET).
 */
export interface ScratchBudget {
  bytesLeft: number;
  /** Where the budget comes from, for the error message. */
  source: string;
}

export type ColumnOutput = FixedOutput | VariableOutput;

export function createFixedOutput(numSlots: number, byteWidth: number, nullable: boolean): FixedOutput {
  return {
    kind: 'fixed',
    byteWidth,
    values: new Uint8Array(numSlots * byteWidth),
    validity: nullable ? new Uint8Array(numSlots).fill(1) : null,
  };
}

/**
 * An empty variable-width output; `data` is the memory to start with (reused scratch) or its size, and
 * `budget` what it may grow by.
 */
export function createVariableOutput(
  numSlots: number,
  nullable: boolean,
  data: Uint8Array | number = 1024,
  budget?: ScratchBudget,
): VariableOutput {
  return {
    kind: 'variable',
    starts: new Float64Array(numSlots),
    lengths: new Uint32Array(numSlots),
    data: typeof data === 'number' ? new Uint8Array(Math.max(16, data)) : data,
    used: 0,
    inOrder: true,
    lastSlot: -1,
    validity: nullable ? new Uint8Array(numSlots).fill(1) : null,
    budget,
  };
}

/** Reserves `length` bytes for `slot` and returns the byte offset in `out.data` to write them at. */
export function reserveVariable(out: VariableOutput, slot: number, length: number): number {
  const need = out.used + length;
  ensureCapacity(out, need);
  const at = out.used;
  out.starts[slot] = at;
  out.lengths[slot] = length;
  out.used = need;
  if (slot <= out.lastSlot) out.inOrder = false;
  out.lastSlot = slot;
  return at;
}

/** Grows `out.data` to hold `extra` more bytes than it uses, before a run of appends. */
export function reserveCapacity(out: VariableOutput, extra: number): void {
  ensureCapacity(out, out.used + extra);
}

/**
 * Grows `out.data` to exactly `extra` more bytes than it uses, when it holds less: for a caller that knows
 * the most a read can write (no doubling, so no slack left in memory handed on, e.g. to Arrow).
 */
export function reserveExactly(out: VariableOutput, extra: number): void {
  const need = out.used + extra;
  if (need <= out.data.length) return;
  const capacity = out.budget ? chargeGrowth(out.budget, out.data.length, need, need) : need;
  const grown = new Uint8Array(capacity);
  grown.set(out.data.subarray(0, out.used));
  out.data = grown;
}

/** Grows `out.data` (by doubling, within its budget) to hold at least `need` bytes. */
function ensureCapacity(out: VariableOutput, need: number): void {
  if (need <= out.data.length) return;
  let capacity = out.data.length * 2;
  while (capacity < need) capacity *= 2;
  if (out.budget) capacity = chargeGrowth(out.budget, out.data.length, capacity, need);
  const grown = new Uint8Array(capacity);
  grown.set(out.data.subarray(0, out.used));
  out.data = grown;
}

/**
 * Lengthens the value of the slot reserved last by `length` bytes and returns the byte offset in
 * `out.data` to write them at: a value written in pieces (a nested row's items, one at a time).
 */
export function extendVariable(out: VariableOutput, length: number): number {
  ensureCapacity(out, out.used + length);
  const at = out.used;
  out.used += length;
  out.lengths[out.lastSlot] = (out.lengths[out.lastSlot] as number) + length;
  return at;
}

/**
 * The length memory of `length` bytes grows to within `budget` (`wanted`, else exactly `need`), charged
 * to it; a ResourceError (MEMORY_BUDGET) when even `need` does not fit.
 */
export function chargeGrowth(budget: ScratchBudget, length: number, wanted: number, need: number): number {
  const capacity = wanted - length <= budget.bytesLeft ? wanted : need;
  if (capacity - length > budget.bytesLeft) {
    throw new ResourceError(
      'MEMORY_BUDGET',
      `decoding variable-width values needs ${capacity - length} more bytes of scratch, but ${budget.source} has ${budget.bytesLeft} left; raise memoryBytes or lower batchSize`,
      { neededBytes: capacity - length, bytesLeft: budget.bytesLeft },
    );
  }
  budget.bytesLeft -= capacity - length;
  return capacity;
}

/** Appends `src[start, end)` as the value of `slot`. */
export function appendVariable(out: VariableOutput, slot: number, src: Uint8Array, start: number, end: number): void {
  const at = reserveVariable(out, slot, end - start);
  out.data.set(src.subarray(start, end), at);
}

/** Appends the FSST decoding of `src[start, end)` as the value of `slot`, decoded straight into `out.data`. */
export function appendFsst(
  out: VariableOutput,
  slot: number,
  table: FsstSymbolTable,
  src: Uint8Array,
  start: number,
  end: number,
): void {
  const at = reserveVariable(out, slot, fsstDecodedLengthBound(end - start));
  const written = decodeFsst(table, src, start, end, out.data, at);
  out.used = at + written;
  out.lengths[slot] = written;
}

/** Marks a slot null (an empty value). */
export function setNull(out: ColumnOutput, slot: number): void {
  if (out.validity) out.validity[slot] = 0;
  if (out.kind === 'variable') reserveVariable(out, slot, 0);
}

/**
 * The variable output in slot order: end offsets per slot (n + 1 entries, first 0) and the bytes. Copies
 * the bytes once, into `into(total)` when given (always), else into fresh memory unless the slots were
 * written in order and contiguously (then the bytes are a view of `out.data`).
 *
 * With `into`, the native addon copies the values there with memmove (io/native-addon.ts,
 * native/gather.c). Without the addon, `staging(total)`, plain memory the caller reuses, is for an `into`
 * in shared memory: V8 copies into a SharedArrayBuffer word by word only when source and target offsets
 * agree mod 8, else byte by byte (far slower), and values of arbitrary lengths almost never
 * agree; so they are put in slot order in the staging memory and copied into `into` in one piece
 * (offset 0 to offset 0 always agrees).
 */
export function compactVariable(
  out: VariableOutput,
  into?: (bytes: number) => Uint8Array,
  staging?: (bytes: number) => Uint8Array,
): { offsets: Float64Array; data: Uint8Array } {
  const n = out.lengths.length;
  const offsets = new Float64Array(n + 1);
  let total = 0;
  let contiguous = out.inOrder;
  for (let i = 0; i < n; i++) {
    if (out.starts[i] !== total) contiguous = false;
    total += out.lengths[i] ?? 0;
    offsets[i + 1] = total;
  }
  if (contiguous && !into) return { offsets, data: out.data.subarray(0, total) };
  const data = into ? into(total) : new Uint8Array(total);
  if (contiguous) {
    data.set(out.data.subarray(0, total));
    return { offsets, data };
  }
  const native = into ? nativeAddon() : null;
  if (native) {
    native.gatherValues(data, out.data, out.starts, out.lengths);
    return { offsets, data };
  }
  const ordered = into && staging ? staging(total) : data;
  for (let i = 0; i < n; i++) {
    const start = out.starts[i] ?? 0;
    ordered.set(out.data.subarray(start, start + (out.lengths[i] ?? 0)), offsets[i] ?? 0);
  }
  if (ordered !== data) data.set(ordered.subarray(0, total));
  return { offsets, data };
}

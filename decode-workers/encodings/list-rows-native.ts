/**
 * The single-list rows of a mini-block page (list-rows.ts) in one call into the native addon
 * (native/list_rows.c) per decode task: levels, rows, windows and values of every group in C, written
 * straight into the output, with the same bytes as list-rows.ts decodeListChunks gives.
 *
 *   task ─► its group views, its per-group and per-chunk numbers (copied into this thread's scratch),
 *           params (kept per page layout) ─► decodeListRows
 *        ─► 0: done (state: bytes used, rows written, null items; padded: the null items' places)
 *           1: the bytes break a rule ─► false: the caller decodes in JavaScript, whose error names
 *              file, column and rows (nothing the native call wrote is kept: every row it touched is
 *              written again)
 *           2: ragged rows need more bytes, or padded rows more null places ─► grow, call again
 *
 * Random truncation draws from a seeded stream per row (list-rows.ts skippedItems) that needs the row's
 * item count: a first call counts the rows' items, JavaScript draws, the second call writes.
 * Returns false, having written nothing that stays, when the addon is absent or the page's encodings are
 * not the ones the kernel reads (levels: Rle block, Flat, InlineBitpacking or OutOfLineBitpacking of u16; values:
 * InlineBitpacking or Flat of the item width).
 */
import type { CompressiveEncodingProto, MiniBlockLayoutProto } from '../../format/proto/messages.js';
import { flatBits } from '../../format/layout.js';
import { chunkWordBytes } from '../../format/miniblock-layout.js';
import { canonicalDef } from '../../format/repdef.js';
import { nativeAddon } from '../../io/native-addon.js';
import { CHUNK_FIELDS, type DecodeTask } from '../../io/plan-steps.js';
import { skippedItems, type ListOutput } from './list-rows.js';
import { reserveCapacity } from './output.js';

/** native/list_rows.c's params, by index (its P_* enum). */
const P = {
  SizeBytes: 0,
  NumBuffers: 1,
  RepKind: 2,
  RepRun: 3,
  DefKind: 4,
  DefRun: 5,
  ValueKind: 6,
  Width: 7,
  MaxVisibleDef: 8,
  NullItemDef: 9,
  NullListDef: 10,
  Mode: 11,
  PadLength: 12,
  Truncate: 13,
  NumChunks: 14,
  Count: 15,
} as const;
const LEVELS_NONE = 0;
const LEVELS_RLE = 1;
const LEVELS_FLAT = 2;
const LEVELS_BITPACK = 3;
const LEVELS_OUT_OF_LINE = 4;
const VALUES_FLAT = 1;
const VALUES_BITPACK = 2;
const MODE_ROWS = 0;
const MODE_COUNTS = 1;
const DONE = 0;
const NEED_BYTES = 2;
const TRUNCATE = { end: 0, start: 1, random: 2 } as const;

type NestedTask = DecodeTask & { kind: 'miniblock-nested' };

/** [kind, run-length bytes or bit width] of a level encoding the kernel reads, or null. */
function levelKind(encoding: CompressiveEncodingProto | undefined): [number, number] | null {
  if (!encoding) return [LEVELS_NONE, 0];
  switch (encoding.compression) {
    case 'rle': {
      const runBits = flatBits(encoding.rle?.run_lengths);
      if (flatBits(encoding.rle?.values) !== 16 || (runBits !== 8 && runBits !== 16 && runBits !== 32)) return null;
      return [LEVELS_RLE, runBits / 8];
    }
    case 'flat':
      return flatBits(encoding) === 16 ? [LEVELS_FLAT, 0] : null;
    case 'inline_bitpacking':
      return encoding.inline_bitpacking?.uncompressed_bits_per_value === 16 ? [LEVELS_BITPACK, 0] : null;
    case 'out_of_line_bitpacking': {
      const bitWidth = flatBits(encoding.out_of_line_bitpacking?.values);
      if (encoding.out_of_line_bitpacking?.uncompressed_bits_per_value !== 16 || bitWidth === undefined) return null;
      return Number.isInteger(bitWidth) && bitWidth >= 0 && bitWidth <= 16 ? [LEVELS_OUT_OF_LINE, bitWidth] : null;
    }
    default:
      return null;
  }
}

/** The kernel's value kind for items of `width` bytes, or 0 when it does not read them. */
function valueKind(encoding: CompressiveEncodingProto | undefined, width: number): number {
  if (encoding?.compression === 'flat') return flatBits(encoding) === width * 8 ? VALUES_FLAT : 0;
  if (encoding?.compression === 'inline_bitpacking')
    return encoding.inline_bitpacking?.uncompressed_bits_per_value === width * 8 ? VALUES_BITPACK : 0;
  return 0;
}

/** The kernel's params per page layout (levels and values encodings, filled once), or null when it does not read the page. */
const layoutParams = new WeakMap<MiniBlockLayoutProto, Int32Array | null>();

/** Params of a page's layout for items of `width` bytes: a new array, or null when the kernel does not read it. */
function layoutParamsOf(layout: MiniBlockLayoutProto, width: number): Int32Array | null {
  const rep = levelKind(layout.rep_compression);
  const def = levelKind(layout.def_compression);
  // The kernel copies items of 1 to 8 bytes; wider ones (fixed_size_binary(16), …) take the JavaScript path.
  const values = width <= 8 ? valueKind(layout.value_compression, width) : 0;
  if (!rep || rep[0] === LEVELS_NONE || !def || values === 0 || layout.num_buffers < 1) return null;
  const params = new Int32Array(P.Count);
  params[P.SizeBytes] = chunkWordBytes(layout);
  params[P.NumBuffers] = layout.num_buffers;
  [params[P.RepKind], params[P.RepRun]] = rep;
  [params[P.DefKind], params[P.DefRun]] = def;
  params[P.ValueKind] = values;
  params[P.Width] = width;
  return params;
}

/**
 * The kernel's params for `task` and `out`, or null when it does not read the page. The array is the
 * layout's, kept across tasks: its output fields are set again on every call.
 */
function paramsOf(task: NestedTask, out: ListOutput): Int32Array | null {
  const layout: MiniBlockLayoutProto = task.layout;
  let params = layoutParams.get(layout);
  if (params === undefined || (params !== null && params[P.Width] !== out.byteWidth)) {
    params = layoutParamsOf(layout, out.byteWidth);
    layoutParams.set(layout, params);
  }
  if (!params) return null;
  params[P.MaxVisibleDef] = task.levels.maxVisibleDef;
  params[P.NullItemDef] = canonicalDef(out.layers, 0, 'null');
  params[P.NullListDef] = canonicalDef(out.layers, 1, 'null');
  params[P.PadLength] = out.padded ? out.padded.target.length : -1;
  params[P.Truncate] = out.padded ? TRUNCATE[out.padded.target.truncate] : 0;
  params[P.Mode] = MODE_ROWS;
  return params;
}

/** A task's group numbers then chunk numbers, as the kernel reads them; grown, kept across calls. */
let info = new Float64Array(1024);
/** The kernel's in/out state (its six numbers), kept across calls. */
const state = new Float64Array(6);
/** Per row of a task: counts, or the items a random truncation skips; grown, kept across calls. */
let perRow = new Int32Array(256);
/** Null places (item indexes) a padded call writes; grown when a task has more, kept across calls. */
let nullPlaces = new Float64Array(64);

/**
 * Writes the rows of a single-list mini-block task into `out` natively; false when the addon is absent,
 * the page is not one the kernel reads, or its bytes break a rule (then the caller's JavaScript path
 * decodes it and names the fault).
 */
export function decodeListRowsNative(task: NestedTask, out: ListOutput): boolean {
  const addon = nativeAddon();
  const { rows, slots, levels } = task;
  // An addon built from older sources (LANCE_LOADER_NATIVE_ADDON) lacks the kernel.
  if (typeof addon?.decodeListRows !== 'function' || task.dictionary || levels.maxRep !== 1) return false;
  for (let i = 1; i < rows.length; i++) if ((rows[i] as number) < (rows[i - 1] as number)) return false;
  const params = paramsOf(task, out);
  if (!params) return false;
  if (perRow.length < rows.length) perRow = new Int32Array(Math.max(rows.length, 2 * perRow.length));
  const { views, chunks, groups } = task;
  const size = groups.length + chunks.length;
  if (info.length < size) info = new Float64Array(Math.max(size, 2 * info.length));
  for (let i = 0; i < groups.length; i++) info[i] = groups[i] as number;
  for (let i = 0; i < chunks.length; i++) info[groups.length + i] = chunks[i] as number;
  params[P.NumChunks] = chunks.length / CHUNK_FIELDS;
  const defMap = levels.defMap;
  const padded = out.padded;
  if (!padded) return decodeRagged(addon, task, out, params);
  const outputs = [padded.values, padded.lengths, padded.validity, padded.target.padBytes, nullPlaces];
  if (padded.target.truncate === 'random') {
    params[P.Mode] = MODE_COUNTS;
    if (addon.decodeListRows(views, info, rows, slots, params, defMap, perRow, outputs, state) !== DONE) return false;
    for (let i = 0; i < rows.length; i++) perRow[i] = skippedItems(out, slots[i] as number, perRow[i] as number);
    params[P.Mode] = MODE_ROWS;
  }
  for (;;) {
    state[4] = out.written;
    state[5] = out.nullItems;
    const code = addon.decodeListRows(views, info, rows, slots, params, defMap, perRow, outputs, state);
    if (code === NEED_BYTES) {
      // More null items than places: rows written again are written the same.
      nullPlaces = new Float64Array(2 * nullPlaces.length);
      outputs[4] = nullPlaces;
      continue;
    }
    if (code !== DONE) return false;
    const written = (state[5] as number) - out.nullItems;
    for (let q = 0; q < written; q++) padded.nullPlaces.push(nullPlaces[q] as number);
    out.written = state[4] as number;
    out.nullItems = state[5] as number;
    return true;
  }
}

/** Ragged rows: bytes reserved for the wanted rows, doubled and the call repeated while the kernel needs more. */
function decodeRagged(
  addon: NonNullable<ReturnType<typeof nativeAddon>>,
  task: NestedTask,
  out: ListOutput,
  params: Int32Array,
): boolean {
  const ragged = out.ragged;
  const itemValidity = out.itemValidity;
  if (!ragged) return false;
  const { views, chunks, rows, slots } = task;
  let items = 0;
  let chunkRows = 0;
  for (let c = 0; c < chunks.length; c += CHUNK_FIELDS) {
    items += chunks[c + 2] as number;
    chunkRows += chunks[c + 3] as number;
  }
  // The wanted rows at the chunks' mean row length, not every item of the chunks: a shuffled batch wants
  // about one row of each chunk. A row longer than that asks for more (NEED_BYTES).
  const wantedItems = Math.min(items, Math.ceil((items / Math.max(1, chunkRows)) * rows.length));
  for (let reserve = Math.max(1, wantedItems); ; reserve *= 2) {
    reserveCapacity(ragged, reserve * out.byteWidth);
    if (itemValidity) reserveCapacity(itemValidity, reserve);
    state[0] = ragged.used;
    state[1] = itemValidity ? itemValidity.used : 0;
    state[2] = ragged.lastSlot;
    state[3] = ragged.inOrder ? 1 : 0;
    state[4] = out.written;
    state[5] = out.nullItems;
    const outputs = [
      ragged.data,
      ragged.starts,
      ragged.lengths,
      ragged.validity,
      itemValidity?.data ?? null,
      itemValidity?.starts ?? null,
      itemValidity?.lengths ?? null,
    ];
    const code = addon.decodeListRows(views, info, rows, slots, params, task.levels.defMap, perRow, outputs, state);
    if (code === NEED_BYTES) continue;
    if (code !== DONE) return false;
    ragged.used = state[0] as number;
    ragged.lastSlot = state[2] as number;
    ragged.inOrder = state[3] === 1;
    if (itemValidity) {
      // Reserved row by row beside the bytes, so its slot order is theirs.
      itemValidity.used = state[1] as number;
      itemValidity.lastSlot = ragged.lastSlot;
      itemValidity.inOrder = ragged.inOrder;
    }
    out.written = state[4] as number;
    out.nullItems = state[5] as number;
    return true;
  }
}

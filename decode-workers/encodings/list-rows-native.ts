/**
 * The single-list rows of a mini-block page (list-rows.ts) in one call into the native addon
 * (native/list_rows.c) per decode task: levels, rows, windows and values of every group in C, written
 * straight into the output, with the same bytes as list-rows.ts decodeListChunks gives.
 *
 *   task ─► chunk views, per-chunk and per-group numbers, params (typed arrays) ─► decodeListRows
 *        ─► 0: done (state: bytes used, rows written, null items)
 *           1: the bytes break a rule ─► false: the caller decodes in JavaScript, whose error names
 *              file, column and rows (nothing the native call wrote is kept: every row it touched is
 *              written again)
 *           2: ragged rows need more bytes ─► grow, call again
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
import type { DecodeTask } from '../../io/plan-steps.js';
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
  Count: 14,
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

/** The kernel's params for `layout` and `out`, or null when it does not read the page. */
function paramsOf(task: NestedTask, out: ListOutput): Int32Array | null {
  const layout: MiniBlockLayoutProto = task.layout;
  const rep = levelKind(layout.rep_compression);
  const def = levelKind(layout.def_compression);
  // The kernel copies items of 1 to 8 bytes; wider ones (fixed_size_binary(16), …) take the JavaScript path.
  const values = out.byteWidth <= 8 ? valueKind(layout.value_compression, out.byteWidth) : 0;
  if (!rep || rep[0] === LEVELS_NONE || !def || values === 0 || layout.num_buffers < 1) return null;
  const params = new Int32Array(P.Count);
  params[P.SizeBytes] = chunkWordBytes(layout);
  params[P.NumBuffers] = layout.num_buffers;
  [params[P.RepKind], params[P.RepRun]] = rep;
  [params[P.DefKind], params[P.DefRun]] = def;
  params[P.ValueKind] = values;
  params[P.Width] = out.byteWidth;
  params[P.MaxVisibleDef] = task.levels.maxVisibleDef;
  params[P.NullItemDef] = canonicalDef(out.layers, 0, 'null');
  params[P.NullListDef] = canonicalDef(out.layers, 1, 'null');
  params[P.PadLength] = out.padded ? out.padded.target.length : -1;
  params[P.Truncate] = out.padded ? TRUNCATE[out.padded.target.truncate] : 0;
  return params;
}

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
  const chunks: Uint8Array[] = [];
  const groupInfo = new Float64Array(4 * task.groups.length);
  let items = 0;
  let chunkRows = 0;
  for (let g = 0; g < task.groups.length; g++) {
    const group = task.groups[g] as NestedTask['groups'][number];
    groupInfo[4 * g] = group.firstRow;
    groupInfo[4 * g + 1] = group.from;
    groupInfo[4 * g + 2] = group.to;
    groupInfo[4 * g + 3] = group.chunks.length;
    for (const chunk of group.chunks) chunks.push(chunk.bytes);
  }
  const chunkInfo = new Float64Array(2 * chunks.length);
  let c = 0;
  for (const group of task.groups)
    for (const chunk of group.chunks) {
      chunkInfo[c++] = chunk.itemCount;
      chunkInfo[c++] = chunk.rowStarts;
      items += chunk.itemCount;
      chunkRows += chunk.rowStarts;
    }
  const defMap = levels.defMap;
  const perRow = new Int32Array(rows.length);
  const state = new Float64Array(6);
  if (out.padded?.target.truncate === 'random') {
    params[P.Mode] = MODE_COUNTS;
    const outputs = paddedOutputs(out);
    if (
      addon.decodeListRows(chunks, chunkInfo, groupInfo, rows, slots, params, defMap, perRow, outputs, state) !== DONE
    )
      return false;
    for (let i = 0; i < rows.length; i++) perRow[i] = skippedItems(out, slots[i] as number, perRow[i] as number);
    params[P.Mode] = MODE_ROWS;
  }
  if (out.padded) {
    state[4] = out.written;
    state[5] = out.nullItems;
    const outputs = paddedOutputs(out);
    if (
      addon.decodeListRows(chunks, chunkInfo, groupInfo, rows, slots, params, defMap, perRow, outputs, state) !== DONE
    )
      return false;
    // The kernel pads null items but keeps no places for them; the JavaScript writer records those for
    // the batch's item validity, so a task that met one is written again by it.
    if (state[5] !== out.nullItems) return false;
    out.written = state[4] as number;
    out.nullItems = state[5] as number;
    return true;
  }
  // The wanted rows at the chunks' mean row length, not every item of the chunks: a shuffled batch wants
  // about one row of each chunk. A row longer than that asks for more (NEED_BYTES).
  const wantedItems = Math.min(items, Math.ceil((items / Math.max(1, chunkRows)) * rows.length));
  return decodeRagged(addon, task, out, [chunks, chunkInfo, groupInfo, params, perRow, state], wantedItems);
}

function paddedOutputs(out: ListOutput): (Uint8Array | Int32Array | null)[] {
  const padded = out.padded as NonNullable<ListOutput['padded']>;
  return [padded.values, padded.lengths, padded.validity, padded.target.padBytes];
}

/** Ragged rows: bytes reserved for `items` items, doubled and the call repeated while the kernel needs more. */
function decodeRagged(
  addon: NonNullable<ReturnType<typeof nativeAddon>>,
  task: NestedTask,
  out: ListOutput,
  [chunks, chunkInfo, groupInfo, params, perRow, state]: [
    Uint8Array[],
    Float64Array,
    Float64Array,
    Int32Array,
    Int32Array,
    Float64Array,
  ],
  items: number,
): boolean {
  const ragged = out.ragged;
  const itemValidity = out.itemValidity;
  if (!ragged) return false;
  for (let reserve = Math.max(1, items); ; reserve *= 2) {
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
    const code = addon.decodeListRows(
      chunks,
      chunkInfo,
      groupInfo,
      task.rows,
      task.slots,
      params,
      task.levels.defMap,
      perRow,
      outputs,
      state,
    );
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

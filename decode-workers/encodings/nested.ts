/**
 * Decoding rows of nested columns' pages (lists, structs) into a {@link NestedOutput}: each row's level
 * entries, in the column's canonical numbering (format/repdef.ts), and the values of its visible entries.
 *
 *   mini-block:  chunks of a group are decoded and joined; rows start at entries whose repetition level
 *                is maxRep (every entry without lists), and items before the first such entry (a
 *                preamble) belong to a row of an earlier chunk
 *   full-zip:    a row's bytes (by its repetition index entries, or by stride) hold its entries:
 *                [control word] then, for a visible entry, its value (fixed: every one, nulls zeroed;
 *                variable: u32|u64 length and bytes for valid entries only)
 *   constant:    the page's levels; visible entries are the page's value, or null (all-null pages)
 *
 * Every count a row's levels imply is checked against what the page holds (values per chunk, row starts
 * per chunk against the repetition index, bytes per row), so corrupt levels end in a CorruptFileError
 * naming the rows, never in values taken from another row.
 */
import { CorruptFileError } from '../../errors.js';
import { flatBits } from '../../format/layout.js';
import type { CompressiveEncodingProto } from '../../format/proto/messages.js';
import { canonicalDef, type PageLevels } from '../../format/repdef.js';
import { chunkGroupsOf, type DecodeTask, type NestedChunkGroup } from '../../io/plan-steps.js';
import { decompressBuffer } from './compression.js';
import { decodeFsst, fsstDecodedLengthBound, type FsstSymbolTable } from './fsst.js';
import { MAX_VALUE_BYTES, readControl, variableCodec, type VariableCodec } from './fullzip.js';
import { controlWordBytes, fixedValueBytes, zippedItemValidity } from '../../format/fullzip-layout.js';
import { expandBitmap } from './item-validity.js';
import { decodeMiniBlockChunk } from './miniblock.js';
import { constantValue } from './constant.js';
import {
  appendLevels,
  beginRow,
  pushFixedValues,
  pushLevel,
  pushNullValue,
  pushVariableValue,
  reserveRows,
  reserveValueBytes,
  trimValue,
  type NestedOutput,
} from './nested-output.js';
import { createFixedOutput, createVariableOutput, type ColumnOutput } from './output.js';
import { runV20Task } from './v20.js';
import { decodeLevels, naming, type DecodedValues } from './values.js';

type Task<K extends DecodeTask['kind']> = DecodeTask & { kind: K };

/** Level entries of a run of rows: rep and def per entry (null: all 0), and where each row starts. */
interface Entries {
  rep: Uint16Array | null;
  def: Uint16Array | null;
  /** Entry index of each row's first entry (rows + 1, the last = the entries' end). */
  rowEntry: Int32Array;
  /** Index of each row's first value among the values (rows + 1). */
  rowValue: Int32Array;
  rows: number;
}

/** Appends a row's entries [from, to) to `out`, canonical levels (checked by indexEntries). */
function pushLevels(out: NestedOutput, levels: PageLevels, entries: Entries, from: number, to: number): void {
  const { rep, def } = entries;
  const { defMap } = levels;
  const words = appendLevels(out, to - from);
  const n = to - from;
  const def0 = defMap[0] as number;
  for (let k = 0; k < n; k++) {
    words[2 * k] = rep ? (rep[from + k] as number) : 0;
    words[2 * k + 1] = def ? (defMap[def[from + k] as number] as number) : def0;
  }
}

/**
 * Finds row starts among `count` entries and checks the levels against the page's layers: `rowStarts[c]`
 * rows must start among the entries of chunk c ([chunkEntries[c], chunkEntries[c + 1])) and `items[c]`
 * of them must be visible.
 */
function indexEntries(
  rep: Uint16Array | null,
  def: Uint16Array | null,
  count: number,
  levels: PageLevels,
  chunkEntries: number[],
  rowStarts: number[],
  items: number[],
  where: string,
): Entries {
  const { maxRep, maxVisibleDef, defMap } = levels;
  // Sized by the rows the page index promises: a chunk with more row starts is refused below (the
  // writes past the end that precede that are dropped), so corrupt levels cannot grow these.
  let promised = 0;
  for (const starts of rowStarts) promised += starts;
  const rowEntry = new Int32Array(Math.min(promised, count) + 1);
  const rowValue = new Int32Array(rowEntry.length);
  let rows = 0;
  let values = 0;
  for (let c = 0; c + 1 < chunkEntries.length; c++) {
    let starts = 0;
    let visible = 0;
    for (let e = chunkEntries[c] as number; e < (chunkEntries[c + 1] as number); e++) {
      const r = rep ? (rep[e] as number) : maxRep;
      const d = def ? (def[e] as number) : 0;
      if (r > maxRep || d >= defMap.length)
        throw new CorruptFileError(
          `${where}: level entry ${e} (rep ${r}, def ${d}) is out of range for the page's layers`,
        );
      if (r === maxRep) {
        rowEntry[rows] = e;
        rowValue[rows] = values + visible;
        rows++;
        starts++;
      }
      if (d <= maxVisibleDef) visible++;
    }
    if (starts !== rowStarts[c] || visible !== items[c]) {
      throw new CorruptFileError(
        `${where}: chunk ${c} of the read has ${starts} row starts and ${visible} values in its levels, its page index says ${rowStarts[c]} and ${items[c]}`,
      );
    }
    values += visible;
  }
  rowEntry[rows] = count;
  rowValue[rows] = values;
  return { rep, def, rowEntry, rowValue, rows };
}

function joinLevels(parts: (Uint16Array | null)[], total: number): Uint16Array | null {
  if (parts.every((p) => p === null)) return null;
  if (parts.length === 1) return parts[0] as Uint16Array;
  const out = new Uint16Array(total);
  let at = 0;
  for (const part of parts) {
    if (part) out.set(part, at);
    at += part?.length ?? 0;
  }
  return out;
}

function joinValues(parts: DecodedValues[]): DecodedValues {
  if (parts.length === 1) return parts[0] as DecodedValues;
  const first = parts[0] as DecodedValues;
  const count = parts.reduce((sum, p) => sum + p.count, 0);
  if (first.kind === 'fixed') {
    const fixed = parts as (DecodedValues & { kind: 'fixed' })[];
    const bytes = new Uint8Array(count * first.byteWidth);
    let at = 0;
    for (const p of fixed) {
      bytes.set(p.bytes.subarray(0, p.count * first.byteWidth), at);
      at += p.count * first.byteWidth;
    }
    const joined: DecodedValues = { kind: 'fixed', byteWidth: first.byteWidth, bytes, count };
    const perValue = fixed.find((p) => p.itemValidity)?.itemValidity?.perValue;
    if (perValue !== undefined) joined.itemValidity = { perValue, bytes: joinItemValidity(fixed, perValue, count) };
    return joined;
  }
  const variable = parts as (DecodedValues & { kind: 'variable' })[];
  const offsets = new Uint32Array(count + 1);
  const data = new Uint8Array(
    variable.reduce((sum, p) => sum + ((p.offsets[p.count] as number) - (p.offsets[0] as number)), 0),
  );
  let item = 0;
  let at = 0;
  for (const p of variable) {
    const base = p.offsets[0] as number;
    for (let i = 1; i <= p.count; i++) offsets[item + i] = at + (p.offsets[i] as number) - base;
    data.set(p.data.subarray(base, p.offsets[p.count] as number), at);
    at += (p.offsets[p.count] as number) - base;
    item += p.count;
  }
  const joined: DecodedValues = { kind: 'variable', offsets, data, count };
  if (first.fsst) joined.fsst = first.fsst;
  return joined;
}

/** The item validity of chunks' fixed-size lists, joined (a chunk without any: all valid). */
function joinItemValidity(parts: (DecodedValues & { kind: 'fixed' })[], perValue: number, count: number): Uint8Array {
  const out = new Uint8Array(count * perValue).fill(1);
  let at = 0;
  for (const p of parts) {
    const items = p.itemValidity;
    if (items && items.perValue !== perValue)
      throw new CorruptFileError(`chunks of one page hold ${items.perValue} and ${perValue} items per value`);
    if (items) out.set(items.bytes.subarray(0, p.count * perValue), at);
    at += p.count * perValue;
  }
  return out;
}

/** Appends variable-width value `src[start, end)`, expanding FSST when the page's values use it. */
function pushStoredValue(
  out: NestedOutput,
  src: Uint8Array,
  start: number,
  end: number,
  fsst: FsstSymbolTable | undefined,
): void {
  if (!fsst) {
    pushVariableValue(out, src, start, end);
    return;
  }
  const at = reserveValueBytes(out, fsstDecodedLengthBound(end - start));
  trimValue(out, at, decodeFsst(fsst, src, start, end, out.values.data, at));
}

function dictionaryIndex(indices: DecodedValues & { kind: 'fixed' }, item: number): number {
  const b = indices.bytes;
  const at = item * indices.byteWidth;
  switch (indices.byteWidth) {
    case 1:
      return b[at] as number;
    case 2:
      return (b[at] as number) | ((b[at + 1] as number) << 8);
    case 4:
      return (
        ((b[at] as number) |
          ((b[at + 1] as number) << 8) |
          ((b[at + 2] as number) << 16) |
          ((b[at + 3] as number) << 24)) >>>
        0
      );
    default:
      return Number(new DataView(b.buffer, b.byteOffset + at, 8).getBigUint64(0, true));
  }
}

/** Appends the values of a row's visible entries [from, to) (values from `value` on). */
function pushChunkValues(
  out: NestedOutput,
  levels: PageLevels,
  entries: Entries,
  from: number,
  to: number,
  value: number,
  values: DecodedValues,
  dictionary: DecodedValues | null,
  where: string,
): void {
  const { def } = entries;
  const width = out.byteWidth;
  if (!dictionary && values.kind === 'fixed') {
    if (width !== values.byteWidth)
      throw new CorruptFileError(
        `${where}: page values are ${values.byteWidth} bytes wide, the column's type needs ${width ?? 'variable width'}`,
      );
    let visible = 0;
    for (let e = from; e < to; e++) if ((def ? (def[e] as number) : 0) <= levels.maxVisibleDef) visible++;
    pushFixedValues(out, values.bytes, value * width, (value + visible) * width, values.itemValidity, value);
    return;
  }
  if (dictionary && values.kind !== 'fixed')
    throw new CorruptFileError(`${where}: dictionary indices are not fixed-width`);
  const source = dictionary ?? values;
  if ((source.kind === 'fixed') !== (width !== undefined) || (source.kind === 'fixed' && source.byteWidth !== width))
    throw new CorruptFileError(`${where}: page values do not match the column's type`);
  let v = value;
  for (let e = from; e < to; e++) {
    const d = def ? (def[e] as number) : 0;
    if (d > levels.maxVisibleDef) continue;
    let item = v++;
    if (d !== 0) {
      pushNullValue(out);
      continue;
    }
    if (dictionary) {
      item = dictionaryIndex(values as DecodedValues & { kind: 'fixed' }, item);
      if (item >= dictionary.count)
        throw new CorruptFileError(`${where}: dictionary index ${item} is out of range (${dictionary.count} items)`);
    }
    if (source.kind === 'fixed')
      pushFixedValues(out, source.bytes, item * source.byteWidth, (item + 1) * source.byteWidth);
    else
      pushStoredValue(
        out,
        source.data,
        source.offsets[item] as number,
        source.offsets[item + 1] as number,
        source.fsst,
      );
  }
}

/** Grows `out` once for the group's rows (their entries and, for fixed width, values) instead of per row. */
function reserveGroupRows(
  out: NestedOutput,
  entries: Entries,
  rows: Uint32Array,
  group: NestedChunkGroup,
  values: DecodedValues,
): void {
  let levels = 0;
  let items = 0;
  for (let i = group.from; i < group.to; i++) {
    const k = (rows[i] as number) - group.firstRow;
    if (k < 0 || k >= entries.rows) return; // reported by the row loop
    levels += (entries.rowEntry[k + 1] as number) - (entries.rowEntry[k] as number);
    items += (entries.rowValue[k + 1] as number) - (entries.rowValue[k] as number);
  }
  reserveRows(out, levels, values.kind === 'fixed' && out.byteWidth !== undefined ? items * out.byteWidth : 0);
}

/** Rows of a mini-block page of a nested column, group by group. */
export function gatherNestedChunks(
  task: Task<'miniblock-nested'>,
  dictionary: DecodedValues | null,
  out: NestedOutput,
): void {
  const { layout, levels, rows, slots } = task;
  for (const group of chunkGroupsOf(task)) {
    const where = `${task.where} chunks from row ${group.firstRow}`;
    const reps: (Uint16Array | null)[] = [];
    const defs: (Uint16Array | null)[] = [];
    const parts: DecodedValues[] = [];
    const chunkEntries = [0];
    let total = 0;
    for (const chunk of group.chunks) {
      const decoded = naming(where, () => decodeMiniBlockChunk(layout, chunk.bytes, chunk.itemCount, where));
      const count = decoded.rep?.length ?? decoded.def?.length ?? chunk.itemCount;
      reps.push(decoded.rep);
      defs.push(decoded.def);
      parts.push(decoded.values);
      total += count;
      chunkEntries.push(total);
    }
    const entries = indexEntries(
      joinLevels(reps, total),
      joinLevels(defs, total),
      total,
      levels,
      chunkEntries,
      group.chunks.map((c) => c.rowStarts),
      group.chunks.map((c) => c.itemCount),
      where,
    );
    const values = joinValues(parts);
    reserveGroupRows(out, entries, rows, group, values);
    for (let i = group.from; i < group.to; i++) {
      const k = (rows[i] as number) - group.firstRow;
      if (k < 0 || k >= entries.rows)
        throw new CorruptFileError(`${where}: row ${rows[i]} is not among the ${entries.rows} rows its chunks hold`, {
          row: rows[i],
        });
      const from = entries.rowEntry[k] as number;
      const to = entries.rowEntry[k + 1] as number;
      beginRow(out, slots[i] as number);
      pushLevels(out, levels, entries, from, to);
      pushChunkValues(
        out,
        levels,
        entries,
        from,
        to,
        entries.rowValue[k] as number,
        values,
        dictionary,
        `${where} row ${rows[i]}`,
      );
    }
  }
}

/** Appends one zipped variable-width value (per-value zstd or FSST when the page uses them). */
function pushZippedValue(out: NestedOutput, codec: VariableCodec, bytes: Uint8Array, start: number, end: number): void {
  if (codec.kind === 'zstd') {
    const value = decompressBuffer('zstd', bytes.subarray(start, end), MAX_VALUE_BYTES);
    pushVariableValue(out, value, 0, value.length);
  } else {
    pushStoredValue(out, bytes, start, end, codec.kind === 'fsst' ? codec.table : undefined);
  }
}

/** Rows of a full-zip page of a nested column. */
export function decodeFullZipNested(task: Task<'fullzip-nested'>, out: NestedOutput): void {
  const { layout, levels, rows, slots } = task;
  const ctrl = controlWordBytes(layout);
  const defMask = (1 << layout.bits_def) - 1;
  const zipped = layout.details === 'bits_per_value' ? fixedValueBytes(layout, task.where) : undefined;
  const items = zipped === undefined ? null : zippedItemValidity(layout, task.where);
  const fixed = zipped === undefined ? undefined : zipped - (items?.bytes ?? 0);
  const itemBytes = items ? new Uint8Array(items.perValue) : null;
  if (fixed !== out.byteWidth)
    throw new CorruptFileError(`${task.where}: full-zip values do not match the column's type`);
  const lengthBytes = (layout.bits_per_offset ?? 32) / 8;
  const codec = fixed === undefined ? variableCodec(layout.value_compression, task.where) : null;
  for (const span of task.spans) {
    const bytes = span.bytes;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const base = span.index ? (span.index[0] as number) : 0;
    for (let i = span.from; i < span.to; i++) {
      const row = rows[i] as number;
      const where = `${task.where} row ${row}`;
      const r = row - span.firstRow;
      const start = span.index ? (span.index[r] as number) - base : r * (ctrl + (zipped as number));
      const end = span.index ? (span.index[r + 1] as number) - base : start + ctrl + (zipped as number);
      if (end > bytes.length || start >= end)
        throw new CorruptFileError(`${where}: spans bytes ${start}..${end} of a ${bytes.length}-byte read`);
      beginRow(out, slots[i] as number);
      let at = start;
      for (let e = 0; at < end; e++) {
        const word = ctrl > 0 ? readControl(bytes, at, ctrl) : 0;
        at += ctrl;
        const rep = ctrl > 0 ? word >>> layout.bits_def : levels.maxRep;
        const def = word & defMask;
        if ((e === 0) !== (rep === levels.maxRep) || rep > levels.maxRep || def >= levels.defMap.length || at > end)
          throw new CorruptFileError(
            `${where}: control word ${e} (rep ${rep}, def ${def}) does not fit the row's levels`,
          );
        pushLevel(out, rep, levels.defMap[def] as number);
        if (def > levels.maxVisibleDef) continue;
        if (fixed !== undefined) {
          const lead = items?.bytes ?? 0;
          if (at + lead + fixed > end)
            throw new CorruptFileError(`${where}: a value runs past the row's ${end - start} bytes`);
          if (items && itemBytes) {
            expandBitmap(bytes, at * 8, items.perValue, itemBytes, 0);
            pushFixedValues(out, bytes, at + lead, at + lead + fixed, { perValue: items.perValue, bytes: itemBytes });
          } else {
            pushFixedValues(out, bytes, at, at + fixed);
          }
          at += lead + fixed;
        } else if (def !== 0) {
          pushNullValue(out);
        } else {
          if (at + lengthBytes > end)
            throw new CorruptFileError(`${where}: a length runs past the row's ${end - start} bytes`);
          const length = lengthBytes === 4 ? view.getUint32(at, true) : Number(view.getBigUint64(at, true));
          at += lengthBytes;
          if (at + length > end)
            throw new CorruptFileError(`${where}: a ${length}-byte value runs past the row's ${end - start} bytes`);
          pushZippedValue(out, codec as VariableCodec, bytes, at, at + length);
          at += length;
        }
      }
    }
  }
}

/** A constant page's rep or def levels: raw u16 (2.1), or compressed as one block (2.2). */
function pageLevelsOf(
  bytes: Uint8Array | null,
  compression: CompressiveEncodingProto | undefined,
  numLevels: number,
  where: string,
): Uint16Array | null {
  if (!bytes) return null;
  if (compression && flatBits(compression) !== 16) {
    if (numLevels === 0) throw new CorruptFileError(`${where}: compressed levels without a level count`);
    return decodeLevels(compression, bytes, numLevels, where);
  }
  if (bytes.length % 2 !== 0)
    throw new CorruptFileError(`${where}: a level buffer of ${bytes.length} bytes (u16 levels)`);
  return bytes.byteOffset % 2 === 0
    ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
    : new Uint16Array(bytes.slice().buffer);
}

/**
 * Rows of a constant or all-null page of a nested column: levels, and for each visible entry the page's
 * value (valid) or a null value.
 */
export function decodeConstantNested(task: Task<'constant-nested'>, out: NestedOutput): void {
  const { levels, rows, slots, where } = task;
  const rep = pageLevelsOf(task.rep, task.repCompression, task.numRep, `${where} repetition levels`);
  const def = pageLevelsOf(task.def, task.defCompression, task.numDef, `${where} definition levels`);
  if ((levels.maxRep > 0 && !rep) || (rep && def && rep.length !== def.length))
    throw new CorruptFileError(
      `${where}: constant page with ${rep?.length ?? 0} repetition and ${def?.length ?? 0} definition levels`,
    );
  const value = task.valueBuffer ? constantValue(task.valueBuffer, where) : task.inlineValue;
  const width = out.byteWidth;
  if (value && width !== undefined && value.length < width)
    throw new CorruptFileError(`${where}: constant value is ${value.length} bytes, the column's type needs ${width}`);
  const count = rep?.length ?? def?.length ?? task.numRows;
  const entries = indexEntries(
    rep,
    def,
    count,
    levels,
    [0, count],
    [task.numRows],
    [countVisible(def, count, levels)],
    where,
  );
  for (let i = 0; i < rows.length; i++) {
    const k = rows[i] as number;
    if (k >= entries.rows)
      throw new CorruptFileError(`${where}: row ${k} is not among the page's ${entries.rows} rows`, { row: k });
    const from = entries.rowEntry[k] as number;
    const to = entries.rowEntry[k + 1] as number;
    beginRow(out, slots[i] as number);
    pushLevels(out, levels, entries, from, to);
    for (let e = from; e < to; e++) {
      const d = def ? (def[e] as number) : 0;
      if (d > levels.maxVisibleDef) continue;
      if (d !== 0) pushNullValue(out);
      else if (!value) throw new CorruptFileError(`${where}: row ${k} has a valid value on an all-null page`);
      else if (width !== undefined) pushFixedValues(out, value, 0, width);
      else pushVariableValue(out, value, 0, value.length);
    }
  }
}

function countVisible(def: Uint16Array | null, count: number, levels: PageLevels): number {
  if (!def) return count;
  let visible = 0;
  for (let e = 0; e < count; e++) if ((def[e] as number) <= levels.maxVisibleDef) visible++;
  return visible;
}

/** Null rows (a fragment without the column): one entry each, null at the outermost layer. */
export function fillNullRows(out: NestedOutput, slots: Uint32Array): void {
  const maxRep = out.layers.filter((kind) => kind === 'list').length;
  const def = canonicalDef(out.layers, out.layers.length - 1, 'null');
  for (let i = 0; i < slots.length; i++) {
    beginRow(out, slots[i] as number);
    pushLevel(out, maxRep, def);
  }
}

/** A flat scratch output of `n` slots for a nested output's leaf values. */
export function createLeafScratch(out: NestedOutput, n: number): ColumnOutput {
  return out.byteWidth === undefined ? createVariableOutput(n, true) : createFixedOutput(n, out.byteWidth, true);
}

/** Appends the leaf entry of scratch slot `i` at repetition level `rep`: its value, or a null item. */
function pushScratchItem(out: NestedOutput, scratch: ColumnOutput, i: number, rep: number): void {
  const valid = scratch.validity?.[i] !== 0;
  pushLevel(out, rep, valid ? 0 : 1);
  if (!valid) pushNullValue(out);
  else if (scratch.kind === 'fixed')
    pushFixedValues(out, scratch.values, i * scratch.byteWidth, (i + 1) * scratch.byteWidth, scratch.itemValidity, i);
  else {
    const start = scratch.starts[i] as number;
    pushVariableValue(out, scratch.data, start, start + (scratch.lengths[i] as number));
  }
}

/**
 * Rows of a 2.0 page of a struct's leaf, which 2.0 stores as a plain column of the struct's rows (no
 * struct validity): decoded as a flat column into scratch of the task's rows, then one entry per row,
 * null at the leaf where its value is.
 */
export function struct20Rows(task: Task<'v2.0'>, out: NestedOutput): void {
  const n = task.slots.length;
  const local = new Uint32Array(n);
  for (let i = 0; i < n; i++) local[i] = i;
  const scratch = createLeafScratch(out, n);
  runV20Task(task.shape, task.buffers, task.rows, local, scratch, task.where);
  for (let i = 0; i < n; i++) {
    beginRow(out, task.slots[i] as number);
    pushScratchItem(out, scratch, i, 0);
  }
}

/**
 * Rows of a 2.0 leaf under lists (io/v20-nested-plan.ts), its items already decoded into `scratch`: each
 * row's entries are walked down its list levels, outermost first.
 */
export function list20Rows(task: Task<'v2.0-nested'>, scratch: ColumnOutput, out: NestedOutput): void {
  const { path, levels, layers } = { ...task, layers: out.layers };
  if (layers.length !== path.length + 1)
    throw new CorruptFileError(`${task.where}: ${path.length} columns above a leaf of ${layers.length} layers`);
  const maxRep = path.filter((kind) => kind === 'list').length;
  const emit = (d: number, level: number, pos: number, rep: number): void => {
    const kind = path[d];
    if (kind === undefined) return pushScratchItem(out, scratch, pos, rep);
    if (kind === 'struct') return emit(d + 1, level, pos, rep);
    const list = levels[level];
    if (!list) throw new CorruptFileError(`${task.where}: list level ${level} was not read`);
    const layer = layers.length - 1 - d;
    const count = list.count[pos] as number;
    if (list.nulls[pos] === 1 || count === 0) {
      pushLevel(out, rep, canonicalDef(layers, layer, list.nulls[pos] === 1 ? 'null' : 'empty'));
      return;
    }
    const first = list.position[pos] as number;
    const number = maxRep - level;
    for (let k = 0; k < count; k++) emit(d + 1, level + 1, first + k, k === 0 ? rep : number - 1);
  };
  for (let i = 0; i < task.slots.length; i++) {
    beginRow(out, task.slots[i] as number);
    emit(0, 0, task.rowIndex[i] as number, maxRep);
  }
}

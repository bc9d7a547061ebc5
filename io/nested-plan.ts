/**
 * Planning reads of nested columns' pages (lists, structs; format/repdef.ts), rows → chunks → bytes:
 *
 *   mini-block with lists:  a row's items may run over several chunks (trailer → preamble); the
 *                           repetition index says which chunks each row needs, so a take of one row
 *                           reads only those chunks. Rows whose chunks touch are read as one group.
 *   mini-block, no lists:   one item per row, as for flat columns (the chunk table alone)
 *   constant with levels:   the page's value and rep/def buffers, whole (2.1: all-null pages only)
 *
 * io/plan.ts reads the page indexes (chunk table, repetition index, dictionary) first and caches them.
 */
import { CorruptFileError } from '../errors.js';
import { constantBuffers } from '../format/layout.js';
import { chunksOfRow, type ChunkTable, type MiniBlockRepIndex } from '../format/miniblock-layout.js';
import type { ConstantLayoutProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import type { PageLevels } from '../format/repdef.js';
import { done, pageBuffer, type DecodeTask, type PageRequest, type PlanStep } from './plan-steps.js';

/**
 * Spans of the call in progress, kept for the next (planning is synchronous, so one per thread is enough,
 * and the step keeps only what it copies out); a page request of more than KEPT_SPAN_ROWS rows gets
 * spans of its own, so a huge scan batch does not leave a huge array behind.
 */
const KEPT_SPAN_ROWS = 4096;
let keptSpans = new Float64Array(4 * 256);

function spansFor(rows: number): Float64Array {
  if (4 * rows <= keptSpans.length) return keptSpans;
  const spans = new Float64Array(4 * rows);
  if (rows <= KEPT_SPAN_ROWS) keptSpans = spans;
  return spans;
}

/**
 * Groups the request's rows by the chunks they need, rows of touching chunks in one group, into `spans`
 * (room for four numbers a row): four numbers per group (first chunk, last chunk, entries [from, to) of
 * the rows). Returns the groups.
 */
function chunkSpans(
  request: PageRequest,
  table: ChunkTable,
  repIndex: MiniBlockRepIndex | null,
  spans: Float64Array,
): number {
  const { rows } = request;
  let groups = 0;
  let chunk = 0;
  const numChunks = table.itemStarts.length - 1;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as number;
    let first: number;
    let last: number;
    if (repIndex) {
      ({ first, last } = chunksOfRow(repIndex, row));
    } else {
      // One item per row: the chunk table alone places the row.
      while (chunk < numChunks && (table.itemStarts[chunk + 1] as number) <= row) chunk++;
      if (chunk >= numChunks)
        throw new CorruptFileError(
          `${request.where}: row ${row} is beyond the page's ${table.itemStarts[numChunks]} items`,
        );
      first = last = chunk;
    }
    const previous = 4 * (groups - 1);
    if (groups > 0 && first <= (spans[previous + 1] as number)) {
      spans[previous + 1] = Math.max(spans[previous + 1] as number, last);
      spans[previous + 3] = i + 1;
    } else {
      const at = 4 * groups++;
      spans[at] = first;
      spans[at + 1] = last;
      spans[at + 2] = i;
      spans[at + 3] = i + 1;
    }
  }
  return groups;
}

/** Reads the chunks the request's rows need, then yields a 'miniblock-nested' task. */
export function planNestedChunks(
  request: PageRequest,
  layout: MiniBlockLayoutProto,
  table: ChunkTable,
  repIndex: MiniBlockRepIndex | null,
  dictionary: Uint8Array | null,
  levels: PageLevels,
): PlanStep {
  const { page, rows, slots, where } = request;
  const data = pageBuffer(page, 1, where);
  const spans = spansFor(rows.length);
  const numGroups = chunkSpans(request, table, repIndex, spans);
  const { byteOffsets, itemStarts } = table;
  let numChunks = 0;
  for (let k = 0; k < 4 * numGroups; k += 4) numChunks += (spans[k + 1] as number) - (spans[k] as number) + 1;
  // Plain arrays of their final length (a pushed array leaves its outgrown copies as garbage): V8 makes
  // a typed array of more than 64 bytes far more slowly (its own backing store).
  const groups = new Array<number>(4 * numGroups);
  const chunks = new Array<number>(4 * numChunks);
  const ranges = new Array<{ offset: number; size: number }>(numGroups);
  let at = 0;
  for (let g = 0; g < numGroups; g++) {
    const first = spans[4 * g] as number;
    const last = spans[4 * g + 1] as number;
    const base = byteOffsets[first] as number;
    ranges[g] = { offset: data.offset + base, size: (byteOffsets[last + 1] as number) - base };
    groups[4 * g] = repIndex ? (repIndex.firstRow[first] as number) : (itemStarts[first] as number);
    groups[4 * g + 1] = spans[4 * g + 2] as number;
    groups[4 * g + 2] = spans[4 * g + 3] as number;
    groups[4 * g + 3] = last - first + 1;
    for (let i = first; i <= last; i++, at += 4) {
      const items = (itemStarts[i + 1] as number) - (itemStarts[i] as number);
      chunks[at] = (byteOffsets[i] as number) - base;
      chunks[at + 1] = (byteOffsets[i + 1] as number) - base;
      chunks[at + 2] = items;
      chunks[at + 3] = repIndex ? (repIndex.starts[i] as number) : items;
    }
  }
  return {
    done: false,
    ranges,
    next: (views) =>
      done({ kind: 'miniblock-nested', where, layout, levels, rows, slots, dictionary, views, groups, chunks }),
  };
}

/**
 * A constant or all-null page of a nested column: its value buffer (2.2 strings and binaries) and
 * rep/def buffers, each read whole (a page is constant only when it is small or every value is the
 * same), then the task. Without a value the page is all null.
 */
export function planConstantNested(request: PageRequest, layout: ConstantLayoutProto, levels: PageLevels): PlanStep {
  const { page, rows, slots, where } = request;
  const at = constantBuffers(layout, page.buffers.length, where);
  const base = {
    kind: 'constant-nested' as const,
    where,
    levels,
    rows,
    slots,
    numRows: page.numRows,
    repCompression: layout.rep_compression,
    defCompression: layout.def_compression,
    numRep: layout.num_rep_values,
    numDef: layout.num_def_values,
    inlineValue: layout.inline_value ?? null,
  };
  const indexes = [at.value, at.rep, at.def].filter((i): i is number => i !== undefined);
  if (indexes.length === 0) return done({ ...base, rep: null, def: null });
  return {
    done: false,
    ranges: indexes.map((i) => pageBuffer(page, i, where)),
    next: (views) => {
      const view = (i: number | undefined) => {
        const bytes = i === undefined ? undefined : views[indexes.indexOf(i)];
        return bytes && bytes.length > 0 ? bytes : null;
      };
      const task: DecodeTask = { ...base, rep: view(at.rep), def: view(at.def) };
      const value = view(at.value);
      if (value) task.valueBuffer = value;
      return done(task);
    },
  };
}

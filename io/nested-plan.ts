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
import {
  done,
  pageBuffer,
  type DecodeTask,
  type NestedChunkGroup,
  type PageRequest,
  type PlanStep,
} from './plan-steps.js';

/** A group of chunks [first, last] to read and the entries [from, to) of the request's rows in it. */
interface ChunkSpan {
  first: number;
  last: number;
  from: number;
  to: number;
}

/** Groups the request's rows by the chunks they need: rows of touching chunks share one group. */
function chunkSpans(request: PageRequest, table: ChunkTable, repIndex: MiniBlockRepIndex | null): ChunkSpan[] {
  const { rows } = request;
  const spans: ChunkSpan[] = [];
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
    const previous = spans[spans.length - 1];
    if (previous && first <= previous.last) {
      previous.last = Math.max(previous.last, last);
      previous.to = i + 1;
    } else {
      spans.push({ first, last, from: i, to: i + 1 });
    }
  }
  return spans;
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
  const spans = chunkSpans(request, table, repIndex);
  const ranges = spans.map(({ first, last }) => ({
    offset: data.offset + (table.byteOffsets[first] as number),
    size: (table.byteOffsets[last + 1] as number) - (table.byteOffsets[first] as number),
  }));
  return {
    done: false,
    ranges,
    next: (views) => {
      const groups = spans.map(({ first, last, from, to }, k): NestedChunkGroup => {
        const view = views[k] as Uint8Array;
        const base = table.byteOffsets[first] as number;
        const chunks: NestedChunkGroup['chunks'] = [];
        for (let c = first; c <= last; c++) {
          chunks.push({
            bytes: view.subarray((table.byteOffsets[c] as number) - base, (table.byteOffsets[c + 1] as number) - base),
            itemCount: (table.itemStarts[c + 1] as number) - (table.itemStarts[c] as number),
            rowStarts: repIndex
              ? (repIndex.starts[c] as number)
              : (table.itemStarts[c + 1] as number) - (table.itemStarts[c] as number),
          });
        }
        const firstRow = repIndex ? (repIndex.firstRow[first] as number) : (table.itemStarts[first] as number);
        return { firstRow, chunks, from, to };
      });
      return done({ kind: 'miniblock-nested', where, layout, levels, rows, slots, dictionary, groups });
    },
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

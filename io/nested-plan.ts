/**
 * Planning reads of nested columns' pages (lists, structs; format/repdef.ts), rows → chunks → bytes:
 *
 *   mini-block with lists:  a row's items may run over several chunks (trailer → preamble); the
 *                           repetition index says which chunks each row needs, so a take of one row
 *                           reads only those chunks. Rows whose chunks touch are read as one group.
 *   mini-block, no lists:   one item per row, as for flat columns (the chunk table alone)
 *   all-null with levels:   the page's rep/def buffers, whole (two bytes per entry)
 *
 * io/plan.ts reads the page indexes (chunk table, repetition index, dictionary) first and caches them.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import { describeCompressive, flatBits } from '../format/layout.js';
import { chunksOfRow, type ChunkTable, type MiniBlockRepIndex } from '../format/miniblock-layout.js';
import type { ConstantLayoutProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import type { PageLevels } from '../format/repdef.js';
import { done, pageBuffer, type NestedChunkGroup, type PageRequest, type PlanStep } from './plan-steps.js';

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

/** An all-null page of a nested column: its rep and def buffers (either may be empty), then the task. */
export function planLevelsOnly(request: PageRequest, layout: ConstantLayoutProto, levels: PageLevels): PlanStep {
  const { page, rows, slots, where } = request;
  if (layout.inline_value || page.buffers.length > 2) {
    throw new CorruptFileError(
      `${where}: a constant page with values in a nested column (file version 2.1 writes only all-null pages)`,
    );
  }
  for (const encoding of [layout.rep_compression, layout.def_compression]) {
    if (encoding && flatBits(encoding) !== 16)
      throw new UnsupportedError(`${where}: all-null page levels encoded as ${describeCompressive(encoding)}`);
  }
  const buffers = page.buffers.slice(0, 2);
  const base = { kind: 'levels-only' as const, where, levels, rows, slots, numRows: page.numRows };
  if (buffers.length === 0) return done({ ...base, rep: null, def: null });
  return {
    done: false,
    ranges: buffers,
    next: ([rep, def]) =>
      done({
        ...base,
        rep: rep && rep.length > 0 ? rep : null,
        def: def && def.length > 0 ? def : null,
      }),
  };
}

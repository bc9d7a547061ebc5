/**
 * File version 2.0 lists (lance.encodings.List): a list field is a column of u64 end offsets per row,
 * and its items are the rows of the next column (the item field's), so reading a leaf under lists is a
 * chain of reads, outermost first:
 *
 *   list column:  offsets of rows r − 1 and r ─► items [start, end) of r (null: end ≥ null_offset_adjustment)
 *   next column:  those items as its rows ─► … ─► the leaf column's rows, read as a flat column
 *
 * Offsets are relative to their page: page p's items start after the items of the pages before it
 * (their `num_items`). A struct between lists (SimpleStruct) has no data: its rows are its children's.
 * The task carries, per list level, where each row's items sit among the next level's rows, and the
 * leaf's decode tasks; decode-workers/encodings/nested.ts turns them into level entries and values.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { ColumnInfo, PageInfo } from '../format/file-metadata.js';
import type { LayerKind } from '../format/repdef.js';
import { resolveV20Shape } from '../format/v20-shape.js';
import {
  done,
  splitRowsByPage,
  type DecodeTask,
  type PageRequest,
  type PlanStep,
  type V20ListLevel,
} from './plan-steps.js';
import { planV20Page } from './v20-plan.js';

/** A column on the path from a 2.0 nested field down to one of its leaves. */
export interface V20PathColumn {
  kind: 'list' | 'struct';
  column: ColumnInfo;
}

/** Reading rows of a 2.0 leaf under lists: the columns above it (outermost first) and the leaf's column. */
export interface V20NestedRead {
  path: V20PathColumn[];
  leaf: ColumnInfo;
  layers: LayerKind[];
  /** Ascending file rows (duplicates allowed) and their slots. */
  rows: Uint32Array;
  slots: Uint32Array;
  where: string;
  arrowDictionary: boolean;
}

/** Runs `steps` side by side (their ranges read together each round), then `then` with their tasks. */
function joinSteps(steps: PlanStep[], then: (tasks: DecodeTask[]) => PlanStep): PlanStep {
  if (steps.every((s) => s.done)) return then(steps.map((s) => (s as PlanStep & { done: true }).task));
  for (const s of steps) {
    if (!s.done && (s.into || s.waitFor)) throw new CorruptFileError('a 2.0 list read planned a placed or kept page');
  }
  return {
    done: false,
    ranges: steps.flatMap((s) => (s.done ? [] : s.ranges)),
    next: (views) => {
      let at = 0;
      const after = steps.map((s) => {
        if (s.done) return s;
        const mine = views.slice(at, at + s.ranges.length);
        at += s.ranges.length;
        return s.next(mine);
      });
      return joinSteps(after, then);
    },
  };
}

/** The items of `rows` (ascending, distinct) of a list column: where each row's items are, and nulls. */
function planOffsets(
  column: ColumnInfo,
  rows: Uint32Array,
  itemRows: number,
  where: string,
  then: (level: V20ListLevel, items: Uint32Array) => PlanStep,
): PlanStep {
  const firstItem = new Float64Array(column.pages.length + 1);
  column.pages.forEach((page, p) => {
    const list = page.layout.kind === 'v2.0' && page.layout.encoding.list;
    if (!list) throw new UnsupportedError(`${where} page ${page.index}: a 2.0 list page that is not a List encoding`);
    firstItem[p + 1] = (firstItem[p] as number) + Number(list.num_items ?? 0);
  });
  // Item counts come from the file: they must add up to the rows of the column holding the items.
  if (firstItem[column.pages.length] !== itemRows) {
    throw new CorruptFileError(
      `${where}: the list pages reference ${firstItem[column.pages.length]} items, the item column holds ${itemRows}`,
    );
  }
  const byPage = splitRowsByPage(column, rows, where);
  const ranges = byPage.map(({ page, rows: pageRows }) => {
    const values = offsetsOf(page, where);
    const first = Math.max(0, (pageRows[0] as number) - 1);
    const last = pageRows[pageRows.length - 1] as number;
    return { offset: values.offset + first * 8, size: (last + 1 - first) * 8 };
  });
  return {
    done: false,
    ranges,
    next: (views) => {
      const start = new Float64Array(rows.length);
      const count = new Float64Array(rows.length);
      const nulls = new Uint8Array(rows.length);
      byPage.forEach(({ page, rows: pageRows, from: first_ }, k) => {
        const view = views[k] as Uint8Array;
        const data = new DataView(view.buffer, view.byteOffset, view.byteLength);
        const list = page.layout.kind === 'v2.0' ? page.layout.encoding.list : undefined;
        const adjust = Number(list?.null_offset_adjustment ?? 0);
        const numItems = Number(list?.num_items ?? 0);
        const base = firstItem[page.index] as number;
        const first = Math.max(0, (pageRows[0] as number) - 1);
        const word = (row: number) => Number(data.getBigUint64((row - first) * 8, true));
        pageRows.forEach((row, i) => {
          const previous = row === 0 ? 0 : word(row - 1);
          const end = word(row);
          const isNull = adjust > 0 && end >= adjust;
          const from = adjust > 0 ? previous % adjust : previous;
          const to = isNull ? end - adjust : end;
          if (to < from || to > numItems)
            throw new CorruptFileError(
              `${where} page ${page.index}: row ${row} has items ${from}..${to} of ${numItems}`,
            );
          start[first_ + i] = base + from;
          count[first_ + i] = isNull ? 0 : to - from;
          nulls[first_ + i] = isNull ? 1 : 0;
        });
      });
      let total = 0;
      for (let i = 0; i < rows.length; i++) total += count[i] as number;
      const items = new Uint32Array(total);
      const position = new Float64Array(rows.length);
      let at = 0;
      for (let i = 0; i < rows.length; i++) {
        position[i] = at;
        for (let k = 0; k < (count[i] as number); k++) items[at++] = (start[i] as number) + k;
      }
      return then({ position, count, nulls }, items);
    },
  };
}

/** The offsets buffer of a List page (u64 end offsets, Nullable(NoNull, Flat(64b)) or Flat(64b)). */
function offsetsOf(page: PageInfo, where: string): { offset: number } {
  const list = page.layout.kind === 'v2.0' ? page.layout.encoding.list : undefined;
  const shape = resolveV20Shape(list?.offsets ?? {}, page, `${where} page ${page.index} offsets`, false);
  if (shape.kind !== 'fixed' || shape.bitWidth !== 64 || shape.validity)
    throw new UnsupportedError(`${where} page ${page.index}: 2.0 list offsets that are not plain u64 values`);
  return shape.values;
}

/** The steps of a read of a 2.0 leaf under lists, ending in a 'v2.0-nested' task. */
export function planV20Nested(read: V20NestedRead): PlanStep {
  const { rows, slots, where } = read;
  // Distinct rows: each is read once, and every request of it (duplicates) points at it.
  const rowIndex = new Uint32Array(rows.length);
  let distinct = 0;
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && rows[i] !== rows[i - 1]) distinct++;
    rowIndex[i] = distinct;
  }
  const unique = new Uint32Array(rows.length === 0 ? 0 : distinct + 1);
  for (let i = 0; i < rows.length; i++) unique[rowIndex[i] as number] = rows[i] as number;
  const levels: V20ListLevel[] = [];
  const descend = (depth: number, levelRows: Uint32Array): PlanStep => {
    const step = read.path[depth];
    if (!step) return planLeaf(read, levelRows, levels, rowIndex, slots);
    if (step.kind === 'struct') return descend(depth + 1, levelRows);
    const next = read.path[depth + 1]?.column ?? read.leaf;
    const itemRows = next.pages.reduce((sum, page) => sum + page.numRows, 0);
    return planOffsets(step.column, levelRows, itemRows, `${where} (list level ${depth})`, (level, items) => {
      levels.push(level);
      return descend(depth + 1, items);
    });
  };
  return descend(0, unique);
}

function planLeaf(
  read: V20NestedRead,
  items: Uint32Array,
  levels: V20ListLevel[],
  rowIndex: Uint32Array,
  slots: Uint32Array,
): PlanStep {
  const positions = new Uint32Array(items.length);
  for (let i = 0; i < items.length; i++) positions[i] = i;
  const requests: PageRequest[] = splitRowsByPage(read.leaf, items, read.where).map(({ page, rows, from, to }) => ({
    page,
    rows,
    slots: positions.subarray(from, to),
    where: `${read.where} page ${page.index}`,
    arrowDictionary: read.arrowDictionary,
  }));
  const steps = requests.map((request) => {
    if (request.page.layout.kind !== 'v2.0')
      throw new CorruptFileError(`${request.where}: a ${request.page.layout.kind} page in a 2.0 file`);
    return planV20Page(request, request.page.layout.encoding);
  });
  return joinSteps(steps, (tasks) =>
    done({
      kind: 'v2.0-nested',
      where: read.where,
      path: read.path.map((p) => p.kind),
      levels,
      rowIndex,
      slots,
      itemCount: items.length,
      leafTasks: tasks,
    }),
  );
}

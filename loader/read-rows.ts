/**
 * The one read path: rows → pages → plan steps → merged reads → decode tasks → column outputs. Both
 * `take` and `scan` (and the DataLoader) go through {@link readRows}; only where the bytes come from
 * (the ByteSource) and where tasks run differ.
 *
 *   rows (file order) ──split by page──► PageRequest ──planPage──► PlanStep ─┐
 *          ▲                                                                 │ ranges of every pending
 *          │                              ByteSource.readRanges ◄────────────┘ step, merged
 *          └── ColumnOutput ◄── runDecodeTask ◄── DecodeTask ◄── step.next(views) (until done)
 */
import { CorruptFileError, InternalError } from '../errors.js';
import type { ColumnInfo } from '../format/file-metadata.js';
import { runDecodeTask, type DecodeTask } from '../decode-workers/decode-task.js';
import type { ColumnOutput } from '../decode-workers/output.js';
import { planPage, type PageIndexCache, type PageRequest, type PlanStep } from '../io/plan.js';
import type { ByteSource } from '../io/source.js';

/** One column of one file to read, with the output its values go to. */
export interface ColumnRead {
  column: ColumnInfo;
  out: ColumnOutput;
  /** Names the file and field for error messages. */
  where: string;
  /** The field is an Arrow dictionary. */
  arrowDictionary?: boolean;
}

/**
 * Splits rows (ascending file rows; duplicates allowed) of one column into per-page requests with
 * page-relative rows.
 */
export function splitByPage(column: ColumnInfo, rows: Uint32Array, slots: Uint32Array, where: string, arrowDictionary = false): PageRequest[] {
  const requests: PageRequest[] = [];
  let p = 0;
  for (let i = 0; i < rows.length; ) {
    const row = rows[i] as number;
    while (p < column.pages.length) {
      const page = column.pages[p] as ColumnInfo['pages'][number];
      if (row < page.rowStart + page.numRows) break;
      p++;
    }
    const page = column.pages[p];
    if (!page) {
      const last = column.pages[column.pages.length - 1];
      const covered = last ? last.rowStart + last.numRows : 0;
      throw new CorruptFileError(`${where}: row ${row} is past the last page (the column's ${column.pages.length} pages hold ${covered} rows)`, {
        row,
        rowsInPages: covered,
      });
    }
    const end = page.rowStart + page.numRows;
    let j = i;
    while (j < rows.length && (rows[j] as number) < end) j++;
    const pageRows = new Uint32Array(j - i);
    for (let k = i; k < j; k++) pageRows[k - i] = (rows[k] as number) - page.rowStart;
    requests.push({ page, rows: pageRows, slots: slots.subarray(i, j), where: `${where} page ${page.index}`, arrowDictionary });
    i = j;
  }
  return requests;
}

/** Where decode tasks run: in this thread by default; the loader supplies a worker pool. */
export type TaskRunner = (tasks: { task: DecodeTask; out: ColumnOutput }[]) => Promise<void>;

export const runTasksInline: TaskRunner = async (tasks) => {
  for (const { task, out } of tasks) runDecodeTask(task, out);
};

/** Runs plan steps until every page is a decode task, merging the reads of each round. */
export async function fetchDecodeTasks(steps: PlanStep[], source: ByteSource): Promise<DecodeTask[]> {
  let pending = steps;
  for (let round = 0; round < 8; round++) {
    const waiting = pending.filter((s): s is PlanStep & { done: false } => !s.done);
    if (waiting.length === 0) return pending.map((s) => (s as PlanStep & { done: true }).task);
    const ranges = waiting.flatMap((s) => s.ranges);
    const views = await source.readRanges(ranges);
    let at = 0;
    pending = pending.map((s) => {
      if (s.done) return s;
      const mine = views.slice(at, at + s.ranges.length);
      at += s.ranges.length;
      return s.next(mine);
    });
  }
  throw new InternalError('read planning did not finish in 8 rounds');
}

/** Reads `rows` (ascending file rows) of every column into slot `slots[i]` of each column's output. */
export async function readRows(
  reads: ColumnRead[],
  rows: Uint32Array,
  slots: Uint32Array,
  source: ByteSource,
  cache: PageIndexCache,
  runTasks: TaskRunner = runTasksInline,
): Promise<void> {
  const steps: PlanStep[] = [];
  const outs: ColumnOutput[] = [];
  for (const read of reads) {
    for (const request of splitByPage(read.column, rows, slots, read.where, read.arrowDictionary)) {
      steps.push(planPage(request, cache));
      outs.push(read.out);
    }
  }
  const tasks = await fetchDecodeTasks(steps, source);
  await runTasks(tasks.map((task, i) => ({ task, out: outs[i] as ColumnOutput })));
}

/**
 * The one read path: rows → pages → plan steps → merged reads → decode tasks → column outputs. Both
 * `take` and `scan` (and the DataLoader) go through {@link readRows}; only where the bytes come from
 * (the ByteSource) and where tasks run differ.
 *
 *   rows (file order) ──split by page──► PageRequest ──planPage──► PlanStep ─┐
 *          ▲                                                                 │ ranges of every pending
 *          │                              ByteSource.readRanges ◄────────────┘ step, merged
 *          └── ColumnOutput ◄── runDecodeTask ◄── DecodeTask ◄── step.next(views) (until done)
 *
 * `take`/`scan` run the decode tasks inline ({@link readInline}); the DataLoader reads through its
 * direct-I/O source and runs the same tasks in its worker pool.
 */
import * as arrow from 'apache-arrow';
import { CorruptFileError, InternalError } from '../errors.js';
import { fixedByteWidth, isVariableWidth, valueTypeOf } from './arrow-build.js';
import { isPackedField, packedRowBytes } from './packed-struct.js';
import type { ByteRange, ColumnInfo } from '../format/file-metadata.js';
import { runDecodeTask, type DecodeOutput } from '../decode-workers/encodings/decode-task.js';
import { reserveExactly } from '../decode-workers/encodings/output.js';
import type { ReadOutput } from '../decode-workers/encodings/nested-output.js';
import type { LayerKind } from '../format/repdef.js';
import type { LeafColumn } from './columns.js';
import { isListType } from '../format/schema.js';
import { planV20Nested, type V20PathColumn } from '../io/v20-nested-plan.js';
import { planPage, type PageCache } from '../io/plan.js';
import { CHUNK_FIELDS, splitRowsByPage, type DecodeTask, type PageRequest, type PlanStep } from '../io/plan-steps.js';
import { allSettledOrFirstError } from '../io/settle.js';
import { readIntoTargets, type ByteSource } from '../io/source.js';

/** One column of one file to read; its values go to output `output` of the read. */
export interface ColumnRead {
  column: ColumnInfo;
  output: number;
  /** Names the file and field for error messages. */
  where: string;
  /** The field is an Arrow dictionary. */
  arrowDictionary: boolean;
  /** Bytes per value of the output when it is fixed-width (not for dictionaries). */
  fixedWidth: number | undefined;
  /** The output is variable-width (strings, binaries, dictionaries of them). */
  variableWidth: boolean;
  nullable: boolean;
  /** A leaf of a nested field: its layers, leaf outwards. */
  nested?: LayerKind[];
  /** A 2.0 leaf under lists: the columns above it, outermost first (io/v20-nested-plan.ts). */
  v20Path?: V20PathColumn[];
}

/**
 * The most bytes one value may decode to beyond what its pages store: compressed, constant and all-null
 * pages decode to more than their buffers, but a schema width above this with no bytes behind it is a lie.
 */
const MAX_EXPANDED_VALUE_BYTES = 16 * 1024 * 1024;

/**
 * Checks a fixed width from a schema against what `column`'s pages can hold, so that no output is sized
 * by a width the file does not back: N rows in pages of B bytes hold at most B / N bytes a row, or up to
 * MAX_EXPANDED_VALUE_BYTES when their encoding expands.
 */
function checkFixedWidth(column: ColumnInfo, width: number, where: string): void {
  let rows = 0;
  let bytes = 0;
  for (const range of column.buffers) bytes += range.size;
  for (const page of column.pages) {
    rows += page.numRows;
    for (const range of page.buffers) bytes += range.size;
  }
  if (rows === 0 || width <= MAX_EXPANDED_VALUE_BYTES || width <= bytes / rows) return;
  throw new CorruptFileError(
    `${where}: the schema declares ${width} bytes per row, but the column's pages hold ${bytes} bytes for ${rows} rows`,
    { width, rows, bytes },
  );
}

/**
 * How to read leaf `leaf.field`, stored as column `index` (`column`) of the file at `path`, into output
 * `leaf.output`.
 */
export function columnRead(
  leaf: LeafColumn,
  column: ColumnInfo,
  index: number,
  path: string,
  columnOf: (fieldId: number) => ColumnInfo | undefined,
): ColumnRead {
  const { field, output, layers } = leaf;
  const arrowDictionary = arrow.DataType.isDictionary(field.arrowType);
  const where = `${path} column ${index} ("${leaf.name}")`;
  // A nested leaf's outputs grow with its pages' values, never by a schema width times the rows.
  // Every ColumnRead has every field, in one order: one object shape for the planner's hot loops.
  if (layers) {
    const v20 = column.pages[0]?.layout.kind === 'v2.0' && layers.includes('list');
    return {
      column,
      output,
      where,
      arrowDictionary,
      fixedWidth: undefined,
      variableWidth: false,
      nullable: true,
      nested: layers,
      v20Path: v20 ? v20PathOf(leaf, columnOf, where) : undefined,
    };
  }
  const packed = isPackedField(field);
  const fixedWidth = packed ? packedRowBytes(field) : fixedByteWidth(valueTypeOf(field.arrowType));
  if (fixedWidth !== undefined) checkFixedWidth(column, fixedWidth, where);
  return {
    column,
    output,
    where,
    arrowDictionary,
    fixedWidth: arrowDictionary ? undefined : fixedWidth,
    variableWidth: packed ? fixedWidth === undefined : isVariableWidth(valueTypeOf(field.arrowType)),
    nullable: field.nullable,
    nested: undefined,
    v20Path: undefined,
  };
}

/** The columns above a 2.0 leaf under lists: list columns (offsets) and structs, outermost first. */
function v20PathOf(
  leaf: LeafColumn,
  columnOf: (fieldId: number) => ColumnInfo | undefined,
  where: string,
): V20PathColumn[] {
  return (leaf.parents ?? []).map((f) => {
    const column = columnOf(f.id);
    if (!column) throw new CorruptFileError(`${where}: the file has no column for its parent field "${f.name}"`);
    return { kind: isListType(f.logicalType) ? 'list' : 'struct', column };
  });
}

/** The columns to read from one data file for some rows (ascending file rows, with output slots). */
export interface FileRead {
  /** The file's path: the loader reads it through its own direct-I/O source. */
  path: string;
  /** The buffered source the file was opened with. */
  source: ByteSource;
  cache: PageCache;
  columns: ColumnRead[];
  rows: Uint32Array;
  slots: Uint32Array;
}

/** A decode task and the output (by index) it writes. */
export interface OutputTask {
  task: DecodeTask;
  output: number;
}

/**
 * Splits rows (ascending file rows; duplicates allowed) of one column into per-page requests with
 * page-relative rows, going to `output` when it is known.
 */
function splitByPage(
  read: ColumnRead,
  rows: Uint32Array,
  slots: Uint32Array,
  output: PageRequest['output'],
): PageRequest[] {
  const { column, where, arrowDictionary, fixedWidth, variableWidth, nullable, nested } = read;
  // One object shape for every request (absent fields undefined), so planPage's property loads stay monomorphic.
  return splitRowsByPage(column, rows, where).map(({ page, rows: pageRows, from, to }): PageRequest => ({
    page,
    rows: pageRows,
    slots: slots.subarray(from, to),
    where: `${where} page ${page.index}`,
    arrowDictionary,
    fixedWidth,
    variableWidth,
    nullable,
    output,
    nested,
  }));
}

/**
 * Rounds of reads after which planning is taken to be stuck: a page's steps take two at most (mini-block:
 * chunk table, then chunks; 2.0 binary: offsets, then bytes), and a page waited for and given up starts over.
 */
const MAX_READ_ROUNDS = 8;

/**
 * Runs plan steps until every page is a decode task, merging the reads of each round. Steps whose ranges
 * go straight into the output (`into`) are read there, unmerged. Steps waiting for another read's load of
 * their page (`waitFor`) are left until it settles; only when nothing else is left to read does this wait
 * for them, so two reads each waiting on a page the other is loading both go on. If a read or a step
 * fails, every step still pending is abandoned (a page chosen to be kept gets its budget back).
 */
async function fetchDecodeTasks(steps: PlanStep[], source: ByteSource): Promise<DecodeTask[]> {
  let pending = steps;
  try {
    for (let round = 0; round < MAX_READ_ROUNDS;) {
      pending = pending.map(afterWaiting);
      // Plain loops, not filter/flatMap: a shuffled batch has about one step per row.
      const ranges: ByteRange[] = [];
      const placedRanges: ByteRange[] = [];
      const targets: Uint8Array[] = [];
      const waits: Promise<void>[] = [];
      let reading = 0;
      for (const step of pending) {
        if (step.done) continue;
        if (step.waitFor) {
          waits.push(step.waitFor.promise);
          continue;
        }
        reading++;
        if (step.into) {
          for (const range of step.ranges) placedRanges.push(range);
          for (const target of step.into) targets.push(target);
        } else {
          for (const range of step.ranges) ranges.push(range);
        }
      }
      if (reading === 0) {
        if (waits.length === 0) return pending.map((s) => (s as PlanStep & { done: true }).task);
        await Promise.all(waits);
        continue;
      }
      round++;
      const [views = []] = await allSettledOrFirstError<Uint8Array[] | void>([
        ranges.length > 0 ? source.readRanges(ranges) : Promise.resolve([]),
        readIntoTargets(source, placedRanges, targets),
      ]);
      let at = 0;
      pending = pending.map((s) => {
        if (s.done || s.waitFor) return s;
        if (s.into) return s.next(s.into);
        const mine = views.slice(at, at + s.ranges.length);
        at += s.ranges.length;
        return s.next(mine);
      });
    }
  } catch (error) {
    abandonSteps(pending);
    throw error;
  }
  abandonSteps(pending);
  throw new InternalError(`read planning did not finish in ${MAX_READ_ROUNDS} rounds`);
}

/** `step`, planned again once the page load it waits for has settled. */
function afterWaiting(step: PlanStep): PlanStep {
  let s = step;
  while (!s.done && s.waitFor?.settled) s = s.next([]);
  return s;
}

/** Gives back what steps that will never run hold. */
function abandonSteps(steps: PlanStep[]): void {
  for (const step of steps) if (!step.done) step.abandon?.();
}

/**
 * Plans and reads one file's columns: the decode tasks, with the output each writes. Given the outputs,
 * values that need no decoding are read straight into them.
 */
export async function fetchFileTasks(
  read: FileRead,
  source: ByteSource = read.source,
  into?: readonly (ReadOutput | undefined)[],
): Promise<OutputTask[]> {
  const steps: PlanStep[] = [];
  const outputs: number[] = [];
  try {
    for (const column of read.columns) {
      const output = into?.[column.output];
      if (column.v20Path) {
        steps.push(
          planV20Nested({
            path: column.v20Path,
            leaf: column.column,
            layers: column.nested ?? [],
            rows: read.rows,
            slots: read.slots,
            where: column.where,
            arrowDictionary: column.arrowDictionary,
          }),
        );
        outputs.push(column.output);
        continue;
      }
      for (const request of splitByPage(column, read.rows, read.slots, output)) {
        steps.push(planPage(request, read.cache));
        outputs.push(column.output);
      }
    }
  } catch (error) {
    abandonSteps(steps);
    throw error;
  }
  const tasks = await fetchDecodeTasks(steps, source);
  return tasks.map((task, i) => ({ task, output: outputs[i] as number }));
}

/** Reads every file of a plan and decodes in this thread into `outputs`. */
export async function readInline(files: FileRead[], extraTasks: OutputTask[], outputs: DecodeOutput[]): Promise<void> {
  const into = outputs.map((out) => (out.kind === 'list' ? undefined : out));
  const perFile = await Promise.all(files.map((file) => fetchFileTasks(file, file.source, into)));
  const tasks = [...perFile.flat(), ...extraTasks];
  sizeListOutputs(tasks, outputs);
  for (const { task, output } of tasks) runDecodeTask(task, outputs[output] as DecodeOutput);
}

/**
 * Ragged list outputs (Arrow List buffers) whose rows are read from mini-block chunks alone, sized before
 * decoding. Rows that fill most of their chunks (a scan) get memory for the chunks' items, the most they
 * can hold, at once: no regrowth and copy as rows are written, no slack in the buffer handed to Arrow.
 * Item validity is dropped when no page read has def levels: no item can then be null.
 */
function sizeListOutputs(tasks: readonly OutputTask[], outputs: DecodeOutput[]): void {
  const n = outputs.length;
  const items = new Float64Array(n);
  const rowStarts = new Float64Array(n);
  const rows = new Float64Array(n);
  const chunksOnly = new Uint8Array(n).fill(1);
  const defLevels = new Uint8Array(n);
  for (const { task, output } of tasks) {
    if (task.kind !== 'miniblock-nested') {
      chunksOnly[output] = 0;
      continue;
    }
    if (task.layout.def_compression) defLevels[output] = 1;
    let chunkItems = 0;
    let chunkRows = 0;
    for (let info = 0; info < task.chunks.length; info += CHUNK_FIELDS) {
      chunkItems += task.chunks[info + 2] as number;
      chunkRows += task.chunks[info + 3] as number;
    }
    items[output] = (items[output] as number) + chunkItems;
    rowStarts[output] = (rowStarts[output] as number) + chunkRows;
    rows[output] = (rows[output] as number) + task.rows.length;
  }
  outputs.forEach((out, i) => {
    if (out.kind !== 'list' || !out.ragged || chunksOnly[i] === 0) return;
    if (defLevels[i] === 0) out.itemValidity = null;
    if ((rows[i] as number) >= (rowStarts[i] as number) / 2)
      reserveExactly(out.ragged, (items[i] as number) * out.byteWidth);
  });
}

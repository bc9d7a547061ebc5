/**
 * Running decode tasks (io/plan-steps.ts): everything needed to turn the bytes of one page read into
 * column values, as plain structured-clone-safe data, so a task runs the same on the main thread or in
 * a worker. {@link runDecodeTask} writes into a caller-supplied {@link ColumnOutput}.
 */
import { InternalError } from '../../errors.js';
import type { DecodeTask, KeptValues } from '../../io/plan-steps.js';
import { decodeConstant } from './constant.js';
import { decodeFullZipSpan } from './fullzip.js';
import { gatherFixed } from './gather.js';
import { decodeMiniBlockChunk, decodeMiniBlockDictionary, gatherChunk } from './miniblock.js';
import {
  appendVariable,
  compactVariable,
  createFixedOutput,
  createVariableOutput,
  setNull,
  type ColumnOutput,
} from './output.js';
import {
  createLeafScratch,
  decodeFullZipNested,
  decodeConstantNested,
  fillNullRows,
  gatherNestedChunks,
  list20Rows,
  struct20Rows,
} from './nested.js';
import { createNestedOutput, type NestedOutput, type ReadOutput } from './nested-output.js';
import { decodeListChunks, writeNestedRows, type ListOutput } from './list-rows.js';
import { decodeListRowsNative } from './list-rows-native.js';
import { runV20Task } from './v20.js';
import type { DecodedValues } from './values.js';

/** Decoded page dictionaries, keyed by the dictionary's bytes (one decode per page and thread). */
const dictionaries = new WeakMap<Uint8Array, DecodedValues>();

/** The decoded dictionary of a mini-block task's page. */
function dictionaryOf(task: DecodeTask & { kind: 'miniblock' | 'miniblock-nested' }): DecodedValues | null {
  if (!task.dictionary) return null;
  const dictionary =
    dictionaries.get(task.dictionary) ?? decodeMiniBlockDictionary(task.layout, task.dictionary, task.where);
  dictionaries.set(task.dictionary, dictionary);
  return dictionary;
}

/** Where a task's rows go: a flat column's output, a nested column leaf's, or a single list's rows (list-rows.ts). */
export type DecodeOutput = ReadOutput | ListOutput;

/** Decodes a task's rows into `out`. */
export function runDecodeTask(task: DecodeTask, out: DecodeOutput): void {
  if (out.kind === 'nested') {
    runNestedTask(task, out);
    return;
  }
  if (out.kind === 'list') {
    runListTask(task, out);
    return;
  }
  switch (task.kind) {
    case 'miniblock-nested':
    case 'fullzip-nested':
    case 'constant-nested':
    case 'v2.0-nested':
      throw new InternalError(`${task.where}: a nested column's page is read into a flat column's output`);
    case 'miniblock': {
      const dictionary = dictionaryOf(task);
      for (const chunk of task.chunks) {
        const where = `${task.where} chunk at item ${chunk.itemStart}`;
        const wanted = { rows: task.rows, from: chunk.from, to: chunk.to, base: chunk.itemStart };
        const decoded = decodeMiniBlockChunk(task.layout, chunk.bytes, chunk.itemCount, where, wanted);
        gatherChunk(
          decoded,
          { rows: task.rows, slots: task.slots, from: chunk.from, to: chunk.to, itemStart: chunk.itemStart },
          dictionary,
          out,
          where,
        );
      }
      return;
    }
    case 'fullzip':
      for (const span of task.spans)
        decodeFullZipSpan(task.layout, span, task.rows, task.slots, span.from, span.to, out, task.where);
      return;
    case 'constant':
      decodeConstant(task, out);
      return;
    case 'cached':
      copyCached(task, out);
      return;
    case 'blob-descriptors':
      runDecodeTask(task.descriptors, out);
      markNullBlobs(task.slots, out);
      return;
    case 'placed':
      return;
    case 'v2.0':
      runV20Task(task.shape, task.buffers, task.rows, task.slots, out, task.where);
      return;
  }
}

function runNestedTask(task: DecodeTask, out: NestedOutput): void {
  switch (task.kind) {
    case 'miniblock-nested':
      gatherNestedChunks(task, dictionaryOf(task), out);
      return;
    case 'fullzip-nested':
      decodeFullZipNested(task, out);
      return;
    case 'constant-nested':
      decodeConstantNested(task, out);
      return;
    case 'constant':
      if (task.inlineValue) throw new InternalError(`${task.where}: a constant value for a nested column`);
      fillNullRows(out, task.slots);
      return;
    case 'v2.0':
      struct20Rows(task, out);
      return;
    case 'v2.0-nested': {
      const scratch = createLeafScratch(out, task.itemCount);
      for (const leaf of task.leafTasks) runDecodeTask(leaf, scratch);
      list20Rows(task, scratch, out);
      return;
    }
    default:
      throw new InternalError(`${task.where}: a ${task.kind} page is read into a nested column's output`);
  }
}

/**
 * Rows of a single list column: mini-block pages straight into their rows; other pages through the
 * general nested path into scratch of the task's rows, then into their rows the same way.
 */
function runListTask(task: DecodeTask, out: ListOutput): void {
  if (task.kind === 'miniblock-nested' && (decodeListRowsNative(task, out) || decodeListChunks(task, out))) return;
  const n = task.slots.length;
  const local = new Uint32Array(n);
  for (let i = 0; i < n; i++) local[i] = i;
  const nested = createNestedOutput(n, out.layers, out.byteWidth, out.budget);
  runNestedTask({ ...task, slots: local } as DecodeTask, nested);
  writeNestedRows(nested, task.slots, out, task.where);
}

/** Copies rows of a page kept decoded into their slots. */
function copyCached(task: DecodeTask & { kind: 'cached' }, out: ColumnOutput): void {
  const { rows, slots, kept } = task;
  const { validity } = kept;
  if (kept.kind === 'fixed' && out.kind === 'fixed' && out.byteWidth === kept.byteWidth) {
    gatherFixed(kept.values, kept.byteWidth, rows, slots, 0, rows.length, 0, out, kept.itemValidity, task.where);
    if (validity)
      for (let i = 0; i < rows.length; i++) if (validity[rows[i] as number] === 0) setNull(out, slots[i] as number);
  } else if (kept.kind === 'variable' && out.kind === 'variable') {
    const { offsets, data } = kept;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as number;
      if (validity?.[row] === 0) setNull(out, slots[i] as number);
      else appendVariable(out, slots[i] as number, data, offsets[row] as number, offsets[row + 1] as number);
    }
  } else {
    const what = (v: KeptValues | ColumnOutput) => (v.kind === 'fixed' ? `${v.byteWidth}-byte` : 'variable-width');
    throw new InternalError(
      `${task.where}: a page kept with ${what(kept)} values is read into a column of ${what(out)} values`,
    );
  }
}

/** Marks null the slots whose blob descriptor is a null's: size 0 and a nonzero position. */
function markNullBlobs(slots: Uint32Array, out: ColumnOutput): void {
  if (out.kind !== 'fixed' || out.byteWidth !== 16)
    throw new InternalError('blob descriptors are read into an output of 16-byte (position, size) rows');
  const view = new DataView(out.values.buffer, out.values.byteOffset, out.values.byteLength);
  for (let i = 0; i < slots.length; i++) {
    const at = (slots[i] as number) * 16;
    if (view.getBigUint64(at + 8, true) === 0n && view.getBigUint64(at, true) !== 0n) setNull(out, slots[i] as number);
  }
}

/**
 * Decodes a task over every row of a page into values the planner keeps (io/plan.ts PageCache): of
 * `byteWidth` bytes each, or variable-width when it is undefined (compacted to their exact size).
 */
export function decodeWholePage(
  task: DecodeTask,
  numRows: number,
  nullable: boolean,
  byteWidth: number | undefined,
): KeptValues {
  if (byteWidth !== undefined) {
    const out = createFixedOutput(numRows, byteWidth, nullable);
    runDecodeTask(task, out);
    return out;
  }
  const out = createVariableOutput(numRows, nullable);
  runDecodeTask(task, out);
  // Slots were written in order: the offsets and a view of out.data, copied so that the grown output's spare capacity is not kept.
  const { offsets, data } = compactVariable(out);
  return { kind: 'variable', offsets, data: data.slice(), validity: out.validity };
}

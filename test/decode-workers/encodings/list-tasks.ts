/**
 * What the list-rows tests share: a leaf's planned decode tasks, padded targets, a one-pass byte
 * comparison, and the same tasks decoded by the native kernel and by list-rows.ts's JavaScript.
 */
import type { Dataset } from '../../../index.js';
import { leafColumns, type LeafColumn } from '../../../dataset/columns.js';
import { fetchFileTasks, type OutputTask } from '../../../dataset/read-rows.js';
import { decodeListChunks, type ListOutput, type PaddedTarget } from '../../../decode-workers/encodings/list-rows.js';
import { decodeListRowsNative } from '../../../decode-workers/encodings/list-rows-native.js';
import type { DecodeTask } from '../../../io/plan-steps.js';

/** The planned decode tasks of `leaf` for `rows` (batch order), read alone. */
export async function tasksOf(dataset: Dataset, leaf: LeafColumn, rows: Uint32Array): Promise<OutputTask[]> {
  const fields = dataset.selectFields([leaf.name.split('.')[0] as string]);
  const output = leafColumns(fields).find((l) => l.name === leaf.name)?.output;
  const plan = await dataset.planRead(rows, fields);
  const perFile = await Promise.all(plan.files.map((file) => fetchFileTasks(file)));
  return [...perFile.flat(), ...plan.nullFills].filter((t) => t.output === output);
}

/** A padded target of `n` slots in a SharedArrayBuffer of its own, pad bytes `padByte`. */
export function paddedTarget(
  n: number,
  width: number,
  length: number,
  truncate: PaddedTarget['truncate'],
  padByte: number,
): PaddedTarget {
  const valueBytes = n * length * width;
  return {
    buffer: new SharedArrayBuffer(valueBytes + n * 5),
    byteOffset: 0,
    itemBytes: width,
    length,
    numSlots: n,
    lengthsOffset: valueBytes,
    validityOffset: valueBytes + n * 4,
    padBytes: new Uint8Array(width).fill(padByte),
    truncate,
    seed: 9,
    epoch: 2,
  };
}

/** The first byte where `a` and `b` differ (-1: none), compared in one pass instead of value by value. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The mini-block tasks of `tasks` decoded into two outputs, by the kernel and by JavaScript; how many it took. */
export function nativeAndJs(
  tasks: OutputTask[],
  make: () => ListOutput,
): { native: ListOutput; js: ListOutput; taken: number } {
  const native = make();
  const js = make();
  let taken = 0;
  for (const { task } of tasks) {
    if (task.kind !== 'miniblock-nested') continue;
    const mini = task as DecodeTask & { kind: 'miniblock-nested' };
    if (decodeListRowsNative(mini, native)) taken++;
    else decodeListChunks(mini, native);
    decodeListChunks(mini, js);
  }
  return { native, js, taken };
}

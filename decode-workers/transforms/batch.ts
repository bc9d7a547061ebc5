/**
 * A batch's transforms in a worker, after its columns are decoded into the slot:
 *
 *   per column: row steps, one row at a time ─► the row's place in the slot, or in the stacked input of
 *               a batch-level step (transform scratch)
 *   rows that failed (onError 'skip') ─► each takes, in every column, the next good row of the batch
 *   per column: the batch-level step, once, on every row ─► the column's whole output in the slot
 *
 * Replacing a row moves it in every column: fixed-width and transformed rows and padded lists (values,
 * length, validity) are copied slot to slot; variable-width columns (strings, binaries, ragged lists) are
 * laid out again in the slot's variable-width memory with the replacing row's values in the replaced
 * row's place, which only happens in batches that skipped a row.
 */
import { InternalError, ResourceError, TransformError } from '../../errors.js';
import { alignVariable, type OutputDescriptor, type SkippedRow, type VariableColumn } from '../messages.js';
import type { BatchColumnValues, ColumnTransformer, ColumnValue, Pixels } from './run.js';
import type { TransformInput, TypedArrayName } from './steps.js';

export interface BatchTransformJob {
  /** The dataset row of each batch position. */
  rows: Uint32Array;
  epoch: number;
  outputs: readonly OutputDescriptor[];
  /** Per column, its runner, or null for columns without a transform. */
  transformers: readonly (ColumnTransformer | null)[];
  /** Per column, the values to transform (null for columns without a transform). */
  inputs: readonly (VariableColumn | null)[];
  /** Per column, its variable-width values in the slot's memory (null for the others). */
  variable: (VariableColumn | null)[];
  /** The slot's variable-width memory, where replaced rows' values are laid out again. */
  variableMemory: SharedArrayBuffer | null;
  /** Memory for a batch-level step's stacked input, from the worker's transform scratch. */
  allocate(bytes: number): Uint8Array;
}

export interface BatchTransformResult {
  skipped: SkippedRow[];
  /** The variable-width columns, laid out again when rows were replaced. */
  variable: (VariableColumn | null)[];
}

/**
 * Runs the batch's transforms (see the module comment). A row that fails rejects the batch with
 * onError 'raise'; a batch whose every row fails, and a batch-level step that throws, reject it either way.
 */
export async function transformBatch(job: BatchTransformJob): Promise<BatchTransformResult> {
  const { rows, epoch, outputs, transformers, inputs } = job;
  const failed = new Map<number, TransformError>();
  /** Per column with a batch-level step after row steps: the rows' outputs, stacked. */
  const stacked: (Pixels | null)[] = [];
  for (const [i, input] of inputs.entries()) {
    const d = outputs[i];
    const transformer = transformers[i];
    if (!input || d?.kind !== 'transformed' || !transformer) continue;
    const { plan } = transformer;
    if (plan.batchStep && !plan.batchStep.input) continue;
    const spec = plan.batchStep?.input ?? plan;
    const target = plan.batchStep
      ? job.allocate(d.numSlots * spec.byteWidth)
      : new Uint8Array(d.buffer, d.byteOffset, d.numSlots * d.byteWidth);
    const float = spec.dtype === 'float32';
    if (plan.batchStep) {
      const data = float ? new Float32Array(target.buffer, target.byteOffset, target.byteLength / 4) : target;
      stacked[i] = { data, shape: [d.numSlots, ...spec.shape] };
    }
    const others = plan.inputs.length === 0 ? null : batchColumns(job, plan.inputs);
    for (let slot = 0; slot < d.numSlots; slot++) {
      if (failed.has(slot)) continue;
      const start = input.offsets[slot] as number;
      const value =
        input.validity && !input.validity[slot] ? null : input.data.subarray(start, input.offsets[slot + 1]);
      const at = target.byteOffset + slot * spec.byteWidth;
      const out = float
        ? new Float32Array(target.buffer, at, spec.byteWidth / 4)
        : new Uint8Array(target.buffer, at, spec.byteWidth);
      try {
        const columns = others && rowColumns(others, plan.inputs, slot);
        await transformer.run(value, rows[slot] as number, epoch, out, columns ?? undefined);
      } catch (error) {
        if (!(error instanceof TransformError) || plan.onError === 'raise') throw error;
        failed.set(slot, error);
      }
    }
  }
  const { skipped, source } = replaceFailed(job, failed, stacked);
  const delivered = source ? Uint32Array.from(source, (from) => rows[from] as number) : rows;
  for (const [i, transformer] of transformers.entries()) {
    const d = outputs[i];
    const input = inputs[i];
    if (!transformer?.plan.batchStep || d?.kind !== 'transformed' || !input) continue;
    const output =
      transformer.plan.dtype === 'float32'
        ? new Float32Array(d.buffer, d.byteOffset, (d.numSlots * d.byteWidth) / 4)
        : new Uint8Array(d.buffer, d.byteOffset, d.numSlots * d.byteWidth);
    const values = source ? moveValues(input, input.data, source, job.allocate(valueBytes(input, source))) : input;
    await transformer.runBatch(
      stacked[i] ?? values,
      delivered,
      epoch,
      output,
      batchColumns(job, transformer.plan.inputs),
    );
  }
  return { skipped, variable: job.variable };
}

const TYPED_ARRAYS: Record<
  TypedArrayName,
  new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ColumnValue
> = {
  Int8Array,
  Uint8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** The batch's values of `inputs`, as they are in the slot (after any replaced rows moved). */
function batchColumns(job: BatchTransformJob, inputs: readonly TransformInput[]): Record<string, BatchColumnValues> {
  const columns: Record<string, BatchColumnValues> = {};
  for (const { name, column, layout } of inputs) {
    const d = job.outputs[column];
    const c = job.variable[column];
    if (layout.kind === 'fixed' && d?.kind === 'fixed')
      columns[name] = {
        data: new TYPED_ARRAYS[layout.array](d.buffer, d.byteOffset, d.numSlots * layout.valuesPerRow),
        offsets: null,
        validity: d.validityOffset < 0 ? null : new Uint8Array(d.buffer, d.validityOffset, d.numSlots),
      };
    else if (layout.kind === 'bytes' && c) columns[name] = { data: c.data, offsets: c.offsets, validity: c.validity };
    else throw new InternalError(`the batch has no ${layout.kind} values of column "${name}" for a user transform`);
  }
  return columns;
}

/** Slot `slot`'s values of `inputs`: views of the batch's (`batch`, from batchColumns), null for a null. */
function rowColumns(
  batch: Record<string, BatchColumnValues>,
  inputs: readonly TransformInput[],
  slot: number,
): Record<string, ColumnValue | null> {
  const columns: Record<string, ColumnValue | null> = {};
  for (const { name, layout } of inputs) {
    const { data, offsets, validity } = batch[name] as BatchColumnValues;
    const perRow = layout.kind === 'fixed' ? layout.valuesPerRow : 0;
    columns[name] =
      validity && !validity[slot]
        ? null
        : offsets
          ? data.subarray(offsets[slot] as number, offsets[slot + 1] as number)
          : data.subarray(slot * perRow, (slot + 1) * perRow);
  }
  return columns;
}

/**
 * Gives each failed slot, in every column, the values of the next slot of the batch that did not fail
 * (wrapping around), and says which slot each slot now holds (`source`, null when none failed).
 */
function replaceFailed(
  job: BatchTransformJob,
  failed: Map<number, TransformError>,
  stacked: readonly (Pixels | null)[],
): { skipped: SkippedRow[]; source: Uint32Array | null } {
  const { rows, outputs } = job;
  if (failed.size === 0) return { skipped: [], source: null };
  if (failed.size === rows.length) {
    const first = failed.values().next().value as TransformError;
    throw new TransformError(
      first.code,
      `${first.message}; every row of the batch failed, so none could replace it`,
      first.details,
    );
  }
  const source = Uint32Array.from(rows, (_, slot) => slot);
  const skipped: SkippedRow[] = [];
  for (const [slot, error] of failed) {
    let from = (slot + 1) % rows.length;
    while (failed.has(from)) from = (from + 1) % rows.length;
    source[slot] = from;
    for (const d of outputs) copyRow(d, from, slot);
    for (const p of stacked) if (p) copyStacked(p, from, slot);
    skipped.push({ slot, row: rows[slot] as number, replacedBy: rows[from] as number, message: error.message });
  }
  job.variable = moveVariableColumns(job.variable, source, job.variableMemory);
  return { skipped, source };
}

/** Copies slot `from`'s row of a fixed-width, transformed or padded output over slot `to`'s. */
function copyRow(d: OutputDescriptor, from: number, to: number): void {
  if (d.kind === 'variable') return;
  const bytes = new Uint8Array(d.buffer);
  const width = d.kind === 'padded' ? d.length * d.itemBytes : d.byteWidth;
  bytes.copyWithin(d.byteOffset + to * width, d.byteOffset + from * width, d.byteOffset + (from + 1) * width);
  if (d.kind === 'padded') {
    const lengths = new Int32Array(d.buffer, d.lengthsOffset, d.numSlots);
    lengths[to] = lengths[from] as number;
  }
  if (d.kind !== 'transformed' && d.validityOffset >= 0)
    bytes[d.validityOffset + to] = bytes[d.validityOffset + from] as number;
}

function copyStacked(p: Pixels, from: number, to: number): void {
  const width = p.data.length / (p.shape[0] as number);
  p.data.copyWithin(to * width, from * width, (from + 1) * width);
}

/**
 * The variable-width columns laid out again in the slot's memory, one after another as the worker first
 * put them, with slot `s` holding slot `source[s]`'s value; a ResourceError when they no longer fit.
 */
function moveVariableColumns(
  columns: readonly (VariableColumn | null)[],
  source: Uint32Array,
  memory: SharedArrayBuffer | null,
): (VariableColumn | null)[] {
  if (!memory || columns.every((c) => c === null)) return [...columns];
  const sizes = columns.map((c) => (c ? valueBytes(c, source) : 0));
  const needed = sizes.reduce((sum, bytes) => sum + alignVariable(bytes), 0);
  if (needed > memory.byteLength)
    throw new ResourceError(
      'MEMORY_BUDGET',
      `the batch's variable-width values need ${needed} bytes once skipped rows are replaced, more than a batch slot's ${memory.byteLength} bytes of variable-width memory; raise memoryBytes, or lower batchSize or prefetch`,
      { neededBytes: needed, slotBytes: memory.byteLength },
    );
  // The values are rewritten in the memory they are read from: read them from a copy.
  const end = columns.reduce((max, c) => (c ? Math.max(max, c.data.byteOffset + c.data.byteLength) : max), 0);
  const before = new Uint8Array(memory, 0, end).slice();
  let at = 0;
  return columns.map((c, i) => {
    if (!c) return null;
    const target = new Uint8Array(memory, at, sizes[i]);
    at += alignVariable(sizes[i] as number);
    return moveValues(c, before.subarray(c.data.byteOffset, c.data.byteOffset + c.data.byteLength), source, target);
  });
}

/** Bytes of `c`'s values once slot `s` holds slot `source[s]`'s. */
function valueBytes(c: VariableColumn, source: Uint32Array): number {
  let total = 0;
  for (const from of source) total += (c.offsets[from + 1] as number) - (c.offsets[from] as number);
  return total;
}

/** `c` (its values read from `data`) written into `target` with slot `s` holding slot `source[s]`'s value. */
function moveValues(c: VariableColumn, data: Uint8Array, source: Uint32Array, target: Uint8Array): VariableColumn {
  const offsets = new Float64Array(source.length + 1);
  source.forEach((from, s) => {
    const start = c.offsets[from] as number;
    const bytes = (c.offsets[from + 1] as number) - start;
    target.set(data.subarray(start, start + bytes), offsets[s]);
    offsets[s + 1] = (offsets[s] as number) + bytes;
  });
  const validity = c.validity && Uint8Array.from(source, (from) => c.validity?.[from] as number);
  return { offsets, data: target, validity };
}

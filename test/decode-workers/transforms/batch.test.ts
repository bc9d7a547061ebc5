import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { transformBatch, type BatchTransformJob } from '../../../decode-workers/transforms/batch.js';
import { ColumnTransformer } from '../../../decode-workers/transforms/run.js';
import {
  centerCrop,
  decodeImage,
  planColumnTransform,
  toFloat,
  type TransformStep,
} from '../../../decode-workers/transforms/steps.js';
import type { OutputDescriptor, VariableColumn } from '../../../decode-workers/messages.js';
import { ResourceError, TransformError } from '../../../errors.js';

const module = new URL('./user-batch-transforms.mjs', import.meta.url).href;
const batchStep = (name: string, shape: number[], dtype: 'uint8' | 'float32'): TransformStep => ({
  op: 'user',
  module,
  export: name,
  level: 'batch',
  options: { k: 1 },
  output: { shape, dtype },
});

/** A flat grey PNG of value `v`. */
const grey = (v: number) =>
  sharp({ create: { width: 6, height: 6, channels: 3, background: { r: v, g: v, b: v } } })
    .png()
    .toBuffer();

/** Values as a worker holds them: concatenated, with offsets and validity (null values have none). */
function variable(values: (Uint8Array | null)[], memory?: SharedArrayBuffer, byteOffset = 0): VariableColumn {
  const offsets = new Float64Array(values.length + 1);
  values.forEach((v, i) => (offsets[i + 1] = (offsets[i] as number) + (v?.length ?? 0)));
  const total = offsets[values.length] as number;
  const data = memory ? new Uint8Array(memory, byteOffset, total) : new Uint8Array(total);
  values.forEach((v, i) => v && data.set(v, offsets[i]));
  return { offsets, data, validity: Uint8Array.from(values, (v) => (v ? 1 : 0)) };
}

/** Row `r` of a variable-width column as text (null for a null). */
const text = (c: VariableColumn | null, r: number): string | null =>
  c?.validity?.[r] ? new TextDecoder().decode(c.data.subarray(c.offsets[r], c.offsets[r + 1])) : null;

/** A transformed column's output of `rows` rows of `steps` in `buffer` at `byteOffset`. */
function transformed(
  steps: TransformStep[],
  rows: number,
  buffer: SharedArrayBuffer,
  byteOffset = 0,
  onError = 'raise',
) {
  const plan = planColumnTransform('image', { steps, onError });
  const d: OutputDescriptor = {
    kind: 'transformed',
    buffer,
    byteOffset,
    byteWidth: plan.byteWidth,
    numSlots: rows,
    nullable: true,
  };
  return { d, transformer: new ColumnTransformer(plan, 5) };
}

/** A job of one transformed column and nothing else, with transform scratch from plain memory. */
function job(
  t: ReturnType<typeof transformed>,
  input: VariableColumn,
  rows: Uint32Array,
  more: Partial<BatchTransformJob> = {},
): BatchTransformJob {
  return {
    rows,
    epoch: 2,
    outputs: [t.d],
    transformers: [t.transformer],
    inputs: [input],
    variable: [null],
    variableMemory: null,
    allocate: (bytes) => new Uint8Array(bytes),
    ...more,
  };
}

describe('transformBatch', () => {
  it('runs the row steps on every row, then the batch-level step once on all of them', async () => {
    const rows = Uint32Array.from([7, 3, 9]);
    const memory = new SharedArrayBuffer(3 * 3 * 4);
    const t = transformed(
      [decodeImage(), centerCrop(4), toFloat(), batchStep('batchMeans', [3], 'float32')],
      3,
      memory,
    );
    await transformBatch(job(t, variable(await Promise.all([grey(0), grey(51), grey(102)])), rows));
    const out = Array.from(new Float32Array(memory));
    expect([out[0], out[3], out[6]].map((v) => v?.toFixed(4))).toEqual(['0.0000', '0.2000', '0.4000']);
    expect([out[1], out[4], out[7]].map((v) => v?.toFixed(4))).toEqual(['0.2000', '0.2000', '0.2000']);
    expect(out[2]).toBe(out[5]);
  });

  it("gives a batch-level step that is the only step the column's values of every row", async () => {
    const rows = Uint32Array.from([0, 1, 2]);
    const memory = new SharedArrayBuffer(9);
    const t = transformed([batchStep('batchHeaders', [3], 'uint8')], 3, memory);
    const values = [Uint8Array.of(4, 5), null, Uint8Array.of(9, 8, 7)];
    await transformBatch(job(t, variable(values), rows));
    expect(Array.from(new Uint8Array(memory))).toEqual([2, 4, 1, 0, 0, 0, 3, 9, 1]);
  });

  it('draws the same batch-level random values for the same (seed, epoch, rows) and others for other rows', async () => {
    const draw = async (rows: number[], epoch = 2) => {
      const memory = new SharedArrayBuffer(2 * 3 * 4);
      const t = transformed([decodeImage(), centerCrop(4), batchStep('batchMeans', [3], 'float32')], 2, memory);
      const images = variable(await Promise.all([grey(10), grey(20)]));
      await transformBatch({ ...job(t, images, Uint32Array.from(rows)), epoch });
      return new Float32Array(memory)[2];
    };
    const first = await draw([4, 8]);
    expect(await draw([4, 8])).toBe(first);
    expect(await draw([8, 4])).not.toBe(first);
    expect(await draw([4, 8], 3)).not.toBe(first);
  });

  it('turns a batch-level throw into a TRANSFORM_ERROR naming the rows, column and module, also under skip', async () => {
    const t = transformed([batchStep('batchThrows', [1], 'uint8')], 2, new SharedArrayBuffer(2), 0, 'skip');
    const error = await transformBatch(job(t, variable([Uint8Array.of(1), Uint8Array.of(2)]), Uint32Array.of(11, 12)))
      .then(() => null)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransformError);
    expect((error as TransformError).code).toBe('TRANSFORM_ERROR');
    expect((error as Error).message).toBe(
      `column "image", rows 11, 12: steps[0] user ${module}#batchThrows (batch) threw: no batch of 2 rows (options {"k":1})`,
    );
    expect((error as TransformError).details).toMatchObject({ column: 'image', rows: [11, 12], module });
  });

  it('moves a replaced row in every column: fixed, padded list, variable-width values and their validity', async () => {
    const rows = Uint32Array.from([20, 21, 22, 23]);
    const slot = new SharedArrayBuffer(1024);
    const t = transformed([decodeImage(), centerCrop(4)], 4, slot, 0, 'skip');
    // Images at 0; fixed int32 at 256, validity at 288; a padded list of 3 int16 items at 320, lengths at 352, validity at 368.
    const fixed: OutputDescriptor = {
      kind: 'fixed',
      buffer: slot,
      byteOffset: 256,
      byteWidth: 4,
      numSlots: 4,
      validityOffset: 288,
    };
    new Int32Array(slot, 256, 4).set([200, 201, 202, 203]);
    new Uint8Array(slot, 288, 4).set([1, 0, 1, 1]);
    const padded: OutputDescriptor = {
      kind: 'padded',
      buffer: slot,
      byteOffset: 320,
      itemBytes: 2,
      length: 3,
      numSlots: 4,
      lengthsOffset: 352,
      validityOffset: 368,
      padBytes: new Uint8Array(2),
      truncate: 'end',
      seed: 0,
      epoch: 0,
    };
    new Int16Array(slot, 320, 12).set([1, 1, 1, 2, 2, 0, 3, 0, 0, 4, 4, 4]);
    new Int32Array(slot, 352, 4).set([3, 2, 1, 3]);
    new Uint8Array(slot, 368, 4).set([1, 1, 0, 1]);
    // Two string columns one after another in the slot's variable-width memory.
    const memory = new SharedArrayBuffer(64);
    const enc = (s: string | null) => (s === null ? null : new TextEncoder().encode(s));
    const names = variable(['a', 'bb', 'ccc', 'dddd'].map(enc), memory, 0);
    const notes = variable(['w', null, 'a long note', 'z'].map(enc), memory, 16);
    const images = variable([await grey(1), new TextEncoder().encode('no image'), null, await grey(4)]);
    const result = await transformBatch({
      ...job(t, images, rows),
      outputs: [
        t.d,
        fixed,
        { kind: 'variable', numSlots: 4, nullable: false },
        padded,
        { kind: 'variable', numSlots: 4, nullable: true },
      ],
      transformers: [t.transformer, null, null, null, null],
      inputs: [images, null, null, null, null],
      variable: [null, null, names, null, notes],
      variableMemory: memory,
    });
    expect(result.skipped.map(({ slot: s, row, replacedBy }) => [s, row, replacedBy])).toEqual([
      [1, 21, 23],
      [2, 22, 23],
    ]);
    expect(Array.from(new Int32Array(slot, 256, 4))).toEqual([200, 203, 203, 203]);
    expect(Array.from(new Uint8Array(slot, 288, 4))).toEqual([1, 1, 1, 1]);
    expect(Array.from(new Int16Array(slot, 320, 12))).toEqual([1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
    expect(Array.from(new Int32Array(slot, 352, 4))).toEqual([3, 3, 3, 3]);
    const [, , movedNames, , movedNotes] = result.variable;
    expect([0, 1, 2, 3].map((r) => text(movedNames ?? null, r))).toEqual(['a', 'dddd', 'dddd', 'dddd']);
    expect([0, 1, 2, 3].map((r) => text(movedNotes ?? null, r))).toEqual(['w', 'z', 'z', 'z']);
    expect(movedNames?.data.buffer).toBe(memory);
    expect((movedNotes?.data.byteOffset ?? 0) % 8).toBe(0);
    expect(new Uint8Array(slot, 3 * 48, 48)).toEqual(new Uint8Array(slot, 1 * 48, 48));
  });

  it("gives a batch-level step the replacing row's values and row in a replaced row's place", async () => {
    const rows = Uint32Array.from([30, 31, 32]);
    const slot = new SharedArrayBuffer(3 * 48 + 9);
    const image = transformed([decodeImage(), centerCrop(4)], 3, slot, 0, 'skip');
    const headers = transformed([batchStep('batchHeaders', [3], 'uint8')], 3, slot, 3 * 48);
    const images = variable([await grey(1), null, await grey(3)]);
    const values = variable([Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3)]);
    await transformBatch({
      ...job(image, images, rows),
      outputs: [image.d, headers.d],
      transformers: [image.transformer, headers.transformer],
      inputs: [images, values],
      variable: [null, null],
    });
    expect(Array.from(new Uint8Array(slot, 3 * 48, 9))).toEqual([1, 1, 1, 3, 3, 1, 3, 3, 1]);
  });

  it("refuses replaced rows' values that no longer fit the slot's variable-width memory", async () => {
    const t = transformed([decodeImage(), centerCrop(4)], 2, new SharedArrayBuffer(96), 0, 'skip');
    const memory = new SharedArrayBuffer(16);
    const names = variable([Uint8Array.of(1), new Uint8Array(15)], memory);
    const error = await transformBatch({
      ...job(t, variable([null, await grey(2)]), Uint32Array.of(0, 1)),
      outputs: [t.d, { kind: 'variable', numSlots: 2, nullable: false }],
      transformers: [t.transformer, null],
      inputs: [variable([null, await grey(2)]), null],
      variable: [null, names],
      variableMemory: memory,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceError);
    expect((error as ResourceError).code).toBe('MEMORY_BUDGET');
    expect((error as Error).message).toContain('need 32 bytes once skipped rows are replaced');
  });
});

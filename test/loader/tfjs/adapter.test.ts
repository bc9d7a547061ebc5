/**
 * The tfjs adapter against a fake BatchSource whose batches live in a two-slot ring of SharedArrayBuffers
 * that the fake overwrites on release (as the loader will): tensors must hold their own copies, batches
 * must be released before their slot comes round again, and fitDataset must train without leaking.
 * Runs on the wasm backend (cpu if wasm cannot start); the copy test also runs on cpu, the backend that
 * keeps a reference to the typed array it is given. The real loader is in tfjs-training.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../errors.js';
import type { Batch, BatchColumn } from '../../../loader/batch.js';
import { batchToTensors, loadTfBackend, toTfDataset, type BatchSource, type Tf } from '../../../loader/tfjs/adapter.js';
import { caught } from '../../caught.js';

let tf: Tf;
let backend: string;

beforeAll(async () => {
  const report = await loadTfBackend('wasm');
  tf = report.tf;
  backend = report.backend;
  if (backend !== 'wasm') console.warn(`tfjs tests run on ${backend}:`, report.skipped);
});

// ── fixtures ────────────────────────────────────────────────────────────────────────────────────────────

/** Deterministic 32-bit hash → [0, 1). */
function unit(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    h = Math.imul(h ^ k, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return (h >>> 0) / 4294967296;
}

const PIXELS = 16;

/** Row `row` of batch `index` in `epoch`: bright first half means label 1, bright second half label 0. */
function fakeRow(epoch: number, index: number, row: number): { pixels: number[]; label: number; feat: number[] } {
  const label = unit(epoch, index, row) < 0.5 ? 1 : 0;
  const pixels = Array.from({ length: PIXELS }, (_, p) => {
    const bright = p < PIXELS / 2 === (label === 1);
    const noise = Math.floor(unit(epoch, index, row, p) * 128);
    return bright ? 128 + noise : noise;
  });
  const feat = [0, 1, 2].map((f) => Math.fround(unit(epoch, index, row, 100 + f) * 10 - 5));
  return { pixels, label, feat };
}

interface Slot {
  memory: SharedArrayBuffer;
  image: Uint8Array;
  feat: Float32Array;
  label: Int32Array;
  held: boolean;
}

const GARBAGE = 0xee;

/** A BatchSource with a ring of two shared-memory slots; release() overwrites the slot with garbage. */
class FakeSource implements BatchSource {
  readonly epochsServed: number[] = [];
  /** Epochs whose iterator finished or was closed early. */
  readonly epochsClosed: number[] = [];
  released = 0;
  yielded = 0;
  private readonly slots: Slot[];

  constructor(
    readonly numBatches: number,
    readonly rows: number,
  ) {
    this.slots = [0, 1].map(() => {
      const imageBytes = rows * PIXELS;
      const featOffset = Math.ceil(imageBytes / 4) * 4;
      const labelOffset = featOffset + rows * 3 * 4;
      const memory = new SharedArrayBuffer(labelOffset + rows * 4);
      return {
        memory,
        image: new Uint8Array(memory, 0, imageBytes),
        feat: new Float32Array(memory, featOffset, rows * 3),
        label: new Int32Array(memory, labelOffset, rows),
        held: false,
      };
    });
  }

  async *epoch(n: number): AsyncIterable<Batch> {
    this.epochsServed.push(n);
    try {
      yield* this.batches(n);
    } finally {
      this.epochsClosed.push(n);
    }
  }

  private async *batches(n: number): AsyncGenerator<Batch> {
    for (let index = 0; index < this.numBatches; index++) {
      const slot = this.slots[index % this.slots.length]!;
      if (slot.held) throw new Error(`fake loader: slot of batch ${index} is still held (batch not released)`);
      for (let r = 0; r < this.rows; r++) {
        const { pixels, label, feat } = fakeRow(n, index, r);
        slot.image.set(pixels, r * PIXELS);
        slot.feat.set(feat, r * 3);
        slot.label[r] = label;
      }
      slot.held = true;
      let released = false;
      const columns: Record<string, BatchColumn> = {
        image: { dtype: 'uint8', values: slot.image, shape: [this.rows, PIXELS] },
        feat: { dtype: 'float32', values: slot.feat, shape: [this.rows, 3] },
        label: { dtype: 'int32', values: slot.label, shape: [this.rows] },
        caption: {
          dtype: 'utf8',
          values: new Uint8Array(0),
          shape: [this.rows],
          offsets: new Int32Array(this.rows + 1),
        },
      };
      this.yielded++;
      yield {
        epoch: n,
        index,
        rowOffsets: new Uint32Array(this.rows),
        numRows: this.rows,
        columns,
        release: () => {
          if (released) return;
          released = true;
          this.released++;
          new Uint8Array(slot.memory).fill(GARBAGE); // the slot is recycled: old views now read garbage
          slot.held = false;
        },
      };
    }
  }
}

function expectedRows(epoch: number, index: number, rows: number): ReturnType<typeof fakeRow>[] {
  return Array.from({ length: rows }, (_, r) => fakeRow(epoch, index, r));
}

/** A batch of hand-made columns (ordinary memory). */
function batchOf(columns: Record<string, BatchColumn>): Batch {
  const rows = Object.values(columns)[0]?.shape[0] ?? 0;
  return { epoch: 0, index: 0, rowOffsets: new Uint32Array(rows), numRows: rows, columns, release: () => {} };
}

async function firstBatch(source: BatchSource): Promise<Batch> {
  for await (const batch of source.epoch(0)) return batch;
  throw new Error('empty epoch');
}

// ── backend ─────────────────────────────────────────────────────────────────────────────────────────────

describe('loadTf', () => {
  it('activates the wasm backend offline when tfjs-node is absent (cpu where wasm cannot start)', () => {
    expect(tf.getBackend()).toBe(backend);
    expect(['wasm', 'cpu']).toContain(backend);
  });

  it('rejects an unknown backend preference', async () => {
    await expect(loadTfBackend('gpu' as 'cpu')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: "loadTf: preference must be one of 'node', 'wasm', 'cpu', got 'gpu'",
    });
  });

  it('leaves tfjs unloaded until loadTf is called', () => {
    const module = fileURLToPath(new URL('../../../loader/tfjs/adapter.ts', import.meta.url));
    const script =
      `const m = await import(${JSON.stringify(module)});` +
      'const before = typeof globalThis._tfengine;' +
      "const tf = await m.loadTf('cpu');" +
      'console.log(before, typeof globalThis._tfengine, tf.getBackend());';
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('undefined object cpu');
  });
  it("leaves Node's handling of uncaught errors as it was after starting wasm", () => {
    const module = fileURLToPath(new URL('../../../loader/tfjs/adapter.ts', import.meta.url));
    const script =
      `const m = await import(${JSON.stringify(module)});` +
      "const count = () => ['uncaughtException', 'unhandledRejection'].map((e) => process.listenerCount(e)).join('/');" +
      'const before = count();' +
      "const tf = await m.loadTf('wasm');" +
      'console.log(before, count(), tf.getBackend());';
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(`0/0 0/0 ${backend}`);
  });
});

// ── copies ──────────────────────────────────────────────────────────────────────────────────────────────

describe('batchToTensors copies', () => {
  it.for(['wasm', 'cpu'])(
    'tensors keep their values after the batch is released and its slot overwritten (%s)',
    async (name, { skip }) => {
      if (name !== backend && name !== 'cpu') skip(); // wasm could not start here
      const previous = tf.getBackend();
      await tf.setBackend(name);
      try {
        const source = new FakeSource(1, 4);
        const batch = await firstBatch(source);
        const image = batch.columns.image!.values;
        const t = batchToTensors(tf, batch, {
          raw: 'image',
          scaled: { column: 'image', normalize: true },
          feat: 'feat', // float32 → float32: the path where passing the view through would be easiest
          label: 'label',
        });
        batch.release();
        expect(image[0]).toBe(GARBAGE);

        const rows = expectedRows(0, 0, 4);
        expect(Array.from(t.raw!.dataSync())).toEqual(rows.flatMap((r) => r.pixels));
        expect(Array.from(t.scaled!.dataSync())).toEqual(
          rows.flatMap((r) => r.pixels.map((p) => Math.fround(p / 255))),
        );
        expect(Array.from(t.feat!.dataSync())).toEqual(rows.flatMap((r) => r.feat));
        expect(Array.from(t.label!.dataSync())).toEqual(rows.map((r) => r.label));
        tf.dispose(Object.values(t));
      } finally {
        await tf.setBackend(previous);
      }
    },
  );
});

// ── tensors ─────────────────────────────────────────────────────────────────────────────────────────────
// Conversions and their messages are tested without tfjs in tensor-data.test.ts and tensor-spec.test.ts.

describe('batchToTensors', () => {
  it('builds one tensor, a list in order or a record by name, in the dtype and shape of the tensor data', () => {
    const batch = batchOf({
      px: { dtype: 'uint8', values: new Uint8Array([0, 51, 255, 128]), shape: [2, 2] },
      flag: { dtype: 'bool', values: new Uint8Array([1, 0]), shape: [2] },
      id: { dtype: 'int64', values: new BigInt64Array([7n, -1n]), shape: [2] },
      y: { dtype: 'int32', values: new Int32Array([3, 0]), shape: [2] },
    });
    const one = batchToTensors(tf, batch, { column: 'px', normalize: true, shape: [2, 1] });
    const [flag, id] = batchToTensors(tf, batch, ['flag', 'id']);
    const { label } = batchToTensors(tf, batch, { label: { column: 'y', oneHot: 4, dtype: 'int32' } });
    expect([one.dtype, one.shape]).toEqual(['float32', [2, 2, 1]]);
    expect(Array.from(one.dataSync())).toEqual([0, 0.2, 1, 128 / 255].map(Math.fround));
    expect([flag!.dtype, Array.from(flag!.dataSync())]).toEqual(['bool', [1, 0]]);
    expect([id!.dtype, Array.from(id!.dataSync())]).toEqual(['int32', [7, -1]]);
    expect([label!.dtype, label!.arraySync()]).toEqual([
      'int32',
      [
        [0, 0, 0, 1],
        [1, 0, 0, 0],
      ],
    ]);
    tf.dispose([one, flag!, id!, label!]);
  });

  it('leaves no tensor behind when a later column cannot become a tensor', () => {
    const batch = batchOf({
      x: { dtype: 'float32', values: new Float32Array([1, 2]), shape: [2] },
      caption: { dtype: 'utf8', values: new Uint8Array([104, 105]), shape: [2], offsets: new Int32Array([0, 1, 2]) },
    });
    const before = tf.memory().numTensors;
    const error = caught(() => batchToTensors(tf, batch, { x: 'x', caption: 'caption' }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      "spec.caption: column 'caption' (utf8) cannot become a tensor: strings and binary values are not numbers; leave it out of xs/ys",
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

// ── tf.data.Dataset and fitDataset ──────────────────────────────────────────────────────────────────────

function tinyModel(): ReturnType<Tf['sequential']> {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      inputShape: [PIXELS],
      units: 8,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  model.add(
    tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  );
  model.compile({ optimizer: tf.train.adam(0.03), loss: 'categoricalCrossentropy' });
  return model;
}

describe('toTfDataset', () => {
  it('yields { xs, ys } holding copies of each batch, releasing every batch', async () => {
    const source = new FakeSource(3, 4);
    const ds = toTfDataset(tf, source, {
      xs: { column: 'image', normalize: true },
      ys: { column: 'label', oneHot: 2 },
    });
    expect(ds.size).toBe(3);
    const elements = (await ds.toArray()) as {
      xs: import('@tensorflow/tfjs').Tensor;
      ys: import('@tensorflow/tfjs').Tensor;
    }[];
    expect(source.released).toBe(3);
    expect(elements).toHaveLength(3);
    for (const [index, { xs, ys }] of elements.entries()) {
      const rows = expectedRows(0, index, 4);
      expect(xs.shape).toEqual([4, PIXELS]);
      expect(Array.from(xs.dataSync())).toEqual(rows.flatMap((r) => r.pixels.map((p) => Math.fround(p / 255))));
      expect(ys.arraySync()).toEqual(rows.map((r) => (r.label === 1 ? [0, 1] : [1, 0])));
      tf.dispose([xs, ys]);
    }
  });

  it('releases the batch and disposes its tensors when a column cannot become a tensor', async () => {
    const source = new FakeSource(2, 4);
    const ds = toTfDataset(tf, source, { xs: 'image', ys: 'caption' });
    const before = tf.memory().numTensors;
    const iterator = await ds.iterator();
    await expect(iterator.next()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message:
        "ys: column 'caption' (utf8) cannot become a tensor: strings and binary values are not numbers; leave it out of xs/ys",
    });
    expect(source.released).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('serves the next loader epoch per iteration, from startEpoch, up to epochs', async () => {
    const source = new FakeSource(1, 2);
    const ds = toTfDataset(tf, source, { xs: 'image', ys: 'label', startEpoch: 4, epochs: 2 });
    const unread = await ds.iterator(); // fitDataset makes one of these: it must not use up an epoch
    void unread;
    tf.dispose((await ds.toArray()) as never);
    tf.dispose((await ds.toArray()) as never);
    expect(source.epochsServed).toEqual([4, 5]);
    await expect(ds.toArray()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'toTfDataset: all 2 epochs (options.epochs) were served (4..5); fitDataset asked for more',
    });
  });

  it('closes an abandoned epoch when the next one starts', async () => {
    const source = new FakeSource(3, 2);
    const ds = toTfDataset(tf, source, { xs: 'image', ys: 'label' });
    const stopped = await ds.iterator();
    tf.dispose((await stopped.next()).value as never); // training stopped after one batch of epoch 0
    expect(source.epochsClosed).toEqual([]);
    const next = await ds.iterator();
    tf.dispose((await next.next()).value as never);
    expect(source.epochsServed).toEqual([0, 1]);
    expect(source.epochsClosed).toEqual([0]);
    expect(source.released).toBe(2);
  });

  it('rejects bad options with the option path', () => {
    const source = new FakeSource(1, 2);
    expect(caught(() => toTfDataset(tf, source, { xs: [], ys: 'label' })).message).toBe(
      'xs must be a column name, { column, ... }, a non-empty array of them or a non-empty record of them; got []',
    );
    expect(
      caught(() => toTfDataset(tf, source, { xs: { column: 'image', normalize: 'yes' as never }, ys: 'label' }))
        .message,
    ).toBe("xs.normalize: expected true, false or { scale, offset }, got 'yes'");
    expect(caught(() => toTfDataset(tf, source, { xs: 'image', ys: 'label', startEpoch: -1 })).message).toBe(
      'startEpoch: expected an integer ≥ 0, got -1',
    );
  });

  it('trains a dense model with fitDataset for 3 epochs: loss falls, tensors stay flat, every batch released', async () => {
    const source = new FakeSource(24, 32);
    const ds = toTfDataset(tf, source, {
      xs: { column: 'image', normalize: true },
      ys: { column: 'label', oneHot: 2 },
    });
    const model = tinyModel();
    const tensorsAfterEpoch: number[] = [];
    const started = performance.now();
    const history = await model.fitDataset(ds, {
      epochs: 3,
      verbose: 0,
      callbacks: { onEpochEnd: async () => void tensorsAfterEpoch.push(tf.memory().numTensors) },
    });
    const ms = performance.now() - started;
    const loss = history.history.loss as number[];
    console.info(
      `fitDataset on ${tf.getBackend()}: ${ms.toFixed(0)} ms, loss ${loss.map((l) => l.toFixed(4)).join(' → ')}, ` +
        `numTensors after each epoch ${tensorsAfterEpoch.join(', ')}`,
    );

    expect(source.epochsServed).toEqual([0, 1, 2]);
    expect(source.released).toBe(3 * 24);
    expect(source.yielded).toBe(3 * 24);
    expect(loss).toHaveLength(3);
    expect(loss[2]!).toBeLessThan(loss[0]!);
    expect(tensorsAfterEpoch[2]).toBe(tensorsAfterEpoch[1]);
    model.dispose();
  });
});

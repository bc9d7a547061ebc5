/**
 * The conv2d filter gradient that loadTf adds to the wasm backend: equal to the cpu backend's own over
 * strides, paddings and shapes, leaking no backend memory, and enough for a conv2d layer to train on wasm.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfBackend, type Tf } from '../../../loader/tfjs/adapter.js';
import { registerWasmConv2DFilterGradient } from '../../../loader/tfjs/wasm-conv2d-gradient.js';

let tf: Tf;
let backend: string;

beforeAll(async () => {
  ({ tf, backend } = await loadTfBackend('wasm'));
});

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
}

const CASES: ConvCase[] = [
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 8, 9, 2], filter: [3, 2, 2, 5], strides: 2, pad: 'same' },
  { x: [2, 8, 9, 2], filter: [3, 3, 2, 5], strides: [2, 3], pad: 'valid' },
  { x: [1, 10, 10, 1], filter: [5, 5, 1, 2], strides: 3, pad: 'valid' }, // the last 2 rows and columns are never read
  {
    x: [3, 6, 5, 2],
    filter: [2, 3, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

/** d(sum(conv2d(x, w)²))/dw on `name`, from values that depend only on the case. */
async function filterGradient(name: string, c: ConvCase): Promise<Float32Array> {
  await tf.setBackend(name);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(
    Float32Array.from({ length: size(c.x) }, (_, i) => Math.sin(i)),
    c.x,
  );
  const w = tf.tensor4d(
    Float32Array.from({ length: size(c.filter) }, (_, i) => Math.cos(i)),
    c.filter,
  );
  const dw = tf.grad((filter) =>
    tf
      .conv2d(x, filter as typeof w, c.strides, c.pad)
      .square()
      .sum(),
  )(w);
  const values = dw.dataSync() as Float32Array;
  tf.dispose([x, w, dw]);
  return values;
}

describe('the wasm conv2d filter gradient', () => {
  it('is registered by loadTf on wasm, once', () => {
    if (backend !== 'wasm') return; // wasm could not start here
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(registerWasmConv2DFilterGradient(tf)).toBe(false);
  });

  it.for(CASES)('equals the cpu gradient for x $x, filter $filter, strides $strides, pad $pad', async (c, { skip }) => {
    if (backend !== 'wasm') skip();
    try {
      const expected = await filterGradient('cpu', c);
      const actual = await filterGradient('wasm', c);
      expect(actual.length).toBe(expected.length);
      const scale = Math.max(...expected.map(Math.abs));
      for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(1e-5 * scale);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('lets a conv2d model train on wasm without leaking tensors or backend buffers', async ({ skip }) => {
    if (backend !== 'wasm') skip();
    const model = tf.sequential();
    // Seeded initial weights: an unlucky draw can leave every ReLU dead and the loss stuck at ln 2.
    model.add(
      tf.layers.conv2d({
        inputShape: [10, 10, 1],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
    );
    model.add(tf.layers.flatten());
    model.add(
      tf.layers.dense({
        units: 2,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      }),
    );
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
    // Class 1 is bright in the top half: a filter has to learn that.
    const xs = tf.tidy(() =>
      tf.randomUniform([32, 10, 10, 1], 0, 0.5, 'float32', 1).add(
        tf.concat(
          [
            tf.zeros([16, 10, 10, 1]),
            tf.ones([16, 5, 10, 1]).pad([
              [0, 0],
              [0, 5],
              [0, 0],
              [0, 0],
            ]),
          ],
          0,
        ),
      ),
    );
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d([...Array(16).fill(0), ...Array(16).fill(1)], 'int32'), 2));
    const first = (await model.trainOnBatch(xs, ys)) as number;
    const memory = tf.memory();
    let last = first;
    for (let step = 0; step < 20; step++) last = (await model.trainOnBatch(xs, ys)) as number;
    expect(last).toBeLessThan(first / 2);
    expect(tf.memory().numTensors).toBe(memory.numTensors);
    expect(tf.memory().numDataBuffers).toBe(memory.numDataBuffers);
    model.dispose();
    tf.dispose([xs, ys]);
  });
});

/**
 * Train a small TensorFlow.js CNN on a Lance dataset through lance-loader: shuffled epochs read by the
 * DataLoader (merged reads, decode worker threads, shared-memory batch slots) and fed to
 * `model.fitDataset` on the wasm backend. After each epoch it prints loss, training and held-out accuracy, and what the
 * loader did during that epoch.
 *
 *   npm run demo [-- --epochs N --rows N --data DIR]
 *
 * The data are 28×28 procedurally drawn shapes of 10 classes (examples/shapes.ts), written once with
 * LanceDB into `examples/.data/shapes-<rows>/` (or `--data DIR`) and reused on later runs. `--rows`
 * counts train and test images together (default 12000, 1/6 held out); `--epochs` defaults to 5.
 *
 *   train.lance ─createLoader(shuffle)─► toTfDataset ─► model.fitDataset ─┐ per epoch
 *   test.lance  ─createLoader(in order)─► toTfDataset ─► model.evaluateDataset ◄┘
 */
import { fileURLToPath } from 'node:url';
import { createLoader, type LoaderMetrics } from '../index.js';
import { loadTfBackend, toTfDataset, type Tf } from '../tfjs.js';
import { parseExampleArgs } from './command-line.js';
import { fitEpochs } from './fit-epochs.js';
import { CLASS_NAMES, SIDE, ensureShapesDataset } from './shapes.js';

const started = performance.now();
const args = parseExampleArgs({
  name: 'demo',
  command: 'npm run demo --',
  about:
    'Trains a small TensorFlow.js CNN (wasm backend) on 28×28 images of 10 generated shape classes, read in\n' +
    'shuffled epochs by the lance-loader DataLoader. Prints loss, training and test accuracy and what the\n' +
    'loader did after every epoch. The images are written with LanceDB on the first run and reused.',
  options: {
    epochs: { value: 'N', default: '5', description: 'training epochs' },
    rows: { value: 'N', default: '12000', description: 'images in all, 1/6 of them held out for testing' },
    data: { value: 'DIR', description: 'where the images are kept (default examples/.data/shapes-<rows>)' },
  },
});
const epochs = args.integer('epochs', 1);
// The smallest split that leaves a training image besides the held-out sixth.
const rows = args.integer('rows', 2);
const dataDir = args.string('data') ?? fileURLToPath(new URL(`./.data/shapes-${rows}`, import.meta.url));

const { trainPath, testPath, written } = await ensureShapesDataset(dataDir, rows);
console.log(
  `${written ? 'wrote' : 'reusing'} ${rows} images of ${CLASS_NAMES.length} classes (${CLASS_NAMES.join(', ')}) in ${dataDir} ` +
    `[${((performance.now() - started) / 1000).toFixed(1)} s]`,
);

const { tf, backend } = await loadTfBackend('wasm');
const columns = ['pixels', 'label'];
const shapes = { pixels: [SIDE, SIDE, 1] };
// One decode thread per loader: decoding 784-byte rows is far faster than training on them, and the
// wasm backend computes on this thread, so the other core is better left to it and the OS.
const train = await createLoader(trainPath, { columns, shapes, batchSize: 64, shuffle: true, seed: 1, workers: 1 });
const test = await createLoader(testPath, { columns, shapes, batchSize: 500, shuffle: false, workers: 1 });
const tensors = { xs: { column: 'pixels', normalize: true }, ys: { column: 'label', oneHot: CLASS_NAMES.length } };
const trainSet = toTfDataset(tf, train, tensors);
const testSet = toTfDataset(tf, test, tensors);

const model = cnn(tf);
console.log(
  `train ${train.dataset.numRows} rows (${train.numBatches} batches of 64, shuffled), test ${test.dataset.numRows} rows; ` +
    `tfjs ${backend} backend, CNN with ${model.countParams()} parameters`,
);

/** conv 3×3×16 → pool → conv 3×3×32 → pool → dense 64 → softmax 10 */
function cnn(tf: Tf): ReturnType<Tf['sequential']> {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [SIDE, SIDE, 1], filters: 16, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  m.add(tf.layers.dense({ units: CLASS_NAMES.length, activation: 'softmax' }));
  m.compile({ optimizer: tf.train.adam(0.002), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** What the train loader did between two metric snapshots taken `wallMs` apart. */
function describeEpoch(before: LoaderMetrics, after: LoaderMetrics, wallMs: number): string {
  const rows = after.rows - before.rows;
  const reads = after.readsIssued - before.readsIssued;
  const ranges = after.rangesRequested - before.rangesRequested;
  const waitMs = after.consumerWaitMs - before.consumerWaitMs;
  return [
    `${Math.round((rows / wallMs) * 1000)} rows/s`,
    `waited ${waitMs.toFixed(0)} ms = ${((waitMs / wallMs) * 100).toFixed(1)}% of step time`,
    `read ${mb(after.bytesRead - before.bytesRead)} for ${mb(after.bytesDelivered - before.bytesDelivered)} delivered`,
    `${reads} reads for ${ranges} ranges (×${reads > 0 ? (ranges / reads).toFixed(1) : '-'} coalescing)`,
    `reads through ${after.native?.engine ?? '-'}`,
    `decode ${(after.decodeMs - before.decodeMs).toFixed(0)} ms`,
  ].join(', ');
}

await fitEpochs(tf, model, trainSet, testSet, {
  epochs,
  train,
  test,
  classes: CLASS_NAMES.length,
  started,
  describe: describeEpoch,
});

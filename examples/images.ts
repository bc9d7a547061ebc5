/**
 * Train a small TensorFlow.js CNN from JPEG bytes: the images stay encoded in the Lance dataset, and the
 * loader's worker threads decode, crop, flip and scale them (transforms) into float32 batches.
 *
 *   npm run example:images [-- --epochs N --rows N --size PX --workers N --data DIR]
 *
 * The data are 10 classes of shapes and textures at 160–400 px (examples/jpeg-shapes.ts), written once
 * with LanceDB into `examples/.data/jpeg-<rows>/` and reused. Training reads them shuffled with
 * randomResizedCrop + flipHorizontal, testing with resize + centerCrop; after each epoch it prints
 * loss, accuracy, images/s and the share of the epoch the training loop waited for data.
 *
 *   train.lance ─createLoader(transforms: decode → randomResizedCrop → flip → normalize)─► fitDataset
 *   test.lance  ─createLoader(transforms: decode → resize → centerCrop → normalize)──────► evaluateDataset
 */
import { fileURLToPath } from 'node:url';
import {
  centerCrop,
  createLoader,
  decodeImage,
  flipHorizontal,
  randomResizedCrop,
  resize,
  normalize,
  type LoaderMetrics,
} from '../index.js';
import { loadTfBackend, toTfDataset, type Tf } from '../tfjs.js';
import { parseExampleArgs } from './command-line.js';
import { fitEpochs } from './fit-epochs.js';
import { JPEG_CLASSES, ensureJpegDataset } from './jpeg-shapes.js';

const started = performance.now();
const args = parseExampleArgs({
  name: 'example:images',
  command: 'npm run example:images --',
  about:
    'Trains a small TensorFlow.js CNN (wasm backend) on JPEG images of 10 generated shape classes, decoded\n' +
    'and augmented (randomResizedCrop, flipHorizontal) in the loader workers. Prints loss, accuracy,\n' +
    'images/s and the time spent waiting for data after every epoch. The JPEGs are written with LanceDB\n' +
    'on the first run and reused.',
  options: {
    epochs: { value: 'N', default: '3', description: 'training epochs' },
    rows: { value: 'N', default: '10000', description: 'images in all, 1/6 of them held out for testing' },
    size: { value: 'PX', default: '64', description: 'side of the square crops the CNN sees' },
    workers: { value: 'N', default: '1', description: 'loader worker threads decoding for training' },
    data: { value: 'DIR', description: 'where the images are kept (default examples/.data/jpeg-<rows>)' },
  },
});
const epochs = args.integer('epochs', 1);
const rows = args.integer('rows', 12);
const size = args.integer('size', 16, 512);
const workers = args.integer('workers', 1, 64);
const dataDir = args.string('data') ?? fileURLToPath(new URL(`./.data/jpeg-${rows}`, import.meta.url));

const { trainPath, testPath, written } = await ensureJpegDataset(dataDir, rows, (done) => {
  if (done % 2048 === 0 || done === rows) process.stdout.write(`\rdrawing JPEGs: ${done}/${rows}`);
});
console.log(
  `${written ? '\nwrote' : 'reusing'} ${rows} JPEGs (160–400 px) of ${JPEG_CLASSES.length} classes in ${dataDir} ` +
    `[${((performance.now() - started) / 1000).toFixed(1)} s]`,
);

const { tf, backend } = await loadTfBackend('wasm');
const columns = ['image', 'label'];
const batchSize = 64;
// The wasm backend trains on this thread: one worker decoding leaves the other core to it.
const train = await createLoader(trainPath, {
  columns,
  batchSize,
  shuffle: true,
  seed: 1,
  workers,
  transforms: {
    image: {
      steps: [decodeImage(), randomResizedCrop(size, { scale: [0.5, 1] }), flipHorizontal(), normalize(0.5, 0.25)],
    },
  },
});
const test = await createLoader(testPath, {
  columns,
  batchSize: 250,
  shuffle: false,
  workers: 1,
  transforms: { image: { steps: [decodeImage(), resize(size), centerCrop(size), normalize(0.5, 0.25)] } },
});
const tensors = { xs: { column: 'image' }, ys: { column: 'label', oneHot: JPEG_CLASSES.length } };
const trainSet = toTfDataset(tf, train, tensors);
const testSet = toTfDataset(tf, test, tensors);

const model = cnn(tf);
console.log(
  `train ${train.dataset.numRows} rows (${train.numBatches} batches of ${batchSize}, shuffled, ${workers} worker${workers === 1 ? '' : 's'}), ` +
    `test ${test.dataset.numRows} rows; ${size}×${size} crops; tfjs ${backend} backend, CNN with ${model.countParams()} parameters`,
);

/**
 * conv 5×5×12 stride 2 → pool → conv 3×3×24 → pool → conv 3×3×32 → dense 64 → softmax 10: the strided
 * first layer keeps a step cheap enough for the wasm backend on one core.
 */
function cnn(tf: Tf): ReturnType<Tf['sequential']> {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [size, size, 3], filters: 12, kernelSize: 5, strides: 2, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 24, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  m.add(tf.layers.dense({ units: JPEG_CLASSES.length, activation: 'softmax' }));
  m.compile({ optimizer: tf.train.adam(0.002), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

/** What the train loader did between two metric snapshots taken `wallMs` apart. */
function describeEpoch(before: LoaderMetrics, after: LoaderMetrics, wallMs: number): string {
  const images = after.rows - before.rows;
  const waitMs = after.consumerWaitMs - before.consumerWaitMs;
  return [
    `${Math.round((images / wallMs) * 1000)} images/s`,
    `waited for data ${waitMs.toFixed(0)} ms = ${((waitMs / wallMs) * 100).toFixed(1)}% of step time`,
    `transforms ${(after.transformMs - before.transformMs).toFixed(0)} ms in the workers`,
    `skipped ${after.skippedRows - before.skippedRows}`,
  ].join(', ');
}

await fitEpochs(tf, model, trainSet, testSet, {
  epochs,
  train,
  test,
  classes: JPEG_CLASSES.length,
  started,
  describe: describeEpoch,
});

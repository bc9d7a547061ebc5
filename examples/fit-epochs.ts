/**
 * The examples' training loop: `model.fitDataset` over the train loader's epochs, and after each epoch
 * the held-out accuracy and a line on what the loader did in it.
 */
import type { DataLoader, LoaderMetrics } from '../index.js';
import type { Tf } from '../tfjs.js';

type Model = ReturnType<Tf['sequential']>;
type TfDataset = Parameters<Model['fitDataset']>[0];

export interface FitOptions {
  epochs: number;
  /** The loaders behind `trainSet` (whose metrics each epoch's line reports) and `testSet`: closed at the end. */
  train: DataLoader;
  test: DataLoader;
  /** Classes, for the chance level in the last line. */
  classes: number;
  /** When the example started (performance.now()), for the total time in the last line. */
  started: number;
  /** What the loader did between two metric snapshots taken `wallMs` apart. */
  describe: (before: LoaderMetrics, after: LoaderMetrics, wallMs: number) => string;
}

/**
 * Trains `model`, prints the test accuracy after the last epoch against chance and the total time, then
 * disposes of the model and closes both loaders (also on failure).
 */
export async function fitEpochs(
  tf: Tf,
  model: Model,
  trainSet: TfDataset,
  testSet: Parameters<Model['evaluateDataset']>[0],
  { epochs, train, test, classes, started, describe }: FitOptions,
): Promise<void> {
  let epochStarted = 0;
  let metricsBefore = train.metrics();
  let testAccuracy = NaN;
  try {
    await model.fitDataset(trainSet, {
      epochs,
      verbose: 0,
      callbacks: {
        onEpochBegin: async () => {
          epochStarted = performance.now();
          metricsBefore = train.metrics();
        },
        onEpochEnd: async (epoch, logs) => {
          const wallMs = performance.now() - epochStarted;
          const metricsAfter = train.metrics();
          const evaluated = (await model.evaluateDataset(testSet, {})) as ReturnType<Tf['scalar']>[]; // [loss, accuracy]
          testAccuracy = (await evaluated[1]!.data())[0]!;
          tf.dispose(evaluated);
          console.log(
            `epoch ${epoch + 1}/${epochs}  loss ${logs?.loss?.toFixed(4)}  accuracy ${logs?.acc?.toFixed(4)}  ` +
              `test accuracy ${testAccuracy.toFixed(4)}  [${(wallMs / 1000).toFixed(1)} s]`,
          );
          console.log(`  loader: ${describe(metricsBefore, metricsAfter, wallMs)}`);
        },
      },
    });
  } finally {
    model.dispose();
    await Promise.all([train.close(), test.close()]);
  }
  console.log(
    `test accuracy ${(testAccuracy * 100).toFixed(1)}% (chance ${(100 / classes).toFixed(0)}%) after ${epochs} epoch${epochs === 1 ? '' : 's'}; ` +
      `total ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

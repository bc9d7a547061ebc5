/**
 * lance-loader/tfjs: the TensorFlow.js adapter, from loader batches to tensors and `tf.data` datasets.
 *
 * An entry point of its own because its types refer to `@tensorflow/tfjs`, an optional peer: a project
 * that only reads datasets never sees them. Importing it loads no tfjs either; `loadTf()` does.
 *
 * @packageDocumentation
 */
export {
  loadTf,
  loadTfBackend,
  batchToTensors,
  toTfDataset,
  type Tf,
  type TfBackendPreference,
  type TfBackendName,
  type TfBackendReport,
  type TfDatasetOptions,
  type BatchSource,
  type TensorTree,
  type TensorsSpec,
  type ColumnSpecInput,
  type ColumnTensorSpec,
  type TensorDType,
} from './loader/tfjs/adapter.js';

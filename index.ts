/**
 * lance-loader: read Lance datasets natively in Node.js and feed shuffled batches to TensorFlow.js.
 *
 * Importing the package never loads tfjs: the adapter imports it on `loadTf()` (types only until then).
 *
 * @packageDocumentation
 */
export {
  openDataset,
  Dataset,
  type OpenDatasetOptions,
  type FragmentInfo,
  type VersionInfo,
} from './dataset/dataset.js';
export { openFile, LanceFile, type TakeOptions, type ScanOptions, type FileSummary } from './dataset/file.js';
export { createLoader, DataLoader } from './loader/loader.js';
export type { LoaderOptions, LoaderIoOptions, LoaderState } from './loader/loader-options.js';
export type { LoaderMetrics } from './loader/metrics.js';
export type { ShuffleMode, SamplerState } from './samplers/index.js';
export type { Batch, BatchColumn, ColumnDType, ColumnValues } from './loader/batch.js';
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
export {
  LanceLoaderError,
  InvalidArgumentError,
  InvalidStateError,
  CorruptFileError,
  UnsupportedError,
  IoError,
  AbortError,
  WorkerError,
  InternalError,
  type ErrorCode,
} from './errors.js';

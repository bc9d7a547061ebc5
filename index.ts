/**
 * lance-loader: read Lance datasets natively in Node.js and feed shuffled batches to TensorFlow.js.
 *
 * The reader and the DataLoader. Nothing here, in code or in types, refers to tfjs, so a project without
 * tfjs compiles against it with `skipLibCheck: false`; the TensorFlow.js adapter is `lance-loader/tfjs`.
 *
 * @packageDocumentation
 */
export {
  openDataset,
  Dataset,
  type OpenDatasetOptions,
  type TakeByIdsOptions,
  type FollowSymlinks,
  type FragmentInfo,
  type VersionInfo,
} from './dataset/dataset.js';
export type { DatasetLocation, LanceDbTableLike } from './dataset/location.js';
export type { BlobHandle, TakeBlobsOptions } from './dataset/blobs.js';
export type { RowId } from './dataset/id-index.js';
export {
  openFile,
  LanceFile,
  type OpenFileOptions,
  type TakeOptions,
  type ScanOptions,
  type FileSummary,
} from './dataset/file.js';
export { createLoader, DataLoader } from './loader/loader.js';
export type { LoaderOptions, LoaderIoOptions, LoaderState } from './loader/loader-options.js';
export type { LoaderMetrics, LoaderMemoryMetrics } from './loader/metrics.js';
export type { MemoryPart } from './loader/budget.js';
export type { ShuffleMode, SamplerState } from './samplers/index.js';
export type { Batch, BatchColumn, ColumnDType, ColumnValues } from './loader/batch.js';
export {
  decodeImage,
  resize,
  centerCrop,
  randomResizedCrop,
  randomCrop,
  flipHorizontal,
  normalize,
  toFloat,
  channelsFirst,
  type TransformStep,
  type UserTransformStep,
  type ColumnTransform,
  type Interpolation,
} from './decode-workers/transforms/steps.js';
export type {
  UserTransformInput,
  UserTransformFunction,
  UserBatchTransformInput,
  UserBatchTransformFunction,
  Pixels,
  ColumnValue,
  BatchColumnValues,
} from './decode-workers/transforms/run.js';
export {
  LanceLoaderError,
  InvalidArgumentError,
  InvalidStateError,
  CorruptFileError,
  UnsupportedError,
  IoError,
  AbortError,
  WorkerError,
  CommitConflictError,
  ResourceError,
  TransformError,
  InternalError,
  type ErrorCode,
  type ResourceErrorCode,
  type TransformErrorCode,
} from './errors.js';
export { writeDataset, type WriteDatasetOptions, type WriteResult } from './writer/write-dataset.js';
export type { WriteData } from './writer/input.js';
export { convertToLance, type ConvertFormat, type ConvertOptions, type ConvertResult } from './convert/convert.js';
export type { SkippedRecord, OnError } from './convert/records.js';

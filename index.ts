/**
 * lance-loader: read Lance datasets natively in Node.js.
 *
 * @packageDocumentation
 */
export { openDataset, Dataset, type OpenDatasetOptions, type FragmentInfo, type VersionInfo } from './loader/dataset.js';
export { openFile, LanceFile, type TakeOptions, type ScanOptions, type FileSummary } from './loader/file.js';
export {
  LanceLoaderError,
  InvalidArgumentError,
  CorruptFileError,
  UnsupportedError,
  IoError,
  AbortError,
  WorkerError,
  InternalError,
  type ErrorCode,
} from './errors.js';

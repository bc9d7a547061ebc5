/**
 * `convertToLance`: files in other formats → a Lance dataset, through `writeDataset`:
 *
 *   npy     .npy / .npz files, or directories of them, or an indexed batch-file directory (convert/npy.ts)
 *   jsonl   one JSON Lines file                          (convert/records.ts)
 *   csv     one CSV file with a header row               (convert/records.ts)
 *   images  an image folder in the class/*.jpg layout    (convert/images.ts)
 *
 * Inputs are streamed: memory holds one input file (npy), one batch of records or images. On a terminal
 * (stderr is a TTY) a progress bar counts rows (cli-progress); otherwise nothing is printed.
 */
import * as arrow from 'apache-arrow';
import cliProgress from 'cli-progress';
import { InvalidArgumentError } from '../errors.js';
import { writeDataset, type WriteDatasetOptions, type WriteResult } from '../writer/write-dataset.js';
import { imageFolderBatches, imageFolderSchema, listImageFolder } from './images.js';
import { FileBuffers, listNpyFiles, npyBatches, readNpyIndex } from './npy.js';
import { openRecords, type OnError, type SkippedRecord } from './records.js';

/** The input formats {@link convertToLance} reads. */
export type ConvertFormat = 'npy' | 'jsonl' | 'csv' | 'images';

/** Options of {@link convertToLance}. */
export interface ConvertOptions extends Pick<WriteDatasetOptions, 'mode' | 'maxRowsPerFile'> {
  /** jsonl, csv: what to do with a record that does not parse or fit the schema (default `'fail'`). */
  onError?: OnError;
  /** jsonl, csv: the column types (default: inferred from the first 1000 records). */
  schema?: arrow.Schema;
  /** npy: the column name for plain .npy arrays (default: the first file's name without extension). */
  column?: string;
  /** Show a progress bar: `'auto'` (default) when stderr is a terminal. */
  progress?: boolean | 'auto';
}

/** What {@link convertToLance} wrote, and which records it left out (jsonl and csv with `onError: 'skip'`). */
export interface ConvertResult extends WriteResult {
  skipped: SkippedRecord[];
}

/** The items, counting rows on the bar as they pass (a batch counts its rows, a row object one). */
async function* counted<T extends object>(
  items: AsyncIterable<T>,
  bar: cliProgress.SingleBar | undefined,
): AsyncGenerator<T> {
  for await (const item of items) {
    yield item;
    bar?.increment(item instanceof arrow.RecordBatch ? item.numRows : 1);
  }
}

/**
 * Converts `inputs` (paths) in `format` into the Lance dataset at `output`.
 *
 * ```ts
 * await convertToLance('npy', ['results/'], 'data/results.lance');             // every .npy/.npz in results/
 * const { skipped } = await convertToLance('jsonl', ['log.jsonl'], 'data/log.lance', { onError: 'skip' });
 * await convertToLance('images', ['photos/'], 'data/photos.lance');            // photos/<class>/*.jpg
 * ```
 *
 * @throws InvalidArgumentError for unreadable input, a record that does not parse or fit (with its line
 *   number, `onError: 'fail'`), or what {@link writeDataset} refuses.
 */
export async function convertToLance(
  format: ConvertFormat,
  inputs: readonly string[],
  output: string | URL,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  if (inputs.length === 0) throw new InvalidArgumentError('convertToLance: no input paths given');
  const single = (): string => {
    if (inputs.length !== 1)
      throw new InvalidArgumentError(`convertToLance: ${format} takes one input path, got ${inputs.length}`);
    return inputs[0] as string;
  };
  const show = options.progress === 'auto' || options.progress === undefined ? process.stderr.isTTY : options.progress;
  let total: number | undefined;
  let schema: arrow.Schema | undefined;
  let batches: AsyncIterable<arrow.RecordBatch> | AsyncIterable<Record<string, unknown>>;
  let skipped: SkippedRecord[] = [];
  let releaseBuffer: ((buffer: ArrayBufferLike) => void) | undefined;
  if (format === 'npy') {
    const indexed = inputs.length === 1 ? readNpyIndex(inputs[0] as string) : undefined;
    const buffers = new FileBuffers();
    releaseBuffer = buffers.give;
    batches = indexed
      ? npyBatches(indexed.files, options.column, indexed.ids, buffers)
      : npyBatches(listNpyFiles(inputs), options.column, undefined, buffers);
  } else if (format === 'images') {
    const root = single();
    const entries = listImageFolder(root);
    total = entries.length;
    schema = imageFolderSchema;
    batches = imageFolderBatches(root, entries);
  } else if (format === 'jsonl' || format === 'csv') {
    const records = await openRecords(single(), format, { schema: options.schema, onError: options.onError });
    ({ schema, rows: batches, skipped } = records);
  } else {
    throw new InvalidArgumentError(
      `convertToLance: format must be 'npy', 'jsonl', 'csv' or 'images'; got ${JSON.stringify(format)}`,
    );
  }
  const bar = show
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format:
            total === undefined
              ? '{value} rows | {duration_formatted}'
              : '[{bar}] {value}/{total} rows | eta {eta_formatted}',
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total ?? 0, 0);
  try {
    const result = await writeDataset(output, counted<object>(batches, bar) as AsyncIterable<Record<string, unknown>>, {
      mode: options.mode,
      maxRowsPerFile: options.maxRowsPerFile,
      schema,
      releaseBuffer,
    });
    return { ...result, skipped };
  } finally {
    bar?.stop();
  }
}

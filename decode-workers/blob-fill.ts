/**
 * Blob columns of a batch. A blob column stores per row a descriptor of where its bytes lie (the data
 * file, a sidecar next to it, or an external file: dataset/blobs.ts); the loader batches the bytes
 * themselves, as a binary column's values, so that transforms take them like any encoded image:
 *
 *   rows ─► descriptors (dataset.takeBlobRanges: each checked against the size of its file)
 *        ─► one read per value, grouped by file, straight into the batch's output at its slot's place
 *        ─► a variable-width output in slot order (null blob: validity 0, an empty value)
 *
 * The output's memory is drawn from the worker's decode scratch like any variable-width column's and
 * then goes into the slot's variable-width memory with the batch's other columns, so a batch of blobs
 * larger than a slot allows is refused with the same ResourceError (MEMORY_BUDGET) as one of large binary
 * values. It is fresh per batch: a worker's two lanes hold their blob bytes across reads at the same time.
 */
import { allSettledOrFirstError } from '../io/settle.js';
import { IoError, ResourceError, UnsupportedError } from '../errors.js';
import { packedFieldKind, type LanceField } from '../format/schema.js';
import type { Dataset } from '../dataset/dataset.js';
import { EXTERNAL, INLINE, type BlobRange } from '../dataset/blobs.js';
import type { ByteRange } from '../format/file-metadata.js';
import { addReadStats, readIntoTargets, type ByteSource, type ReadStats } from '../io/source.js';
import {
  chargeGrowth,
  createVariableOutput,
  reserveVariable,
  setNull,
  type ScratchBudget,
  type VariableOutput,
} from './encodings/output.js';

/**
 * A blob column's values outside the data files, from the descriptors of a sample of rows: the mean
 * bytes a row and the largest value.
 */
export interface BlobColumnBytes {
  column: string;
  meanBytes: number;
  largestBytes: number;
}

/** Rows whose descriptors {@link blobBytesOutsideFiles} reads, evenly spaced over the dataset. */
const BLOB_SAMPLE_ROWS = 1024;

/**
 * Per blob v2 column among `fields`, the bytes a row keeps outside the data files, which the data files'
 * sizes do not count: blob v2 values in packed or dedicated sidecars, and external values. Their mean and
 * largest value, read from the descriptors of up to BLOB_SAMPLE_ROWS evenly spaced rows, without opening
 * any sidecar. An external value of size 0 (the whole file from its position, as LanceDB records a file
 * it did not measure) is measured by opening its file when the dataset is local (a stat) and the file may
 * be read (under `externalRoots`); else, or when it cannot be opened (the batch reading it reports why), it
 * counts 0 bytes. Inline blob v2 values and 2.0/2.1 blob columns lie in the data files, whose sizes count
 * them already.
 */
export async function blobBytesOutsideFiles(
  dataset: Dataset,
  fields: readonly LanceField[],
  externalRoots: readonly string[],
): Promise<BlobColumnBytes[]> {
  const columns = fields.filter((f) => packedFieldKind(f) === 'blob-v2').map((f) => f.name);
  const numRows = dataset.numRows;
  if (columns.length === 0 || numRows === 0) return [];
  const count = Math.min(numRows, BLOB_SAMPLE_ROWS);
  const rows = Array.from({ length: count }, (_, i) => Math.floor((i * numRows) / count));
  const descriptors = await dataset.take(rows, { columns });
  return Promise.all(
    columns.map(async (name) => {
      const column = descriptors.getChild(name);
      const [kinds, sizes] = [column?.getChild('kind'), column?.getChild('size')];
      const bytes = new Float64Array(count);
      // Samples of external values of unrecorded size.
      const wholeFiles: number[] = [];
      for (let i = 0; i < count; i++) {
        if (!column?.isValid(i) || kinds?.get(i) === INLINE) continue;
        bytes[i] = Number(sizes?.get(i) ?? 0);
        if (bytes[i] === 0 && kinds?.get(i) === EXTERNAL) wholeFiles.push(i);
      }
      const measured = await wholeFileSizes(
        dataset,
        name,
        wholeFiles.map((i) => rows[i] as number),
        externalRoots,
      );
      measured?.forEach((size, k) => (bytes[wholeFiles[k] as number] = size));
      let total = 0;
      let largestBytes = 0;
      for (const size of bytes) {
        total += size;
        largestBytes = Math.max(largestBytes, size);
      }
      return { column: name, meanBytes: total / count, largestBytes };
    }),
  );
}

/**
 * The sizes of the whole-file external values of column `column` at `rows`, from their files' sizes, when
 * the dataset is local and every file may be opened; else undefined.
 */
async function wholeFileSizes(
  dataset: Dataset,
  column: string,
  rows: number[],
  externalRoots: readonly string[],
): Promise<number[] | undefined> {
  // A remote dataset learns a file's size with a request of its own: too many for an estimate.
  if (rows.length === 0 || dataset.remote) return undefined;
  let ranges: (BlobRange | null)[];
  try {
    ranges = await dataset.takeBlobRanges(rows, column, { externalRoots });
  } catch (error) {
    // Outside externalRoots or gone: the epoch's batch that reads the row reports it, naming the row.
    if (error instanceof UnsupportedError || error instanceof IoError) return undefined;
    throw error;
  }
  dataset.releaseBlobRanges(ranges);
  return ranges.map((range) => range?.size ?? 0);
}

/** Whether the loader batches `field` as a blob column's values (2.0/2.1 `lance-encoding:blob`, 2.2 blob v2). */
export function isBlobColumn(field: Pick<LanceField, 'logicalType' | 'metadata'>): boolean {
  const kind = packedFieldKind(field);
  return kind === 'blob' || kind === 'blob-v2';
}

/**
 * The values of blob column `column` at `rows` (visible offsets, batch order) as a variable-width output of
 * `rows.length` slots. `budget` gives the scratch left once the descriptors are known, and `hold` takes the
 * output's bytes from it in the same synchronous step. `externalRoots`: where external blobs may be read;
 * `reads` counts the value reads (one per non-empty value: they are not merged).
 */
export async function loadBlobColumn(
  dataset: Dataset,
  rows: Uint32Array,
  column: string,
  nullable: boolean,
  externalRoots: readonly string[],
  budget: () => ScratchBudget,
  hold: (bytes: number) => void,
  reads: ReadStats,
): Promise<VariableOutput> {
  const ranges = await dataset.takeBlobRanges(rows, column, { externalRoots });
  try {
    return await readBlobs(ranges, rows.length, column, nullable, budget, hold, reads);
  } finally {
    // The sidecar and external files may be closed now (at most a bounded number stay open: dataset/open-files.ts).
    dataset.releaseBlobRanges(ranges);
  }
}

/** The values of `ranges` (slot order) read into one variable-width output held from the scratch. */
async function readBlobs(
  ranges: readonly (BlobRange | null)[],
  numSlots: number,
  column: string,
  nullable: boolean,
  budget: () => ScratchBudget,
  hold: (bytes: number) => void,
  reads: ReadStats,
): Promise<VariableOutput> {
  let total = 0;
  let largest = 0;
  for (const range of ranges) {
    total += range?.size ?? 0;
    largest = Math.max(largest, range?.size ?? 0);
  }
  // Checked and held with no await between: the worker's other lane may have held scratch meanwhile.
  const left = budget();
  if (total > left.bytesLeft)
    throw new ResourceError(
      'MEMORY_BUDGET',
      `column "${column}": the batch's blob values need ${total} bytes (the largest ${largest}), but ${left.source} has ${left.bytesLeft} left; raise memoryBytes or lower batchSize`,
      { column, neededBytes: total, largestBytes: largest, bytesLeft: left.bytesLeft },
    );
  const out = createVariableOutput(numSlots, nullable, chargeGrowth(left, 0, total, total));
  hold(out.data.byteLength);
  // Each value's place in slot order, its reads grouped by the file they read.
  const bySource = new Map<ByteSource, { ranges: ByteRange[]; targets: Uint8Array[] }>();
  ranges.forEach((range, slot) => {
    if (!range) {
      setNull(out, slot);
      return;
    }
    const at = reserveVariable(out, slot, range.size);
    if (range.size === 0) return;
    addReadStats(reads, {
      readsIssued: 1,
      bytesRead: range.size,
      rangesRequested: 1,
      bytesRequested: range.size,
      mappedReads: 0,
    });
    let group = bySource.get(range.source);
    if (!group) bySource.set(range.source, (group = { ranges: [], targets: [] }));
    group.ranges.push({ offset: range.position, size: range.size });
    group.targets.push(out.data.subarray(at, at + range.size));
  });
  await allSettledOrFirstError(
    [...bySource].map(([source, group]) => readIntoTargets(source, group.ranges, group.targets)),
  );
  return out;
}

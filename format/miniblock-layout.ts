/**
 * The 2.1 mini-block layout's page index (lance.encodings21.MiniBlockLayout; lance-encoding
 * encodings/logical/primitive.rs): which bytes of a page hold which items. A page has buffers:
 *
 *   [0] chunk metadata: one word per chunk, u16, or u32 when `has_large_chunk` (2.2);
 *       bytes = ((word >> 4) + 1) * 8, values = 2^(word & 0xF) except the last chunk, which holds
 *       the rest of the page's items
 *   [1] chunk data, the chunks back to back
 *   [2] the page dictionary, when `dictionary` is set
 *
 * The planner reads the chunk table once per page and then only the chunks a read touches; the
 * chunks themselves are decoded by decode-workers/encodings/miniblock.ts.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import type { MiniBlockLayoutProto } from './proto/messages.js';

/** Most items one chunk can hold: the chunk metadata word stores log2(items) in 4 bits. */
const MAX_CHUNK_ITEMS = 2 ** 15;

/** Where each chunk of a page sits and which items it holds; index i..i+1 bound chunk i. */
export interface ChunkTable {
  /** Byte offset of each chunk within the chunk data buffer (n + 1 entries). */
  byteOffsets: Float64Array;
  /** First item of each chunk (n + 1 entries; the last is the page's item count). */
  itemStarts: Float64Array;
}

/** Bytes of one chunk metadata word, and of each buffer size in a chunk's header. */
export function chunkWordBytes(layout: MiniBlockLayoutProto): 2 | 4 {
  return layout.has_large_chunk ? 4 : 2;
}

/**
 * Parses the chunk metadata buffer of a page holding `numItems` items in `dataBytes` of chunk data, in
 * words of `wordBytes` ({@link chunkWordBytes}).
 */
export function parseChunkTable(
  meta: Uint8Array,
  wordBytes: 2 | 4,
  numItems: number,
  dataBytes: number,
  where: string,
): ChunkTable {
  if (meta.length % wordBytes !== 0) {
    throw new CorruptFileError(
      `${where}: chunk metadata is ${meta.length} bytes, not a whole number of u${wordBytes * 8} words`,
    );
  }
  const n = meta.length / wordBytes;
  const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const byteOffsets = new Float64Array(n + 1);
  const itemStarts = new Float64Array(n + 1);
  let bytes = 0;
  let items = 0;
  for (let i = 0; i < n; i++) {
    const word = wordBytes === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true);
    bytes += ((word >>> 4) + 1) * 8;
    // A shift, not 2 ** x: V8 computes that as a float power, several times slower over a page's chunks.
    const count = i === n - 1 ? numItems - items : 1 << (word & 0xf);
    // The last chunk holds the rest of the page; like every chunk it has at most 2^15 items.
    if (count < 0 || count > MAX_CHUNK_ITEMS) {
      throw new CorruptFileError(
        `${where}: chunk ${i} of ${n} would hold ${count} items (the page has ${numItems}, chunks hold 0..${MAX_CHUNK_ITEMS})`,
      );
    }
    items += count;
    byteOffsets[i + 1] = bytes;
    itemStarts[i + 1] = items;
  }
  if (items !== numItems || (n === 0 && numItems !== 0) || bytes > dataBytes) {
    throw new CorruptFileError(
      `${where}: chunk table of ${n} chunks covers ${items} items in ${bytes} bytes, but the page has ${numItems} items in ${dataBytes} bytes`,
    );
  }
  return { byteOffsets, itemStarts };
}

/**
 * The repetition index of a mini-block page with lists (the buffer after the dictionary):
 * `repetition_index_depth + 1` u64 words per chunk, the first two being the rows that end in the chunk
 * and the items of a row left unfinished at its end (lance-encoding MiniBlockRepIndex). A row that does
 * not fit a chunk continues into the next ones: that chunk has a trailer and the next a preamble.
 */
export interface MiniBlockRepIndex {
  /** The first row that starts in each chunk (after its preamble). */
  firstRow: Float64Array;
  /** Rows that start in each chunk (its trailer included). */
  starts: Float64Array;
  /** Whether each chunk ends inside a row that the next chunk continues. */
  hasTrailer: Uint8Array;
  /**
   * The chunk row `k << rowShift` starts in, for each k, then the last chunk: a row's chunk lies between
   * two neighbouring entries, so finding it is a search over the few chunks of one step of rows, not the page.
   */
  stepChunks: Uint32Array;
  /** log2 of the rows between entries of stepChunks: about the rows a chunk holds, so ~1 entry a chunk. */
  rowShift: number;
}

/** Parses the repetition index of a page of `numChunks` chunks holding `numRows` rows. */
export function parseMiniBlockRepIndex(
  bytes: Uint8Array,
  depth: number,
  numChunks: number,
  numRows: number,
  where: string,
): MiniBlockRepIndex {
  const stride = (depth + 1) * 8;
  if (depth < 1 || bytes.length !== numChunks * stride) {
    throw new CorruptFileError(
      `${where}: repetition index of ${bytes.length} bytes does not hold ${numChunks} chunks of ${depth + 1} u64 words`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const firstRow = new Float64Array(numChunks);
  const starts = new Float64Array(numChunks);
  const hasTrailer = new Uint8Array(numChunks);
  let row = 0;
  let preamble = 0;
  for (let i = 0; i < numChunks; i++) {
    // u64 words as two u32 halves: getBigUint64 makes a BigInt per word, and a page of long lists has
    // thousands of chunks.
    const at = i * stride;
    const ends = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
    const trailer = (view.getUint32(at + 8, true) | view.getUint32(at + 12, true)) !== 0 ? 1 : 0;
    const count = ends + trailer - preamble;
    if (count < 0 || row + count > numRows) {
      throw new CorruptFileError(
        `${where}: repetition index entry ${i} (${ends} rows ending) puts rows past the page's ${numRows}`,
        { chunk: i },
      );
    }
    firstRow[i] = row;
    starts[i] = count;
    hasTrailer[i] = trailer;
    row += count;
    preamble = trailer;
  }
  if (row !== numRows || preamble === 1) {
    throw new CorruptFileError(
      `${where}: repetition index covers ${row} rows${preamble ? ' and ends inside a row' : ''}, the page has ${numRows}`,
    );
  }
  // Page rows are asked for as Uint32 values, so the steps cover at most 2^32 rows: at most
  // max(numChunks, 2) entries, however many rows the page claims.
  const indexedRows = Math.min(numRows, 2 ** 32);
  let rowShift = 0;
  while (rowShift < 31 && 2 ** rowShift * numChunks < indexedRows) rowShift++;
  const steps = Math.ceil(indexedRows / 2 ** rowShift);
  const stepChunks = new Uint32Array(steps + 1);
  let chunk = 0;
  for (let k = 0; k < steps; k++) {
    const stepRow = k * 2 ** rowShift;
    while (chunk + 1 < numChunks && (firstRow[chunk + 1] as number) <= stepRow) chunk++;
    stepChunks[k] = chunk;
  }
  stepChunks[steps] = Math.max(numChunks - 1, 0);
  return { firstRow, starts, hasTrailer, stepChunks, rowShift };
}

/**
 * Chunks [first, last] holding row `row`: the chunk it starts in and those its items continue into.
 * The rows were checked against the page (parseMiniBlockRepIndex), so the search always ends.
 */
export function chunksOfRow(index: MiniBlockRepIndex, row: number): { first: number; last: number } {
  const { firstRow, starts, hasTrailer, stepChunks, rowShift } = index;
  const step = row >>> rowShift;
  let lo = stepChunks[step] as number;
  let hi = stepChunks[step + 1] as number;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((firstRow[mid] as number) <= row) lo = mid;
    else hi = mid - 1;
  }
  let last = lo;
  if (row === (firstRow[lo] as number) + (starts[lo] as number) - 1 && hasTrailer[lo] === 1) {
    last++;
    while (starts[last] === 0 && hasTrailer[last] === 1) last++;
  }
  return { first: lo, last };
}

/** Checks that lance-loader can decode the page's structure (flat columns, no repetition). */
export function checkMiniBlockSupported(layout: MiniBlockLayoutProto, where: string): void {
  if (layout.rep_compression || layout.repetition_index_depth > 0) {
    throw new UnsupportedError(`${where}: nested (list) mini-block pages are not supported yet`, {
      layers: layout.layers,
    });
  }
  for (const layer of layout.layers) {
    if (layer !== 'REPDEF_ALL_VALID_ITEM' && layer !== 'REPDEF_NULLABLE_ITEM') {
      throw new UnsupportedError(
        `${where}: mini-block pages with ${layer} layers (nested data) are not supported yet`,
        { layers: layout.layers },
      );
    }
  }
  if (layout.layers.length > 1) {
    throw new UnsupportedError(
      `${where}: mini-block pages with ${layout.layers.length} rep/def layers (struct fields) are not supported yet`,
    );
  }
}

/**
 * Encoding a page in the 2.1 mini-block layout (format/miniblock-layout.ts reads it back), the layout
 * LanceDB picks for values under 256 bytes.
 *
 *   buffer 0: one word per chunk (u16; u32 in 2.2)   ((chunk_bytes / 8 − 1) << 4) | log2(values in chunk)
 *   buffer 1: the chunks, each 8-byte aligned:
 *     u16 num_levels | u16 rep_bytes (if rep) | u16 def_bytes (if def) | value_bytes per value buffer
 *     (u16; u32 in 2.2) | pad to 8 (0xFE) | rep levels, pad to 8 | def levels, pad to 8 | each value
 *     buffer, pad to 8
 *   buffer 2: the dictionary, when the values are dictionary indices
 *   buffer 2 or 3: the repetition index, when the page has lists
 *
 * Integers, dates, timestamps and floats of 8–64 bits are run-length encoded (writer/rle.ts) or bit-packed
 * (writer/bitpack.ts, chunks of 1024 values) when that makes them smallest. Otherwise chunks follow
 * LanceDB's sizes: fixed-width values in power-of-two counts of at most 4096 values and under 8 KiB (bools
 * in whole bytes of 8), variable-width values in power-of-two counts whose offsets plus bytes fit in 4 KiB
 * (`Variable`: offsets relative to the chunk buffer, then the bytes, padded to the offset width with 0x48).
 * Every chunk but the last holds a power of two of values.
 */
import { InternalError } from '../errors.js';
import type { CompressiveEncodingProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import { bitpackChunks, type LevelCodec } from './bitpack.js';
import { compressFirstBuffers, generalEncoding, type GeneralCompression } from './general-compression.js';
import { levelCodec, type WriteFileVersion } from './levels.js';
import { rleBytes, rleChunks, rleEncoding } from './rle.js';
import type { ColumnKind } from './schema.js';
import { levelsOf, rowBytes, type PageValues } from './values.js';

const MAX_CHUNK_BYTES = 8 * 1024 - 6;
/** The most bytes a chunk word can say: (0xFFF + 1) × 8. */
const MAX_CHUNK_BYTES_WITH_LEVELS = 32 * 1024;
const MAX_CHUNK_VALUES = 4096;
const AIM_VARIABLE_CHUNK_BYTES = 4 * 1024;
const ALIGNMENT = 8;
const FILL_BYTE = 0xfe;
const VARIABLE_PAD_BYTE = 0x48;

/** One chunk before serialization: which values it holds and its value buffers. */
interface Chunk {
  rowStart: number;
  rowEnd: number; // exclusive
  log2Values: number;
  buffers: Uint8Array[];
}

/** A page's values cut into chunks, and the compressive encoding that reads them back. */
interface ValueChunks {
  chunks: Chunk[];
  encoding: CompressiveEncodingProto;
}

const pad = (n: number, to: number): number => (to - (n % to)) % to;

/** Values per chunk for fixed-width words: the largest power of two that stays under the byte limit. */
function fixedChunkValues(bytesPerWord: number, valuesPerWord: number): { log2: number; count: number } {
  let size = 2 * bytesPerWord;
  let log2 = valuesPerWord === 1 ? 1 : 3;
  let count = valuesPerWord === 1 ? 2 : 8;
  while (2 * size < MAX_CHUNK_BYTES && 2 * count <= MAX_CHUNK_VALUES) {
    log2++;
    size *= 2;
    count *= 2;
  }
  return { log2, count };
}

/** Bits `start, start + count` of an LSB-first bitmap, shifted to start at bit 0 (LanceDB's `bit_slice_le_with_length`). */
function bitSlice(bits: Uint8Array, start: number, count: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(count / 8));
  if (start % 8 === 0) {
    out.set(bits.subarray(start / 8, start / 8 + out.length));
    if (count % 8 !== 0) out[out.length - 1] = (out[out.length - 1] as number) & ((1 << (count % 8)) - 1);
    return out;
  }
  for (let i = 0; i < count; i++) {
    const bit = start + i;
    if (((bits[bit >> 3] as number) >> (bit & 7)) & 1) out[i >> 3] = (out[i >> 3] as number) | (1 << (i & 7));
  }
  return out;
}

function fixedChunks(kind: ColumnKind, values: PageValues): Chunk[] {
  const bits = kind.kind === 'bool' ? 1 : rowBytes(kind) * 8;
  const [bytesPerWord, valuesPerWord] = bits % 8 === 0 ? [bits / 8, 1] : [bits, 8];
  // Item validity is a buffer of its own in each chunk, counted in the chunk's rows as LanceDB's chunk_fsl
  // counts it: ceil(dimension / 8) bytes more per row.
  const itemValidity = kind.kind === 'fsl' ? values.itemValidity : undefined;
  const dimension = kind.kind === 'fsl' ? kind.dimension : 0;
  const validityBytes = itemValidity ? Math.ceil(dimension / 8) : 0;
  const { log2, count } = fixedChunkValues(bytesPerWord + validityBytes, valuesPerWord);
  const chunks: Chunk[] = [];
  for (let rowStart = 0; rowStart < values.rows; rowStart += count) {
    const rowEnd = Math.min(values.rows, rowStart + count);
    const byteStart = (rowStart * bits) / 8;
    const byteEnd = Math.ceil((rowEnd * bits) / 8);
    // Only a partial last chunk is marked 0: when the rows fill whole chunks, LanceDB's last word keeps its count.
    const log2Values = rowEnd - rowStart === count ? log2 : 0;
    const buffers = [values.bytes.subarray(byteStart, byteEnd)];
    if (itemValidity) buffers.unshift(bitSlice(itemValidity, rowStart * dimension, (rowEnd - rowStart) * dimension));
    chunks.push({ rowStart, rowEnd, log2Values, buffers });
  }
  return chunks;
}

/**
 * The end (exclusive) of the variable-width chunk starting at `start`, as LanceDB cuts it: double the
 * value count while offsets plus bytes fit the aim; the rest of the page if it fits; otherwise the first
 * doubling that did not fit (so a chunk may pass the aim, never the 32 KiB limit for values under 256 B).
 */
function nextVariableCut(offsets: Float64Array, start: number, offsetBytes: number): number {
  const length = offsets.length;
  let count = 1;
  let next = 2;
  for (;;) {
    if (start + next >= length) {
      const rest = (offsets[length - 1] as number) - (offsets[start] as number) + (length - start) * offsetBytes;
      return rest <= AIM_VARIABLE_CHUNK_BYTES ? length - 1 : start + count;
    }
    const size = (offsets[start + next] as number) - (offsets[start] as number) + (next + 1) * offsetBytes;
    if (size > AIM_VARIABLE_CHUNK_BYTES) return start + next;
    count = next;
    next *= 2;
  }
}

function variableChunks(values: PageValues, offsetBytes: 4 | 8): Chunk[] {
  const offsets = values.offsets;
  if (!offsets) throw new InternalError('variable-width page values without offsets');
  const chunks: Chunk[] = [];
  let start = 0;
  while (start < values.rows) {
    const end = nextVariableCut(offsets, start, offsetBytes);
    const n = end - start;
    const head = (n + 1) * offsetBytes;
    const dataStart = offsets[start] as number;
    const dataBytes = (offsets[end] as number) - dataStart;
    const size = head + dataBytes;
    const buffer = new Uint8Array(size + pad(size, offsetBytes));
    const view = new DataView(buffer.buffer);
    for (let i = 0; i <= n; i++) {
      const relative = head + (offsets[start + i] as number) - dataStart;
      if (offsetBytes === 4) view.setUint32(i * 4, relative, true);
      else view.setBigUint64(i * 8, BigInt(relative), true);
    }
    buffer.set(values.bytes.subarray(dataStart, dataStart + dataBytes), head);
    buffer.fill(VARIABLE_PAD_BYTE, size);
    chunks.push({
      rowStart: start,
      rowEnd: end,
      log2Values: end === values.rows ? 0 : Math.log2(n),
      buffers: [buffer],
    });
    start = end;
  }
  return chunks;
}

/** InlineBitpacking chunks of 1024 values (the last one marked 0), when they are smaller than the values. */
function bitpackedChunks(values: PageValues, elemBits: number): Chunk[] | undefined {
  const blocks = bitpackChunks(values.bytes, values.rows, elemBits);
  return blocks?.map((block, i) => {
    const rowStart = i * 1024;
    const rowEnd = Math.min(values.rows, rowStart + 1024);
    return { rowStart, rowEnd, log2Values: i === blocks.length - 1 ? 0 : 10, buffers: [block] };
  });
}

const byteCount = (chunks: Chunk[]): number =>
  chunks.reduce((sum, chunk) => sum + chunk.buffers.reduce((n, b) => n + b.length, 0), 0);

/**
 * Integers, floats, dates and timestamps of 8–64 bits as LanceDB compresses them: run-length encoded,
 * bit-packed or plain, whichever takes the fewest bytes (plain on a tie). Undefined for other widths.
 */
function compressedFixedChunks(values: PageValues, byteWidth: number): ValueChunks | undefined {
  if (![1, 2, 4, 8].includes(byteWidth)) return undefined;
  const elemBits = byteWidth * 8;
  const plainBytes = values.rows * byteWidth;
  const runBytes = rleBytes(values.bytes, values.rows, byteWidth);
  const packed = bitpackedChunks(values, elemBits);
  const packedBytes = packed ? byteCount(packed) : plainBytes;
  if (runBytes < plainBytes && runBytes < packedBytes) {
    const chunks = rleChunks(values.bytes, values.rows, byteWidth).map((chunk, i, all) => ({
      ...chunk,
      log2Values: i === all.length - 1 ? 0 : Math.log2(chunk.rowEnd - chunk.rowStart),
    }));
    return { chunks, encoding: rleEncoding(byteWidth) };
  }
  if (packed) return { chunks: packed, encoding: { inline_bitpacking: { uncompressed_bits_per_value: elemBits } } };
  return undefined;
}

/** The page's values in chunks, compressed as LanceDB picks for the kind. */
function valueChunks(kind: ColumnKind, values: PageValues, plain: boolean): ValueChunks {
  if (kind.kind === 'fixed' && !plain) {
    const compressed = compressedFixedChunks(values, kind.byteWidth);
    if (compressed) return compressed;
  }
  const chunks = kind.kind === 'variable' ? variableChunks(values, kind.offsetBytes) : fixedChunks(kind, values);
  return { chunks, encoding: valueEncoding(kind, values.itemValidity !== undefined) };
}

/**
 * The compressive encoding of uncompressed values of a column kind (mini-block and full-zip alike);
 * `itemValidity`: a fixed-size list's values carry their items' validity.
 */
export function valueEncoding(kind: ColumnKind, itemValidity = false): CompressiveEncodingProto {
  switch (kind.kind) {
    case 'bool':
      return { flat: { bits_per_value: 1 } };
    case 'fixed':
      return { flat: { bits_per_value: kind.byteWidth * 8 } };
    case 'fsl':
      return {
        fixed_size_list: {
          items_per_value: kind.dimension,
          has_validity: itemValidity,
          values: { flat: { bits_per_value: kind.itemBits } },
        },
      };
    case 'variable':
      return { variable: { offsets: { flat: { bits_per_value: kind.offsetBytes * 8 } } } };
  }
}

/**
 * The first level entry of each chunk, and the total: a chunk takes the levels of its values, and null or
 * empty lists after its last value go to the next chunk (the last chunk takes the rest), as LanceDB cuts them.
 */
function chunkLevelStarts(chunks: Chunk[], levels: ReturnType<typeof levelsOf>, numLevels: number): number[] {
  const starts = chunks.map((chunk) => chunk.rowStart);
  const { rep, def, maxVisibleDef } = levels;
  if (rep && def) {
    let entry = 0;
    chunks.forEach((chunk, i) => {
      starts[i] = entry;
      let taken = 0;
      const want = chunk.rowEnd - chunk.rowStart;
      while (taken < want) if ((def[entry++] as number) <= maxVisibleDef) taken++;
    });
  }
  starts.push(numLevels);
  return starts;
}

/**
 * The repetition index (`repetition_index_depth` 1): per chunk, u64 rows that end in it and u64 levels
 * of a row it leaves unfinished, computed as LanceDB's `compress_levels` does.
 */
function repetitionIndex(rep: Uint16Array, starts: number[], maxRep: number): Uint8Array {
  const chunks = starts.length - 1;
  const index = new BigUint64Array(chunks * 2);
  for (let c = 0; c < chunks; c++) {
    const from = starts[c] as number;
    const to = starts[c + 1] as number;
    let rows = 0;
    for (let i = from + 1; i < to; i++) if (rep[i] === maxRep) rows++;
    let leftovers = 0;
    if (c < chunks - 1) {
      let last = to - 1;
      while (last >= from && rep[last] !== maxRep) last--;
      leftovers = last >= from ? to - last : to - from;
    } else rows++;
    // A chunk that starts a row finishes the previous chunk's leftover row.
    if (c > 0 && rep[from] === maxRep && index[2 * c - 1] !== 0n) {
      index[2 * c - 2] = (index[2 * c - 2] as bigint) + 1n;
      index[2 * c - 1] = 0n;
    }
    index[2 * c] = BigInt(rows);
    index[2 * c + 1] = BigInt(leftovers);
  }
  return new Uint8Array(index.buffer);
}

/** What a mini-block page adds to its values: a dictionary, a wrapper around the value encoding, general compression. */
export interface MiniBlockOptions {
  /** The values are indices into this dictionary (buffer 2). */
  dictionary?: { items: Uint8Array; itemCount: number; encoding: CompressiveEncodingProto };
  /** Wraps the value encoding (Fsst around the Variable encoding of compressed strings). */
  wrapEncoding?: (inner: CompressiveEncodingProto) => CompressiveEncodingProto;
  /** Compresses each chunk's first value buffer (`lance-encoding:compression`). */
  general?: GeneralCompression;
  /** Fixed-width values stay plain (`lance-encoding:compression: none`). */
  plain?: boolean;
}

/**
 * A page encoded as mini-blocks: its buffers (chunk words, chunk data, the dictionary when it has one,
 * and the repetition index when it has lists) and its layout message, or undefined when a nested leaf's
 * levels do not fit its chunks. File version 2.2 writes chunk words and value sizes as u32.
 */
export function encodeMiniBlockPage(
  kind: ColumnKind,
  values: PageValues,
  version: WriteFileVersion,
  options: MiniBlockOptions = {},
): { buffers: Uint8Array[]; layout: MiniBlockLayoutProto } | undefined {
  const picked = valueChunks(kind, values, options.plain ?? false);
  const chunks = picked.chunks;
  let encoding = options.wrapEncoding ? options.wrapEncoding(picked.encoding) : picked.encoding;
  // General compression takes a chunk's first buffer, which is the item validity when there is one.
  if (options.general && !values.itemValidity) {
    const compressed = compressFirstBuffers(
      chunks.map((chunk) => chunk.buffers[0] as Uint8Array),
      options.general,
    );
    if (compressed) {
      chunks.forEach((chunk, i) => (chunk.buffers[0] = compressed[i] as Uint8Array));
      encoding = generalEncoding(options.general, encoding);
    }
  }
  const levels = levelsOf(values);
  const { rep, def } = levels;
  const numLevels = (rep ?? def)?.length ?? values.rows;
  const starts = chunkLevelStarts(chunks, levels, numLevels);
  const repCodec = rep && levelCodec(rep, version);
  const defCodec = def && levelCodec(def, version);
  const chunkLevels = (codec: LevelCodec | undefined, all: Uint16Array | undefined, i: number) =>
    codec && all ? codec.compress(all.subarray(starts[i], starts[i + 1])) : undefined;
  const reps = chunks.map((_, i) => chunkLevels(repCodec, rep, i));
  const defs = chunks.map((_, i) => chunkLevels(defCodec, def, i));
  const sizeBytes = version === '2.2' ? 4 : 2;
  const bufferCount = chunks[0]?.buffers.length ?? 1;
  const header = 2 + (rep ? 2 : 0) + (def ? 2 : 0) + sizeBytes * bufferCount;
  let total = 0;
  const sizes = chunks.map((chunk, i) => {
    const repBytes = reps[i]?.length ?? 0;
    const defBytes = defs[i]?.length ?? 0;
    let size =
      header +
      pad(header, ALIGNMENT) +
      (rep ? repBytes + pad(repBytes, ALIGNMENT) : 0) +
      (def ? defBytes + pad(defBytes, ALIGNMENT) : 0);
    for (const buffer of chunk.buffers) size += buffer.length + pad(buffer.length, ALIGNMENT);
    total += size;
    return size;
  });
  // Null and empty lists add levels but no values, so a nested leaf's chunk can outgrow the 32 KiB a
  // chunk word can say (or the u16 level count); such a page goes to full-zip instead.
  const fits = (i: number): boolean =>
    (sizes[i] as number) <= MAX_CHUNK_BYTES_WITH_LEVELS && (starts[i + 1] as number) - (starts[i] as number) <= 0xffff;
  if (!chunks.every((_, i) => fits(i))) {
    if (values.levels) return undefined;
    throw new InternalError(`mini-block chunk exceeds 32 KiB`);
  }
  const data = new Uint8Array(total);
  const view = new DataView(data.buffer);
  const words = new Uint8Array(chunks.length * sizeBytes);
  const wordView = new DataView(words.buffer);
  let at = 0;
  const put = (bytes: Uint8Array): void => {
    data.set(bytes, at);
    at += bytes.length;
    data.fill(FILL_BYTE, at, at + pad(bytes.length, ALIGNMENT));
    at += pad(bytes.length, ALIGNMENT);
  };
  chunks.forEach((chunk, i) => {
    const start = at;
    view.setUint16(at, rep || def ? (starts[i + 1] as number) - (starts[i] as number) : 0, true);
    at += 2;
    for (const levelBytes of [rep && reps[i], def && defs[i]]) {
      if (!levelBytes) continue;
      view.setUint16(at, levelBytes.length, true);
      at += 2;
    }
    for (const buffer of chunk.buffers) {
      if (sizeBytes === 4) view.setUint32(at, buffer.length, true);
      else view.setUint16(at, buffer.length, true);
      at += sizeBytes;
    }
    data.fill(FILL_BYTE, at, at + pad(at - start, ALIGNMENT));
    at += pad(at - start, ALIGNMENT);
    const repBytes = reps[i];
    const defBytes = defs[i];
    if (repBytes) put(repBytes);
    if (defBytes) put(defBytes);
    for (const buffer of chunk.buffers) put(buffer);
    const word = (((at - start) / ALIGNMENT - 1) << 4) | chunk.log2Values;
    if (sizeBytes === 4) wordView.setUint32(i * 4, word, true);
    else wordView.setUint16(i * 2, word, true);
  });
  const layout: MiniBlockLayoutProto = {
    value_compression: encoding,
    num_dictionary_items: options.dictionary?.itemCount ?? 0,
    layers: levels.layers,
    num_buffers: bufferCount,
    repetition_index_depth: rep ? 1 : 0,
    num_items: values.rows,
    has_large_chunk: version === '2.2',
  };
  if (repCodec) layout.rep_compression = repCodec.encoding;
  if (defCodec) layout.def_compression = defCodec.encoding;
  const buffers: Uint8Array[] = [words, data];
  if (options.dictionary) {
    layout.dictionary = options.dictionary.encoding;
    buffers.push(options.dictionary.items);
  }
  if (rep && values.levels) buffers.push(repetitionIndex(rep, starts, values.levels.maxRep));
  return { buffers, layout };
}

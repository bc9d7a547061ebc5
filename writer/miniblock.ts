/**
 * Encoding a page in the 2.1 mini-block layout (format/miniblock-layout.ts reads it back), the layout
 * LanceDB picks for values under 256 bytes.
 *
 *   buffer 0: one u16 word per chunk   ((chunk_bytes / 8 − 1) << 4) | log2(values in chunk)  (last: 0)
 *   buffer 1: the chunks, each 8-byte aligned:
 *     u16 num_levels | u16 def_bytes (if def) | u16 value_bytes | pad to 8 (0xFE)
 *     def levels (u16 each: Flat(16b), or bit-packed as LanceDB picks), pad to 8 | value buffer, pad to 8
 *
 * Integers, dates, timestamps and floats of 8–64 bits are bit-packed (writer/bitpack.ts) when that makes
 * them smaller, in chunks of 1024 values. Otherwise chunks follow LanceDB's sizes: fixed-width values in power-of-two counts of at most 4096 values and
 * under 8 KiB (bools in whole bytes of 8), variable-width values in power-of-two counts whose offsets
 * plus bytes fit in 4 KiB (`Variable`: offsets relative to the chunk buffer, then the bytes, padded to
 * the offset width with 0x48). Every chunk but the last holds a power of two of values.
 */
import { InternalError } from '../errors.js';
import type { CompressiveEncodingProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import { bitpackChunks, type LevelCodec } from './bitpack.js';
import { levelCodec, type WriteFileVersion } from './levels.js';
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

/** One chunk before serialization: which values it holds and its value buffer. */
interface Chunk {
  rowStart: number;
  rowEnd: number; // exclusive
  log2Values: number;
  values: Uint8Array;
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

function fixedChunks(kind: ColumnKind, values: PageValues): Chunk[] {
  const bits = kind.kind === 'bool' ? 1 : rowBytes(kind) * 8;
  const [bytesPerWord, valuesPerWord] = bits % 8 === 0 ? [bits / 8, 1] : [bits, 8];
  const { log2, count } = fixedChunkValues(bytesPerWord, valuesPerWord);
  const chunks: Chunk[] = [];
  for (let rowStart = 0; rowStart < values.rows; rowStart += count) {
    const rowEnd = Math.min(values.rows, rowStart + count);
    const byteStart = (rowStart * bits) / 8;
    const byteEnd = Math.ceil((rowEnd * bits) / 8);
    // Only a partial last chunk is marked 0: when the rows fill whole chunks, LanceDB's last word keeps its count.
    const log2Values = rowEnd - rowStart === count ? log2 : 0;
    chunks.push({ rowStart, rowEnd, log2Values, values: values.bytes.subarray(byteStart, byteEnd) });
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
    chunks.push({ rowStart: start, rowEnd: end, log2Values: end === values.rows ? 0 : Math.log2(n), values: buffer });
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
    return { rowStart, rowEnd, log2Values: i === blocks.length - 1 ? 0 : 10, values: block };
  });
}

/** The compressive encoding of uncompressed values of a column kind (mini-block and full-zip alike). */
export function valueEncoding(kind: ColumnKind): CompressiveEncodingProto {
  switch (kind.kind) {
    case 'bool':
      return { flat: { bits_per_value: 1 } };
    case 'fixed':
      return { flat: { bits_per_value: kind.byteWidth * 8 } };
    case 'fsl':
      return {
        fixed_size_list: {
          items_per_value: kind.dimension,
          has_validity: false,
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

/**
 * A page encoded as mini-blocks: its buffers (chunk words, chunk data, and the repetition index when it
 * has lists) and its layout message, or undefined when a nested leaf's levels do not fit its chunks.
 * File version 2.2 writes chunk words and value sizes as u32.
 */
export function encodeMiniBlockPage(
  kind: ColumnKind,
  values: PageValues,
  version: WriteFileVersion,
): { buffers: Uint8Array[]; layout: MiniBlockLayoutProto } | undefined {
  const elemBits = kind.kind === 'fixed' && [1, 2, 4, 8].includes(kind.byteWidth) ? kind.byteWidth * 8 : 0;
  const packed = elemBits > 0 ? bitpackedChunks(values, elemBits) : undefined;
  const chunks =
    packed ?? (kind.kind === 'variable' ? variableChunks(values, kind.offsetBytes) : fixedChunks(kind, values));
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
  const header = 2 + (rep ? 2 : 0) + (def ? 2 : 0) + sizeBytes;
  let total = 0;
  const sizes = chunks.map((chunk, i) => {
    const repBytes = reps[i]?.length ?? 0;
    const defBytes = defs[i]?.length ?? 0;
    const size =
      header +
      pad(header, ALIGNMENT) +
      (rep ? repBytes + pad(repBytes, ALIGNMENT) : 0) +
      (def ? defBytes + pad(defBytes, ALIGNMENT) : 0) +
      chunk.values.length +
      pad(chunk.values.length, ALIGNMENT);
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
    if (sizeBytes === 4) view.setUint32(at, chunk.values.length, true);
    else view.setUint16(at, chunk.values.length, true);
    at += sizeBytes;
    data.fill(FILL_BYTE, at, at + pad(at - start, ALIGNMENT));
    at += pad(at - start, ALIGNMENT);
    const repBytes = reps[i];
    const defBytes = defs[i];
    if (repBytes) put(repBytes);
    if (defBytes) put(defBytes);
    put(chunk.values);
    const word = (((at - start) / ALIGNMENT - 1) << 4) | chunk.log2Values;
    if (sizeBytes === 4) wordView.setUint32(i * 4, word, true);
    else wordView.setUint16(i * 2, word, true);
  });
  const layout: MiniBlockLayoutProto = {
    value_compression: packed ? { inline_bitpacking: { uncompressed_bits_per_value: elemBits } } : valueEncoding(kind),
    num_dictionary_items: 0,
    layers: levels.layers,
    num_buffers: 1,
    repetition_index_depth: rep ? 1 : 0,
    num_items: values.rows,
    has_large_chunk: version === '2.2',
  };
  if (repCodec) layout.rep_compression = repCodec.encoding;
  if (defCodec) layout.def_compression = defCodec.encoding;
  const buffers: Uint8Array[] = [words, data];
  if (rep && values.levels) buffers.push(repetitionIndex(rep, starts, values.levels.maxRep));
  return { buffers, layout };
}

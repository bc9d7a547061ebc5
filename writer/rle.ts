/**
 * Run-length encoding of fixed-width mini-block values (the `Rle` compressive encoding), the inverse
 * of decode-workers/encodings/rle.ts. LanceDB picks it for columns of repeated values: runs, sorted
 * values with repeats, categories stored as numbers.
 *
 *   chunk buffer 0: one value (T: 8, 16, 32 or 64 bits) per run
 *   chunk buffer 1: one u8 length per run; a run longer than 255 is split into runs of 255 and the rest
 *
 * Chunks hold at most 2048 values and 8186 bytes of runs; every chunk but the last holds a power of two
 * of values (at least 64), and a run that crosses a chunk boundary is cut there, so each chunk decodes
 * on its own.
 */
import type { CompressiveEncodingProto } from '../format/proto/messages.js';

const MAX_CHUNK_VALUES = 2048;
const MAX_CHUNK_BYTES = 8 * 1024 - 6;
const MAX_RUN = 255;

/** One chunk of runs: values `[rowStart, rowEnd)` as its value and run-length buffers. */
export interface RleChunk {
  rowStart: number;
  rowEnd: number; // exclusive
  buffers: [Uint8Array, Uint8Array];
}

/** The values of `bytes` as words to compare: a u8/u16/u32 view, or (lo, hi) u32 pairs for 64 bits. */
function wordsOf(bytes: Uint8Array, byteWidth: number): Uint8Array | Uint16Array | Uint32Array {
  const aligned = bytes.byteOffset % Math.min(byteWidth, 4) === 0 ? bytes : bytes.slice();
  if (byteWidth === 1) return aligned;
  if (byteWidth === 2) return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
  return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
}

function sameAsPrevious(words: ArrayLike<number>, i: number, pairs: number): boolean {
  if (pairs === 1) return words[i] === words[i - 1];
  return words[2 * i] === words[2 * i - 2] && words[2 * i + 1] === words[2 * i - 1];
}

/**
 * Bytes the runs of values `[start, end)` take (each stored run: one value + one length byte), counting
 * runs cut at 255.
 */
function runBytes(words: ArrayLike<number>, pairs: number, byteWidth: number, start: number, end: number): number {
  let runs = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    if (length > 0 && length < MAX_RUN && sameAsPrevious(words, i, pairs)) length++;
    else {
      runs++;
      length = 1;
    }
  }
  return runs * (byteWidth + 1);
}

/** Bytes the whole page takes run-length encoded (chunk boundaries aside), to weigh against the others. */
export function rleBytes(bytes: Uint8Array, count: number, byteWidth: number): number {
  return runBytes(wordsOf(bytes, byteWidth), byteWidth === 8 ? 2 : 1, byteWidth, 0, count);
}

function encodeRuns(
  bytes: Uint8Array,
  words: ArrayLike<number>,
  pairs: number,
  byteWidth: number,
  start: number,
  end: number,
): [Uint8Array, Uint8Array] {
  const runs = runBytes(words, pairs, byteWidth, start, end) / (byteWidth + 1);
  const values = new Uint8Array(runs * byteWidth);
  const lengths = new Uint8Array(runs);
  let run = -1;
  for (let i = start; i < end; i++) {
    if (run >= 0 && (lengths[run] as number) < MAX_RUN && sameAsPrevious(words, i, pairs)) {
      lengths[run] = (lengths[run] as number) + 1;
    } else {
      run++;
      lengths[run] = 1;
      values.set(bytes.subarray(i * byteWidth, (i + 1) * byteWidth), run * byteWidth);
    }
  }
  return [values, lengths];
}

/** `count` values of `byteWidth` bytes (1, 2, 4 or 8) cut into run-length encoded chunks. */
export function rleChunks(bytes: Uint8Array, count: number, byteWidth: number): RleChunk[] {
  const words = wordsOf(bytes, byteWidth);
  const pairs = byteWidth === 8 ? 2 : 1;
  const chunks: RleChunk[] = [];
  let start = 0;
  while (start < count) {
    const rest = count - start;
    let end = start + rest;
    if (rest > MAX_CHUNK_VALUES || runBytes(words, pairs, byteWidth, start, end) > MAX_CHUNK_BYTES) {
      // The largest power of two of values whose runs fit (64 values take at most 576 bytes).
      let take = MAX_CHUNK_VALUES;
      while (take >= rest || runBytes(words, pairs, byteWidth, start, start + take) > MAX_CHUNK_BYTES) take /= 2;
      end = start + take;
    }
    chunks.push({ rowStart: start, rowEnd: end, buffers: encodeRuns(bytes, words, pairs, byteWidth, start, end) });
    start = end;
  }
  return chunks;
}

/** The `Rle` encoding of values of `byteWidth` bytes with u8 run lengths. */
export function rleEncoding(byteWidth: number): CompressiveEncodingProto {
  return { rle: { values: { flat: { bits_per_value: byteWidth * 8 } }, run_lengths: { flat: { bits_per_value: 8 } } } };
}

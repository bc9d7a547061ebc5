/**
 * Byte-stream-split decoding for the Lance 2.1/2.2 `ByteStreamSplit` compressive encoding (proto
 * `encodings_v2_1.ByteStreamSplit`, field `values = 1`, always `Flat(32|64)` in files we have seen).
 *
 * Byte layout (rust/lance-encoding/src/encodings/physical/byte_stream_split.rs): the split is done **per
 * mini-block chunk** — 1024 values of 32 bits or 512 of 64 bits, the last chunk shorter. Within a chunk of
 * `n` values of `w` bytes, byte `j` of value `i` is stored at `j * n + i`:
 *
 * ```
 * chunk (n values, w bytes each): [byte 0 of v0..v(n-1)] [byte 1 of v0..v(n-1)] … [byte w-1 of v0..v(n-1)]
 * ```
 * Only 32- and 64-bit values are ever split (the encoder asserts it and `should_use_bss` skips 16-bit
 * data). The chunk is usually wrapped in `General(zstd|lz4)`, so the caller decompresses first.
 *
 * Copies: every byte is read once from `src` and written once to `out`, no intermediate buffer. When the
 * output position is 4-byte aligned (little-endian host) each value is assembled into 32-bit words and
 * stored through a `Uint32Array` view; otherwise bytes are scattered one by one.
 */
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../../errors.js';

/** Value widths Lance splits: 32 and 64 bits. */
export type ByteStreamSplitWidth = 4 | 8;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Rejoins one chunk of `numValues` split values (`src` is the chunk's whole value buffer, exactly
 * `numValues * bytesPerValue` bytes) into `out[outByteOffset, outByteOffset + numValues * bytesPerValue)`.
 */
export function decodeByteStreamSplit(
  src: Uint8Array,
  bytesPerValue: ByteStreamSplitWidth,
  numValues: number,
  out: Uint8Array,
  outByteOffset: number,
): void {
  if (bytesPerValue !== 4 && bytesPerValue !== 8) {
    throw new UnsupportedError(
      `ByteStreamSplit with ${Number(bytesPerValue) * 8}-bit values is not supported (Lance writes 32 or 64 bits)`,
      { encoding: 'ByteStreamSplit', bytesPerValue },
    );
  }
  if (!Number.isSafeInteger(numValues) || numValues < 0) {
    throw new InvalidArgumentError(`ByteStreamSplit numValues must be a non-negative integer, got ${numValues}`);
  }
  if (!Number.isSafeInteger(outByteOffset) || outByteOffset < 0) {
    throw new InvalidArgumentError(
      `ByteStreamSplit outByteOffset must be a non-negative integer, got ${outByteOffset}`,
    );
  }
  const byteLength = numValues * bytesPerValue;
  if (src.length !== byteLength) {
    throw new CorruptFileError(
      `ByteStreamSplit chunk is ${src.length} bytes, expected ${byteLength} (${numValues} values of ${bytesPerValue} bytes)`,
      { encoding: 'ByteStreamSplit', byteLength: src.length, expectedByteLength: byteLength },
    );
  }
  if (outByteOffset > out.length || byteLength > out.length - outByteOffset) {
    throw new InvalidArgumentError(
      `ByteStreamSplit output too small: ${numValues} values need ${byteLength} bytes at offset ${outByteOffset}, out has ${out.length} bytes`,
    );
  }
  if (numValues === 0) return;

  const start = out.byteOffset + outByteOffset;
  if (LITTLE_ENDIAN_HOST && start % 4 === 0) {
    const words = new Uint32Array(out.buffer, start, byteLength / 4);
    if (bytesPerValue === 4) joinWords32(src, numValues, words);
    else joinWords64(src, numValues, words);
  } else {
    joinBytes(src, bytesPerValue, numValues, out, outByteOffset);
  }
}

function joinWords32(src: Uint8Array, n: number, words: Uint32Array): void {
  const s1 = n;
  const s2 = 2 * n;
  const s3 = 3 * n;
  for (let i = 0; i < n; i++) {
    words[i] = (src[i] ?? 0) | ((src[s1 + i] ?? 0) << 8) | ((src[s2 + i] ?? 0) << 16) | ((src[s3 + i] ?? 0) << 24);
  }
}

function joinWords64(src: Uint8Array, n: number, words: Uint32Array): void {
  const s1 = n;
  const s2 = 2 * n;
  const s3 = 3 * n;
  const s4 = 4 * n;
  const s5 = 5 * n;
  const s6 = 6 * n;
  const s7 = 7 * n;
  for (let i = 0, w = 0; i < n; i++, w += 2) {
    words[w] = (src[i] ?? 0) | ((src[s1 + i] ?? 0) << 8) | ((src[s2 + i] ?? 0) << 16) | ((src[s3 + i] ?? 0) << 24);
    words[w + 1] =
      (src[s4 + i] ?? 0) | ((src[s5 + i] ?? 0) << 8) | ((src[s6 + i] ?? 0) << 16) | ((src[s7 + i] ?? 0) << 24);
  }
}

function joinBytes(src: Uint8Array, width: number, n: number, out: Uint8Array, outByteOffset: number): void {
  for (let j = 0; j < width; j++) {
    const stream = j * n;
    for (let i = 0, o = outByteOffset + j; i < n; i++, o += width) out[o] = src[stream + i] ?? 0;
  }
}

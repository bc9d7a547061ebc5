/**
 * General-purpose buffer decompression as Lance frames it: the `General{compression{scheme}, values}`
 * encoding of 2.1/2.2 (mini-block: value buffer 0 of each chunk; full-zip: each value; block: dictionaries),
 * and `Flat.compression` in 2.0.
 *
 * Byte layout (rust/lance-encoding/src/encodings/physical/block.rs, `ZstdBufferCompressor` and
 * `Lz4BufferCompressor`; general.rs compresses only buffer 0 of each mini-block chunk):
 *
 * ```
 * zstd  u64 LE uncompressed_length | zstd frame (RFC 8878)       what every current writer produces
 *       zstd frame(s), no prefix                                  older files ("raw stream format")
 *       (empty)                                                   decodes to 0 bytes
 * lz4   u32 LE uncompressed_length | one LZ4 *block* (lz4 crate `prepend_size`), never the LZ4 frame format
 * ```
 * Lance tells the two zstd forms apart like this (we copy the rule exactly): shorter than 8 bytes, or
 * starting with the magic 28 B5 2F FD while bit 0x10 of byte 4 is clear, means raw frames; anything else
 * has the length prefix. (Lance's comment calls 0x10 the "reserved bit"; in RFC 8878 it is the unused bit
 * and 0x08 is the reserved bit. A prefix only looks like the magic for lengths ≥ 0xFD2FB528 bytes.)
 * LanceDB 0.39 (lance 12) writes frames with Frame_Content_Size and Single_Segment set, no checksum
 * (frame header descriptor 0x60, observed in `lance-encoding:compression=zstd` 2.1 and 2.2 files).
 *
 * Checks before any allocation: a declared length must not exceed `maxUncompressedBytes`; every zstd frame
 * is parsed block by block (header, block sizes, checksum) without decoding, by ../../format/zstd-frame.ts,
 * so a truncated frame, trailing bytes, a Frame_Content_Size that disagrees with the prefix, or block
 * sizes that cannot add up to the declared length are {@link CorruptFileError}. For frames with a content
 * size the exact-length check is the frame's own content size against the declared length, plus the block
 * bounds; checksums are not verified.
 * LZ4 blocks are decoded by ./lz4.ts (bounds-checked; `lz4js.decompressBlock` checks nothing and turns bad
 * offsets into zeros), and the decoded size must equal the declared size.
 *
 * Copies: LZ4 and zstd frames of raw and RLE blocks decode straight into the result (or the caller's
 * output with {@link decompressBufferInto}); other zstd frames are decoded by fzstd into a buffer of its
 * own and copied once into the result.
 */
import { decompress as fzstdDecompress } from 'fzstd';

import { CorruptFileError, InvalidArgumentError, LanceLoaderError, UnsupportedError } from '../../errors.js';
import { concatBytes } from '../../format/bytes.js';
import { parseZstdFrames, ZSTD_MAGIC, type ZstdFrame } from '../../format/zstd-frame.js';
import { decodeLz4Block } from './lz4.js';

/** The general-purpose schemes Lance writes (`CompressionScheme` in encodings_v2_1.proto). */
type CompressionScheme = 'zstd' | 'lz4';

/** Bit of the frame header descriptor that Lance tests to recognise a raw (unprefixed) frame. */
const LANCE_RAW_FRAME_FHD_BIT = 0x10;
const ZSTD_PREFIX_BYTES = 8;
const LZ4_PREFIX_BYTES = 4;
/** The lz4 crate reads the prefix as an i32 and rejects negative sizes. */
const LZ4_MAX_DECLARED_BYTES = 0x7fffffff;

/**
 * Decompresses one Lance-framed buffer into a fresh `Uint8Array` of exactly the declared length.
 * `maxUncompressedBytes` bounds the allocation: a larger declared length is a {@link CorruptFileError}.
 */
export function decompressBuffer(scheme: CompressionScheme, src: Uint8Array, maxUncompressedBytes: number): Uint8Array {
  checkLimit(maxUncompressedBytes, 'maxUncompressedBytes');
  if (scheme === 'lz4') {
    const declared = readLz4Prefix(src);
    if (declared > maxUncompressedBytes) throw overLimit('lz4', declared, maxUncompressedBytes);
    const out = new Uint8Array(declared);
    decodeLz4Payload(src, out);
    return out;
  }
  if (scheme === 'zstd') return decodeZstd(src, maxUncompressedBytes, undefined);
  throw unknownScheme(scheme);
}

/**
 * Decompresses one Lance-framed buffer whose decompressed size the caller already knows (for example
 * `numValues × bytesPerValue` of a mini-block chunk) into `out[outByteOffset, outByteOffset +
 * expectedByteLength)`, with no intermediate buffer. A different declared or decoded size is a
 * {@link CorruptFileError}.
 */
export function decompressBufferInto(
  scheme: CompressionScheme,
  src: Uint8Array,
  out: Uint8Array,
  outByteOffset: number,
  expectedByteLength: number,
): void {
  const target = checkTarget(out, outByteOffset, expectedByteLength);
  if (scheme === 'lz4') {
    const declared = readLz4Prefix(src);
    if (declared !== expectedByteLength) {
      throw new CorruptFileError(`lz4 buffer declares ${declared} uncompressed bytes, expected ${expectedByteLength}`, {
        scheme,
        declaredByteLength: declared,
        expectedByteLength,
      });
    }
    decodeLz4Payload(src, target);
    return;
  }
  if (scheme === 'zstd') {
    decodeZstd(src, expectedByteLength, target);
    return;
  }
  throw unknownScheme(scheme);
}

// ---------------------------------------------------------------------------------------------------
// zstd

/**
 * Decodes Lance zstd bytes, prefixed or raw frames by Lance's rule ({@link isRawZstd}).
 * `target`: the exact output (its length is the expected size); else allocate, bounded by `limit`.
 */
function decodeZstd(src: Uint8Array, limit: number, target: Uint8Array | undefined): Uint8Array {
  if (src.length === 0) {
    if (target !== undefined && target.length !== 0) {
      throw new CorruptFileError(`zstd buffer is empty, expected ${target.length} uncompressed bytes`, {
        scheme: 'zstd',
        expectedByteLength: target.length,
      });
    }
    return target ?? new Uint8Array(0);
  }

  let framesStart = 0;
  let declared = -1;
  if (!isRawZstd(src)) {
    declared = readU32(src, 0) + readU32(src, 4) * 4294967296;
    framesStart = ZSTD_PREFIX_BYTES;
    if (target === undefined && declared > limit) throw overLimit('zstd', declared, limit);
    if (target !== undefined && declared !== target.length) {
      throw new CorruptFileError(`zstd buffer declares ${declared} uncompressed bytes, expected ${target.length}`, {
        scheme: 'zstd',
        declaredByteLength: declared,
        expectedByteLength: target.length,
      });
    }
  } else if (target !== undefined) {
    declared = target.length;
  }

  const frames = parseZstdFrames(src, framesStart);
  let known = true;
  let knownTotal = 0;
  let minTotal = 0;
  let maxTotal = 0;
  for (const frame of frames) {
    if (frame.skippable) continue;
    if (frame.contentSize < 0) known = false;
    else knownTotal += frame.contentSize;
    minTotal += frame.minContentSize;
    maxTotal += frame.maxContentSize;
  }
  const source = target !== undefined && framesStart === 0 ? 'the caller' : 'the length prefix';
  if (declared >= 0) {
    if (known && knownTotal !== declared) {
      throw new CorruptFileError(
        `zstd frames declare ${knownTotal} content bytes, expected ${declared} (from ${source})`,
        { scheme: 'zstd', frameContentSize: knownTotal, expectedByteLength: declared },
      );
    }
    if (declared < minTotal || declared > maxTotal) {
      throw new CorruptFileError(
        `zstd frames decode to between ${minTotal} and ${maxTotal} bytes, expected ${declared} (from ${source})`,
        { scheme: 'zstd', minContentSize: minTotal, maxContentSize: maxTotal, expectedByteLength: declared },
      );
    }
  } else if ((known ? knownTotal : minTotal) > limit) {
    throw overLimit('zstd', known ? knownTotal : minTotal, limit);
  }

  if (declared < 0 && !known) return decodeZstdPieces(src, frames, limit);

  const out = target ?? new Uint8Array(declared >= 0 ? declared : knownTotal);
  let position = 0;
  for (const frame of frames) {
    if (frame.skippable) continue;
    const frameBytes = src.subarray(frame.start, frame.end);
    if (frame.contentSize >= 0) {
      if (frame.contentSize > out.length - position) throw pastOutput(frame, position, out.length);
      if (frame.contentSize > 0) runFzstd(frameBytes, frame, out.subarray(position, position + frame.contentSize));
      position += frame.contentSize;
    } else {
      const piece = runFzstd(frameBytes, frame, undefined);
      if (piece.length > out.length - position) throw pastOutput(frame, position, out.length);
      out.set(piece, position);
      position += piece.length;
    }
  }
  if (position !== out.length) {
    throw new CorruptFileError(`zstd frames decoded to ${position} bytes, expected ${out.length}`, {
      scheme: 'zstd',
      decodedByteLength: position,
      expectedByteLength: out.length,
    });
  }
  return out;
}

/** Frames of unknown total size and no expected length: decode each, bounded by `limit`, then join. */
function decodeZstdPieces(src: Uint8Array, frames: ZstdFrame[], limit: number): Uint8Array {
  const pieces: Uint8Array[] = [];
  let total = 0;
  for (const frame of frames) {
    if (frame.skippable) continue;
    const frameBytes = src.subarray(frame.start, frame.end);
    if (frame.contentSize > limit - total) throw overLimit('zstd', total + frame.contentSize, limit);
    const piece =
      frame.contentSize >= 0
        ? runFzstd(frameBytes, frame, new Uint8Array(frame.contentSize))
        : runFzstd(frameBytes, frame, undefined);
    total += piece.length;
    if (total > limit) {
      throw new CorruptFileError(`zstd frames decode to at least ${total} bytes, more than the limit of ${limit}`, {
        scheme: 'zstd',
        decodedByteLength: total,
        maxUncompressedBytes: limit,
      });
    }
    pieces.push(piece);
  }
  return concatBytes(pieces);
}

/** Lance's test for the raw (unprefixed) zstd format, `ZstdBufferCompressor::is_raw_stream_format`. */
function isRawZstd(src: Uint8Array): boolean {
  if (src.length < ZSTD_PREFIX_BYTES) return true;
  return readU32(src, 0) === ZSTD_MAGIC && ((src[4] ?? 0) & LANCE_RAW_FRAME_FHD_BIT) === 0;
}

/** Runs fzstd on one frame; its exceptions become {@link CorruptFileError} with the cause attached. */
function runFzstd(frameBytes: Uint8Array, frame: ZstdFrame, into: Uint8Array | undefined): Uint8Array {
  if (frame.simple) return copySimpleFrame(frameBytes, frame, into);
  try {
    // fzstd decodes far slower into a buffer it is handed than into one it allocates, so it always
    // allocates and the result is copied into `into`: one extra copy costs much less than that.
    const decoded = fzstdDecompress(frameBytes);
    if (into === undefined) return decoded;
    if (decoded.length !== into.length) {
      throw new CorruptFileError(
        `zstd frame at byte ${frame.start} decoded to ${decoded.length} bytes, its header promised ${into.length}`,
        {
          scheme: 'zstd',
          byteOffset: frame.start,
        },
      );
    }
    into.set(decoded);
    return into;
  } catch (error) {
    if (error instanceof LanceLoaderError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new CorruptFileError(
      `zstd frame at byte ${frame.start} (${frame.end - frame.start} bytes) could not be decoded: ${reason}`,
      { scheme: 'zstd', byteOffset: frame.start },
      { cause: error },
    );
  }
}

/**
 * Decodes a frame of raw and RLE blocks (what zstd writes for incompressible data, e.g. JPEG bytes) by
 * copying the blocks: fzstd moves such blocks byte by byte. parseZstdFrames checked every block header.
 */
function copySimpleFrame(frameBytes: Uint8Array, frame: ZstdFrame, into: Uint8Array | undefined): Uint8Array {
  const out = into ?? new Uint8Array(frame.minContentSize);
  if (out.length !== frame.minContentSize) {
    throw new CorruptFileError(
      `zstd frame at byte ${frame.start} decodes to ${frame.minContentSize} bytes, expected ${out.length}`,
      {
        scheme: 'zstd',
        byteOffset: frame.start,
      },
    );
  }
  let at = frame.blocksStart - frame.start;
  let written = 0;
  for (;;) {
    const header = (frameBytes[at] ?? 0) | ((frameBytes[at + 1] ?? 0) << 8) | ((frameBytes[at + 2] ?? 0) << 16);
    const size = header >>> 3;
    at += 3;
    if (((header >> 1) & 3) === 0) {
      out.set(frameBytes.subarray(at, at + size), written);
      at += size;
    } else {
      out.fill(frameBytes[at] ?? 0, written, written + size);
      at += 1;
    }
    written += size;
    if ((header & 1) === 1) return out;
  }
}

/**
 * The uncompressed length a Lance zstd buffer declares (its length prefix, or its frames' content
 * sizes), or undefined when it does not say. Not a validation: decompressing checks it.
 */
export function zstdDeclaredLength(src: Uint8Array): number | undefined {
  if (!isRawZstd(src)) return readU32(src, 0) + readU32(src, 4) * 4294967296;
  let total = 0;
  for (const frame of parseZstdFrames(src, 0)) {
    if (frame.skippable) continue;
    if (frame.contentSize < 0) return undefined;
    total += frame.contentSize;
  }
  return total;
}

function pastOutput(frame: ZstdFrame, position: number, length: number): CorruptFileError {
  return new CorruptFileError(
    `zstd frame at byte ${frame.start} decodes past the expected ${length} bytes (it starts at output byte ${position})`,
    { scheme: 'zstd', byteOffset: frame.start, expectedByteLength: length },
  );
}

// ---------------------------------------------------------------------------------------------------
// lz4

function readLz4Prefix(src: Uint8Array): number {
  if (src.length < LZ4_PREFIX_BYTES) {
    throw new CorruptFileError(`lz4 buffer is ${src.length} bytes, expected at least the 4-byte size prefix`, {
      scheme: 'lz4',
      byteLength: src.length,
    });
  }
  const declared = readU32(src, 0);
  if (declared > LZ4_MAX_DECLARED_BYTES) {
    throw new CorruptFileError(
      `lz4 size prefix ${declared} is negative as an i32, expected 0..${LZ4_MAX_DECLARED_BYTES}`,
      {
        scheme: 'lz4',
        byteOffset: 0,
        declaredByteLength: declared,
      },
    );
  }
  return declared;
}

/** Decodes the block after the prefix into all of `out`, which has exactly the declared length. */
function decodeLz4Payload(src: Uint8Array, out: Uint8Array): void {
  const written = decodeLz4Block(src.subarray(LZ4_PREFIX_BYTES), out, 0);
  if (written !== out.length) {
    throw new CorruptFileError(`lz4 block decoded to ${written} bytes, expected ${out.length} (from the size prefix)`, {
      scheme: 'lz4',
      decodedByteLength: written,
      expectedByteLength: out.length,
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// shared

function checkLimit(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${value}`);
  }
}

function checkTarget(out: Uint8Array, outByteOffset: number, expectedByteLength: number): Uint8Array {
  checkLimit(outByteOffset, 'outByteOffset');
  checkLimit(expectedByteLength, 'expectedByteLength');
  if (outByteOffset > out.length || expectedByteLength > out.length - outByteOffset) {
    throw new InvalidArgumentError(
      `output too small: ${expectedByteLength} bytes at offset ${outByteOffset} do not fit in ${out.length} bytes`,
    );
  }
  return out.subarray(outByteOffset, outByteOffset + expectedByteLength);
}

function overLimit(scheme: CompressionScheme, declared: number, limit: number): CorruptFileError {
  return new CorruptFileError(
    `${scheme} buffer declares ${declared} uncompressed bytes, more than the limit of ${limit}`,
    { scheme, declaredByteLength: declared, maxUncompressedBytes: limit },
  );
}

function unknownScheme(scheme: string): UnsupportedError {
  return new UnsupportedError(`compression scheme "${scheme}" is not supported (zstd or lz4)`, { scheme });
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0
  );
}

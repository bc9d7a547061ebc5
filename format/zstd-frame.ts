/**
 * zstd frame headers (RFC 8878 §3.1), parsed without decoding: where each frame starts and ends, the
 * content size and window it declares, and the bounds its block headers put on the decoded size. Both
 * readers of zstd bytes use it, so they agree on what a well-formed frame is and can bound an allocation
 * before handing the bytes to fzstd: the Lance buffer decompressor
 * (decode-workers/encodings/compression.ts) and the Arrow IPC deletion files (./deletion.ts).
 *
 * ```
 * frame      magic 28 B5 2F FD | descriptor | [window] | [dictionary id] | [content size] | blocks | [checksum]
 * skippable  magic 5? 2A 4D 18 | u32 LE size | size bytes
 * block      u24 LE header: bit 0 last, bits 1-2 type (raw, RLE, compressed, reserved), bits 3-23 size
 * ```
 *
 * Every length is checked against the buffer before it is used: a truncated frame, a reserved bit or
 * block type, or a content size its blocks cannot produce is a {@link CorruptFileError} naming the byte.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';

export const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size upper limit (RFC 8878 §3.1.1.2.3). */
const ZSTD_MAX_BLOCK_BYTES = 128 * 1024;
/** libzstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27): larger windows are refused. */
export const ZSTD_MAX_WINDOW_BYTES = 1 << 27;

/** Where one zstd frame lies and what its headers promise, found without decoding. */
export interface ZstdFrame {
  start: number;
  end: number;
  skippable: boolean;
  /** Frame_Content_Size, or -1 when the header omits it. */
  contentSize: number;
  windowSize: number;
  /** Bounds on the decoded size from the block headers (raw and RLE blocks are exact). */
  minContentSize: number;
  maxContentSize: number;
  /** Every block is raw or RLE (incompressible data): decodable by copying, without fzstd. */
  simple: boolean;
  /** Byte offset in the source of the first block header. */
  blocksStart: number;
}

/**
 * Parses the frames in `src[start…]`, which must hold whole frames and nothing else. A frame without a
 * content size whose window exceeds {@link ZSTD_MAX_WINDOW_BYTES} is an {@link UnsupportedError}: decoding
 * it would allocate the whole window.
 */
export function parseZstdFrames(src: Uint8Array, start: number): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let position = start;
  if (position >= src.length) {
    throw new CorruptFileError(`zstd buffer ends at byte ${src.length}, expected a frame at byte ${position}`, {
      scheme: 'zstd',
      byteOffset: position,
    });
  }
  while (position < src.length) {
    const frame = parseZstdFrame(src, position);
    frames.push(frame);
    position = frame.end;
  }
  return frames;
}

function parseZstdFrame(src: Uint8Array, start: number): ZstdFrame {
  need(src, start, 4, start, 'frame magic');
  const magic = readU32(src, start);
  if ((magic & 0xfffffff0) >>> 0 === ZSTD_SKIPPABLE_MAGIC) {
    need(src, start + 4, 4, start, 'skippable frame size');
    const size = readU32(src, start + 4);
    need(src, start + 8, size, start, 'skippable frame content');
    return {
      start,
      end: start + 8 + size,
      skippable: true,
      contentSize: 0,
      windowSize: 0,
      minContentSize: 0,
      maxContentSize: 0,
      simple: true,
      blocksStart: start + 8,
    };
  }
  if (magic !== ZSTD_MAGIC) {
    throw new CorruptFileError(
      `zstd frame at byte ${start} starts with ${hex(src, start, 4)}, expected the magic 28 b5 2f fd`,
      { scheme: 'zstd', byteOffset: start },
    );
  }
  need(src, start + 4, 1, start, 'frame header descriptor');
  const descriptor = src[start + 4] ?? 0;
  if ((descriptor & 0x08) !== 0) {
    throw new CorruptFileError(`zstd frame at byte ${start} has the reserved bit of its header descriptor set`, {
      scheme: 'zstd',
      byteOffset: start + 4,
    });
  }
  const singleSegment = (descriptor >> 5) & 1;
  const contentSizeFlag = descriptor >> 6;
  const hasChecksum = (descriptor >> 2) & 1;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3] ?? 0;
  const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag] ?? 0;
  let position = start + 5;

  let windowSize = 0;
  if (singleSegment === 0) {
    need(src, position, 1, start, 'window descriptor');
    const windowDescriptor = src[position] ?? 0;
    const base = 2 ** (10 + (windowDescriptor >> 3));
    windowSize = base + (base / 8) * (windowDescriptor & 7);
    position += 1;
  }
  need(src, position, dictionaryIdBytes + contentSizeBytes, start, 'frame header');
  let dictionaryId = 0;
  for (let b = 0; b < dictionaryIdBytes; b++) dictionaryId += (src[position + b] ?? 0) * 2 ** (8 * b);
  if (dictionaryId !== 0) {
    throw new UnsupportedError(
      `zstd frame at byte ${start} needs dictionary ${dictionaryId}; Lance never writes dictionaries`,
      {
        scheme: 'zstd',
        byteOffset: start,
      },
    );
  }
  position += dictionaryIdBytes;
  let contentSize = -1;
  if (contentSizeBytes > 0) {
    contentSize = 0;
    for (let b = 0; b < contentSizeBytes; b++) contentSize += (src[position + b] ?? 0) * 2 ** (8 * b);
    if (contentSizeBytes === 2) contentSize += 256;
    position += contentSizeBytes;
  }
  if (singleSegment === 1) windowSize = contentSize;

  const compressedBlockMax = Math.min(windowSize, ZSTD_MAX_BLOCK_BYTES);
  let minContentSize = 0;
  let maxContentSize = 0;
  let simple = true;
  const blocksStart = position;
  for (;;) {
    need(src, position, 3, start, 'block header');
    const header = (src[position] ?? 0) | ((src[position + 1] ?? 0) << 8) | ((src[position + 2] ?? 0) << 16);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3 || size > ZSTD_MAX_BLOCK_BYTES) {
      throw new CorruptFileError(
        `zstd block at byte ${position} has ${type === 3 ? 'the reserved block type 3' : `size ${size}, more than ${ZSTD_MAX_BLOCK_BYTES}`}`,
        { scheme: 'zstd', byteOffset: position },
      );
    }
    position += 3;
    if (type === 1) {
      need(src, position, 1, start, 'RLE block byte');
      position += 1;
      minContentSize += size;
      maxContentSize += size;
    } else {
      need(src, position, size, start, type === 0 ? 'raw block' : 'compressed block');
      position += size;
      if (type === 0) {
        minContentSize += size;
        maxContentSize += size;
      } else {
        maxContentSize += compressedBlockMax;
        simple = false;
      }
    }
    if (last === 1) break;
  }
  if (hasChecksum === 1) {
    need(src, position, 4, start, 'content checksum');
    position += 4;
  }
  if (contentSize >= 0 && (contentSize < minContentSize || contentSize > maxContentSize)) {
    throw new CorruptFileError(
      `zstd frame at byte ${start} declares ${contentSize} content bytes, but its blocks decode to between ${minContentSize} and ${maxContentSize}`,
      { scheme: 'zstd', byteOffset: start, frameContentSize: contentSize, minContentSize, maxContentSize },
    );
  }
  if (contentSize < 0 && windowSize > ZSTD_MAX_WINDOW_BYTES) {
    throw new UnsupportedError(
      `zstd frame at byte ${start} has no content size and a ${windowSize}-byte window, more than the ${ZSTD_MAX_WINDOW_BYTES} bytes we allocate`,
      { scheme: 'zstd', byteOffset: start, windowSize },
    );
  }
  return {
    start,
    end: position,
    skippable: false,
    contentSize,
    windowSize,
    minContentSize,
    maxContentSize,
    simple,
    blocksStart,
  };
}

function need(src: Uint8Array, at: number, count: number, frameStart: number, what: string): void {
  if (count > src.length - at) {
    throw new CorruptFileError(
      `zstd frame at byte ${frameStart} is truncated: its ${what} needs ${count} bytes at byte ${at}, only ${Math.max(0, src.length - at)} remain`,
      { scheme: 'zstd', byteOffset: at, byteLength: src.length },
    );
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0
  );
}

function hex(bytes: Uint8Array, at: number, count: number): string {
  const parts: string[] = [];
  for (let i = at; i < Math.min(at + count, bytes.length); i++)
    parts.push((bytes[i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(' ');
}

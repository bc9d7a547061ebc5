/**
 * LZ4 block compression (the block format, not the frame format), the inverse of
 * decode-workers/encodings/lz4.ts. Greedy matching through a 16K-entry hash table of 4-byte sequences,
 * as LZ4's fast mode does; its output obeys the format's end rules (the last 5 bytes are literals and no
 * match starts within the last 12), so any LZ4 decoder takes it.
 *
 *   sequence = token (literal count << 4 | match length − 4, each 15 meaning "more bytes follow")
 *              [255… rest of literal count] literals [u16 LE offset] [255… rest of match length]
 */

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MATCH_FIND_LIMIT = 12;
const MAX_OFFSET = 65535;
const HASH_LOG = 14;

/** The most bytes LZ4 can turn `length` bytes into. */
export function lz4Bound(length: number): number {
  return length + Math.floor(length / 255) + 16;
}

function readU32(src: Uint8Array, at: number): number {
  return (
    ((src[at] as number) |
      ((src[at + 1] as number) << 8) |
      ((src[at + 2] as number) << 16) |
      ((src[at + 3] as number) << 24)) >>>
    0
  );
}

/** Writes the 255-byte continuation of a length past 15; returns the next position. */
function writeLength(dst: Uint8Array, at: number, rest: number): number {
  let left = rest;
  while (left >= 255) {
    dst[at++] = 255;
    left -= 255;
  }
  dst[at++] = left;
  return at;
}

function writeSequence(
  dst: Uint8Array,
  at: number,
  src: Uint8Array,
  literalStart: number,
  literalEnd: number,
  offset: number,
  matchLength: number,
): number {
  const literals = literalEnd - literalStart;
  const tokenAt = at++;
  let token: number;
  if (literals >= 15) {
    token = 15 << 4;
    at = writeLength(dst, at, literals - 15);
  } else token = literals << 4;
  dst.set(src.subarray(literalStart, literalEnd), at);
  at += literals;
  if (matchLength > 0) {
    dst[at++] = offset & 0xff;
    dst[at++] = offset >>> 8;
    const code = matchLength - MIN_MATCH;
    if (code >= 15) {
      token |= 15;
      at = writeLength(dst, at, code - 15);
    } else token |= code;
  }
  dst[tokenAt] = token;
  return at;
}

/** `src` as one LZ4 block in `dst` (at least {@link lz4Bound} bytes from `dstStart`); returns its end. */
export function compressLz4Block(src: Uint8Array, dst: Uint8Array, dstStart: number): number {
  const length = src.length;
  const table = new Int32Array(1 << HASH_LOG).fill(-1);
  let at = dstStart;
  let anchor = 0;
  let i = 0;
  const matchStartLimit = length - MATCH_FIND_LIMIT;
  const matchEndLimit = length - LAST_LITERALS;
  while (i <= matchStartLimit) {
    const sequence = readU32(src, i);
    const hash = Math.imul(sequence, 2654435761) >>> (32 - HASH_LOG);
    const candidate = table[hash] as number;
    table[hash] = i;
    if (candidate < 0 || i - candidate > MAX_OFFSET || readU32(src, candidate) !== sequence) {
      i++;
      continue;
    }
    let matchLength = MIN_MATCH;
    while (i + matchLength < matchEndLimit && src[i + matchLength] === src[candidate + matchLength]) matchLength++;
    at = writeSequence(dst, at, src, anchor, i, i - candidate, matchLength);
    i += matchLength;
    anchor = i;
  }
  return writeSequence(dst, at, src, anchor, length, 0, 0);
}

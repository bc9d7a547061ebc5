/**
 * LZ4 *block* decoding (the raw block format of lz4/lz4_Block_format.md, not the LZ4 frame format): the
 * payload of Lance's `General(lz4)` buffers after their u32 size prefix (see ./compression.ts).
 *
 * ```
 * sequence: token u8 = literal_length << 4 | (match_length - 4)
 *           [literal_length extension: bytes added while each is 255]   when the nibble is 15
 *           literals
 *           offset u16 LE (1..bytes decoded so far)                      absent in the last sequence
 *           [match_length extension, same scheme]                        when the nibble is 15
 * ```
 * The block ends right after the literals of its last sequence. A match copies `match_length` bytes
 * starting `offset` bytes back; when `offset < match_length` it repeats the last `offset` bytes.
 *
 * Every length and offset is checked against the input, the output and the bytes decoded so far before
 * use: corrupt input is a {@link CorruptFileError}, never a read or write outside the arrays.
 * `lz4js.decompressBlock` (0.2.0) has no such checks — it silently yields zeros for bad offsets — which
 * is why this decoder exists; it also copies long literals and matches in bulk (see Copies).
 *
 * Copies: literals go from `src` to `out` once (`set` for long runs, a byte loop for short ones); match
 * bytes are copied within `out` (`copyWithin` when long and not overlapping, forward bytes otherwise).
 */
import { CorruptFileError, InvalidArgumentError } from '../../errors.js';

const LZ4_MIN_MATCH = 4;
/** Below this length a byte loop beats `copyWithin`/`set`. */
const SHORT_COPY = 32;

/**
 * Decodes one raw LZ4 block (all of `src`) into `out` from `outByteOffset`; returns the bytes written.
 * Offsets refer to this block's own output only. Expanding past the end of `out` is a
 * {@link CorruptFileError}. Byte offsets in messages count from the start of `src`.
 */
export function decodeLz4Block(src: Uint8Array, out: Uint8Array, outByteOffset: number): number {
  if (!Number.isSafeInteger(outByteOffset) || outByteOffset < 0 || outByteOffset > out.length) {
    throw new InvalidArgumentError(`lz4 outByteOffset must be an integer in [0, ${out.length}], got ${outByteOffset}`);
  }
  const srcEnd = src.length;
  const outEnd = out.length;
  if (srcEnd === 0) throw lz4Corrupt('block is empty, expected at least one token byte', 0);
  let s = 0;
  let o = outByteOffset;
  for (;;) {
    const tokenAt = s;
    if (s >= srcEnd)
      throw lz4Corrupt(`block ends after a match at byte ${s}, expected a final literals-only sequence`, s);
    const token = src[s++] ?? 0;

    let literals = token >>> 4;
    if (literals === 15) {
      let extra = 255;
      while (extra === 255) {
        if (s >= srcEnd)
          throw lz4Corrupt(`literal length of the sequence at byte ${tokenAt} runs past the end of the block`, tokenAt);
        extra = src[s++] ?? 0;
        literals += extra;
      }
    }
    if (literals > srcEnd - s) {
      throw lz4Corrupt(
        `sequence at byte ${tokenAt} has ${literals} literals, only ${srcEnd - s} bytes remain`,
        tokenAt,
      );
    }
    if (literals > outEnd - o) throw lz4PastOutput(tokenAt, o - outByteOffset, outEnd - outByteOffset);
    if (literals < SHORT_COPY) {
      for (let k = 0; k < literals; k++) out[o + k] = src[s + k] ?? 0;
    } else {
      out.set(src.subarray(s, s + literals), o);
    }
    s += literals;
    o += literals;
    if (s === srcEnd) break; // the last sequence has literals only

    if (srcEnd - s < 2) throw lz4Corrupt(`match offset of the sequence at byte ${tokenAt} is truncated`, tokenAt);
    const offset = (src[s] ?? 0) | ((src[s + 1] ?? 0) << 8);
    s += 2;
    const produced = o - outByteOffset;
    if (offset === 0 || offset > produced) {
      throw lz4Corrupt(`match offset ${offset} at byte ${s - 2} is invalid, expected 1..${produced}`, s - 2);
    }
    let matchLength = token & 15;
    if (matchLength === 15) {
      let extra = 255;
      while (extra === 255) {
        if (s >= srcEnd)
          throw lz4Corrupt(`match length of the sequence at byte ${tokenAt} runs past the end of the block`, tokenAt);
        extra = src[s++] ?? 0;
        matchLength += extra;
      }
    }
    matchLength += LZ4_MIN_MATCH;
    if (matchLength > outEnd - o) throw lz4PastOutput(tokenAt, produced, outEnd - outByteOffset);
    const from = o - offset;
    if (offset >= matchLength && matchLength >= SHORT_COPY) {
      out.copyWithin(o, from, from + matchLength);
    } else {
      // Overlapping matches repeat the last `offset` bytes: copy forward one byte at a time.
      for (let k = 0; k < matchLength; k++) out[o + k] = out[from + k] ?? 0;
    }
    o += matchLength;
  }
  return o - outByteOffset;
}

function lz4Corrupt(message: string, byteOffset: number): CorruptFileError {
  return new CorruptFileError(`lz4 ${message}`, { scheme: 'lz4', byteOffset });
}

function lz4PastOutput(tokenAt: number, produced: number, room: number): CorruptFileError {
  return lz4Corrupt(
    `block expands past the expected ${room} bytes (sequence at byte ${tokenAt}, ${produced} bytes decoded so far)`,
    tokenAt,
  );
}

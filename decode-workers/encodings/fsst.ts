/**
 * FSST (Fast Static Symbol Table) string decompression for the Lance `Fsst` compressive encoding (proto
 * `encodings_v2_1.Fsst`: `values = 1` (a `Variable` encoding of the compressed strings),
 * `symbol_table = 2` (bytes); the 2.0 `Fsst` node carries the same table).
 *
 * Symbol table layout (rust/compression/fsst/src/fsst.rs, `FsstEncoder::export` / `FsstDecoder::init`).
 * The buffer Lance stores is always `FSST_SYMBOL_TABLE_SIZE` = 8 + 256 × 8 + 256 = 2312 bytes, but only the
 * first `8 + 9 × n_symbols` are meaningful (the rest is zero): the lengths follow the `n_symbols` symbols
 * directly, they do not start at byte 2056.
 *
 * ```
 * u64 LE header  = "FSST" << 32 | encoder_switch << 24 | suffix_lim << 16 | terminator << 8 | n_symbols
 *                  (bytes 4..7 are 54 53 53 46; the Rust decoder only tests bit 24 of encoder_switch)
 * n_symbols × u64 LE   symbol c: its bytes in little-endian order (only the first len[c] are used)
 * n_symbols × u8       len[c], 1..8
 * ```
 * `n_symbols` ≤ 255: codes are `0..n_symbols-1`, byte 255 is the escape.
 *
 * Compressed data: a sequence of codes. Code `c < n_symbols` expands to `len[c]` bytes of symbol `c`;
 * 255 is followed by one literal byte. Each string is compressed on its own (codes never straddle two
 * strings), so any `[srcStart, srcEnd)` holding whole strings decodes independently. With
 * `encoder_switch == 0` (the page held less than 32 KiB of string data) the "compressed" bytes are the
 * original bytes. Output is at most 8 × the input ({@link fsstDecodedLengthBound}).
 *
 * Stricter than the Rust decoder, which emits nothing for an unknown code and for a lone escape at the
 * end: both are {@link CorruptFileError} here.
 *
 * Copies: the table is unpacked once per page into 256 × 8 symbol bytes, the same as 2 × 256 u32 words,
 * and 256 lengths. Decoding writes straight into `out`. In the bulk of an input (all but its last 16
 * bytes, and only while 8 bytes per remaining code fit in `out`) each code stores all 8 bytes of its symbol
 * slot and advances by its length — branch-free, so cheaper than copying `length` bytes; the spare bytes
 * land where the next codes write. The last 16 input bytes (at least 8 output bytes) are copied exactly,
 * so after a successful call nothing outside `out[outOffset, outOffset + returned)` has changed. After a
 * {@link CorruptFileError} up to 7 bytes past the partial output may hold scratch.
 */
import { CorruptFileError, InvalidArgumentError } from '../../errors.js';
import { FSST_ESCAPE, FSST_MAGIC, FSST_MAX_SYMBOL_BYTES } from '../../format/fsst-table.js';

const HEADER_BYTES = 8;
/** Input bytes at the end of a range that are decoded with exact-length copies (≥ 8 output bytes). */
const EXACT_TAIL_BYTES = 16;

/** A parsed FSST symbol table, unpacked for decoding. Parse once per page. */
export interface FsstSymbolTable {
  /** `encoder_switch`: false means the data was stored uncompressed. */
  readonly compressed: boolean;
  /** Number of symbols (codes `0..symbolCount-1`), at most 255. */
  readonly symbolCount: number;
  /** Header field `suffix_lim` (an encoder optimisation, not needed to decode). */
  readonly suffixLimit: number;
  /** Header field `terminator` (the encoder's sentinel byte, not needed to decode). */
  readonly terminator: number;
  /** 256 × 8 bytes: symbol `c` is `symbols[8c, 8c + lengths[c])`, zero-padded to 8 bytes. */
  readonly symbols: Uint8Array;
  /** The same 2048 bytes as 512 little-endian u32 words: symbol `c` is words `2c` (bytes 0..3), `2c + 1`. */
  readonly symbolWords: Uint32Array;
  /** 256 lengths; 0 marks a code that is not a symbol (including the escape 255). */
  readonly lengths: Uint8Array;
}

function corrupt(message: string, details: Record<string, unknown> = {}): CorruptFileError {
  return new CorruptFileError(`Fsst ${message}`, { encoding: 'Fsst', ...details });
}

/** Reads and checks an FSST symbol table (the `symbol_table` bytes of the `Fsst` encoding). */
const parsedTables = new WeakMap<Uint8Array, FsstSymbolTable>();

/** {@link parseFsstSymbolTable}, parsed once per table bytes object (a page's table is shared by its chunks). */
export function fsstSymbolTable(bytes: Uint8Array): FsstSymbolTable {
  let table = parsedTables.get(bytes);
  if (!table) {
    table = parseFsstSymbolTable(bytes);
    parsedTables.set(bytes, table);
  }
  return table;
}

export function parseFsstSymbolTable(bytes: Uint8Array): FsstSymbolTable {
  if (bytes.length < HEADER_BYTES) {
    throw corrupt(`symbol table is ${bytes.length} bytes, expected at least the ${HEADER_BYTES}-byte header`, {
      byteLength: bytes.length,
    });
  }
  const low = (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8) | ((bytes[2] ?? 0) << 16) | ((bytes[3] ?? 0) << 24);
  const magic = ((bytes[4] ?? 0) | ((bytes[5] ?? 0) << 8) | ((bytes[6] ?? 0) << 16) | ((bytes[7] ?? 0) << 24)) >>> 0;
  if (magic !== FSST_MAGIC) {
    throw corrupt(`symbol table magic is 0x${magic.toString(16).padStart(8, '0')}, expected 0x46535354 ("FSST")`, {
      byteOffset: 4,
    });
  }
  const symbolCount = low & 0xff;
  const terminator = (low >>> 8) & 0xff;
  const suffixLimit = (low >>> 16) & 0xff;
  const compressed = ((low >>> 24) & 1) === 1;
  const needed = HEADER_BYTES + symbolCount * 9;
  if (bytes.length < needed) {
    throw corrupt(
      `symbol table is ${bytes.length} bytes, expected at least ${needed} for ${symbolCount} symbols (8 + 9 per symbol)`,
      { byteLength: bytes.length, symbolCount },
    );
  }

  const symbols = new Uint8Array(256 * FSST_MAX_SYMBOL_BYTES);
  const lengths = new Uint8Array(256);
  symbols.set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + symbolCount * 8));
  const lengthsAt = HEADER_BYTES + symbolCount * 8;
  for (let c = 0; c < symbolCount; c++) {
    const length = bytes[lengthsAt + c] ?? 0;
    if (length < 1 || length > FSST_MAX_SYMBOL_BYTES) {
      throw corrupt(`symbol ${c} has length ${length}, expected 1..8`, { byteOffset: lengthsAt + c, symbol: c });
    }
    lengths[c] = length;
  }
  // The 8-bit count is at most 255, so codes end at 254 and lengths[255] (the escape) stays 0.
  // Bytes past a symbol's length are zeroed, so a full 8-byte store never leaks table bytes.
  const symbolWords = new Uint32Array(512);
  for (let c = 0; c < symbolCount; c++) {
    const length = lengths[c] ?? 0;
    symbols.fill(0, 8 * c + length, 8 * c + 8);
    for (let w = 0; w < 2; w++) {
      const at = 8 * c + 4 * w;
      symbolWords[2 * c + w] =
        ((symbols[at] ?? 0) |
          ((symbols[at + 1] ?? 0) << 8) |
          ((symbols[at + 2] ?? 0) << 16) |
          ((symbols[at + 3] ?? 0) << 24)) >>>
        0;
    }
  }
  return { compressed, symbolCount, suffixLimit, terminator, symbols, symbolWords, lengths };
}

/** Upper bound of the decoded size of `compressedByteLength` bytes: every code yields at most 8 bytes. */
export function fsstDecodedLengthBound(compressedByteLength: number): number {
  return compressedByteLength * FSST_MAX_SYMBOL_BYTES;
}

/**
 * Exact decoded size of `src[srcStart, srcEnd)`, checking every code, without writing anything. Use it to
 * size an output exactly; {@link decodeFsst} performs the same checks.
 */
export function fsstDecodedLength(table: FsstSymbolTable, src: Uint8Array, srcStart: number, srcEnd: number): number {
  checkRange(src, srcStart, srcEnd);
  if (!table.compressed) return srcEnd - srcStart;
  const lengths = table.lengths;
  let total = 0;
  let i = srcStart;
  while (i < srcEnd) {
    const code = src[i] ?? 0;
    if (code === FSST_ESCAPE) {
      if (i + 1 >= srcEnd) throw truncatedEscape(i, srcEnd);
      total += 1;
      i += 2;
      continue;
    }
    const length = lengths[code] ?? 0;
    if (length === 0) throw unknownCode(code, i, table.symbolCount);
    total += length;
    i += 1;
  }
  return total;
}

/**
 * Decodes `src[srcStart, srcEnd)` into `out` from `outOffset` and returns the number of bytes written.
 * Throws {@link CorruptFileError} when the data holds an unknown code, ends in the middle of an escape, or
 * expands past the end of `out` (size `out` with {@link fsstDecodedLengthBound} or the declared lengths).
 */
export function decodeFsst(
  table: FsstSymbolTable,
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  out: Uint8Array,
  outOffset: number,
): number {
  checkRange(src, srcStart, srcEnd);
  if (!Number.isSafeInteger(outOffset) || outOffset < 0 || outOffset > out.length) {
    throw new InvalidArgumentError(`Fsst outOffset must be an integer in [0, ${out.length}], got ${outOffset}`);
  }
  const inputLength = srcEnd - srcStart;
  if (!table.compressed) {
    if (inputLength > out.length - outOffset) throw noRoom(outOffset, out.length, srcStart, inputLength);
    out.set(src.subarray(srcStart, srcEnd), outOffset);
    return inputLength;
  }

  const symbols = table.symbols;
  const words = table.symbolWords;
  const lengths = table.lengths;
  let i = srcStart;
  let o = outOffset;
  const outEnd = out.length;

  // Bulk loop: every code here is at least 1 input byte and at most 8 output bytes, so `fastEnd` keeps
  // each 8-byte store inside `out`, and an escape's literal byte is always before `srcEnd`.
  const fastEnd = Math.min(
    srcEnd - EXACT_TAIL_BYTES,
    srcStart + Math.floor((outEnd - outOffset) / FSST_MAX_SYMBOL_BYTES),
  );
  while (i < fastEnd) {
    const code = src[i] ?? 0;
    if (code === FSST_ESCAPE) {
      out[o++] = src[i + 1] ?? 0;
      i += 2;
      continue;
    }
    const length = lengths[code] ?? 0;
    if (length === 0) throw unknownCode(code, i, table.symbolCount);
    const low = words[2 * code] ?? 0;
    const high = words[2 * code + 1] ?? 0;
    out[o] = low;
    out[o + 1] = low >>> 8;
    out[o + 2] = low >>> 16;
    out[o + 3] = low >>> 24;
    out[o + 4] = high;
    out[o + 5] = high >>> 8;
    out[o + 6] = high >>> 16;
    out[o + 7] = high >>> 24;
    o += length;
    i += 1;
  }

  // Exact loop: copies `length` bytes and checks the room before every write.
  while (i < srcEnd) {
    const code = src[i] ?? 0;
    if (code === FSST_ESCAPE) {
      if (i + 1 >= srcEnd) throw truncatedEscape(i, srcEnd);
      if (o >= outEnd) throw noRoom(outOffset, outEnd, i, inputLength);
      out[o++] = src[i + 1] ?? 0;
      i += 2;
      continue;
    }
    const length = lengths[code] ?? 0;
    if (length === 0) throw unknownCode(code, i, table.symbolCount);
    if (length > outEnd - o) throw noRoom(outOffset, outEnd, i, inputLength);
    const p = code << 3;
    for (let k = 0; k < length; k++) out[o + k] = symbols[p + k] ?? 0;
    o += length;
    i += 1;
  }
  return o - outOffset;
}

function checkRange(src: Uint8Array, srcStart: number, srcEnd: number): void {
  if (
    !Number.isSafeInteger(srcStart) ||
    !Number.isSafeInteger(srcEnd) ||
    srcStart < 0 ||
    srcStart > srcEnd ||
    srcEnd > src.length
  ) {
    throw new InvalidArgumentError(
      `Fsst source range [${srcStart}, ${srcEnd}) must lie within the ${src.length}-byte input`,
    );
  }
}

function truncatedEscape(at: number, srcEnd: number): CorruptFileError {
  return corrupt(
    `data ends in an escape: code 255 at byte ${at} needs a literal byte, but the input ends at ${srcEnd}`,
    {
      byteOffset: at,
    },
  );
}

function unknownCode(code: number, at: number, symbolCount: number): CorruptFileError {
  return corrupt(`code ${code} at byte ${at} is not a symbol, expected a code below ${symbolCount} or the escape 255`, {
    byteOffset: at,
    code,
    symbolCount,
  });
}

function noRoom(outOffset: number, outEnd: number, at: number, inputLength: number): CorruptFileError {
  return corrupt(
    `data expands past the output: code at byte ${at} does not fit in the ${outEnd - outOffset} bytes from offset ${outOffset} (input ${inputLength} bytes)`,
    { byteOffset: at, outputBytes: outEnd - outOffset },
  );
}

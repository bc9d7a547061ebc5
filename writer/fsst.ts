/**
 * FSST string compression (Boncz, Neumann, Leis: "FSST: Fast Random Access String Compression", VLDB
 * 2020) for the `Fsst` compressive encoding: a table of up to 255 symbols of 1–8 bytes, each string
 * replaced by one code per symbol, byte 255 escaping a literal byte. decode-workers/encodings/fsst.ts
 * reads it back; its module comment draws the table LanceDB stores (2312 bytes: header, 8-byte symbols,
 * lengths), which {@link encodeFsstTable} writes.
 *
 * The table is built as the paper builds it, on a sample of the page (whole strings, about 32 KiB, spread
 * over the page): start empty, then five times compress the sample with the current table, counting how
 * often each symbol (or escaped byte) occurs and how often each pair follows each other, and keep the
 * 255 candidates — symbols, escaped bytes and concatenated pairs of at most 8 bytes — that save the most
 * bytes (count × length). Compression takes the longest symbol at each position, so each string is
 * coded on its own and decodes on its own: symbols of 4+ bytes are looked up in buckets by a hash of
 * their first 4 bytes and checked as two masked 32-bit words, 3-byte ones by a hash of their 3 bytes,
 * 2- and 1-byte ones in tables indexed by the bytes (training's byte-by-byte match, over a small sample,
 * finds symbols through their first two bytes). Counting and lookups use typed arrays only: no object per symbol or
 * position.
 */
import {
  FSST_ESCAPE as ESCAPE,
  FSST_MAGIC,
  FSST_MAX_SYMBOL_BYTES as MAX_SYMBOL_BYTES,
  FSST_SYMBOL_TABLE_BYTES as TABLE_BYTES,
} from '../format/fsst-table.js';
import type { PageValues } from './values.js';

const MAX_SYMBOLS = 255;
const GENERATIONS = 5;
const SAMPLE_BYTES = 32 * 1024;

/** A symbol table for compressing: symbol bytes (8 per code), lengths, and lookups by leading bytes. */
interface SymbolTable {
  count: number;
  symbols: Uint8Array;
  lengths: Uint8Array;
  /** Symbols of ≥ 2 bytes by their first two bytes p = b0 << 8 | b1: codes `pairCodes[pairStart[p] … pairStart[p + 1])`, longest first. */
  pairStart: Int32Array;
  pairCodes: Uint8Array;
  /** The code of the 1-byte symbol for each byte, or −1. */
  single: Int16Array;
  /**
   * For compressing: symbols of ≥ 4 bytes in buckets by a hash of their first 4 bytes, and of 3 bytes
   * by a hash of those 3 (codes `longCodes[longStart[h] … longStart[h + 1])`, longest first), and the
   * 2-byte symbol of each pair of bytes b0 | b1 << 8, or −1.
   */
  longStart: Int32Array;
  longCodes: Uint8Array;
  tripleStart: Int32Array;
  tripleCodes: Uint8Array;
  doubles: Int16Array;
  /** Symbol c as little-endian words (bytes 0–3, 4–7, each masked to the symbol's length), and the mask of word 2. */
  wordLow: Uint32Array;
  wordHigh: Uint32Array;
  maskHigh: Uint32Array;
}

const BUCKET_BITS = 10;
const bucketOf = (key: number): number => Math.imul(key, 0x9e3779b1) >>> (32 - BUCKET_BITS);

/** The codes `accept`ed, in buckets by `key` (CSR: starts and codes), longest first within a bucket. */
function bucketCodes(
  count: number,
  lengths: Uint8Array,
  accept: (code: number) => boolean,
  key: (code: number) => number,
): { start: Int32Array; codes: Uint8Array } {
  const start = new Int32Array((1 << BUCKET_BITS) + 1);
  const codes: number[] = [];
  for (let code = 0; code < count; code++) {
    if (!accept(code)) continue;
    codes.push(code);
    const next = bucketOf(key(code)) + 1;
    start[next] = (start[next] as number) + 1;
  }
  for (let b = 0; b < 1 << BUCKET_BITS; b++) start[b + 1] = (start[b + 1] as number) + (start[b] as number);
  codes.sort((a, b) => bucketOf(key(a)) - bucketOf(key(b)) || (lengths[b] as number) - (lengths[a] as number));
  return { start, codes: Uint8Array.from(codes) };
}

const pairOf = (symbols: Uint8Array, code: number): number =>
  ((symbols[code * MAX_SYMBOL_BYTES] as number) << 8) | (symbols[code * MAX_SYMBOL_BYTES + 1] as number);

function createTable(symbols: Uint8Array, lengths: Uint8Array, count: number): SymbolTable {
  const single = new Int16Array(256).fill(-1);
  const pairStart = new Int32Array(65537);
  const multi: number[] = [];
  for (let code = 0; code < count; code++) {
    if (lengths[code] === 1) single[symbols[code * MAX_SYMBOL_BYTES] as number] = code;
    else {
      multi.push(code);
      const next = pairOf(symbols, code) + 1;
      pairStart[next] = (pairStart[next] as number) + 1;
    }
  }
  for (let p = 0; p < 65536; p++) pairStart[p + 1] = (pairStart[p + 1] as number) + (pairStart[p] as number);
  multi.sort((a, b) => pairOf(symbols, a) - pairOf(symbols, b) || (lengths[b] as number) - (lengths[a] as number));
  const words = new Uint32Array(symbols.buffer, symbols.byteOffset, 512);
  const wordLow = new Uint32Array(256);
  const wordHigh = new Uint32Array(256);
  const maskHigh = new Uint32Array(256);
  for (let code = 0; code < count; code++) {
    const length = lengths[code] as number;
    const maskLow = length >= 4 ? 0xffffffff : 2 ** (8 * length) - 1;
    maskHigh[code] = length >= 8 ? 0xffffffff : length <= 4 ? 0 : 2 ** (8 * (length - 4)) - 1;
    wordLow[code] = (words[2 * code] as number) & maskLow;
    wordHigh[code] = (words[2 * code + 1] as number) & (maskHigh[code] as number);
  }
  const long = bucketCodes(
    count,
    lengths,
    (c) => (lengths[c] as number) >= 4,
    (c) => wordLow[c] as number,
  );
  const triple = bucketCodes(
    count,
    lengths,
    (c) => lengths[c] === 3,
    (c) => wordLow[c] as number,
  );
  const doubles = new Int16Array(65536).fill(-1);
  for (let code = 0; code < count; code++) {
    if (lengths[code] === 2) doubles[(wordLow[code] as number) & 0xffff] = code;
  }
  return {
    count,
    symbols,
    lengths,
    pairStart,
    pairCodes: Uint8Array.from(multi),
    single,
    longStart: long.start,
    longCodes: long.codes,
    tripleStart: triple.start,
    tripleCodes: triple.codes,
    doubles,
    wordLow,
    wordHigh,
    maskHigh,
  };
}

/** The code of the longest symbol at `bytes[at]` (before `end`), or −1 for an escape. */
function longestMatch(table: SymbolTable, bytes: Uint8Array, at: number, end: number): number {
  if (at + 1 < end) {
    const pair = ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
    const last = table.pairStart[pair + 1] as number;
    for (let k = table.pairStart[pair] as number; k < last; k++) {
      const code = table.pairCodes[k] as number;
      const length = table.lengths[code] as number;
      if (at + length > end) continue;
      const base = code * MAX_SYMBOL_BYTES;
      let i = 2;
      while (i < length && table.symbols[base + i] === bytes[at + i]) i++;
      if (i === length) return code;
    }
  }
  return table.single[bytes[at] as number] as number;
}

/** Candidates are numbered as the paper numbers them: codes 0…254 for symbols, 256 + b for escaped byte b. */
const CANDIDATES = 512;
/** More than the candidates a generation can rank (singles plus pairs seen in a 32 KiB sample). */
const POSITIONS = 2 ** 20;

/** Counting arrays shared by a table's generations: pairs are zeroed as they are read, by `touched`. */
interface Counts {
  single: Float64Array;
  pairs: Uint32Array;
  touched: Int32Array;
}

function candidateBytes(table: SymbolTable, candidate: number): Uint8Array {
  if (candidate >= 256) return Uint8Array.of(candidate - 256);
  const base = candidate * MAX_SYMBOL_BYTES;
  return table.symbols.subarray(base, base + (table.lengths[candidate] as number));
}

/**
 * One generation: the sample compressed with `table`, counting each symbol (or escaped byte) and each
 * pair of neighbours, then the 255 candidates with the highest gain (occurrences × length, the paper's
 * measure) — symbols, escaped bytes, and pairs of at most 8 bytes joined — as the next table.
 */
function nextTable(table: SymbolTable, sample: Uint8Array[], counts: Counts): SymbolTable {
  const { single, pairs, touched } = counts;
  single.fill(0);
  let touchedCount = 0;
  const length = (c: number): number => (c >= 256 ? 1 : (table.lengths[c] as number));
  for (const bytes of sample) {
    let at = 0;
    let previous = -1;
    while (at < bytes.length) {
      const code = longestMatch(table, bytes, at, bytes.length);
      const current = code < 0 ? 256 + (bytes[at] as number) : code;
      single[current] = (single[current] as number) + 1;
      if (previous >= 0) {
        const pair = previous * CANDIDATES + current;
        if (pairs[pair] === 0) touched[touchedCount++] = pair;
        pairs[pair] = (pairs[pair] as number) + 1;
      }
      previous = current;
      at += length(current);
    }
  }
  // Candidates ordered by gain, ties in candidate order (singles, then pairs by number): sort keys are
  // gain · 2^20 + (2^20 − 1 − position), exact in a double, so one numeric sort orders them.
  touched.subarray(0, touchedCount).sort();
  const keys = new Float64Array(CANDIDATES + touchedCount);
  let keyCount = 0;
  const position = new Int32Array(CANDIDATES + touchedCount);
  for (let c = 0; c < CANDIDATES; c++) {
    if (single[c] === 0) continue;
    position[keyCount] = c;
    keys[keyCount] = (single[c] as number) * length(c) * POSITIONS + (POSITIONS - 1 - keyCount);
    keyCount++;
  }
  for (let t = 0; t < touchedCount; t++) {
    const i = touched[t] as number;
    const count = pairs[i] as number;
    pairs[i] = 0;
    const joined = length(Math.floor(i / CANDIDATES)) + length(i % CANDIDATES);
    if (joined > MAX_SYMBOL_BYTES) continue;
    position[keyCount] = CANDIDATES + i;
    keys[keyCount] = count * joined * POSITIONS + (POSITIONS - 1 - keyCount);
    keyCount++;
  }
  const sorted = keys.subarray(0, keyCount).sort();
  const symbols = new Uint8Array(256 * MAX_SYMBOL_BYTES);
  const lengths = new Uint8Array(256);
  const seen = new Set<string>();
  let count = 0;
  for (let k = keyCount - 1; k >= 0; k--) {
    if (count === MAX_SYMBOLS) break;
    const id = position[POSITIONS - 1 - ((sorted[k] as number) % POSITIONS)] as number;
    const symbol =
      id < CANDIDATES
        ? candidateBytes(table, id)
        : Uint8Array.from([
            ...candidateBytes(table, Math.floor((id - CANDIDATES) / CANDIDATES)),
            ...candidateBytes(table, (id - CANDIDATES) % CANDIDATES),
          ]);
    const key = String.fromCharCode(...symbol);
    if (seen.has(key)) continue;
    seen.add(key);
    symbols.set(symbol, count * MAX_SYMBOL_BYTES);
    lengths[count] = symbol.length;
    count++;
  }
  return createTable(symbols, lengths, count);
}

/** About {@link SAMPLE_BYTES} of whole strings, taken at even steps over the page. */
function sampleOf(values: PageValues): Uint8Array[] {
  const offsets = values.offsets as Float64Array;
  const total = (offsets[values.rows] as number) - (offsets[0] as number);
  const step = Math.max(1, Math.floor(total / SAMPLE_BYTES));
  const sample: Uint8Array[] = [];
  let taken = 0;
  for (let r = 0; r < values.rows && taken < SAMPLE_BYTES; r += step) {
    const start = offsets[r] as number;
    const end = offsets[r + 1] as number;
    if (end === start) continue;
    sample.push(values.bytes.subarray(start, end));
    taken += end - start;
  }
  return sample;
}

/** A symbol table built for the page's strings (variable-width values). */
function buildTable(values: PageValues): SymbolTable {
  const sample = sampleOf(values);
  let table = createTable(new Uint8Array(256 * MAX_SYMBOL_BYTES), new Uint8Array(256), 0);
  const counts: Counts = {
    single: new Float64Array(CANDIDATES),
    pairs: new Uint32Array(CANDIDATES * CANDIDATES),
    touched: new Int32Array(sample.reduce((sum, bytes) => sum + bytes.length, 0)),
  };
  for (let g = 0; g < GENERATIONS; g++) table = nextTable(table, sample, counts);
  return table;
}

/** The table as LanceDB stores it in `Fsst.symbol_table` (2312 bytes; `encoder_switch` set). */
function encodeFsstTable(table: SymbolTable): Uint8Array {
  const out = new Uint8Array(TABLE_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, (1 << 24) | table.count, true);
  view.setUint32(4, FSST_MAGIC, true);
  out.set(table.symbols.subarray(0, table.count * MAX_SYMBOL_BYTES), 8);
  out.set(table.lengths.subarray(0, table.count), 8 + table.count * MAX_SYMBOL_BYTES);
  return out;
}

/** A page's strings compressed with FSST: the compressed values (same rows and validity) and the table. */
export interface FsstPage {
  values: PageValues;
  symbolTable: Uint8Array;
}

/**
 * The page's values compressed with a symbol table built for them, or undefined when that would not
 * make them smaller.
 */
export function compressFsst(values: PageValues): FsstPage | undefined {
  const table = buildTable(values);
  const offsets = values.offsets as Float64Array;
  const { bytes } = values;
  const inputBytes = (offsets[values.rows] as number) - (offsets[0] as number);
  const out = new Uint8Array(2 * inputBytes);
  const outOffsets = new Float64Array(values.rows + 1);
  const { longStart, longCodes, tripleStart, tripleCodes, doubles, lengths, single, wordLow, wordHigh, maskHigh } =
    table;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Positions from here on cannot load 8 bytes: they take the byte-by-byte match.
  const wordsEnd = bytes.length - MAX_SYMBOL_BYTES;
  let at = 0;
  for (let r = 0; r < values.rows; r++) {
    const end = offsets[r + 1] as number;
    let i = offsets[r] as number;
    while (i < end) {
      let code = -1;
      const left = end - i;
      if (i <= wordsEnd && left >= 2) {
        // The longest symbol that matches: of ≥ 4 bytes, else 3, else 2, else 1.
        const low = view.getUint32(i, true);
        if (left >= 4) {
          const high = view.getUint32(i + 4, true);
          const bucket = bucketOf(low);
          const last = longStart[bucket + 1] as number;
          for (let k = longStart[bucket] as number; k < last; k++) {
            const c = longCodes[k] as number;
            if (
              wordLow[c] === low &&
              (high & (maskHigh[c] as number)) >>> 0 === wordHigh[c] &&
              (lengths[c] as number) <= left
            ) {
              code = c;
              break;
            }
          }
        }
        if (code < 0 && left >= 3) {
          const key = low & 0xffffff;
          const bucket = bucketOf(key);
          const last = tripleStart[bucket + 1] as number;
          for (let k = tripleStart[bucket] as number; k < last; k++) {
            const c = tripleCodes[k] as number;
            if (wordLow[c] === key) {
              code = c;
              break;
            }
          }
        }
        if (code < 0) code = doubles[low & 0xffff] as number;
        if (code < 0) code = single[low & 0xff] as number;
      } else code = longestMatch(table, bytes, i, end);
      if (code < 0) {
        out[at++] = ESCAPE;
        out[at++] = bytes[i++] as number;
      } else {
        out[at++] = code;
        i += lengths[code] as number;
      }
    }
    outOffsets[r + 1] = at;
  }
  if (at >= inputBytes) return undefined;
  const compressed: PageValues = { ...values, bytes: out.subarray(0, at), offsets: outOffsets };
  return { values: compressed, symbolTable: encodeFsstTable(table) };
}

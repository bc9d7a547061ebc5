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
 * bytes (count × length). Compression takes the longest symbol at each position (symbols are found
 * through their first two bytes, then checked as two masked 32-bit words), so each string is coded on
 * its own and decodes on its own. Counting and lookups use typed arrays only: no object per symbol or
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
  /** Symbol c as little-endian words (bytes 0–3, 4–7) and the masks that keep its length's bytes. */
  wordLow: Uint32Array;
  wordHigh: Uint32Array;
  maskLow: Uint32Array;
  maskHigh: Uint32Array;
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
  const maskLow = new Uint32Array(256);
  const maskHigh = new Uint32Array(256);
  for (let code = 0; code < count; code++) {
    const length = lengths[code] as number;
    maskLow[code] = length >= 4 ? 0xffffffff : 2 ** (8 * length) - 1;
    maskHigh[code] = length >= 8 ? 0xffffffff : length <= 4 ? 0 : 2 ** (8 * (length - 4)) - 1;
    wordLow[code] = (words[2 * code] as number) & (maskLow[code] as number);
    wordHigh[code] = (words[2 * code + 1] as number) & (maskHigh[code] as number);
  }
  return {
    count,
    symbols,
    lengths,
    pairStart,
    pairCodes: Uint8Array.from(multi),
    single,
    wordLow,
    wordHigh,
    maskLow,
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
function nextTable(table: SymbolTable, sample: Uint8Array[]): SymbolTable {
  const single = new Float64Array(CANDIDATES);
  const pairs = new Float64Array(CANDIDATES * CANDIDATES);
  const length = (c: number): number => (c >= 256 ? 1 : (table.lengths[c] as number));
  for (const bytes of sample) {
    let at = 0;
    let previous = -1;
    while (at < bytes.length) {
      const code = longestMatch(table, bytes, at, bytes.length);
      const current = code < 0 ? 256 + (bytes[at] as number) : code;
      single[current] = (single[current] as number) + 1;
      if (previous >= 0)
        pairs[previous * CANDIDATES + current] = (pairs[previous * CANDIDATES + current] as number) + 1;
      previous = current;
      at += length(current);
    }
  }
  const gains: number[] = [];
  const ids: number[] = [];
  for (let c = 0; c < CANDIDATES; c++) {
    if (single[c] === 0) continue;
    gains.push((single[c] as number) * length(c));
    ids.push(c);
  }
  for (let i = 0; i < pairs.length; i++) {
    const count = pairs[i] as number;
    if (count === 0) continue;
    const joined = length(Math.floor(i / CANDIDATES)) + length(i % CANDIDATES);
    if (joined > MAX_SYMBOL_BYTES) continue;
    gains.push(count * joined);
    ids.push(CANDIDATES + i);
  }
  const order = Array.from(gains.keys()).sort((a, b) => (gains[b] as number) - (gains[a] as number) || a - b);
  const symbols = new Uint8Array(256 * MAX_SYMBOL_BYTES);
  const lengths = new Uint8Array(256);
  const seen = new Set<string>();
  let count = 0;
  for (const k of order) {
    if (count === MAX_SYMBOLS) break;
    const id = ids[k] as number;
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
  for (let g = 0; g < GENERATIONS; g++) table = nextTable(table, sample);
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
  const { pairStart, pairCodes, lengths, single, wordLow, wordHigh, maskLow, maskHigh } = table;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Positions from here on cannot load 8 bytes: they take the byte-by-byte match.
  const wordsEnd = bytes.length - MAX_SYMBOL_BYTES;
  let at = 0;
  for (let r = 0; r < values.rows; r++) {
    const end = offsets[r + 1] as number;
    let i = offsets[r] as number;
    while (i < end) {
      let code = -1;
      if (i <= wordsEnd && i + 1 < end) {
        const low = view.getUint32(i, true);
        const high = view.getUint32(i + 4, true);
        const pair = ((low & 0xff) << 8) | ((low >>> 8) & 0xff);
        const last = pairStart[pair + 1] as number;
        for (let k = pairStart[pair] as number; k < last; k++) {
          const c = pairCodes[k] as number;
          if (
            (low & (maskLow[c] as number)) >>> 0 === wordLow[c] &&
            (high & (maskHigh[c] as number)) >>> 0 === wordHigh[c] &&
            i + (lengths[c] as number) <= end
          ) {
            code = c;
            break;
          }
        }
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

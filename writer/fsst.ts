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
 * through their first two bytes), so each string is coded on its own and decodes on its own.
 */
import type { PageValues } from './values.js';

const MAX_SYMBOLS = 255;
const MAX_SYMBOL_BYTES = 8;
const ESCAPE = 255;
const GENERATIONS = 5;
const SAMPLE_BYTES = 32 * 1024;
const TABLE_BYTES = 8 + 256 * 8 + 256;
const FSST_MAGIC = 0x46535354;

/** A symbol table for compressing: symbol bytes (8 per code), lengths, and lookups by leading bytes. */
interface SymbolTable {
  count: number;
  symbols: Uint8Array;
  lengths: Uint8Array;
  /** Codes of symbols of ≥ 2 bytes by their first two bytes (b0 << 8 | b1), longest first. */
  byPair: Map<number, number[]>;
  /** The code of the 1-byte symbol for each byte, or −1. */
  single: Int16Array;
}

function createTable(symbols: Uint8Array[]): SymbolTable {
  const count = symbols.length;
  const table: SymbolTable = {
    count,
    symbols: new Uint8Array(256 * MAX_SYMBOL_BYTES),
    lengths: new Uint8Array(256),
    byPair: new Map(),
    single: new Int16Array(256).fill(-1),
  };
  symbols.forEach((symbol, code) => {
    table.symbols.set(symbol, code * MAX_SYMBOL_BYTES);
    table.lengths[code] = symbol.length;
    if (symbol.length === 1) table.single[symbol[0] as number] = code;
    else {
      const pair = ((symbol[0] as number) << 8) | (symbol[1] as number);
      const list = table.byPair.get(pair) ?? [];
      list.push(code);
      table.byPair.set(pair, list);
    }
  });
  for (const list of table.byPair.values())
    list.sort((a, b) => (table.lengths[b] as number) - (table.lengths[a] as number));
  return table;
}

/** The code of the longest symbol at `bytes[at]` (before `end`), and its length; −1 for an escape. */
function longestMatch(table: SymbolTable, bytes: Uint8Array, at: number, end: number): number {
  if (at + 1 < end) {
    const list = table.byPair.get(((bytes[at] as number) << 8) | (bytes[at + 1] as number));
    if (list !== undefined) {
      for (const code of list) {
        const length = table.lengths[code] as number;
        if (at + length > end) continue;
        const base = code * MAX_SYMBOL_BYTES;
        let i = 2;
        while (i < length && table.symbols[base + i] === bytes[at + i]) i++;
        if (i === length) return code;
      }
    }
  }
  return table.single[bytes[at] as number] as number;
}

/** Candidate symbols keyed by their bytes (as a latin1 string), with the bytes they would save. */
function addGain(gains: Map<string, number>, symbol: string, gain: number): void {
  gains.set(symbol, (gains.get(symbol) ?? 0) + gain);
}

const symbolString = (bytes: Uint8Array, start: number, length: number): string =>
  String.fromCharCode(...bytes.subarray(start, start + length));

/** One generation: the sample compressed with `table`, and the best 255 symbols for the next table. */
function nextSymbols(table: SymbolTable, sample: Uint8Array[]): Uint8Array[] {
  const gains = new Map<string, number>();
  for (const bytes of sample) {
    let at = 0;
    let previous = '';
    while (at < bytes.length) {
      const code = longestMatch(table, bytes, at, bytes.length);
      const length = code < 0 ? 1 : (table.lengths[code] as number);
      const current = symbolString(bytes, at, length);
      // The paper's gain: occurrences × length, for the symbol (or escaped byte) and for the pair it ends.
      addGain(gains, current, length);
      if (previous !== '' && previous.length + current.length <= MAX_SYMBOL_BYTES) {
        addGain(gains, previous + current, previous.length + current.length);
      }
      previous = current;
      at += length;
    }
  }
  return [...gains.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_SYMBOLS)
    .map(([symbol]) => Uint8Array.from(symbol, (c) => c.charCodeAt(0)));
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
  let table = createTable([]);
  for (let g = 0; g < GENERATIONS; g++) table = createTable(nextSymbols(table, sample));
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
  let at = 0;
  for (let r = 0; r < values.rows; r++) {
    const end = offsets[r + 1] as number;
    let i = offsets[r] as number;
    while (i < end) {
      const code = longestMatch(table, bytes, i, end);
      if (code < 0) {
        out[at++] = ESCAPE;
        out[at++] = bytes[i++] as number;
      } else {
        out[at++] = code;
        i += table.lengths[code] as number;
      }
    }
    outOffsets[r + 1] = at;
  }
  if (at >= inputBytes) return undefined;
  const compressed: PageValues = { ...values, bytes: out.subarray(0, at), offsets: outOffsets };
  return { values: compressed, symbolTable: encodeFsstTable(table) };
}

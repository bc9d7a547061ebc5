/**
 * The writer's FSST compression against the reader's FSST decoder: every string comes back byte for
 * byte from its own code range, with the symbol table LanceDB's layout holds.
 */
import { describe, expect, it } from 'vitest';
import { decodeFsst, parseFsstSymbolTable } from '../../decode-workers/encodings/fsst.js';
import { compressFsst } from '../../writer/fsst.js';
import type { PageValues } from '../../writer/values.js';
import { Rng } from '../fixtures/random.js';

function pageOf(strings: Uint8Array[]): PageValues {
  const offsets = new Float64Array(strings.length + 1);
  strings.forEach((s, i) => (offsets[i + 1] = (offsets[i] as number) + s.length));
  const bytes = new Uint8Array(offsets[strings.length] as number);
  strings.forEach((s, i) => bytes.set(s, offsets[i] as number));
  return { rows: strings.length, nullCount: 0, bytes, offsets };
}

function decodeEach(page: PageValues, symbolTable: Uint8Array): Uint8Array[] {
  const table = parseFsstSymbolTable(symbolTable);
  const offsets = page.offsets as Float64Array;
  return Array.from({ length: page.rows }, (_, r) => {
    const out = new Uint8Array(8 * ((offsets[r + 1] as number) - (offsets[r] as number)));
    const written = decodeFsst(table, page.bytes, offsets[r] as number, offsets[r + 1] as number, out, 0);
    return out.subarray(0, written);
  });
}

const rng = new Rng(7);
const encoder = new TextEncoder();
const WORDS = ['lance', 'loader', 'column', 'page', 'chunk', 'symbol', 'table', 'écrit', '数据'];
const sentences = Array.from({ length: 3000 }, () =>
  encoder.encode(Array.from({ length: 3 + (rng.nextU32() % 10) }, () => WORDS[rng.nextU32() % WORDS.length]).join(' ')),
);

describe('compressFsst', () => {
  it('compresses words to well under half their bytes, and each string decodes to itself', () => {
    const page = pageOf(sentences);
    const fsst = compressFsst(page);
    expect(fsst).toBeDefined();
    expect(fsst?.values.bytes.length).toBeLessThan(page.bytes.length / 2);
    expect(decodeEach(fsst?.values as PageValues, fsst?.symbolTable as Uint8Array)).toEqual(sentences);
  });

  it('writes the 2312-byte table LanceDB stores, marked compressed, with at most 255 symbols', () => {
    const table = parseFsstSymbolTable((compressFsst(pageOf(sentences)) as { symbolTable: Uint8Array }).symbolTable);
    expect(table.compressed).toBe(true);
    expect(table.symbolCount).toBeGreaterThan(0);
    expect(table.symbolCount).toBeLessThanOrEqual(255);
  });

  it('escapes bytes that no symbol holds, 0xFF included, and keeps empty strings empty', () => {
    const strings = [
      ...sentences.slice(0, 500),
      new Uint8Array(0),
      Uint8Array.of(255, 255, 0, 254),
      Uint8Array.of(1, 2, 3),
    ];
    const fsst = compressFsst(pageOf(strings));
    expect(decodeEach(fsst?.values as PageValues, fsst?.symbolTable as Uint8Array)).toEqual(strings);
  });

  it('gives up on random bytes, which it cannot make smaller', () => {
    const strings = Array.from({ length: 500 }, () => Uint8Array.from({ length: 64 }, () => rng.nextU32() & 255));
    expect(compressFsst(pageOf(strings))).toBeUndefined();
  });
});

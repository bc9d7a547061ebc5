import { describe, expect, it } from 'vitest';

import { FSST_SYMBOL_TABLE_BYTES } from '../../../format/fsst-table.js';
import {
  decodeFsst,
  fsstDecodedLength,
  fsstDecodedLengthBound,
  parseFsstSymbolTable,
} from '../../../decode-workers/encodings/fsst.js';
import { CorruptFileError, InvalidArgumentError } from '../../../errors.js';

const text = new TextEncoder();
const utf8 = new TextDecoder();

/**
 * Builds the 2312-byte table Lance stores (rust/compression/fsst/src/fsst.rs `export`):
 * u64 LE "FSST" << 32 | switch << 24 | suffix_lim << 16 | terminator << 8 | n, n × u64 symbols, n × u8 lengths.
 */
function buildTable(
  symbols: readonly string[],
  options: { compressed?: boolean; suffixLimit?: number; terminator?: number } = {},
): Uint8Array {
  const bytes = new Uint8Array(FSST_SYMBOL_TABLE_BYTES);
  const n = symbols.length;
  bytes[0] = n;
  bytes[1] = options.terminator ?? 0;
  bytes[2] = options.suffixLimit ?? 0;
  bytes[3] = options.compressed === false ? 0 : 1;
  bytes.set([0x54, 0x53, 0x53, 0x46], 4); // "FSST" as the high u32, little-endian
  symbols.forEach((s, c) => {
    const encoded = text.encode(s);
    bytes.set(encoded, 8 + 8 * c);
    bytes[8 + 8 * n + c] = encoded.length;
  });
  return bytes;
}

/** Reference encoder: greedy longest symbol at each position, escape (255, byte) otherwise. */
function encodeFsst(symbols: readonly string[], input: Uint8Array): Uint8Array {
  const encoded = symbols.map((s) => text.encode(s));
  const codes: number[] = [];
  for (let i = 0; i < input.length;) {
    let best = -1;
    let bestLength = 0;
    encoded.forEach((symbol, c) => {
      if (symbol.length > bestLength && symbol.every((b, k) => input[i + k] === b)) {
        best = c;
        bestLength = symbol.length;
      }
    });
    if (best >= 0) {
      codes.push(best);
      i += bestLength;
    } else {
      codes.push(255, input[i] ?? 0);
      i += 1;
    }
  }
  return Uint8Array.from(codes);
}

const SYMBOLS = [
  'the ',
  'quick',
  'brown',
  ' fox',
  'jumps',
  ' over',
  'lazy',
  ' dog',
  'ab',
  'e',
  't',
  'a',
  ' ',
  'value-',
  '12345678',
];

describe('parseFsstSymbolTable', () => {
  it('reads the header fields, symbols and lengths of a 2312-byte table', () => {
    const table = parseFsstSymbolTable(buildTable(['ab', 'cde', 'x'], { suffixLimit: 1, terminator: 0x7a }));
    expect(table.compressed).toBe(true);
    expect(table.symbolCount).toBe(3);
    expect(table.suffixLimit).toBe(1);
    expect(table.terminator).toBe(0x7a);
    expect(Array.from(table.lengths.subarray(0, 4))).toEqual([2, 3, 1, 0]);
    expect(table.lengths[255]).toBe(0);
    expect(utf8.decode(table.symbols.subarray(8, 11))).toBe('cde');
  });

  it('reads the lengths right after the last symbol, not at byte 2056', () => {
    const bytes = buildTable(['abc']);
    expect(bytes[16]).toBe(3);
    expect(parseFsstSymbolTable(bytes.subarray(0, 17)).lengths[0]).toBe(3);
  });

  it('rejects a buffer shorter than the header', () => {
    const run = () => parseFsstSymbolTable(new Uint8Array(7));
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Fsst symbol table is 7 bytes, expected at least the 8-byte header');
  });

  it('rejects a wrong magic', () => {
    const bytes = buildTable(['a']);
    bytes[7] = 0x47;
    const run = () => parseFsstSymbolTable(bytes);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Fsst symbol table magic is 0x47535354, expected 0x46535354 ("FSST")');
  });

  it('rejects a table too short for its symbol count', () => {
    const run = () => parseFsstSymbolTable(buildTable(['a', 'b']).subarray(0, 25));
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Fsst symbol table is 25 bytes, expected at least 26 for 2 symbols (8 + 9 per symbol)');
  });

  it('rejects a symbol length outside 1..8', () => {
    const bytes = buildTable(['a', 'b']);
    bytes[8 + 16 + 1] = 9;
    const run = () => parseFsstSymbolTable(bytes);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Fsst symbol 1 has length 9, expected 1..8');
  });
});

describe('decodeFsst', () => {
  it('decodes hand-built codes with an escape', () => {
    const table = parseFsstSymbolTable(buildTable(['ab', 'cde', 'x']));
    // codes: 0 "ab", 1 "cde", escape + 'Z', 2 "x"
    const src = Uint8Array.of(0, 1, 255, 0x5a, 2);
    const out = new Uint8Array(7);
    expect(decodeFsst(table, src, 0, src.length, out, 0)).toBe(7);
    expect(utf8.decode(out)).toBe('abcdeZx');
  });

  it('round-trips strings through the reference encoder', () => {
    const table = parseFsstSymbolTable(buildTable(SYMBOLS));
    const strings = [
      'the quick brown fox jumps over the lazy dog',
      'value-12345678-value-1234567',
      'ÄÖÜ escapes: \u0000\u00ff and 255 ÿ',
      '',
      'ab'.repeat(50),
    ];
    for (const s of strings) {
      const input = text.encode(s);
      const src = encodeFsst(SYMBOLS, input);
      const out = new Uint8Array(fsstDecodedLengthBound(src.length));
      expect(fsstDecodedLength(table, src, 0, src.length)).toBe(input.length);
      const written = decodeFsst(table, src, 0, src.length, out, 0);
      expect(utf8.decode(out.subarray(0, written))).toBe(s);
    }
  });

  describe('on inputs long enough for the bulk loop', () => {
    const table = parseFsstSymbolTable(buildTable(SYMBOLS));
    const pieces = [...SYMBOLS, 'Q', '\u00e9', 'zz', '|'];
    let x = 12345;
    const input = text.encode(
      Array.from({ length: 400 }, () => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return pieces[(x >>> 16) % pieces.length] ?? '';
      }).join(''),
    );
    const src = encodeFsst(SYMBOLS, input);

    for (const slack of [fsstDecodedLengthBound(src.length) - input.length, 3, 0]) {
      it(`decodes ${src.length} bytes with ${slack} spare output bytes, leaving the spare bytes untouched`, () => {
        const out = new Uint8Array(5 + input.length + slack).fill(0xee);
        expect(decodeFsst(table, src, 0, src.length, out, 5)).toBe(input.length);
        expect(out.subarray(5, 5 + input.length)).toEqual(input);
        expect(Array.from(out.subarray(0, 5)).every((b) => b === 0xee)).toBe(true);
        expect(Array.from(out.subarray(5 + input.length)).every((b) => b === 0xee)).toBe(true);
      });
    }

    it('rejects an unknown code in the bulk of the input', () => {
      const bad = src.slice();
      bad[3] = 200;
      const run = () => decodeFsst(table, bad, 0, bad.length, new Uint8Array(fsstDecodedLengthBound(bad.length)), 0);
      expect(run).toThrow(
        `Fsst code 200 at byte 3 is not a symbol, expected a code below ${SYMBOLS.length} or the escape 255`,
      );
    });

    it('rejects an output too small, found only near the end of the input', () => {
      const run = () => decodeFsst(table, src, 0, src.length, new Uint8Array(input.length - 1), 0);
      expect(run).toThrow(CorruptFileError);
      expect(run).toThrow('Fsst data expands past the output');
    });
  });

  it('decodes every byte value through escapes, including 255', () => {
    const table = parseFsstSymbolTable(buildTable(['e']));
    const input = Uint8Array.from({ length: 256 }, (_, i) => i);
    const src = encodeFsst(['e'], input);
    const out = new Uint8Array(256);
    expect(decodeFsst(table, src, 0, src.length, out, 0)).toBe(256);
    expect(out).toEqual(input);
  });

  it('decodes one string of a concatenated run into an exactly sized output at an offset', () => {
    const table = parseFsstSymbolTable(buildTable(SYMBOLS));
    const first = encodeFsst(SYMBOLS, text.encode('jumps over'));
    const second = encodeFsst(SYMBOLS, text.encode('the lazy dog!'));
    const src = new Uint8Array([...first, ...second]);
    const out = new Uint8Array(3 + 13 + 2).fill(0xee);
    expect(decodeFsst(table, src, first.length, src.length, out.subarray(0, 16), 3)).toBe(13);
    expect(utf8.decode(out.subarray(3, 16))).toBe('the lazy dog!');
    expect(Array.from(out.subarray(0, 3))).toEqual([0xee, 0xee, 0xee]);
    expect(Array.from(out.subarray(16))).toEqual([0xee, 0xee]);
  });

  it('supports a full table of 255 symbols: code 254 is a symbol, 255 the escape', () => {
    const symbols = Array.from({ length: 255 }, (_, c) => `s${c.toString(16)}`);
    const table = parseFsstSymbolTable(buildTable(symbols));
    const src = Uint8Array.of(254, 255, 254);
    const out = new Uint8Array(8 * src.length);
    const written = decodeFsst(table, src, 0, src.length, out, 0);
    expect(Array.from(out.subarray(0, written))).toEqual([...text.encode('sfe'), 254]);
  });

  it('copies the bytes unchanged when the encoder switch is off', () => {
    const table = parseFsstSymbolTable(buildTable([], { compressed: false }));
    expect(table.compressed).toBe(false);
    const src = text.encode('short page, stored as is \u00ff');
    const out = new Uint8Array(src.length);
    expect(fsstDecodedLength(table, src, 2, src.length)).toBe(src.length - 2);
    expect(decodeFsst(table, src, 2, src.length, out, 2)).toBe(src.length - 2);
    expect(out.subarray(2)).toEqual(src.subarray(2));
  });

  it('rejects data that ends in an escape', () => {
    const table = parseFsstSymbolTable(buildTable(['ab']));
    const src = Uint8Array.of(0, 0, 255);
    for (const size of [24, 4]) {
      // 24 bytes take the unchecked loop, 4 bytes the careful one
      const run = () => decodeFsst(table, src, 0, src.length, new Uint8Array(size), 0);
      expect(run).toThrow(CorruptFileError);
      expect(run).toThrow(
        'Fsst data ends in an escape: code 255 at byte 2 needs a literal byte, but the input ends at 3',
      );
    }
    expect(() => fsstDecodedLength(table, src, 0, 3)).toThrow('Fsst data ends in an escape');
  });

  it('treats an escape at the end of the range as truncated even if more bytes follow', () => {
    const table = parseFsstSymbolTable(buildTable(['ab']));
    const src = Uint8Array.of(0, 255, 0x41);
    const run = () => decodeFsst(table, src, 0, 2, new Uint8Array(16), 0);
    expect(run).toThrow(
      'Fsst data ends in an escape: code 255 at byte 1 needs a literal byte, but the input ends at 2',
    );
  });

  it('rejects a code that is not in the table', () => {
    const table = parseFsstSymbolTable(buildTable(['ab', 'c']));
    const run = () => decodeFsst(table, Uint8Array.of(0, 7), 0, 2, new Uint8Array(16), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('Fsst code 7 at byte 1 is not a symbol, expected a code below 2 or the escape 255');
  });

  it('rejects data that expands past the output without writing beyond it', () => {
    const table = parseFsstSymbolTable(buildTable(['abcdefgh']));
    const backing = new Uint8Array(20).fill(0xee);
    const run = () => decodeFsst(table, Uint8Array.of(0, 0), 0, 2, backing.subarray(0, 12), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow(
      'Fsst data expands past the output: code at byte 1 does not fit in the 12 bytes from offset 0 (input 2 bytes)',
    );
    expect(Array.from(backing.subarray(8))).toEqual(Array(12).fill(0xee));
  });

  it('rejects uncompressed data larger than the output', () => {
    const table = parseFsstSymbolTable(buildTable([], { compressed: false }));
    const run = () => decodeFsst(table, new Uint8Array(5), 0, 5, new Uint8Array(4), 0);
    expect(run).toThrow(CorruptFileError);
  });

  it('refuses a source range outside the input', () => {
    const table = parseFsstSymbolTable(buildTable(['a']));
    const run = () => decodeFsst(table, new Uint8Array(4), 2, 5, new Uint8Array(40), 0);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow('Fsst source range [2, 5) must lie within the 4-byte input');
  });
});

/** Page rep/def layers read against a column's structure, and mini-block repetition indexes (hand-built bytes). */
import { describe, expect, it } from 'vitest';
import { CorruptFileError } from '../../errors.js';
import { chunksOfRow, parseMiniBlockRepIndex } from '../../format/miniblock-layout.js';
import { pageLevels } from '../../format/repdef.js';

describe('pageLevels', () => {
  it('maps a page whose layers have fewer levels onto the column numbering', () => {
    // Page: item all valid, list emptyable (def 1 = empty). Column: item null 1, list null 2 / empty 3.
    const levels = pageLevels(['REPDEF_ALL_VALID_ITEM', 'REPDEF_EMPTYABLE_LIST'], ['item', 'list'], 'p');
    expect([...levels.defMap]).toEqual([0, 3]);
    expect(levels).toMatchObject({ maxRep: 1, maxVisibleDef: 0, hasDef: true });
  });

  it('counts null and empty lists before their null item levels', () => {
    const levels = pageLevels(['REPDEF_NULLABLE_ITEM', 'REPDEF_NULL_AND_EMPTY_LIST'], ['item', 'list'], 'p');
    expect([...levels.defMap]).toEqual([0, 1, 2, 3]);
    expect(levels.maxVisibleDef).toBe(1);
  });

  it('refuses a page whose layers do not fit the field', () => {
    expect(() => pageLevels(['REPDEF_NULLABLE_ITEM'], ['item', 'list'], 'file column 3 page 0')).toThrow(
      /file column 3 page 0: page has 1 rep\/def layers/,
    );
    expect(() => pageLevels(['REPDEF_ALL_VALID_ITEM', 'REPDEF_NULLABLE_ITEM'], ['item', 'list'], 'p')).toThrow(
      CorruptFileError,
    );
  });
});

/** A repetition index of depth 1 from (rows ending, trailing items) pairs. */
function repIndex(...chunks: [number, number][]): Uint8Array {
  const out = new BigUint64Array(chunks.flat().map(BigInt));
  return new Uint8Array(out.buffer);
}

describe('the mini-block repetition index', () => {
  // Chunk 0: rows 0, 1 and the start of 2; chunk 1: all row 2; chunk 2: the end of row 2, then row 3.
  const index = parseMiniBlockRepIndex(repIndex([2, 5], [0, 9], [2, 0]), 1, 3, 4, 'p');

  it('places rows that continue over chunks', () => {
    expect([...index.firstRow]).toEqual([0, 3, 3]);
    expect(chunksOfRow(index, 1)).toEqual({ first: 0, last: 0 });
    expect(chunksOfRow(index, 2)).toEqual({ first: 0, last: 2 });
    expect(chunksOfRow(index, 3)).toEqual({ first: 2, last: 2 });
  });

  it('refuses an index with rows past the page or ending inside a row', () => {
    expect(() => parseMiniBlockRepIndex(repIndex([2, 0], [9, 0]), 1, 2, 4, 'file column 1 page 0')).toThrow(
      /file column 1 page 0: repetition index entry 1 \(9 rows ending\) puts rows past the page's 4/,
    );
    expect(() => parseMiniBlockRepIndex(repIndex([4, 3]), 1, 1, 5, 'p')).toThrow(/ends inside a row/);
    expect(() => parseMiniBlockRepIndex(new Uint8Array(8), 1, 1, 1, 'p')).toThrow(CorruptFileError);
  });
});

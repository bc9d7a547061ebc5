/** Page rep/def layers read against a column's structure, and mini-block repetition indexes (hand-built bytes). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptFileError } from '../../errors.js';
import { chunksOfRow, parseMiniBlockRepIndex, type MiniBlockRepIndex } from '../../format/miniblock-layout.js';
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

  it('places every row of pages with short and long rows as a walk over all the chunks does', () => {
    // Per chunk: rows that end in it (up to 9) and whether a row continues past its end. Rows over many
    // chunks give pages with fewer rows than chunks, short rows pages with several rows a chunk.
    const chunk = fc.tuple(fc.nat({ max: 9 }), fc.boolean());
    fc.assert(
      fc.property(fc.array(chunk, { minLength: 1, maxLength: 60 }), (drawn) => {
        let preamble = false;
        const entries = drawn.map(([ends, trailer], i): [number, number] => {
          const continues = trailer && i < drawn.length - 1;
          // A chunk that finishes the row continued into it ends at least that row.
          const ending = preamble && !continues ? Math.max(ends, 1) : ends;
          preamble = continues;
          return [ending, continues ? 1 : 0];
        });
        const numRows = entries.reduce((rows, [ends]) => rows + ends, 0);
        const index = parseMiniBlockRepIndex(repIndex(...entries), 1, entries.length, numRows, 'p');
        for (let row = 0; row < numRows; row++) expect(chunksOfRow(index, row)).toEqual(walk(index, row));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a small step table for a page that claims more rows than a row number can name', () => {
    const huge = parseMiniBlockRepIndex(repIndex([2 ** 40, 0]), 1, 1, 2 ** 40, 'p');
    expect(huge.stepChunks.length).toBeLessThanOrEqual(3);
    expect(chunksOfRow(huge, 2 ** 32 - 1)).toEqual({ first: 0, last: 0 });
  });

  it('refuses an index with rows past the page or ending inside a row', () => {
    expect(() => parseMiniBlockRepIndex(repIndex([2, 0], [9, 0]), 1, 2, 4, 'file column 1 page 0')).toThrow(
      /file column 1 page 0: repetition index entry 1 \(9 rows ending\) puts rows past the page's 4/,
    );
    expect(() => parseMiniBlockRepIndex(repIndex([4, 3]), 1, 1, 5, 'p')).toThrow(/ends inside a row/);
    expect(() => parseMiniBlockRepIndex(new Uint8Array(8), 1, 1, 1, 'p')).toThrow(CorruptFileError);
  });
});

/** Chunks [first, last] holding `row`, by walking every chunk: where it starts, then while it continues. */
function walk(index: MiniBlockRepIndex, row: number): { first: number; last: number } {
  const { firstRow, starts, hasTrailer } = index;
  let first = 0;
  while (row >= (firstRow[first] as number) + (starts[first] as number)) first++;
  let last = first;
  if (row === (firstRow[first] as number) + (starts[first] as number) - 1)
    while (hasTrailer[last] === 1 && (last === first || starts[last] === 0)) last++;
  return { first, last };
}

/**
 * Unravelling level entries into per-layer offsets and validity (hand-built levels in the canonical
 * numbering of format/repdef.ts: item null = base + 1, list null = base + 1, list empty = base + 2).
 */
import { describe, expect, it } from 'vitest';
import { CorruptFileError } from '../../../errors.js';
import { unravelLevels } from '../../../decode-workers/encodings/unravel.js';

/** Levels from [rep, def] pairs. */
const levels = (...pairs: [number, number][]) => Uint16Array.from(pairs.flat());

describe('unravelLevels', () => {
  it('turns list<list<int>> levels into both layers of offsets, with null and empty lists', () => {
    // Rows: [[1, 2], []], null, [[null]]. Defs: item null 1, inner null 2 / empty 3, outer null 4 / empty 5.
    const layers = unravelLevels(levels([2, 0], [0, 0], [1, 3], [2, 4], [2, 1]), ['item', 'list', 'list'], 3, 'test');
    expect(layers[2]).toMatchObject({ count: 3, nullCount: 1 });
    expect([...(layers[2]?.offsets ?? [])]).toEqual([0, 2, 2, 3]);
    expect([...(layers[2]?.validity ?? [])]).toEqual([1, 0, 1]);
    expect([...(layers[1]?.offsets ?? [])]).toEqual([0, 2, 2, 3]);
    expect([...(layers[1]?.validity ?? [])]).toEqual([1, 1, 1]);
    expect([...(layers[0]?.validity ?? [])]).toEqual([1, 1, 0]);
  });

  it('gives a null struct a null element in every layer below it', () => {
    // struct<a>: rows {a: 1}, {a: null}, null. Defs: a null 1, struct null 2.
    const layers = unravelLevels(levels([0, 0], [0, 1], [0, 2]), ['item', 'item'], 3, 'test');
    expect([...(layers[1]?.validity ?? [])]).toEqual([1, 1, 0]);
    expect([...(layers[0]?.validity ?? [])]).toEqual([1, 0, 0]);
  });

  it('masks a list under a null struct as a null list without items', () => {
    // list<struct<list<int>>>: row [{l: [1]}, null]. Defs: item 1, inner list 2/3, struct 4, outer list 5/6.
    const layers = unravelLevels(levels([2, 0], [1, 4]), ['item', 'list', 'item', 'list'], 1, 'test');
    expect([...(layers[3]?.offsets ?? [])]).toEqual([0, 2]);
    expect([...(layers[2]?.validity ?? [])]).toEqual([1, 0]);
    expect([...(layers[1]?.offsets ?? [])]).toEqual([0, 1, 1]);
    expect([...(layers[1]?.validity ?? [])]).toEqual([1, 0]);
    expect(layers[0]?.count).toBe(1);
  });

  it('refuses levels whose rows do not match the rows read', () => {
    expect(() => unravelLevels(levels([1, 0], [0, 0]), ['item', 'list'], 2, 'column "x"')).toThrow(
      /column "x": levels hold 1 rows where 2 were read/,
    );
  });

  it('refuses an entry that continues a list its definition level says is empty', () => {
    const error = (() => {
      try {
        unravelLevels(levels([1, 0], [0, 3]), ['item', 'list'], 1, 'column "x"');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toMatch(/entry 1 continues a list \(rep 0\) that its definition level 3 ends/);
  });

  it('refuses levels past the layers (a corrupt rep or def)', () => {
    expect(() => unravelLevels(levels([5, 0]), ['item', 'list'], 1, 'column "x"')).toThrow(CorruptFileError);
    expect(() => unravelLevels(levels([1, 9]), ['item', 'list'], 1, 'column "x"')).toThrow(/out of range/);
  });
});

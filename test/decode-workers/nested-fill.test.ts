/**
 * Ragged levels moved with the rows that onError 'skip' replaces (nested-fill.ts moveRaggedLevels): item
 * validity moves with its items, one byte per item or one per value of fixed-size list items.
 */
import { describe, expect, it } from 'vitest';
import { moveRaggedLevels } from '../../decode-workers/nested-fill.js';

describe('moveRaggedLevels', () => {
  // Row 0 holds item 0, row 1 items 1 and 2.
  const levels = { offsets: [Int32Array.from([0, 1, 3])], validity: [], itemOffsets: null };

  it("moves one validity byte per item with the row's items", () => {
    const moved = moveRaggedLevels(levels, Uint8Array.from([0, 1, 0]), Uint32Array.from([1, 1]));
    expect(Array.from(moved.levels.offsets[0] ?? [])).toEqual([0, 2, 4]);
    expect(Array.from(moved.itemValidity ?? [])).toEqual([1, 0, 1, 0]);
  });

  it('moves the validity of every value of fixed-size list items with their items', () => {
    // Two values per item: item 0 [valid, null], item 1 [valid, valid], item 2 null.
    const items = Uint8Array.from([1, 0, 1, 1, 0, 0]);
    const moved = moveRaggedLevels(levels, items, Uint32Array.from([1, 0]));
    expect(Array.from(moved.levels.offsets[0] ?? [])).toEqual([0, 2, 3]);
    expect(Array.from(moved.itemValidity ?? [])).toEqual([1, 1, 0, 0, 1, 0]);
  });
});

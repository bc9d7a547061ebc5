import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sortWithSlots } from '../../dataset/rows.js';

/** The reference: slots ordered by row, ties by slot. */
function referenceOrder(rows: readonly number[]): number[] {
  return rows.map((_, i) => i).sort((a, b) => (rows[a] as number) - (rows[b] as number) || a - b);
}

describe('sortWithSlots', () => {
  it('sorts rows ascending and gives each its request position, ties in request order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(20), fc.constant(2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 })), { maxLength: 600 }),
        (list) => {
          const { rows, slots } = sortWithSlots(Uint32Array.from(list));
          const order = referenceOrder(list);
          expect(Array.from(slots)).toEqual(order);
          expect(Array.from(rows)).toEqual(order.map((i) => list[i]));
        },
      ),
    );
  });

  it('hands back the same rows without copying when they are already ascending', () => {
    const input = Uint32Array.of(1, 1, 5, 9);
    const { rows, slots } = sortWithSlots(input);
    expect(rows).toBe(input);
    expect(Array.from(slots)).toEqual([0, 1, 2, 3]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillLocalityPermutation } from '../../samplers/locality.js';

function localityOrder(rows: number, key: string, blockRows: number, windowBlocks: number): Uint32Array {
  const order = new Uint32Array(rows);
  fillLocalityPermutation(order, key, blockRows, windowBlocks);
  return order;
}

/**
 * Splits `order` into windows by walking it: a window closes once it holds `windowBlocks` blocks (or
 * every remaining block) and all their rows. Returns the number of distinct blocks per window, and
 * throws if a window would need more blocks than allowed or a block is split across windows.
 */
function blocksPerWindow(order: Uint32Array, blockRows: number, windowBlocks: number): number[] {
  const rows = order.length;
  const numBlocks = Math.ceil(rows / blockRows);
  const blockLength = (block: number): number => Math.min(blockRows, rows - block * blockRows);
  const closed = new Set<number>();
  const windows: number[] = [];
  let open = new Map<number, number>(); // block → rows still to come
  let blocksInWindow = 0;
  for (const row of order) {
    const block = Math.floor(row / blockRows);
    if (closed.has(block)) throw new Error(`block ${block} reappears in a later window`);
    if (!open.has(block)) {
      blocksInWindow++;
      if (blocksInWindow > windowBlocks) throw new Error(`a window holds more than ${windowBlocks} blocks`);
      open.set(block, blockLength(block));
    }
    open.set(block, (open.get(block) as number) - 1);
    const complete = [...open.values()].every((left) => left === 0);
    const full = blocksInWindow === windowBlocks || closed.size + blocksInWindow === numBlocks;
    if (complete && full) {
      for (const b of open.keys()) closed.add(b);
      windows.push(blocksInWindow);
      open = new Map();
      blocksInWindow = 0;
    }
  }
  if (blocksInWindow !== 0) throw new Error('the last window is incomplete');
  return windows;
}

const layouts = fc.record({
  rows: fc.nat(300),
  blockRows: fc.integer({ min: 1, max: 40 }),
  windowBlocks: fc.integer({ min: 1, max: 12 }),
  key: fc.string(),
});

describe('fillLocalityPermutation', () => {
  it('writes every row exactly once', () => {
    fc.assert(
      fc.property(layouts, ({ rows, blockRows, windowBlocks, key }) => {
        const order = localityOrder(rows, key, blockRows, windowBlocks);
        expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: rows }, (_, i) => i));
      }),
    );
  });

  it('takes the rows of each window from at most windowBlocks whole blocks', () => {
    fc.assert(
      fc.property(layouts, ({ rows, blockRows, windowBlocks, key }) => {
        const order = localityOrder(rows, key, blockRows, windowBlocks);
        const windows = blocksPerWindow(order, blockRows, windowBlocks);
        expect(windows.reduce((a, b) => a + b, 0)).toBe(Math.ceil(rows / blockRows));
        for (const count of windows.slice(0, -1)) expect(count).toBe(windowBlocks);
      }),
    );
  });

  it('depends only on the key and the layout', () => {
    fc.assert(
      fc.property(layouts, ({ rows, blockRows, windowBlocks, key }) => {
        expect(localityOrder(rows, key, blockRows, windowBlocks)).toEqual(
          localityOrder(rows, key, blockRows, windowBlocks),
        );
      }),
    );
  });

  it('differs between keys', () => {
    expect(localityOrder(1000, '1:0', 16, 4)).not.toEqual(localityOrder(1000, '1:1', 16, 4));
  });

  it('shuffles the order of the blocks, not only rows within them', () => {
    const order = localityOrder(1000, '3:0', 10, 1);
    const firstRowOfEachWindow = Array.from({ length: 100 }, (_, w) => Math.floor((order[w * 10] as number) / 10));
    expect(firstRowOfEachWindow).not.toEqual(Array.from({ length: 100 }, (_, b) => b));
  });

  it('keeps one block per window together when windowBlocks is 1', () => {
    const order = localityOrder(95, '5:2', 10, 1);
    const blocks = Array.from(order, (row) => Math.floor(row / 10));
    const runs = blocks.filter((block, i) => i === 0 || block !== blocks[i - 1]);
    expect(runs).toHaveLength(10);
    expect(new Set(runs).size).toBe(10);
  });

  it('is a full shuffle when one window holds every block', () => {
    const order = localityOrder(200, '9:0', 10, 20);
    expect(blocksPerWindow(order, 10, 20)).toEqual([20]);
    const blocksOfFirstTenRows = new Set(Array.from(order.subarray(0, 10), (row) => Math.floor(row / 10)));
    expect(blocksOfFirstTenRows.size).toBeGreaterThan(1);
  });
});

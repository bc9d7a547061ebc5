import { describe, expect, it } from 'vitest';
import { ReceivePool } from '../../../io/remote/receive-pool.js';

describe('ReceivePool', () => {
  it('gives each range a view of exactly its size', () => {
    const pool = new ReceivePool(1 << 20);
    expect([1, 4096, 70_000, 1 << 20].map((size) => pool.take(size).byteLength)).toEqual([1, 4096, 70_000, 1 << 20]);
  });

  it('serves a later range from a buffer given back, when it falls in the same size class', () => {
    const pool = new ReceivePool(1 << 20);
    const first = pool.take(70_000);
    pool.give([first]);
    const again = pool.take(69_000);
    expect(again.buffer).toBe(first.buffer);
    expect(pool.take(69_000).buffer).not.toBe(first.buffer);
  });

  it('leaves at most an eighth of a buffer unused', () => {
    const pool = new ReceivePool(0);
    for (const size of [4097, 65_537, 70_000, 1_000_001])
      expect(pool.take(size).buffer.byteLength).toBeLessThanOrEqual(Math.ceil(size * 1.125));
  });

  it('keeps no more given-back memory than its bound', () => {
    const pool = new ReceivePool(100_000);
    const views = [pool.take(70_000), pool.take(70_000)];
    pool.give(views);
    const reused = [pool.take(70_000), pool.take(70_000)].filter((v) => views.some((w) => w.buffer === v.buffer));
    expect(reused).toHaveLength(1);
  });

  it('drops kept buffers of another size when a take would pass its bound', () => {
    const pool = new ReceivePool(100_000);
    const small = pool.take(40_000);
    pool.give([small]);
    pool.take(90_000);
    const again = pool.take(40_000);
    expect(again.buffer).not.toBe(small.buffer);
  });

  it('does not reuse the buffers of a read that failed', () => {
    const pool = new ReceivePool(1 << 20);
    const failed = pool.take(70_000);
    pool.drop([failed]);
    expect(pool.take(70_000).buffer).not.toBe(failed.buffer);
  });

  it('gives a tiny range a buffer of its own size class, not a page', () => {
    expect(new ReceivePool(0).take(16).buffer.byteLength).toBe(64);
  });
});

import { describe, expect, it } from 'vitest';
import { createSlabPool, type SlabLease } from '../../io/slab.js';
import { Rng } from '../fixtures/random.js';

const KiB = 1024;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('createSlabPool', () => {
  it('never leases more than maxBytes under concurrent acquires, and live regions never overlap', async () => {
    const pool = createSlabPool({ slabBytes: 64 * KiB, maxBytes: 128 * KiB });
    const rng = new Rng(7);
    const live = new Set<SlabLease>();
    let maxSeen = 0;
    const task = async (bytes: number, holdTicks: number) => {
      const lease = await pool.acquire(bytes);
      for (const other of live) {
        if (other.buffer !== lease.buffer) continue;
        const disjoint =
          lease.byteOffset + lease.byteLength <= other.byteOffset ||
          other.byteOffset + other.byteLength <= lease.byteOffset;
        expect(disjoint).toBe(true);
      }
      live.add(lease);
      maxSeen = Math.max(maxSeen, pool.stats().bytesInUse);
      expect(pool.stats().bytesInUse).toBeLessThanOrEqual(128 * KiB);
      for (let i = 0; i < holdTicks; i++) await tick();
      live.delete(lease);
      lease.release();
    };
    await Promise.all(Array.from({ length: 300 }, () => task(rng.int(1, 100 * KiB), rng.int(0, 4))));
    const stats = pool.stats();
    expect(stats.bytesInUse).toBe(0);
    expect(stats.leases).toBe(0);
    expect(stats.peakBytesInUse).toBeLessThanOrEqual(128 * KiB);
    expect(maxSeen).toBeGreaterThan(64 * KiB);
    expect(stats.waits).toBeGreaterThan(0);
    expect(stats.waiting).toBe(0);
  });

  it('serves waiters in arrival order: a small request never passes a large one ahead of it', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    const first = await pool.acquire(16 * KiB);
    const order: string[] = [];
    const big = pool.acquire(12 * KiB).then((l) => (order.push('big'), l));
    const small = pool.acquire(4 * KiB).then((l) => (order.push('small'), l));
    const middle = pool.acquire(8 * KiB).then((l) => (order.push('middle'), l));
    await tick();
    expect(order).toEqual([]);
    expect(pool.stats().waiting).toBe(3);
    first.release();
    const [bigLease, smallLease] = await Promise.all([big, small]);
    await tick();
    expect(order).toEqual(['big', 'small']); // 12 + 4 fill the budget; middle (8) still waits
    bigLease.release();
    const middleLease = await middle;
    expect(order).toEqual(['big', 'small', 'middle']);
    expect(pool.stats().waits).toBe(3);
    smallLease.release();
    middleLease.release();
    expect(pool.stats().bytesInUse).toBe(0);
  });

  it('rejects a request larger than maxBytes with a MEMORY_BUDGET ResourceError', async () => {
    const pool = createSlabPool({ slabBytes: 8 * KiB, maxBytes: 32 * KiB });
    await expect(pool.acquire(32 * KiB + 1)).rejects.toMatchObject({
      code: 'MEMORY_BUDGET',
      message: expect.stringContaining("exceeds the pool's maxBytes (32768)"),
    });
  });

  it('rejects a non-positive or fractional byte count with InvalidArgumentError', async () => {
    const pool = createSlabPool({ slabBytes: 8 * KiB, maxBytes: 32 * KiB });
    await expect(pool.acquire(0)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('positive integer byte count, got 0'),
    });
    await expect(pool.acquire(1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('names the bad option when created with bad options', () => {
    expect(() => createSlabPool({ slabBytes: 1000, maxBytes: 64 * KiB })).toThrow(
      /option slabBytes must be a positive multiple of unitBytes \(4096\), got 1000/,
    );
    expect(() => createSlabPool({ slabBytes: 4096, maxBytes: 100 })).toThrow(
      /option maxBytes must be an integer >= unitBytes/,
    );
    expect(() => createSlabPool({ slabBytes: 4096, maxBytes: 4096, unitBytes: 100 })).toThrow(
      /option unitBytes must be a positive multiple of 512/,
    );
  });

  it('rejects a waiting acquire with AbortError when its signal aborts, and lets the waiters behind it through', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    const held = await pool.acquire(8 * KiB);
    const controller = new AbortController();
    const blocked = pool.acquire(16 * KiB, controller.signal);
    const behind = pool.acquire(4 * KiB);
    await tick();
    expect(pool.stats().waiting).toBe(2);
    controller.abort();
    await expect(blocked).rejects.toMatchObject({
      code: 'ABORTED',
      message: expect.stringContaining('aborted while waiting for budget'),
    });
    const lease = await behind; // 8 + 4 fit once the 16 KiB head is gone
    expect(pool.stats()).toMatchObject({ waiting: 0, bytesInUse: 12 * KiB });
    lease.release();
    held.release();
  });

  it('rejects at once when the signal is already aborted', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    await expect(pool.acquire(4 * KiB, AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
    expect(pool.stats().bytesInUse).toBe(0);
  });

  it('ignores a second release of the same lease and counts it', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    const a = await pool.acquire(8 * KiB);
    a.release();
    const b = await pool.acquire(8 * KiB); // may reuse a's region
    a.release();
    expect(pool.stats()).toMatchObject({ bytesInUse: 8 * KiB, leases: 1, doubleReleases: 1 });
    b.release();
    expect(pool.stats().bytesInUse).toBe(0);
  });

  it('grants the regions of acquireAll together, all or nothing', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 32 * KiB });
    const held = await pool.acquire(20 * KiB);
    let granted = false;
    const all = pool.acquireAll([4 * KiB, 4 * KiB, 8 * KiB]).then((leases) => ((granted = true), leases));
    await tick();
    expect(granted).toBe(false); // 12 KiB free, 16 KiB asked: none of the three is handed out
    expect(pool.stats().bytesInUse).toBe(20 * KiB);
    held.release();
    const leases = await all;
    expect(leases.map((l) => l.byteLength)).toEqual([4 * KiB, 4 * KiB, 8 * KiB]);
    for (const l of leases) l.release();
  });

  it('makes plain ArrayBuffer slabs when not shared', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 64 * KiB, shared: false });
    const lease = await pool.acquire(4 * KiB);
    expect(lease.buffer).toBeInstanceOf(ArrayBuffer);
    lease.release();
    pool.close();
  });

  it('makes plain slabs with the allocate option when given, each of slabBytes plus one unit of slack', async () => {
    const asked: number[] = [];
    const pool = createSlabPool({
      slabBytes: 16 * KiB,
      maxBytes: 64 * KiB,
      shared: false,
      allocate: (bytes) => (asked.push(bytes), new ArrayBuffer(bytes + 100)),
    });
    const leases = await pool.acquireAll([12 * KiB, 12 * KiB]);
    expect(asked).toEqual([20 * KiB, 20 * KiB]);
    expect(leases.map((l) => l.buffer.byteLength)).toEqual([20 * KiB + 100, 20 * KiB + 100]);
    for (const l of leases) l.release();
    pool.close();
  });

  it('places every region of a slab at the phase phaseOf chose, probing each slab once', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 64 * KiB });
    const probed: (ArrayBuffer | SharedArrayBuffer)[] = [];
    const phaseOf = (slab: ArrayBuffer | SharedArrayBuffer) => (probed.push(slab), 496);
    const leases = await pool.acquireAll([4 * KiB, 100, 8 * KiB, 12 * KiB], { phaseOf });
    for (const l of leases) expect(l.byteOffset % 4096).toBe(496);
    expect(new Set(leases.map((l) => l.buffer)).size).toBe(probed.length);
    expect(probed.length).toBe(2);
    for (const l of leases) l.release();
  });

  it('counts leases rounded up to unitBytes against the budget', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    const leases = await pool.acquireAll([1, 1, 1]);
    expect(pool.stats().bytesInUse).toBe(12 * KiB);
    for (const l of leases) l.release();
  });

  it('gives a request larger than slabBytes a slab of its own and drops it on release', async () => {
    const pool = createSlabPool({ slabBytes: 8 * KiB, maxBytes: 64 * KiB });
    const big = await pool.acquire(40 * KiB);
    expect(big.buffer.byteLength).toBeGreaterThanOrEqual(40 * KiB);
    expect(pool.stats().slabs).toBe(1);
    big.release();
    expect(pool.stats().slabs).toBe(0);
  });

  it('rejects waiting acquires with AbortError when closed', async () => {
    const pool = createSlabPool({ slabBytes: 16 * KiB, maxBytes: 16 * KiB });
    const held = await pool.acquire(16 * KiB);
    const waiting = pool.acquire(4 * KiB);
    pool.close();
    await expect(waiting).rejects.toMatchObject({
      code: 'ABORTED',
      message: 'slab pool closed while an acquire was waiting',
    });
    await expect(pool.acquire(4 * KiB)).rejects.toMatchObject({ code: 'ABORTED', message: 'slab pool is closed' });
    held.release();
  });
});

describe('the slabs a pool holds', () => {
  it('are whole units of what allocate rounds up to, all of them usable', async () => {
    const sizes: number[] = [];
    const pool = createSlabPool({
      slabBytes: 56 * KiB,
      maxBytes: 128 * KiB,
      allocateUnitBytes: 32 * KiB,
      shared: false,
      allocate: (bytes) => (sizes.push(bytes), new ArrayBuffer(bytes)),
    });
    // 56 KiB and a unit of slack round up to 64 KiB, which then holds 60 KiB of leases, not 56.
    const leases = await pool.acquireAll([28 * KiB, 28 * KiB, 4 * KiB]);
    expect(sizes).toEqual([64 * KiB]);
    expect(new Set(leases.map((lease) => lease.buffer)).size).toBe(1);
    expect(pool.stats().slabBytesHeld).toBe(64 * KiB);
  });

  it('stay within maxBytes: an empty slab is dropped before a dedicated one would pass it', async () => {
    const pool = createSlabPool({ slabBytes: 28 * KiB, maxBytes: 64 * KiB });
    (await pool.acquire(28 * KiB)).release();
    (await pool.acquire(56 * KiB)).release();
    const stats = pool.stats();
    expect(stats.slabsCreated).toBe(2);
    expect(stats.peakSlabBytesHeld).toBeLessThanOrEqual(64 * KiB);
  });

  it('report their peak, which outlasts the slabs dropped since', async () => {
    const pool = createSlabPool({ slabBytes: 8 * KiB, maxBytes: 32 * KiB });
    (await pool.acquire(20 * KiB)).release();
    expect(pool.stats().slabBytesHeld).toBe(0);
    expect(pool.stats().peakSlabBytesHeld).toBe(24 * KiB);
  });
});

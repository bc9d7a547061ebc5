/**
 * The local range cache (io/remote/range-cache.ts) on real files: ranges come back as written, partial
 * coverage is a miss, two instances on one directory share what either wrote, and the directory stays
 * within its bound by dropping the least recently used objects.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, truncateSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RangeCache } from '../../../io/remote/range-cache.js';
import { fdsUnder } from '../../fixtures/fds.js';
import { temporaryDirectory } from './servers.js';

let dir: ReturnType<typeof temporaryDirectory>;
const caches: RangeCache[] = [];

function cacheOf(maxBytes = 1 << 30): RangeCache {
  const cache = new RangeCache(`${dir.dir}/cache`, maxBytes);
  caches.push(cache);
  return cache;
}

const bytesOf = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * seed + 1) & 0xff);

/** Whether two byte arrays hold the same bytes (toEqual compares megabytes one element at a time). */
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

beforeEach(() => {
  dir = temporaryDirectory('lance-loader-cache-');
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
  dir.remove();
});

describe('the range cache', () => {
  it('returns a kept range, and any range inside kept ones', async () => {
    const cache = cacheOf();
    const a = bytesOf(1000, 3);
    const b = bytesOf(500, 5);
    await cache.write('s3://b/x', 10_000, { offset: 2000, size: 1000 }, a);
    await cache.write('s3://b/x', 10_000, { offset: 3000, size: 500 }, b);
    expect((await cache.read('s3://b/x', 10_000, [{ offset: 2000, size: 1000 }]))[0]).toEqual(a);
    const across = (await cache.read('s3://b/x', 10_000, [{ offset: 2900, size: 200 }]))[0];
    expect(across).toEqual(Uint8Array.from([...a.subarray(900), ...b.subarray(0, 100)]));
  });

  it('answers every range of one lookup, in order: kept ones with their bytes, the others missing', async () => {
    const cache = cacheOf();
    const kept = new Map([1000, 5000, 9000].map((offset) => [offset, bytesOf(1000, offset / 1000)]));
    for (const [offset, bytes] of kept) await cache.write('s3://b/z', 20_000, { offset, size: 1000 }, bytes);
    const ranges = [9000, 100, 5500, 1000, 8999].map((offset) => ({ offset, size: 300 }));
    const views = await cache.read('s3://b/z', 20_000, ranges);
    expect(views.map((v) => v !== undefined)).toEqual([true, false, true, true, false]);
    expect(views[0]).toEqual(kept.get(9000)?.subarray(0, 300));
    expect(views[2]).toEqual(kept.get(5000)?.subarray(500, 800));
    expect(views[3]).toEqual(kept.get(1000)?.subarray(0, 300));
    expect(cache.stats).toMatchObject({ hits: 3, misses: 2 });
  });

  it('reads kept ranges straight into the targets given, and leaves the targets of missing ones alone', async () => {
    const cache = cacheOf();
    const kept = bytesOf(4000, 13);
    await cache.write('s3://b/t', 50_000, { offset: 10_000, size: 4000 }, kept);
    const ranges = [
      { offset: 12_000, size: 100 },
      { offset: 20_000, size: 50 },
      { offset: 10_000, size: 300 },
    ];
    const targets = ranges.map((r) => new Uint8Array(r.size).fill(0xee));
    expect(await cache.readInto('s3://b/t', 50_000, ranges, targets)).toEqual([1]);
    expect(targets[0]).toEqual(kept.subarray(2000, 2100));
    expect(targets[1]).toEqual(new Uint8Array(50).fill(0xee));
    expect(targets[2]).toEqual(kept.subarray(0, 300));
    expect(cache.stats).toMatchObject({ hits: 2, misses: 1 });
  });

  it('misses kept ranges whose bytes its data file no longer holds, with or without targets', async () => {
    const cache = cacheOf();
    await cache.write('s3://b/cut', 10_000, { offset: 0, size: 3000 }, bytesOf(3000, 17));
    const [data] = readdirSync(`${dir.dir}/cache`).filter((n) => n.endsWith('.data'));
    truncateSync(`${dir.dir}/cache/${data}`, 1000);
    const ranges = [
      { offset: 0, size: 500 },
      { offset: 2000, size: 500 },
    ];
    const views = await cache.read('s3://b/cut', 10_000, ranges);
    expect(views[0]).toEqual(bytesOf(500, 17));
    expect(views[1]).toBeUndefined();
    const targets = ranges.map((r) => new Uint8Array(r.size));
    expect(await cache.readInto('s3://b/cut', 10_000, ranges, targets)).toEqual([1]);
    expect(targets[0]).toEqual(bytesOf(500, 17));
  });

  it('lets the lookups that were opening its files when it closes read them, then closes every file', async () => {
    const writer = cacheOf();
    const reader = new RangeCache(`${dir.dir}/cache`, 1 << 30);
    await writer.write('s3://b/c', 9000, { offset: 0, size: 100 }, bytesOf(100, 5));
    const writers = fdsUnder(`${dir.dir}/cache`).length;
    const pending = reader.read('s3://b/c', 9000, [{ offset: 0, size: 100 }]);
    const target = new Uint8Array(100);
    const into = reader.readInto('s3://b/c', 9000, [{ offset: 0, size: 100 }], [target]);
    await reader.close();
    expect(await pending).toEqual([bytesOf(100, 5)]);
    expect(await into).toEqual([]);
    expect(target).toEqual(bytesOf(100, 5));
    expect(fdsUnder(`${dir.dir}/cache`)).toHaveLength(writers);
  });

  it('fails a lookup whose files cannot all be opened with an IoError, and leaves none of them open', async () => {
    const cache = cacheOf();
    // The object's log path taken by a directory: its data file opens, its log does not.
    const name = createHash('sha256').update('s3://b/x\u000010000').digest('hex').slice(0, 40);
    mkdirSync(`${dir.dir}/cache/${name}.ranges`, { recursive: true });
    await expect(cache.read('s3://b/x', 10_000, [{ offset: 0, size: 10 }])).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(fdsUnder(`${dir.dir}/cache`)).toEqual([]);
  });

  it('finds each of a shuffled epoch of ranges kept one at a time, and a range two of them cover together', async () => {
    const cache = cacheOf();
    const url = 's3://b/shuffled';
    // 1,200 slots of 16 bytes: slots 0 and 2 kept first, every other even one after them in shuffled
    // order (the ranges arrive far apart), then slot 1: slots 0-2 are kept by a range kept first and one
    // kept last.
    const kept = [0, 2, ...Array.from({ length: 598 }, (_, i) => 2 * i + 4)];
    let seed = 5;
    for (let i = kept.length - 1; i > 2; i--) {
      seed = (seed * 48271) % 2147483647;
      const j = 2 + (seed % (i - 1));
      [kept[i], kept[j]] = [kept[j] as number, kept[i] as number];
    }
    for (const slot of kept) await cache.write(url, 1 << 20, { offset: slot * 16, size: 16 }, bytesOf(16, slot + 1));
    // A lookup that misses has read the log to its end: what follows is known from the write alone.
    expect(await cache.read(url, 1 << 20, [{ offset: 16, size: 16 }])).toEqual([undefined]);
    await cache.write(url, 1 << 20, { offset: 16, size: 16 }, bytesOf(16, 2));
    const ranges = [...kept, 1].map((slot) => ({ offset: slot * 16, size: 16 }));
    expect((await cache.read(url, 1 << 20, ranges)).every((v) => v !== undefined)).toBe(true);
    const [across] = await cache.read(url, 1 << 20, [{ offset: 8, size: 32 }]);
    expect(across).toEqual(
      Uint8Array.from([...bytesOf(16, 1).subarray(8), ...bytesOf(16, 2), ...bytesOf(16, 3).subarray(0, 8)]),
    );
    const gaps = [3, 5, 1197].map((slot) => ({ offset: slot * 16, size: 16 }));
    expect(await cache.read(url, 1 << 20, gaps)).toEqual([undefined, undefined, undefined]);
  });

  it('misses a range only partly kept, and the same URL with another size', async () => {
    const cache = cacheOf();
    await cache.write('s3://b/x', 10_000, { offset: 0, size: 100 }, bytesOf(100, 7));
    expect((await cache.read('s3://b/x', 10_000, [{ offset: 50, size: 100 }]))[0]).toBeUndefined();
    expect((await cache.read('s3://b/x', 20_000, [{ offset: 0, size: 100 }]))[0]).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 0, misses: 2 });
  });

  it('is shared by two instances on one directory (workers of a loader, later processes)', async () => {
    const writer = cacheOf();
    const reader = cacheOf();
    expect((await reader.read('s3://b/y', 5000, [{ offset: 100, size: 100 }]))[0]).toBeUndefined();
    await writer.write('s3://b/y', 5000, { offset: 0, size: 4000 }, bytesOf(4000, 11));
    expect((await reader.read('s3://b/y', 5000, [{ offset: 100, size: 100 }]))[0]).toEqual(
      bytesOf(4000, 11).subarray(100, 200),
    );
  });

  it("sees every range another instance keeps after two lookups at once read that instance's log", async () => {
    const [writer, reader] = [cacheOf(), cacheOf()];
    const url = 's3://b/w';
    await writer.write(url, 9000, { offset: 0, size: 100 }, bytesOf(100, 1));
    await writer.write(url, 9000, { offset: 1000, size: 100 }, bytesOf(100, 2));
    await Promise.all([
      reader.read(url, 9000, [{ offset: 0, size: 100 }]),
      reader.read(url, 9000, [{ offset: 1000, size: 100 }]),
    ]);
    await writer.write(url, 9000, { offset: 2000, size: 100 }, bytesOf(100, 3));
    expect((await reader.read(url, 9000, [{ offset: 2000, size: 100 }]))[0]).toEqual(bytesOf(100, 3));
  });

  it("keeps writing an object another instance evicted, without failing, and never answers a lookup with another range's bytes", async () => {
    const MiB = 1 << 20;
    const [a, b] = [cacheOf(4 * MiB), cacheOf(4 * MiB)];
    const url = 's3://b/evicted';
    await a.write(url, 128 * MiB, { offset: 0, size: MiB / 4 }, bytesOf(MiB / 4, 1));
    // b fills the directory past the bound and drops the least recently used object, a's.
    for (let i = 0; i < 20; i++)
      await b.write('s3://b/filler', 128 * MiB, { offset: i * MiB, size: MiB / 4 }, bytesOf(MiB / 4, 2));
    expect(b.stats.objectsEvicted).toBeGreaterThan(0);
    // A small write to another object ends first and checks the directory: a lets go of the evicted
    // object's files while its large writes are still in flight.
    const big = bytesOf(8 * MiB, 3);
    const writes = [
      a.write('s3://b/other', 128 * MiB, { offset: 0, size: MiB }, bytesOf(MiB, 4)),
      ...Array.from({ length: 12 }, (_, i) =>
        a.write(url, 128 * MiB, { offset: (i + 1) * 8 * MiB, size: 8 * MiB }, big),
      ),
    ];
    await expect(Promise.all(writes)).resolves.toHaveLength(13);
    for (let i = 0; i < 12; i++) {
      const [view] = await a.read(url, 128 * MiB, [{ offset: (i + 1) * 8 * MiB, size: 8 * MiB }]);
      if (view) expect(sameBytes(view, big)).toBe(true);
    }
  });

  it('keeps the ranges of writes begun before it closes, then closes the files', async () => {
    const MiB = 1 << 20;
    const writer = new RangeCache(`${dir.dir}/cache`, 1 << 30);
    const url = 's3://b/closing';
    await writer.write(url, 64 * MiB, { offset: 0, size: 100 }, bytesOf(100, 1));
    const big = bytesOf(8 * MiB, 2);
    const writes = Array.from({ length: 4 }, (_, i) =>
      writer.write(url, 64 * MiB, { offset: (i + 1) * 8 * MiB, size: 8 * MiB }, big),
    );
    await writer.close();
    await expect(Promise.all(writes)).resolves.toHaveLength(4);
    const [view] = await cacheOf().read(url, 64 * MiB, [{ offset: 32 * MiB, size: 8 * MiB }]);
    expect(view && sameBytes(view, big)).toBe(true);
  });

  it('stays within its bound by dropping the least recently used objects', async () => {
    const maxBytes = 1 << 20;
    const cache = cacheOf(maxBytes);
    for (let i = 0; i < 8; i++) {
      await cache.write(`s3://b/object-${i}`, 1 << 20, { offset: 0, size: 256 * 1024 }, bytesOf(256 * 1024, i + 1));
    }
    expect(cache.stats.objectsEvicted).toBeGreaterThan(0);
    expect(readdirSync(`${dir.dir}/cache`).filter((n) => n.endsWith('.data')).length).toBeLessThanOrEqual(4);
    expect((await cache.read('s3://b/object-0', 1 << 20, [{ offset: 0, size: 10 }]))[0]).toBeUndefined();
    expect((await cache.read('s3://b/object-7', 1 << 20, [{ offset: 0, size: 10 }]))[0]).toEqual(bytesOf(10, 8));
  });
});

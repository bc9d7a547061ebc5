import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';
import { isOnTmpfs } from '../../io/align.js';
import { DirectFileSource, type DirectFileSourceOptions } from '../../io/direct-source.js';
import { createSlabPool } from '../../io/slab.js';
import { FileSource } from '../../io/source.js';
import { Rng } from '../fixtures/random.js';

const KiB = 1024;
const MiB = 1024 * KiB;
// Under the repo (ext4 here), not os.tmpdir(): that may be tmpfs, which has no real O_DIRECT.
const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const onTmpfs = isOnTmpfs(root);
const skipReason = onTmpfs ? ` (skipped: ${root} is on tmpfs, so O_DIRECT cannot be exercised)` : '';
const shmUsable = existsSync('/dev/shm') && isOnTmpfs('/dev/shm');

const FILE_BYTES = 8 * MiB + 1234; // not a multiple of 4096: the last block is partial

/** Random ranges of every awkward kind: unaligned, near and at EOF, overlapping, duplicated, empty, large. */
function awkwardRanges(size: number, rng: Rng): ByteRange[] {
  const ranges: ByteRange[] = [
    { offset: 0, size: 1 },
    { offset: 0, size: 4096 },
    { offset: 1, size: 4095 },
    { offset: 4095, size: 2 },
    { offset: size - 1, size: 1 },
    { offset: size - 1234, size: 1234 },
    { offset: size - 5000, size: 5000 },
    { offset: size, size: 0 },
    { offset: 777, size: 0 },
    { offset: Math.floor(size / 3) + 5, size: Math.floor(size / 3) },
    { offset: 100_000, size: 50_000 },
    { offset: 120_000, size: 50_000 }, // overlaps the previous
    { offset: 100_000, size: 50_000 }, // duplicate
  ];
  for (let i = 0; i < 200; i++) {
    const len = rng.bool(0.8) ? rng.int(1, 9000) : rng.int(1, 300_000);
    const offset = rng.int(0, size - len + 1);
    ranges.push({ offset, size: len });
  }
  for (let i = 0; i < 20; i++) {
    const len = rng.int(1, 20_000);
    ranges.push({ offset: size - len - rng.int(0, 100), size: len });
  }
  return ranges;
}

describe('DirectFileSource', () => {
  let dir = '';
  let path = '';
  let bytes: Uint8Array = new Uint8Array(0);
  beforeAll(() => {
    dir = mkdtempSync(join(root, 'direct-source-'));
    path = join(dir, 'data.bin');
    bytes = new Rng(42).bytes(FILE_BYTES);
    writeFileSync(path, bytes);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const expectBytes = (views: readonly Uint8Array[], ranges: readonly ByteRange[]) => {
    expect(views.length).toBe(ranges.length);
    ranges.forEach((r, i) => {
      const view = views[i] as Uint8Array;
      expect(view.byteLength).toBe(r.size);
      expect(
        Buffer.from(view.buffer, view.byteOffset, view.byteLength).equals(
          Buffer.from(bytes.buffer, bytes.byteOffset + r.offset, r.size),
        ),
      ).toBe(true);
    });
  };

  it.skipIf(onTmpfs)(`opens in direct mode on ext4${skipReason}`, async () => {
    const source = await DirectFileSource.open(path);
    try {
      expect(source.mode).toBe('direct');
      expect(source.stats).toMatchObject({ mode: 'direct', modeReason: 'O_DIRECT' });
      expect(source.size).toBe(FILE_BYTES);
    } finally {
      await source.close();
    }
  });

  const variants: Array<[string, DirectFileSourceOptions]> = [
    ['direct, queue depth 1', { direct: true, queueDepth: 1 }],
    ['direct, queue depth 32', { direct: true, queueDepth: 32 }],
    ['direct, no coalescing', { direct: true, coalesce: { maxGapBytes: 0, maxReadBytes: 64 * KiB } }],
    ['buffered', { direct: false, queueDepth: 8 }],
    ['buffered, blocking reads', { direct: false, reads: 'blocking' }],
    ['direct, blocking reads', { direct: true, reads: 'blocking' }],
    [
      'direct, blocking reads into a plain (not shared) pool',
      {
        direct: true,
        reads: 'blocking',
        pool: createSlabPool({ slabBytes: 4 * MiB, maxBytes: 64 * MiB, shared: false }),
      },
    ],
    ['buffered, queued reads', { direct: false, reads: 'queued' }],
    ['direct, queued reads', { direct: true, reads: 'queued' }],
    ['direct, queued reads at queue depth 1', { direct: true, reads: 'queued', queueDepth: 1 }],
    ['direct, queued reads, one in flight by bytes', { direct: true, reads: 'queued', bytesInFlight: 1 }],
    [
      'direct, async reads into a plain (not shared) pool',
      { direct: true, pool: createSlabPool({ slabBytes: 4 * MiB, maxBytes: 64 * MiB, shared: false }) },
    ],
  ];
  for (const [name, options] of variants) {
    const skip = options.direct === true && onTmpfs;
    it.skipIf(skip)(
      `returns the file's bytes for random awkward ranges (${name})${options.direct === true ? skipReason : ''}`,
      async () => {
        const ranges = awkwardRanges(FILE_BYTES, new Rng(name.length));
        const source = await DirectFileSource.open(path, options);
        try {
          expectBytes(await source.readRanges(ranges), ranges);
          const leased = await source.readRangesLeased(ranges);
          expectBytes(leased.views, ranges);
          leased.release();
        } finally {
          await source.close();
        }
      },
    );
  }

  it.skipIf(onTmpfs)(`returns the same bytes as the buffered FileSource${skipReason}`, async () => {
    const ranges = awkwardRanges(FILE_BYTES, new Rng(99));
    const direct = await DirectFileSource.open(path, { direct: true });
    const buffered = await FileSource.open(path);
    try {
      const a = await direct.readRanges(ranges);
      const b = await buffered.readRanges(ranges);
      a.forEach((view, i) => expect(Buffer.from(view).equals(Buffer.from(b[i] as Uint8Array))).toBe(true));
      expect(direct.stats.bytesRequested).toBe(buffered.stats.bytesRequested);
    } finally {
      await direct.close();
      await buffered.close();
    }
  });

  it.skipIf(onTmpfs)(
    `widens direct reads to 4096-byte blocks and counts the widened bytes as read${skipReason}`,
    async () => {
      const source = await DirectFileSource.open(path, { direct: true, blockBytes: 4096 });
      try {
        const { views, release } = await source.readRangesLeased([
          { offset: 5000, size: 10 },
          { offset: FILE_BYTES - 3, size: 3 },
        ]);
        expectBytes(views, [
          { offset: 5000, size: 10 },
          { offset: FILE_BYTES - 3, size: 3 },
        ]);
        release();
        // 4096..8192, then the last partial block (1234 bytes past 8 MiB: a short read that covers the range).
        expect(source.stats).toMatchObject({
          readsIssued: 2,
          directReads: 2,
          bufferedReads: 0,
          rangesRequested: 2,
          bytesRequested: 13,
          bytesRead: 4096 + 1234,
        });
      } finally {
        await source.close();
      }
    },
  );

  it.skipIf(onTmpfs)(
    `widens direct reads only to the block size a probe finds the device accepts${skipReason}`,
    async () => {
      const source = await DirectFileSource.open(path, { direct: true });
      try {
        const block = source.stats.blockBytes;
        expect([512, 4096]).toContain(block);
        const { views, release } = await source.readRangesLeased([{ offset: 5000, size: 10 }]);
        expectBytes(views, [{ offset: 5000, size: 10 }]);
        release();
        // 5000..5010 lies in one block of either size.
        expect(source.stats.bytesRead).toBe(block);
      } finally {
        await source.close();
      }
    },
  );

  const intoVariants: Array<
    [string, () => Promise<{ readInto(r: ByteRange[], t: Uint8Array[]): Promise<void>; close(): Promise<void> }>]
  > = [
    [
      'DirectFileSource, blocking buffered reads',
      () => DirectFileSource.open(path, { direct: false, reads: 'blocking' }),
    ],
    ['DirectFileSource, queued buffered reads', () => DirectFileSource.open(path, { direct: false, reads: 'queued' })],
    ['DirectFileSource, async reads', () => DirectFileSource.open(path, { direct: false })],
    ['FileSource', () => FileSource.open(path)],
  ];
  for (const [name, open] of intoVariants) {
    it(`reads each range straight into its target with readInto (${name})`, async () => {
      const ranges = awkwardRanges(FILE_BYTES, new Rng(5)).filter((r) => r.size > 0);
      const targets = ranges.map((r) => new Uint8Array(new SharedArrayBuffer(r.size + 3), 3, r.size));
      const source = await open();
      try {
        await source.readInto(ranges, targets);
        expectBytes(targets, ranges);
      } finally {
        await source.close();
      }
    });
  }

  it.skipIf(onTmpfs)(`reads into targets through aligned pool memory in direct mode${skipReason}`, async () => {
    const ranges = [
      { offset: 5000, size: 10 },
      { offset: 12345, size: 7000 },
    ];
    const targets = ranges.map((r) => new Uint8Array(r.size));
    const source = await DirectFileSource.open(path, { direct: true, reads: 'blocking' });
    try {
      await source.readInto(ranges, targets);
      expectBytes(targets, ranges);
      expect(source.stats.directReads).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
  });

  it('rejects a readInto range outside the file with IoError', async () => {
    const source = await DirectFileSource.open(path, { direct: false, reads: 'blocking' });
    try {
      await expect(source.readInto([{ offset: FILE_BYTES - 2, size: 4 }], [new Uint8Array(4)])).rejects.toBeInstanceOf(
        IoError,
      );
    } finally {
      await source.close();
    }
  });

  it('hands back views into pool memory without copying (readRangesLeased)', async () => {
    const pool = createSlabPool({ slabBytes: 1 * MiB, maxBytes: 8 * MiB });
    const source = await DirectFileSource.open(path, { pool });
    const ranges = [
      { offset: 10, size: 100 },
      { offset: 2 * MiB, size: 5000 },
    ];
    try {
      const { views, release } = await source.readRangesLeased(ranges);
      for (const view of views) expect(view.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(pool.stats().bytesInUse).toBeGreaterThan(0);
      expect(pool.stats().leases).toBe(2);
      // The views are the pool's memory: a write through the slab shows through the view.
      const first = views[0] as Uint8Array;
      new Uint8Array(first.buffer, first.byteOffset, 1)[0] = (first[0] as number) ^ 0xff;
      expect(first[0]).toBe((bytes[10] as number) ^ 0xff);
      release();
      release(); // idempotent
      expect(pool.stats()).toMatchObject({ bytesInUse: 0, leases: 0 });
    } finally {
      await source.close();
    }
  });

  it('copies into fresh buffers and returns the pool memory at once (readRanges)', async () => {
    const pool = createSlabPool({ slabBytes: 1 * MiB, maxBytes: 8 * MiB });
    const source = await DirectFileSource.open(path, { pool });
    try {
      const views = await source.readRanges([{ offset: 10, size: 100 }]);
      expect((views[0] as Uint8Array).buffer).toBeInstanceOf(ArrayBuffer);
      expect(pool.stats().bytesInUse).toBe(0);
    } finally {
      await source.close();
    }
  });

  it('reads ranges larger than the pool through readRanges, piece by piece', async () => {
    const pool = createSlabPool({ slabBytes: 64 * KiB, maxBytes: 128 * KiB });
    const source = await DirectFileSource.open(path, { pool, queueDepth: 4 });
    try {
      const ranges = [
        { offset: 3, size: 3 * MiB },
        { offset: FILE_BYTES - MiB, size: MiB },
      ];
      expectBytes(await source.readRanges(ranges), ranges);
      expect(pool.stats().peakBytesInUse).toBeLessThanOrEqual(128 * KiB);
    } finally {
      await source.close();
    }
  });

  it('rejects a leased read needing more than the pool budget with a MEMORY_BUDGET ResourceError', async () => {
    const pool = createSlabPool({ slabBytes: 64 * KiB, maxBytes: 128 * KiB });
    const source = await DirectFileSource.open(path, { pool });
    try {
      await expect(source.readRangesLeased([{ offset: 0, size: MiB }])).rejects.toMatchObject({
        code: 'MEMORY_BUDGET',
        message: expect.stringContaining("exceeds the pool's maxBytes (131072)"),
      });
    } finally {
      await source.close();
    }
  });

  it('rejects a leased read waiting for pool memory with AbortError when its signal aborts', async () => {
    const pool = createSlabPool({ slabBytes: 64 * KiB, maxBytes: 64 * KiB });
    const source = await DirectFileSource.open(path, { pool });
    const held = await pool.acquire(64 * KiB);
    try {
      const controller = new AbortController();
      const pending = source.readRangesLeased([{ offset: 0, size: 100 }], { signal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      held.release();
      await source.close();
    }
  });

  it('shares one pool between a buffered and a direct source', async () => {
    // Both results are held at once below, so the budget must hold both (else the second waits forever).
    const pool = createSlabPool({ slabBytes: 256 * KiB, maxBytes: 32 * MiB });
    const buffered = await DirectFileSource.open(path, { pool, direct: false });
    const direct = await DirectFileSource.open(path, { pool });
    try {
      const ranges = awkwardRanges(FILE_BYTES, new Rng(5))
        .filter((r) => r.size < 100_000)
        .slice(0, 60);
      const [a, b] = await Promise.all([buffered.readRangesLeased(ranges), direct.readRangesLeased(ranges)]);
      expectBytes(a.views, ranges);
      expectBytes(b.views, ranges);
      a.release();
      b.release();
      expect(pool.stats().bytesInUse).toBe(0);
      if (direct.mode === 'direct') expect(direct.stats.directReads).toBeGreaterThan(0);
    } finally {
      await buffered.close();
      await direct.close();
    }
  });

  it('finishes concurrent leased and copying reads through a tight pool and one queue slot', async () => {
    const pool = createSlabPool({ slabBytes: 64 * KiB, maxBytes: 64 * KiB });
    const source = await DirectFileSource.open(path, { pool, queueDepth: 1 });
    try {
      const big = [{ offset: 1000, size: MiB }];
      const small = [
        { offset: 5, size: 100 },
        { offset: 300_000, size: 20_000 },
      ];
      // The leased result is released as soon as it is used (holding it would starve the third call).
      const leased = source.readRangesLeased(small).then(({ views, release }) => {
        expectBytes(views, small);
        release();
      });
      const [copied] = await Promise.all([source.readRanges(big), leased, source.readRanges(big)]);
      expectBytes(copied, big);
      expect(pool.stats()).toMatchObject({ bytesInUse: 0, waiting: 0 });
    } finally {
      await source.close();
    }
  }, 10_000); // a deadlock shows as a timeout

  it('waits for reads in flight before closing, and fails reads queued behind the close', async () => {
    const source = await DirectFileSource.open(path, { queueDepth: 1 });
    const ranges = Array.from({ length: 8 }, (_, i) => ({ offset: i * MiB, size: 4096 }));
    const reading = source.readRanges(ranges.slice(0, 1));
    await new Promise<void>((resolve) => setImmediate(resolve)); // the first read has been issued
    const queued = source.readRanges(ranges.slice(1)).catch((error: unknown) => error);
    await source.close();
    expectBytes(await reading, ranges.slice(0, 1));
    await expect(queued).resolves.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining('source closed while a read was queued'),
    });
    await expect(source.readRanges(ranges)).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: `${path}: source is closed`,
    });
  });

  it.each([
    ['direct', { direct: true, reads: 'queued' }],
    ['buffered', { direct: false, reads: 'queued' }],
    ['direct, blocking', { direct: true, reads: 'blocking' }],
  ] as const)(
    'fails %s batch reads still waiting for pool memory when the source closes, instead of reading its closed fds',
    async (_name, options) => {
      const source = await DirectFileSource.open(path, options);
      const calls = Array.from({ length: 4 }, () =>
        source.readRangesLeased([{ offset: MiB, size: 20_000 }]).catch((error: unknown) => error),
      );
      await source.close(); // before any call got its memory
      for (const outcome of await Promise.all(calls))
        expect(outcome).toMatchObject({
          code: 'IO_ERROR',
          message: `${path}: source closed while a read was queued`,
        });
    },
    10_000, // a read of a closed fd number that the ring's eventfd took shows as a timeout
  );

  it('rejects a range outside the file with IoError', async () => {
    const source = await DirectFileSource.open(path);
    try {
      await expect(source.readRanges([{ offset: FILE_BYTES - 10, size: 11 }])).rejects.toMatchObject({
        code: 'IO_ERROR',
        message: `${path}: read of bytes ${FILE_BYTES - 10}..${FILE_BYTES + 1} is outside the file (${FILE_BYTES} bytes)`,
      });
    } finally {
      await source.close();
    }
  });

  it('rejects a missing file with IoError', async () => {
    await expect(DirectFileSource.open(join(dir, 'missing.bin'))).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining('cannot open'),
    });
  });

  it('rejects bad options with InvalidArgumentError naming the option', async () => {
    await expect(DirectFileSource.open(path, { queueDepth: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'DirectFileSource option queueDepth must be an integer >= 1, got 0',
    });
    await expect(DirectFileSource.open(path, { bytesInFlight: -5 })).rejects.toMatchObject({
      message: 'DirectFileSource option bytesInFlight must be an integer >= 0, got -5',
    });
    await expect(DirectFileSource.open(path, { reads: 'sync' as 'blocking' })).rejects.toMatchObject({
      message: `DirectFileSource option reads must be 'threadpool', 'blocking' or 'queued', got "sync"`,
    });
    await expect(DirectFileSource.open(path, { blockBytes: 1000 })).rejects.toMatchObject({
      message: 'DirectFileSource option blockBytes must be a positive multiple of 512, got 1000',
    });
    await expect(DirectFileSource.open(path, { direct: 'yes' as unknown as boolean })).rejects.toMatchObject({
      message: `DirectFileSource option direct must be true, false or 'auto', got "yes"`,
    });
  });

  for (const [direct, reads] of [true, false].flatMap((d) =>
    (['threadpool', 'blocking', 'queued'] as const).map((r) => [d, r] as const),
  )) {
    const skip = direct && onTmpfs;
    const name = `${direct ? 'direct' : 'buffered'}, ${reads} reads`;
    it.skipIf(skip)(
      `reports a read past the end of a file truncated after open as a short read IoError (${name})${direct ? skipReason : ''}`,
      async () => {
        const copy = join(dir, `truncated-${String(direct)}-${reads}.bin`);
        copyFileSync(path, copy);
        const source = await DirectFileSource.open(copy, { direct, reads });
        try {
          truncateSync(copy, 5000);
          // Partly covered: O_DIRECT returns 904 bytes of the block at 4096, short of the range's end.
          await expect(source.readRanges([{ offset: 4100, size: 8000 }])).rejects.toMatchObject({
            code: 'IO_ERROR',
            message: expect.stringMatching(
              /short read at byte 5000 \(wanted 8000 bytes from 4100; the file may have been truncated\)$/,
            ),
          });
          // Wholly past the new end.
          await expect(source.readRangesLeased([{ offset: MiB, size: 10 }])).rejects.toMatchObject({
            code: 'IO_ERROR',
            message: expect.stringContaining(`short read at byte ${MiB}`),
          });
          // Still inside: fine.
          const [head] = await source.readRanges([{ offset: 0, size: 5000 }]);
          expect(Buffer.from(head as Uint8Array).equals(Buffer.from(bytes.subarray(0, 5000)))).toBe(true);
        } finally {
          await source.close();
        }
      },
    );
  }

  it.skipIf(!shmUsable)(
    'falls back to buffered reads on tmpfs (/dev/shm) and says so in stats (skipped when /dev/shm is not tmpfs)',
    async () => {
      const shmDir = mkdtempSync('/dev/shm/lance-loader-direct-');
      try {
        const shmPath = join(shmDir, 'data.bin');
        writeFileSync(shmPath, bytes.subarray(0, MiB + 77));
        const source = await DirectFileSource.open(shmPath);
        try {
          expect(source.mode).toBe('buffered');
          expect(source.stats.mode).toBe('buffered');
          expect(source.stats.modeReason).toContain('tmpfs');
          const ranges = awkwardRanges(MiB + 77, new Rng(3));
          expectBytes(await source.readRanges(ranges), ranges);
          expect(source.stats.directReads).toBe(0);
          expect(source.stats.bufferedReads).toBeGreaterThan(0);
        } finally {
          await source.close();
        }
      } finally {
        rmSync(shmDir, { recursive: true, force: true });
      }
    },
  );

  it('reads an empty file buffered and hands back empty views', async () => {
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    const source = await DirectFileSource.open(empty);
    try {
      expect(source.stats.mode).toBe('buffered');
      const views = await source.readRanges([{ offset: 0, size: 0 }]);
      expect(views.map((v) => v.byteLength)).toEqual([0]);
    } finally {
      await source.close();
    }
  });

  it('matches readFileSync for the whole file in one range', async () => {
    const source = await DirectFileSource.open(path, { queueDepth: 4 });
    try {
      const [all] = await source.readRanges([{ offset: 0, size: FILE_BYTES }]);
      expect(Buffer.from(all as Uint8Array).equals(readFileSync(path))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it.skipIf(onTmpfs)(
    `returns the file's bytes for random awkward ranges with blocking reads through fs.readSync, without the addon${skipReason}`,
    async () => {
      vi.resetModules();
      vi.stubEnv('LANCE_LOADER_NATIVE', '0');
      const { DirectFileSource: WithoutAddon } = await import('../../io/direct-source.js');
      const ranges = awkwardRanges(FILE_BYTES, new Rng(11));
      for (const direct of [true, false]) {
        const source = await WithoutAddon.open(path, { direct, reads: 'blocking' });
        try {
          expect(source.stats.engine).toBe('fs.readSync');
          const leased = await source.readRangesLeased(ranges);
          expectBytes(leased.views, ranges);
          leased.release();
          const placed = ranges.filter((r) => r.size > 0);
          const targets = placed.map((r) => new Uint8Array(r.size));
          await source.readInto(placed, targets);
          expectBytes(targets, placed);
        } finally {
          await source.close();
        }
      }
    },
  );
});

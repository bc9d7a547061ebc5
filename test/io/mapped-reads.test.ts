/**
 * Buffered reads copied out of a read-only mapping of the file (native/map_read.c, io/native-read.ts
 * MappedFile, DirectFileSource's mapped reads): the bytes, files truncated or grown under the mapping
 * (SIGBUS caught, never a crash or zeros), pages not in the page cache left to the ring, close racing
 * batches, and the SIGBUS handler's manners towards other handlers (in child processes).
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ByteRange } from '../../format/file-metadata.js';
import { isOnTmpfs } from '../../io/align.js';
import { DirectFileSource } from '../../io/direct-source.js';
import { nativeAddon } from '../../io/native-addon.js';
import { MappedFile } from '../../io/native-read.js';
import { Rng } from '../fixtures/random.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const noAddon = nativeAddon() === null;
const addonPath = join(import.meta.dirname, '..', '..', 'build', 'Release', 'lance_loader_native.node');
const EAGAIN = -osConstants.errno.EAGAIN;
const EFAULT = -osConstants.errno.EFAULT;
const FILE_BYTES = 4 * MiB + 1234;

let dir = '';
let path = '';
let bytes: Uint8Array = new Uint8Array(0);
beforeAll(() => {
  dir = mkdtempSync(join(root, 'mapped-reads-'));
  path = join(dir, 'data.bin');
  bytes = new Rng(7).bytes(FILE_BYTES);
  writeFileSync(path, bytes);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of the test file, to be damaged. */
function copyOf(name: string): string {
  const copy = join(dir, name);
  writeFileSync(copy, bytes);
  return copy;
}

/** A fresh copy of the test file, none of its pages in the page cache. */
function evictedCopyOf(name: string): string {
  const copy = copyOf(name);
  const fd = openSync(copy, 'r+');
  fsyncSync(fd); // dirty pages would stay in the cache
  closeSync(fd);
  execFileSync('python3', [
    '-c',
    'import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)',
    copy,
  ]);
  return copy;
}

function scatteredRanges(rng: Rng, count: number, size = FILE_BYTES): ByteRange[] {
  return Array.from({ length: count }, () => {
    const length = rng.int(1, 20_000);
    return { offset: rng.int(0, size - length + 1), size: length };
  });
}

function expectBytes(views: readonly Uint8Array[], ranges: readonly ByteRange[], expected = bytes): void {
  expect(views.length).toBe(ranges.length);
  ranges.forEach((r, i) => {
    expect(
      Buffer.from(views[i] as Uint8Array).equals(Buffer.from(expected.subarray(r.offset, r.offset + r.size))),
    ).toBe(true);
  });
}

/** Copies `ranges` out of `mapping` into fresh targets; the targets and results. */
function copy(mapping: MappedFile, ranges: readonly ByteRange[]): { targets: Uint8Array[]; results: number[] } {
  const targets = ranges.map((r) => new Uint8Array(r.size));
  const results = new Float64Array(ranges.length);
  mapping.copy(
    Float64Array.from(ranges, (r) => r.offset),
    targets,
    results,
  );
  return { targets, results: [...results] };
}

/** Maps `file` as the source would (its first FILE_BYTES), runs `body`, then unmaps and closes it. */
function withMapping(file: string, body: (mapping: MappedFile) => void): void {
  const fd = openSync(file, 'r');
  const mapping = MappedFile.open(fd, FILE_BYTES) as MappedFile;
  try {
    body(mapping);
  } finally {
    mapping.close();
    closeSync(fd);
  }
}

describe.skipIf(noAddon)('MappedFile (skipped without the native addon)', () => {
  it('copies the same bytes as the file holds, anywhere in it', () => {
    withMapping(path, (mapping) => {
      const ranges = [...scatteredRanges(new Rng(1), 300), { offset: FILE_BYTES - 1, size: 1 }, { offset: 0, size: 0 }];
      const { targets, results } = copy(mapping, ranges);
      expect(results).toEqual(ranges.map((r) => r.size));
      expectBytes(targets, ranges);
    });
  });

  it('survives a file truncated under the mapping: pages gone are -EFAULT, the cut page -EAGAIN, the rest copied', () => {
    const truncated = copyOf('truncated.bin');
    withMapping(truncated, (mapping) => {
      truncateSync(truncated, 5000);
      const ranges = [
        { offset: 0, size: 100 },
        { offset: MiB, size: 100 }, // wholly past the new end: SIGBUS, caught
        { offset: 4100, size: 2000 }, // the last page is still mapped, but past byte 5000 it would read zeros
        { offset: 4000, size: 1000 }, // ends at the new end: fine
      ];
      const { targets, results } = copy(mapping, ranges);
      expect(results).toEqual([100, EFAULT, EAGAIN, 1000]);
      expectBytes([targets[0], targets[3]] as Uint8Array[], [ranges[0], ranges[3]] as ByteRange[]);
      // The guard holds for the next copies too.
      expect(copy(mapping, [{ offset: 2 * MiB, size: 10 }]).results).toEqual([EFAULT]);
    });
  });

  it('copies what a file that grew holds now, and refuses ranges past the size it was mapped at', () => {
    const grown = copyOf('grown.bin');
    withMapping(grown, (mapping) => {
      appendFileSync(grown, new Uint8Array(MiB).fill(9));
      const writer = openSync(grown, 'r+');
      writeSync(writer, new Uint8Array(10).fill(0xee), 0, 10, 100);
      closeSync(writer);
      const { targets, results } = copy(mapping, [{ offset: 96, size: 20 }]);
      expect(results).toEqual([20]);
      expect([...(targets[0] as Uint8Array)]).toEqual([...readFileSync(grown).subarray(96, 116)]);
      expect(() => copy(mapping, [{ offset: FILE_BYTES - 10, size: 20 }])).toThrow(
        expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
      );
    });
  });

  it.skipIf(isOnTmpfs(root))(
    'stops a large copy of pages not in the page cache after at most 64 KiB of faults (skipped on tmpfs)',
    () => {
      const cold = evictedCopyOf('cold-large.bin');
      withMapping(cold, (mapping) => {
        const target = new Uint8Array(4 * MiB);
        const results = new Float64Array(1);
        const faults = mapping.copy(Float64Array.of(0), [target], results);
        expect(faults).toBeGreaterThan(0);
        expect(faults).toBeLessThanOrEqual((64 * KiB) / 4096);
        expect(results[0]).toBe(EAGAIN);
      });
    },
  );

  it('refuses to copy out of a file it unmapped, with ERR_UNMAPPED', () => {
    const fd = openSync(path, 'r');
    const mapping = MappedFile.open(fd, FILE_BYTES) as MappedFile;
    mapping.close();
    mapping.close();
    closeSync(fd);
    expect(() => copy(mapping, [{ offset: 0, size: 10 }])).toThrow(expect.objectContaining({ code: 'ERR_UNMAPPED' }));
  });

  it('says why a descriptor cannot be mapped', () => {
    const fd = openSync(path, 'r');
    closeSync(fd);
    expect(MappedFile.open(fd, FILE_BYTES)).toBe('mmap failed: Bad file descriptor');
  });

  describe('its SIGBUS handler, in a child process', () => {
    /** Runs `body` in a Node child with `addon`, `fs` and `fd` (the test file, mapped as `mapping`). */
    const child = (body: string) =>
      `const addon = require(${JSON.stringify(addonPath)}); const fs = require('node:fs');
       const fd = fs.openSync(${JSON.stringify(path)}, 'r'); const mapping = addon.mapFile(fd, ${FILE_BYTES});
       ${body}`;

    it('leaves a SIGBUS that is not from a copy to the default action: the process ends with SIGBUS', async () => {
      const outcome = await promisify(execFile)(
        process.execPath,
        ['-e', child(`process.kill(process.pid, 'SIGBUS');`)],
        {
          timeout: 20_000,
        },
      ).catch((error: unknown) => error);
      expect(outcome).toMatchObject({ signal: 'SIGBUS' });
    });

    it('hands a SIGBUS that is not from a copy to the handler installed before its own', async () => {
      const source = `process.on('SIGBUS', () => { console.log('listener'); process.exit(0); });
        ${child(`process.kill(process.pid, 'SIGBUS'); setTimeout(() => {}, 10_000);`)}`;
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', source], { timeout: 20_000 });
      expect(stdout.trim()).toBe('listener');
    });

    it('copies nothing, rather than fault for ever, once a later SIGBUS handler replaced its own', async () => {
      const source = child(`process.on('SIGBUS', () => {});
        const results = new Float64Array(2);
        addon.copyMapped(mapping, Float64Array.of(0, 4096), [new Uint8Array(8), new Uint8Array(8)], results);
        console.log(results.join(' '));
        process.exit(0);`);
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', source], { timeout: 20_000 });
      expect(stdout.trim()).toBe(`${EAGAIN} ${EAGAIN}`);
    });
  });
});

describe.skipIf(noAddon)('DirectFileSource mapped reads (skipped without the native addon)', () => {
  it.each(['queued', 'blocking'] as const)(
    'copies buffered %s batch reads out of a mapping of the file and says so in stats',
    async (reads) => {
      const source = await DirectFileSource.open(path, { direct: false, reads });
      try {
        expect(source.stats).toMatchObject({ mapped: true, mappedReason: 'mmap' });
        const ranges = scatteredRanges(new Rng(2), 200);
        const leased = await source.readRangesLeased(ranges);
        expectBytes(leased.views, ranges);
        leased.release();
        expect(source.stats.mappedReads).toBe(source.stats.readsIssued);
        expect(source.stats.mappedReads).toBeGreaterThan(0);
        expect(source.stats.bufferedReads).toBe(0);
      } finally {
        await source.close();
      }
    },
  );

  it.each([
    [{ direct: false, reads: 'queued', mapped: false }, 'mapped: false'],
    [{ direct: false, reads: 'threadpool' }, "reads: 'threadpool'"],
  ] as const)('reads without a mapping with %o, and says why', async (options, reason) => {
    const source = await DirectFileSource.open(path, options);
    try {
      expect(source.stats).toMatchObject({ mapped: false, mappedReason: reason });
      const ranges = scatteredRanges(new Rng(3), 50);
      expectBytes(await source.readRanges(ranges), ranges);
      expect(source.stats.mappedReads).toBe(0);
      expect(source.stats.bufferedReads).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
  });

  it.skipIf(isOnTmpfs(root))('does not map a file it reads with O_DIRECT (skipped on tmpfs)', async () => {
    const source = await DirectFileSource.open(path, { direct: true, reads: 'queued' });
    try {
      expect(source.stats).toMatchObject({ mode: 'direct', mapped: false, mappedReason: 'O_DIRECT' });
    } finally {
      await source.close();
    }
  });

  it("reads without its mapping for good once a later SIGBUS handler replaced the addon's (in a child process)", async () => {
    const script = `import { DirectFileSource } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'io', 'direct-source.ts'))};
      const source = await DirectFileSource.open(${JSON.stringify(path)}, { direct: false, reads: 'blocking' });
      process.on('SIGBUS', () => {}); // after the first mapping: replaces the addon's handler
      const views = [];
      for (const offset of [0, 5000]) {
        const leased = await source.readRangesLeased([{ offset, size: 64 }]);
        views.push([...leased.views[0]]);
        leased.release();
      }
      console.log(JSON.stringify({ stats: source.stats, views }));
      await source.close();`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 30_000 },
    );
    const { stats, views } = JSON.parse(stdout) as { stats: Record<string, unknown>; views: number[][] };
    expect(stats).toMatchObject({
      mapped: false,
      mappedReason: "a later SIGBUS handler replaced the addon's: no copies",
      mappedReads: 0,
      bufferedReads: 2,
    });
    expect(views).toEqual([[...bytes.subarray(0, 64)], [...bytes.subarray(5000, 5064)]]);
  });

  /** Runs `fn` with at most `files` files mapped in the process (the addon's internal limit). */
  async function withMapLimit(files: number, fn: () => Promise<void>): Promise<void> {
    const native = nativeAddon() as NonNullable<ReturnType<typeof nativeAddon>>;
    const limit = native.mapLimit();
    native.mapLimit(files);
    try {
      await fn();
    } finally {
      native.mapLimit(limit);
    }
  }

  it('shares one mapping between the sources of a file, which keeps copying after the first closes', async () => {
    await withMapLimit(1, async () => {
      const first = await DirectFileSource.open(path, { direct: false, reads: 'queued' });
      const second = await DirectFileSource.open(path, { direct: false, reads: 'blocking' });
      try {
        expect([first.stats.mapped, second.stats.mapped]).toEqual([true, true]);
        await first.close();
        const ranges = scatteredRanges(new Rng(8), 30);
        const leased = await second.readRangesLeased(ranges);
        expectBytes(leased.views, ranges);
        leased.release();
        expect(second.stats.mappedReads).toBe(second.stats.readsIssued);
      } finally {
        await first.close();
        await second.close();
      }
    });
  });

  it('reads files past the limit of mapped files without a mapping, and maps again once one is unmapped', async () => {
    const other = copyOf('other.bin');
    await withMapLimit(1, async () => {
      const mapped = await DirectFileSource.open(path, { direct: false, reads: 'queued' });
      const refused = await DirectFileSource.open(other, { direct: false, reads: 'queued' });
      await refused.close();
      await mapped.close();
      expect(refused.stats).toMatchObject({
        mapped: false,
        mappedReason: 'too many mapped files (1 in this process at most)',
      });
      const again = await DirectFileSource.open(other, { direct: false, reads: 'queued' });
      await again.close();
      expect(again.stats.mapped).toBe(true);
    });
  });

  it('rejects a mapped option that is not a boolean with InvalidArgumentError', async () => {
    await expect(DirectFileSource.open(path, { mapped: 'yes' as unknown as boolean })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'DirectFileSource option mapped must be true or false, got "yes"',
    });
  });

  it('fails reads past the end of a file truncated under its mapping with a short-read IoError, never zeros', async () => {
    const truncated = copyOf('source-truncated.bin');
    const source = await DirectFileSource.open(truncated, { direct: false, reads: 'queued' });
    try {
      truncateSync(truncated, 5000);
      for (const range of [
        { offset: 4100, size: 2000 },
        { offset: MiB, size: 10 },
      ]) {
        await expect(source.readRangesLeased([range])).rejects.toMatchObject({
          code: 'IO_ERROR',
          message: expect.stringContaining(
            `${truncated}: short read at byte ${Math.max(5000, range.offset)} (wanted ${range.size} bytes from ${range.offset}`,
          ),
        });
      }
      const leased = await source.readRangesLeased([{ offset: 0, size: 5000 }]);
      expectBytes(leased.views, [{ offset: 0, size: 5000 }]);
      leased.release();
      expect(source.stats.mapped).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('reads a file that grew after open as it is now, and refuses ranges past its size at open', async () => {
    const grown = copyOf('source-grown.bin');
    const source = await DirectFileSource.open(grown, { direct: false, reads: 'queued' });
    try {
      appendFileSync(grown, new Uint8Array(MiB).fill(9));
      const now = readFileSync(grown);
      const ranges = scatteredRanges(new Rng(4), 50);
      const leased = await source.readRangesLeased(ranges);
      expectBytes(leased.views, ranges, now);
      leased.release();
      await expect(source.readRangesLeased([{ offset: FILE_BYTES, size: 10 }])).rejects.toMatchObject({
        code: 'IO_ERROR',
        message: expect.stringContaining('is outside the file'),
      });
    } finally {
      await source.close();
    }
  });

  it.skipIf(isOnTmpfs(root))(
    'reads pages that are not in the page cache through the ring once the copy takes major faults (skipped on tmpfs)',
    async () => {
      const cold = evictedCopyOf('cold.bin');
      const source = await DirectFileSource.open(cold, { direct: false, reads: 'queued' });
      try {
        // One small range per 64 KiB: every one on a page of its own.
        const ranges = Array.from({ length: 64 }, (_, i) => ({ offset: i * 64 * KiB + 100, size: 200 }));
        // readInto: one read per range (readRangesLeased would merge ranges this close).
        const targets = ranges.map((r) => new Uint8Array(r.size));
        await source.readInto(ranges, targets);
        expectBytes(targets, ranges);
        expect(source.stats.mappedReads).toBeLessThan(ranges.length);
        expect(source.stats.bufferedReads).toBe(ranges.length - source.stats.mappedReads);
      } finally {
        await source.close();
      }
    },
  );

  it('finishes or fails every batch when close races them, and copies nothing after the unmap', async () => {
    const source = await DirectFileSource.open(path, { direct: false, reads: 'queued' });
    const rng = new Rng(5);
    const calls = Array.from({ length: 40 }, () => {
      const ranges = scatteredRanges(rng, 20);
      return source.readRangesLeased(ranges).then(
        (leased) => {
          expectBytes(leased.views, ranges);
          leased.release();
          return 'read';
        },
        (error: unknown) => error,
      );
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await source.close();
    const outcomes = await Promise.all(calls);
    for (const outcome of outcomes) {
      if (outcome !== 'read')
        expect(outcome).toMatchObject({
          code: 'IO_ERROR',
          message: `${path}: source closed while a read was queued`,
        });
    }
    await expect(source.readRangesLeased([{ offset: 0, size: 10 }])).rejects.toMatchObject({
      message: `${path}: source is closed`,
    });
  });
});

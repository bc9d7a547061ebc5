import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alignDown,
  alignUp,
  cachedDirectAlignment,
  isDirectAligned,
  isOnTmpfs,
  probeDirectAlignment,
} from '../../io/align.js';
import { Rng } from '../fixtures/random.js';

// Under the repo (ext4 here), not os.tmpdir(): that may be tmpfs, which has no real O_DIRECT.
const root = join(import.meta.dirname, '..', '.fixtures', 'tmp');
mkdirSync(root, { recursive: true });
const onTmpfs = isOnTmpfs(root);
const skipReason = onTmpfs ? ` (skipped: ${root} is on tmpfs, which has no O_DIRECT alignment rule to probe)` : '';

describe('probeDirectAlignment', () => {
  let dir = '';
  let path = '';
  let fd = -1;
  beforeAll(() => {
    dir = mkdtempSync(join(root, 'align-'));
    path = join(dir, 'data.bin');
    writeFileSync(path, new Rng(1).bytes(64 * 1024));
    if (!onTmpfs) fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  });
  afterAll(() => {
    if (fd >= 0) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  const readsAt = (sab: SharedArrayBuffer, viewOffset: number, position: number): boolean => {
    try {
      readSync(fd, new Uint8Array(sab, viewOffset, 4096), 0, 4096, position);
      return true;
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('EINVAL');
      return false;
    }
  };

  it.skipIf(onTmpfs)(
    `finds a view offset where 4096-byte O_DIRECT reads work, and every working offset is that one plus a multiple of 512${skipReason}`,
    () => {
      const sab = new SharedArrayBuffer(64 * 1024);
      const phase = probeDirectAlignment(fd, sab);
      expect(phase).not.toBeNull();
      const probeOffset = phase as number;
      expect(probeOffset).toBeGreaterThanOrEqual(0);
      expect(probeOffset).toBeLessThan(512); // a 512-byte DMA alignment (this disk: dma_alignment 511)
      for (let offset = 0; offset < 4096; offset += 16) {
        const works = readsAt(sab, offset, 8192);
        expect(works).toBe((offset - probeOffset) % 512 === 0);
      }
    },
  );

  it.skipIf(onTmpfs)(
    `probes each buffer on its own, and each phase is consistent with reads into that buffer${skipReason}`,
    () => {
      for (let i = 0; i < 8; i++) {
        const sab = new SharedArrayBuffer(16 * 1024 + 64 * i);
        const phase = probeDirectAlignment(fd, sab) as number;
        expect(readsAt(sab, phase + 1024, 4096)).toBe(true);
        expect(isDirectAligned(sab, phase + 512 * 3)).toBe(true);
        expect(isDirectAligned(sab, phase + 256)).toBe(false);
      }
    },
  );

  it.skipIf(onTmpfs)(`caches the result per buffer, so a second probe does no I/O${skipReason}`, () => {
    const sab = new SharedArrayBuffer(16 * 1024);
    const other = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
    const phase = probeDirectAlignment(other, sab);
    closeSync(other);
    expect(cachedDirectAlignment(sab)).toBe(phase);
    expect(probeDirectAlignment(other, sab)).toBe(phase); // the fd is closed: any read would fail with EBADF
  });

  it('returns null for an empty file (nothing to probe with)', () => {
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    const emptyFd = openSync(empty, 'r');
    try {
      expect(probeDirectAlignment(emptyFd, new SharedArrayBuffer(16 * 1024))).toBeNull();
    } finally {
      closeSync(emptyFd);
    }
  });

  it('rejects a buffer too small to probe with InvalidArgumentError', () => {
    const smallFd = openSync(path, 'r');
    try {
      expect(() => probeDirectAlignment(smallFd, new SharedArrayBuffer(1024))).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: 'probeDirectAlignment needs a buffer of at least 4608 bytes, got 1024',
        }),
      );
    } finally {
      closeSync(smallFd);
    }
  });

  it('says nothing about a buffer it never probed', () => {
    expect(isDirectAligned(new SharedArrayBuffer(8192), 0)).toBeUndefined();
  });
});

describe('alignDown and alignUp', () => {
  it('round to multiples of the block', () => {
    expect([alignDown(0, 4096), alignDown(4095, 4096), alignDown(4096, 4096), alignDown(8191, 4096)]).toEqual([
      0, 0, 4096, 4096,
    ]);
    expect([alignUp(0, 4096), alignUp(1, 4096), alignUp(4096, 4096), alignUp(4097, 4096)]).toEqual([
      0, 4096, 4096, 8192,
    ]);
  });
});

describe('isOnTmpfs', () => {
  it.skipIf(!isOnTmpfs('/dev/shm'))('recognises /dev/shm as tmpfs (skipped when /dev/shm is not tmpfs)', () => {
    expect(isOnTmpfs('/dev/shm')).toBe(true);
  });

  it('is false for a path that does not exist', () => {
    expect(isOnTmpfs('/no/such/path/anywhere')).toBe(false);
  });
});

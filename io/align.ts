/**
 * O_DIRECT alignment. A direct read must start at a file offset and have a length that are multiples of
 * the device's logical block size, and (the hard part from JS) land at a memory address aligned to the
 * device's DMA alignment — 512 bytes on common virtio disks. JS cannot see addresses,
 * and an (Shared)ArrayBuffer's data starts at an arbitrary 16-byte-aligned address, different per buffer.
 * So we probe: try a 4096-byte direct read into the buffer at view offsets 0, 16, 32, ... The first that
 * works is the buffer's aligned phase; every `phase + k * 512` works too.
 *
 *   SharedArrayBuffer data:  |....16-byte steps....|  ← phase (e.g. 496)
 *   address:           ...  0x..10   0x..20 ...    0x..200 (512-aligned)  ...  0x..400  ...
 *                                                  ▲ phase      ▲ phase + 512      ▲ phase + 1024
 *
 * Why 4096 bytes: a read of 512 bytes or less that does not cross a memory page succeeds at many
 * misaligned offsets (the kernel checks alignment per page segment), and a read at or past EOF succeeds
 * everywhere (nothing to transfer), so a short probe finds a "phase" that later 4096-byte reads reject.
 * The probe reads from file position 0, which lies inside any non-empty file.
 *
 * Results are cached per SharedArrayBuffer (a WeakMap: the slab's address never changes). Null results
 * are not cached: O_DIRECT may fail on one device and work on another.
 */
import { fstatSync, readSync, statfsSync } from 'node:fs';
import { InvalidArgumentError, IoError } from '../errors.js';

/** Memory alignment assumed for direct reads (the device DMA alignment + 1; 512 on common disks). */
export const DIRECT_MEMORY_ALIGN_BYTES = 512;
/** Length of each probe read: a full page, so that misaligned buffers are rejected (see above). */
export const PROBE_READ_BYTES = 4096;
/** View offsets tried: [0, PROBE_SCAN_BYTES) in 16-byte steps (covers devices needing 4096-byte alignment). */
export const PROBE_SCAN_BYTES = 4096;
const PROBE_STEP_BYTES = 16;

const TMPFS_MAGIC = 0x01021994;

const phases = new WeakMap<ArrayBuffer | SharedArrayBuffer, number>();

/**
 * The first byte offset within `sab` at which a {@link PROBE_READ_BYTES}-byte read on `fd` works, or null
 * if O_DIRECT reads fail with EINVAL at every offset tried (or the file is empty: nothing to probe with).
 * `fd` must be open with O_DIRECT: on a buffered fd every offset works and 0 would be cached wrongly.
 *
 * Writes into the first `PROBE_SCAN_BYTES + PROBE_READ_BYTES` bytes of `sab`: call it only on memory that
 * nobody uses (a fresh slab). Cached per `sab`; a cached call does no I/O.
 */
export function probeDirectAlignment(fd: number, sab: ArrayBuffer | SharedArrayBuffer): number | null {
  const cached = phases.get(sab);
  if (cached !== undefined) return cached;
  if (sab.byteLength < PROBE_READ_BYTES + DIRECT_MEMORY_ALIGN_BYTES) {
    throw new InvalidArgumentError(
      `probeDirectAlignment needs a buffer of at least ${PROBE_READ_BYTES + DIRECT_MEMORY_ALIGN_BYTES} bytes, got ${sab.byteLength}`,
    );
  }
  if (fstatSync(fd).size === 0) return null;
  const lastOffset = Math.min(PROBE_SCAN_BYTES, sab.byteLength - PROBE_READ_BYTES);
  for (let offset = 0; offset < lastOffset; offset += PROBE_STEP_BYTES) {
    try {
      readSync(fd, new Uint8Array(sab, offset, PROBE_READ_BYTES), 0, PROBE_READ_BYTES, 0);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'EINVAL') continue;
      throw new IoError(`O_DIRECT alignment probe failed: ${(cause as Error).message}`, { fd, offset }, { cause });
    }
    phases.set(sab, offset);
    return offset;
  }
  return null;
}

/** The cached probe result for `sab`, if it was probed successfully. */
export function cachedDirectAlignment(sab: ArrayBuffer | SharedArrayBuffer): number | undefined {
  return phases.get(sab);
}

/** Whether memory at `byteOffset` of `sab` is aligned for a direct read (undefined: `sab` never probed). */
export function isDirectAligned(sab: ArrayBuffer | SharedArrayBuffer, byteOffset: number): boolean | undefined {
  const phase = phases.get(sab);
  if (phase === undefined) return undefined;
  return (
    (((byteOffset - phase) % DIRECT_MEMORY_ALIGN_BYTES) + DIRECT_MEMORY_ALIGN_BYTES) % DIRECT_MEMORY_ALIGN_BYTES === 0
  );
}

/**
 * The file-offset granularity of direct reads on `fd`: 512 when a 512-byte direct read at file offset 512
 * works (the device's logical block size; ext4 and XFS on common disks), else 4096. `sab` must have been
 * probed by {@link probeDirectAlignment} (its aligned phase is used). Files under 1024 bytes cannot tell
 * (the read would end at EOF) and get 4096. Widening a 3 KB row read to 512-byte boundaries reads about
 * 3.5 KB instead of 4 or 8 KiB.
 */
export function probeDirectBlockBytes(fd: number, sab: ArrayBuffer | SharedArrayBuffer): 512 | 4096 {
  const phase = phases.get(sab);
  if (phase === undefined || fstatSync(fd).size < 2 * DIRECT_MEMORY_ALIGN_BYTES) return 4096;
  try {
    const n = readSync(
      fd,
      new Uint8Array(sab, phase, DIRECT_MEMORY_ALIGN_BYTES),
      0,
      DIRECT_MEMORY_ALIGN_BYTES,
      DIRECT_MEMORY_ALIGN_BYTES,
    );
    return n === DIRECT_MEMORY_ALIGN_BYTES ? 512 : 4096;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EINVAL') return 4096;
    throw new IoError(`O_DIRECT block-size probe failed: ${(cause as Error).message}`, { fd }, { cause });
  }
}

/** `n` rounded down to a multiple of `block`. */
export function alignDown(n: number, block: number): number {
  return n - (n % block);
}

/** `n` rounded up to a multiple of `block`. */
export function alignUp(n: number, block: number): number {
  const r = n % block;
  return r === 0 ? n : n + block - r;
}

/**
 * Whether `path` lies on tmpfs. tmpfs is page cache only: O_DIRECT there (accepted since Linux 6.6, with
 * no alignment rule) saves nothing, so 'auto' reads it buffered. False if statfs fails.
 */
export function isOnTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

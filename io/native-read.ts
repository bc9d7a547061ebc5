/**
 * Batched reads through the optional native addon (native-addon.ts, native/*.c): one call reads a whole
 * batch of (position, target) pairs of one file, through an io_uring of the calling thread with up to
 * `queueDepth` reads in flight, or a pread loop where io_uring is unavailable. Two forms:
 * - {@link readBatchSync} blocks the calling thread until the batch is done;
 * - {@link readBatchQueued} queues the batch on the thread's ring and returns a promise: the thread's
 *   event loop reaps completions and submits further reads between JavaScript tasks, so batches queued
 *   one after another share the ring, older first, `queueDepth` reads in flight in all. A worker thread
 *   can so keep the disk busy while it plans and decodes.
 *
 * Why: a shuffled epoch costs one positional read per row. From JavaScript each read is a separate
 * `fs.readSync` (most of a worker's time when the rows are in the page cache), and O_DIRECT
 * reads reach the disk at most libuv-threadpool-size at a time. One call per batch removes the per-read
 * crossing into Node, and the ring keeps the disk's queue full from a single worker thread.
 *
 * Warm buffered reads can instead be copied out of a read-only mapping of the file ({@link MappedFile},
 * native/map_read.c): one call per batch, no syscall and no page-cache lookup per read once the pages
 * are mapped. A copy stops within 64 KiB of where the thread takes major faults (the pages are not in
 * the page cache) and leaves the rest to the batch reads above, which keep a queue of reads in flight; a file truncated
 * under the mapping makes its ranges fail (SIGBUS caught in the addon), never the process.
 *
 * When the addon is missing (no compiler at install, another platform) or `LANCE_LOADER_NATIVE=0` is set,
 * both do the same with fs.readSync (blocking), and `engine` says so. Results are identical either way;
 * the tests run both.
 */
import { readSync } from 'node:fs';
import { InvalidStateError } from '../errors.js';
import { nativeAddon, nativeAddonReason, type NativeAddon } from './native-addon.js';

/** How a batch of reads is issued. */
export type ReadEngine = 'io_uring' | 'pread' | 'fs.readSync';

/** The engine {@link readBatchSync} and {@link readBatchQueued} use on this thread, and why. */
export function readEngine(): { engine: ReadEngine; reason: string } {
  const native = nativeAddon();
  return { engine: native ? native.engine() : 'fs.readSync', reason: nativeAddonReason() };
}

/** Whether batch reads keep several reads in flight (io_uring), so they suit O_DIRECT. */
export function hasQueuedReads(): boolean {
  return readEngine().engine === 'io_uring';
}

/**
 * Reads `targets[i].byteLength` bytes at `positions[i]` into each target, blocking the calling thread.
 * `results[i]` gets the bytes read (fewer at end of file) or a negative errno. With `direct` (an O_DIRECT
 * fd), a target stops at a short read that ends inside a 512-byte sector.
 */
export function readBatchSync(
  fd: number,
  positions: Float64Array,
  targets: Uint8Array[],
  queueDepth: number,
  direct: boolean,
  results: Float64Array,
): void {
  const native = nativeAddon();
  if (native) {
    native.readBatch(fd, positions, targets, queueDepth, direct, results);
    return;
  }
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i] as Uint8Array;
    let done = 0;
    try {
      while (done < target.byteLength) {
        const n = readSync(fd, target, done, target.byteLength - done, (positions[i] as number) + done);
        done += n;
        if (n === 0 || (direct && done % 512 !== 0)) break;
      }
      results[i] = done;
    } catch (error) {
      results[i] = (error as NodeJS.ErrnoException).errno ?? -5; // EIO when Node gives no errno
    }
  }
}

/**
 * As {@link readBatchSync}, queued on this thread's ring: resolves when every read is done and `results`
 * is filled. The targets and results must not be touched before: the addon holds them, but a target or
 * `results` whose buffer is detached (transferred) meanwhile makes the promise reject with an
 * InvalidStateError and leaves `results` unwritten. With `maxBytesInFlight` (> 0) the ring also keeps at
 * most that many bytes in flight (always at least one read). Without the addon it blocks like
 * readBatchSync and resolves at once. If the thread ends first (a worker terminated) it never settles.
 */
export async function readBatchQueued(
  fd: number,
  positions: Float64Array,
  targets: Uint8Array[],
  queueDepth: number,
  direct: boolean,
  results: Float64Array,
  maxBytesInFlight = 0,
): Promise<void> {
  const native = nativeAddon();
  if (!native) {
    readBatchSync(fd, positions, targets, queueDepth, direct, results);
    return;
  }
  return new Promise((resolve, reject) =>
    native.readBatchAsync(fd, positions, targets, queueDepth, direct, results, maxBytesInFlight, (error) => {
      if (!error) resolve();
      else if (error.code === 'ERR_TARGET_DETACHED')
        reject(new InvalidStateError(`${error.message}: read memory must stay attached until its read settles`));
      else reject(error);
    }),
  );
}

/**
 * A read-only shared mapping of a file, for reads out of the page cache without a syscall per read. The
 * mapping is address space: its pages are the page cache's, not memory of the reader's budget.
 */
export class MappedFile {
  private constructor(private readonly mapping: object) {}

  /**
   * Maps the first `bytes` (> 0) bytes of `fd` (the mapping keeps its own duplicate of `fd`); or why not
   * (no addon, mmap failed, too many files mapped in the process).
   */
  static open(fd: number, bytes: number): MappedFile | string {
    const native = nativeAddon();
    if (!native) return nativeAddonReason();
    const mapping = native.mapFile(fd, bytes);
    return typeof mapping === 'string' ? mapping : new MappedFile(mapping);
  }

  /**
   * Copies `targets[i].byteLength` bytes at `positions[i]` into each target: `results[i]` gets the bytes,
   * -EFAULT (SIGBUS: the pages are gone, the file was truncated) or -EAGAIN (not copied: read it another
   * way; native/map_read.c says when). Returns the major page faults the thread took meanwhile
   * (0 when every page was in the page cache), or -1 when nothing can be copied in this process any more
   * (a later SIGBUS handler replaced the addon's). Throws after {@link close}.
   */
  copy(positions: Float64Array, targets: Uint8Array[], results: Float64Array): number {
    return (nativeAddon() as NativeAddon).copyMapped(this.mapping, positions, targets, results);
  }

  /** Unmaps the file; nothing may copy from it afterwards (idempotent). */
  close(): void {
    (nativeAddon() as NativeAddon).unmapFile(this.mapping);
  }
}

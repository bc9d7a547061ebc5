/**
 * Batched blocking reads through the optional native addon (native-addon.ts, native/batch_read.c): one
 * blocking call reads a whole batch of (position, target) pairs of one file, through an io_uring of the
 * calling thread with up to `queueDepth` reads in flight, or a pread loop where io_uring is unavailable.
 *
 * Why: a shuffled epoch costs one positional read per row. From JavaScript each read is a separate
 * `fs.readSync` (≈1.8 µs a row on the development machines, most of a worker's time), and O_DIRECT
 * reads reach the disk at most libuv-threadpool-size at a time. One call per batch removes the per-read
 * crossing into Node, and the ring keeps the disk's queue full from a single worker thread.
 *
 * When the addon is missing (no compiler at install, another platform) or `LANCE_LOADER_NATIVE=0` is set,
 * {@link readBatchSync} does the same with fs.readSync, and `engine` says so. Results are identical either
 * way; the tests run both.
 */
import { readSync } from 'node:fs';
import { nativeAddon, nativeAddonReason } from './native-addon.js';

/** How a batch of blocking reads is issued. */
export type ReadEngine = 'io_uring' | 'pread' | 'fs.readSync';

/** The engine {@link readBatchSync} uses on this thread, and why. */
export function readEngine(): { engine: ReadEngine; reason: string } {
  const native = nativeAddon();
  return { engine: native ? native.engine() : 'fs.readSync', reason: nativeAddonReason() };
}

/** Whether blocking batch reads keep several reads in flight (io_uring), so they suit O_DIRECT. */
export function hasQueuedReads(): boolean {
  return readEngine().engine === 'io_uring';
}

/**
 * Reads `targets[i].byteLength` bytes at `positions[i]` into each target, blocking the calling thread.
 * `results[i]` gets the bytes read (fewer at end of file) or a negative errno. With `direct` (an O_DIRECT
 * fd), a target stops at a short read that ends inside a 512-byte sector.
 */
export function readBatchSync(fd: number, positions: Float64Array, targets: Uint8Array[], queueDepth: number, direct: boolean, results: Float64Array): void {
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

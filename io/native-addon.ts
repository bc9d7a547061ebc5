/**
 * The optional native addon (native/*.c, built by node-gyp when the package installs): loaded once per
 * thread on first use, or absent (no compiler at install, another platform, or `LANCE_LOADER_NATIVE=0`),
 * with the reason kept for reports. Its users fall back to JavaScript that gives the same results:
 * batched reads (native-read.ts), the copy of variable-width values into shared memory
 * (decode-workers/encodings/output.ts compactVariable), and huge-page read memory ({@link readMemory}).
 *
 * `LANCE_LOADER_NATIVE_ADDON=/abs/path/to/addon.node` loads another build of the addon instead of
 * build/Release (`npm run sanitize` loads one built with AddressSanitizer this way; worker threads
 * inherit the variable). Whoever sets it means to test that build, so a value that is not an absolute
 * path to a `.node` file, or a file that does not load, is an InvalidArgumentError, never a quiet
 * fallback to build/Release or to JavaScript.
 */
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { packageRequire } from './module-dir.cjs';

export interface NativeAddon {
  readBatch(
    fd: number,
    positions: Float64Array,
    targets: Uint8Array[],
    queueDepth: number,
    direct: boolean,
    results: Float64Array,
  ): void;
  /**
   * As readBatch, queued on this thread's ring without blocking (at most maxBytesInFlight bytes in flight
   * when > 0); calls `done()` when every read is done, or `done(error)` (code ERR_TARGET_DETACHED) when a
   * target or `results` was detached before then. Never called if the thread ends first.
   */
  readBatchAsync(
    fd: number,
    positions: Float64Array,
    targets: Uint8Array[],
    queueDepth: number,
    direct: boolean,
    results: Float64Array,
    maxBytesInFlight: number,
    done: (error?: Error & { code: string }) => void,
  ): void;
  engine(): 'io_uring' | 'pread';
  /** Copies source[starts[i], starts[i] + lengths[i]) for every i, one after the other, into target; returns the bytes. */
  gatherValues(target: Uint8Array, source: Uint8Array, starts: Float64Array, lengths: Uint32Array): number;
  /**
   * The rows of a single list over fixed-width items out of a mini-block page's chunks, every group of a
   * decode task in one call (native/list_rows.c has the arguments): 0 done, 1 the bytes break a rule,
   * 2 ragged rows need more bytes or padded rows more null places.
   */
  decodeListRows(
    views: Uint8Array[],
    info: Float64Array,
    rows: Uint32Array,
    slots: Uint32Array,
    params: Int32Array,
    defMap: Uint16Array,
    perRow: Int32Array,
    outputs: (Uint8Array | Int32Array | Uint32Array | Float64Array | null)[],
    state: Float64Array,
  ): number;
  /**
   * A read-only shared mapping of the first `bytes` bytes of `fd` (native/map_read.c; it keeps a duplicate
   * of `fd`), or why the file cannot be mapped, e.g. "too many mapped files" past mapLimit().
   */
  mapFile(fd: number, bytes: number): object | string;
  /** Unmaps a mapping now (idempotent); copyMapped on it afterwards throws (code ERR_UNMAPPED). */
  unmapFile(mapping: object): void;
  /**
   * Copies each target's bytes at its position out of the mapping; results[i] gets the bytes, -EFAULT
   * (the file was truncated under the mapping) or -EAGAIN (not copied: the thread took major faults, so
   * the pages are not in the page cache). Returns the major faults the thread took meanwhile, or -1 when
   * it copied nothing because a later SIGBUS handler replaced the addon's (native/map_read.c).
   */
  copyMapped(mapping: object, positions: Float64Array, targets: Uint8Array[], results: Float64Array): number;
  /**
   * The most files mapped at once in the process (default min(4096, vm.max_map_count / 8)); with
   * `files`, sets it first. Internal: tests set a small one.
   */
  mapLimit(files?: number): number;
  /** Zeroed memory of at least `bytes` bytes advised for transparent huge pages, or undefined where it cannot be made. */
  hugePageBuffer(bytes: number): ArrayBuffer | undefined;
  /**
   * A JPEG's crop decoded, resampled, mirrored and written into `out` (native/jpeg.c has the params):
   * 0 done, -1 a JPEG this path leaves to another decoder, else the scratch bytes it needs. Throws an
   * Error with code ERR_JPEG for a corrupt or cut-short JPEG. Absent where the addon was built without
   * libjpeg-turbo.
   */
  decodeJpeg?(jpeg: Uint8Array, params: Float64Array, scratch: Uint8Array, out: Uint8Array | Float32Array): number;
}

/** build/ sits at the package root: next to the sources, above dist/, or above dist/cjs/. */
const ADDON_PATHS = ['..', '../..', '../../..'].map((up) => `${up}/build/Release/lance_loader_native.node`);

let addon: NativeAddon | null | undefined;
let reason = '';

/** The addon built at `path` (LANCE_LOADER_NATIVE_ADDON), checked as the module comment says. */
function overrideAddon(path: string): NativeAddon {
  const refuse = (why: string) =>
    new InvalidArgumentError(`LANCE_LOADER_NATIVE_ADDON=${path}: ${why}`, { option: 'LANCE_LOADER_NATIVE_ADDON' });
  if (!isAbsolute(path) || !path.endsWith('.node')) throw refuse('must be an absolute path to a .node file');
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw refuse('no such file');
  try {
    return packageRequire(path) as NativeAddon;
  } catch (error) {
    throw refuse(`does not load: ${(error as Error).message}`);
  }
}

/**
 * The addon, or null when it is not built, failed to load, or `LANCE_LOADER_NATIVE=0` turned it off.
 * Throws an InvalidArgumentError for a LANCE_LOADER_NATIVE_ADDON that names no loadable addon.
 */
export function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  if (process.env.LANCE_LOADER_NATIVE === '0') {
    reason = 'LANCE_LOADER_NATIVE=0';
    return (addon = null);
  }
  const override = process.env.LANCE_LOADER_NATIVE_ADDON;
  if (override !== undefined && override !== '') {
    addon = overrideAddon(override);
    reason = `LANCE_LOADER_NATIVE_ADDON=${override}`;
    return addon;
  }
  addon = null;
  const failures: string[] = [];
  for (const path of ADDON_PATHS) {
    try {
      // Its engine is asked only when someone wants the reason: asking opens this thread's io_uring.
      addon = packageRequire(path) as NativeAddon;
      return addon;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND')
        failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  reason =
    failures.length > 0
      ? `native addon failed to load: ${failures.join('; ')}`
      : 'native addon not built (npm install runs node-gyp)';
  return addon;
}

/** Why {@link nativeAddon} is what it is (loaded and its read engine, turned off, not built, failed). */
export function nativeAddonReason(): string {
  const loaded = nativeAddon();
  if (!loaded) return reason;
  return reason === '' ? `native addon (${loaded.engine()})` : `native addon (${loaded.engine()}, ${reason})`;
}

/**
 * Memory for reads to land in on this thread: from the addon, 2 MiB-aligned and advised for transparent
 * huge pages (native/memory.c: large direct reads complete sooner on virtual disks), else
 * a plain ArrayBuffer.
 */
export function readMemory(bytes: number): ArrayBuffer {
  return nativeAddon()?.hugePageBuffer(bytes) ?? new ArrayBuffer(bytes);
}

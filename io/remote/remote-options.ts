/**
 * How remote objects are read: requests in flight (by count and by bytes), the gap merged between
 * ranges, per-request timeouts, the retry budget and the optional local range cache. One validation pass
 * with exact messages; the loader passes the resolved values to its workers as plain data.
 */
import { InvalidArgumentError } from '../../errors.js';

/** Options for reading remote datasets (`s3://`, `https://`): `remote` of openDataset, `io.remote` of createLoader. */
export interface RemoteIoOptions {
  /**
   * Requests in flight at once (default 512). A loader's workers draw from one count in shared memory, so
   * this bounds the loader's total and a worker may use what the others leave. Through a 20 ms round trip
   * a shuffled batch of 256 rows sends ~300 requests: with 16 batches prefetched, 256 in flight read
   * 1.4–1.7× the rows/s of 64, and 512 another 1.1–1.6× on emb (`bytesInFlight` bounds the memory either way).
   */
  concurrency?: number;
  /**
   * Bytes of requests in flight at once (default 256 MiB; a loader's default is a quarter of
   * `memoryBytes` when that is less), shared by a loader's workers like `concurrency`. A loader counts
   * it in `memoryBytes`, as its `remote` part.
   */
  bytesInFlight?: number;
  /**
   * Largest gap of unwanted bytes read to merge two ranges into one request (default 64 KiB, Lance's block
   * size for object stores and 16 times the local default): a request costs a round trip and a slot of
   * `concurrency`, while a wider gap reads bytes nobody wants whenever shuffled rows lie closer together
   * than the gap (in a 30 MB file, a batch of 256 rows with a 256 KiB gap read 26 times what it delivered).
   */
  maxGapBytes?: number;
  /** Largest merged request (default 8 MiB); larger ranges are fetched in parts of this size, in parallel. */
  maxReadBytes?: number;
  /** Time one request may take, body included, before it is abandoned and retried (default 30 s). */
  timeoutMs?: number;
  /** Retries of a request after its first attempt (default 5), for 5xx, 429, resets, timeouts and short bodies. */
  retries?: number;
  /** Time a request may spend in retries before it fails (default 60 s). */
  retryTimeoutMs?: number;
  /** A local directory where fetched ranges are kept, so later reads of them do not go to the network. */
  cacheDir?: string;
  /** Bytes the range cache may hold (default 4 GiB); least recently used objects are dropped first. */
  cacheBytes?: number;
}

/** {@link RemoteIoOptions} with every default filled in. */
export interface ResolvedRemoteIo {
  concurrency: number;
  bytesInFlight: number;
  maxGapBytes: number;
  maxReadBytes: number;
  timeoutMs: number;
  retries: number;
  retryTimeoutMs: number;
  cacheDir: string | undefined;
  cacheBytes: number;
}

function integer(value: unknown, path: string, min: number, max: number, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidArgumentError(`options.${path} must be an integer from ${min} to ${max}, got ${String(value)}`, {
      option: path,
    });
  return v;
}

/** Checks `options` (found at `options.<at>`) and fills in the defaults. */
export function resolveRemoteIo(options: RemoteIoOptions | undefined, at: string): ResolvedRemoteIo {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new InvalidArgumentError(
      `options.${at} must be an object such as { concurrency: 256 }, got ${o === null ? 'null' : typeof o}`,
      {
        option: at,
      },
    );
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === ''))
    throw new InvalidArgumentError(
      `options.${at}.cacheDir must be a directory path, got ${JSON.stringify(o.cacheDir)}`,
      {
        option: `${at}.cacheDir`,
      },
    );
  return {
    concurrency: integer(o.concurrency, `${at}.concurrency`, 1, 4096, 512),
    bytesInFlight: integer(o.bytesInFlight, `${at}.bytesInFlight`, 1, Number.MAX_SAFE_INTEGER, 256 * 1024 * 1024),
    maxGapBytes: integer(o.maxGapBytes, `${at}.maxGapBytes`, 0, 1 << 30, 64 * 1024),
    maxReadBytes: integer(o.maxReadBytes, `${at}.maxReadBytes`, 4096, 1 << 30, 8 * 1024 * 1024),
    timeoutMs: integer(o.timeoutMs, `${at}.timeoutMs`, 1, 3_600_000, 30_000),
    retries: integer(o.retries, `${at}.retries`, 0, 100, 5),
    retryTimeoutMs: integer(o.retryTimeoutMs, `${at}.retryTimeoutMs`, 0, 3_600_000, 60_000),
    cacheDir: o.cacheDir,
    cacheBytes: integer(o.cacheBytes, `${at}.cacheBytes`, 0, Number.MAX_SAFE_INTEGER, 4 * 1024 * 1024 * 1024),
  };
}

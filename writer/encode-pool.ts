/**
 * Page encoding off the main thread: pages whose encoding costs CPU (mini-block bit-packing and
 * chunking, variable-width full-zip rows) go to worker threads (writer/encode-worker.ts), so the pages of
 * several columns, and successive pages of one, encode in parallel while the main thread gathers the next
 * rows and the file sink writes. Pages that cost nothing to encode, or are small, are encoded inline:
 *
 *   wide fixed-width rows without nulls, large values (written as gathered pieces)  → inline (no copy)
 *   pages under ENCODE_IN_WORKER_BYTES                                               → inline
 *   otherwise                                                                        → a worker
 *
 * A worker gets a copy of the page's values (one copy, moved to it) and moves its encoded buffers back.
 * The calling thread never waits for a worker to start or to be free: the pool starts on the first page
 * that could use it and pages are encoded inline until its threads have loaded, and inline again while
 * IN_WORKERS_BYTES are in workers. The pool is shared by every write of the process and stopped
 * IDLE_TIMEOUT_MS after its last page (idle threads do not keep the process alive).
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { WorkerError, fromErrorRecord } from '../errors.js';
import { workerExecArgv, workerFilename } from '../decode-workers/pool.js';
import type { EncodeJob, EncodeJobResult } from './encode-worker.js';
import { PIECES_FROM_BYTES } from './fullzip.js';
import type { WriteFileVersion } from './levels.js';
import { encodePage, type EncodedPage, type PageHints } from './page.js';
import type { ColumnKind } from './schema.js';
import { rowBytes, WIDE_ROW_BYTES, type PageValues } from './values.js';

/** Pages with fewer value bytes are encoded inline: a worker's round trip would cost more than it saves. */
const ENCODE_IN_WORKER_BYTES = 1024 * 1024;
/** Value bytes of pages in workers (per writer) beyond which the next page is encoded inline. */
export const IN_WORKERS_BYTES = 32 * 1024 * 1024;
/** Pages go to workers by default from this many cores. */
const ENCODE_IN_WORKERS_FROM_CORES = 3;
/** The pool is torn down this long after its last page. */
const IDLE_TIMEOUT_MS = 5000;
/**
 * Encode threads at most: each holds ~35 MiB (its isolate and the encoder), and IN_WORKERS_BYTES of pages
 * in workers keep no more than a few busy at once.
 */
const MAX_ENCODE_THREADS = 8;

/**
 * Whether a write encodes in workers when not told (`encodeInWorkers`): with a spare core or more. A page
 * moved to a worker and back costs CPU on top of its encoding, which only cores the calling thread does
 * not use repay (bench/README.md, "Writing": on 2 cores it was slower).
 */
export function encodeInWorkersByDefault(cores = availableParallelism()): boolean {
  return cores >= ENCODE_IN_WORKERS_FROM_CORES;
}

/**
 * Encode threads on a machine of `cores`: one per core the calling thread leaves, at least one, at most
 * MAX_ENCODE_THREADS.
 */
export function encodeThreadsFor(cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores - 1, MAX_ENCODE_THREADS));
}

/** The pool, and whether its threads have loaded the encoder (until then pages are encoded inline). */
let pool: { piscina: Piscina; ready: boolean; loaded: Promise<boolean>; idle?: NodeJS.Timeout } | undefined;

/**
 * Starts one thread; pages go to the pool once it has answered its warm-up task. Piscina starts more, up
 * to encodeThreadsFor(), only while pages wait for a thread, and keeps them until the pool stops.
 */
function startPool(): void {
  const piscina = new Piscina({
    filename: workerFilename('writer', 'encode-worker'),
    minThreads: 1,
    maxThreads: encodeThreadsFor(),
    idleTimeout: IDLE_TIMEOUT_MS,
    execArgv: [...workerExecArgv],
  });
  const loaded = piscina.run(null, { name: 'warmUp' }).then(
    () => {
      started.ready = true;
      keepAlive(started);
      return true;
    },
    () => {
      stopPool(started);
      return false;
    },
  );
  const started: NonNullable<typeof pool> = { piscina, ready: false, loaded };
  pool = started;
}

/** Starts the pool if it is not running; resolves to whether its threads loaded (tests wait on it). */
export function encodeWorkersLoaded(): Promise<boolean> {
  if (!pool) startPool();
  return (pool as NonNullable<typeof pool>).loaded;
}

function stopPool(stopping: NonNullable<typeof pool>): void {
  if (pool === stopping) pool = undefined;
  clearTimeout(stopping.idle);
  void stopping.piscina.destroy();
}

/** (Re)arms the idle timer: the threads are stopped IDLE_TIMEOUT_MS after the last page. */
function keepAlive(running: NonNullable<typeof pool>): void {
  clearTimeout(running.idle);
  running.idle = setTimeout(() => stopPool(running), IDLE_TIMEOUT_MS).unref();
}

/** Whether encoding the page is worth a worker: it costs CPU, and the page is large. */
function worthAWorker(kind: ColumnKind, values: PageValues): boolean {
  if (values.pieces || values.bytes.length < ENCODE_IN_WORKER_BYTES) return false;
  if (rowBytes(kind) >= WIDE_ROW_BYTES && !values.validity) return false;
  return !(kind.kind === 'variable' && values.bytes.length >= PIECES_FROM_BYTES * values.rows);
}

/**
 * Encodes one page of a column in file version `version`, compressed as its field's `hints` ask: inline,
 * or in a worker when that pays (see the module comment).
 * `inWorkersBytes` is what the caller has in workers already: past IN_WORKERS_BYTES the page is encoded
 * inline, so the calling thread encodes instead of waiting, and memory stays bounded.
 */
export function encodePageSomewhere(
  kind: ColumnKind,
  values: PageValues,
  version: WriteFileVersion,
  hints: PageHints,
  inWorkersBytes: number,
): EncodedPage | Promise<EncodedPage> {
  if (!worthAWorker(kind, values)) return encodePage(kind, values, version, hints);
  if (!pool) startPool();
  const running = pool;
  if (!running?.ready || inWorkersBytes + values.bytes.length > IN_WORKERS_BYTES) {
    return encodePage(kind, values, version, hints);
  }
  keepAlive(running);
  // Copies, moved to the worker: posting a view would clone all of the buffer under it (often a whole
  // Arrow column of the caller's), and the caller's own buffers must not be moved away from it.
  const copies: ArrayBuffer[] = [];
  const copy = <T extends Uint8Array | Uint16Array | Float64Array>(array: T): T => {
    const owned = array.slice() as T;
    copies.push(owned.buffer as ArrayBuffer);
    return owned;
  };
  const levels = values.levels;
  const job: EncodeJob = {
    kind,
    version,
    hints,
    values: {
      rows: values.rows,
      nullCount: values.nullCount,
      bytes: copy(values.bytes),
      ...(values.validity && { validity: copy(values.validity) }),
      ...(values.offsets && { offsets: copy(values.offsets) }),
      ...(values.itemValidity && { itemValidity: copy(values.itemValidity) }),
      ...(levels && {
        levels: {
          ...levels,
          ...(levels.rep && { rep: copy(levels.rep) }),
          ...(levels.def && { def: copy(levels.def) }),
        },
      }),
    },
  };
  return running.piscina.run(job, { transferList: copies }).then(
    (result: EncodeJobResult) => {
      keepAlive(running);
      if (!result.ok) throw fromErrorRecord(result.error);
      return result.page;
    },
    (cause: unknown) => {
      throw new WorkerError(
        `an encode worker failed while encoding a page of ${values.rows} rows: ${(cause as Error).message}`,
        { rows: values.rows },
        { cause },
      );
    },
  );
}

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
 * A worker gets a copy of the page's values (one copy, moved to it) and moves its encoded buffers back. The pool starts on the
 * first page that needs it, is shared by every write of the process, and its threads exit after
 * IDLE_TIMEOUT_MS without work (idle threads do not keep the process alive).
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { WorkerError, fromErrorRecord } from '../errors.js';
import { workerExecArgv, workerFilename } from '../decode-workers/pool.js';
import type { EncodeJob, EncodeJobResult } from './encode-worker.js';
import { PIECES_FROM_BYTES } from './fullzip.js';
import { encodePage, type EncodedPage } from './page.js';
import type { ColumnKind } from './schema.js';
import { rowBytes, WIDE_ROW_BYTES, type PageValues } from './values.js';

/** Pages with fewer value bytes are encoded inline: a worker's round trip would cost more than it saves. */
const ENCODE_IN_WORKER_BYTES = 1024 * 1024;
const IDLE_TIMEOUT_MS = 2000;

let pool: Piscina | undefined;

function encodePool(): Piscina {
  pool ??= new Piscina({
    filename: workerFilename('writer', 'encode-worker'),
    minThreads: 0,
    maxThreads: Math.max(1, availableParallelism()),
    idleTimeout: IDLE_TIMEOUT_MS,
    execArgv: [...workerExecArgv],
  });
  return pool;
}

/** Whether encoding the page is worth a worker: it costs CPU, and the page is large. */
function worthAWorker(kind: ColumnKind, values: PageValues): boolean {
  if (values.pieces || values.bytes.length < ENCODE_IN_WORKER_BYTES) return false;
  if (rowBytes(kind) >= WIDE_ROW_BYTES && !values.validity) return false;
  return !(kind.kind === 'variable' && values.bytes.length >= PIECES_FROM_BYTES * values.rows);
}

/** Encodes one page of a column: inline, or in a worker when that pays (see the module comment). */
export function encodePageSomewhere(kind: ColumnKind, values: PageValues): EncodedPage | Promise<EncodedPage> {
  if (!worthAWorker(kind, values)) return encodePage(kind, values);
  // Copies, moved to the worker: posting a view would clone all of the buffer under it (often a whole
  // Arrow column of the caller's), and the caller's own buffers must not be moved away from it.
  const copies: ArrayBuffer[] = [];
  const copy = <T extends Uint8Array | Float64Array>(array: T): T => {
    const owned = array.slice() as T;
    copies.push(owned.buffer as ArrayBuffer);
    return owned;
  };
  const job: EncodeJob = {
    kind,
    values: {
      rows: values.rows,
      nullCount: values.nullCount,
      bytes: copy(values.bytes),
      ...(values.validity && { validity: copy(values.validity) }),
      ...(values.offsets && { offsets: copy(values.offsets) }),
    },
  };
  return encodePool()
    .run(job, { transferList: copies })
    .then(
      (result: EncodeJobResult) => {
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

/**
 * The writer's encode worker (a Piscina task): one page of one column (a flat column or a nested leaf,
 * with its levels), gathered on the main thread, encoded here in the file's version with its field's
 * compression hints (layout choice, compression, chunking, full-zip rows) and handed back. Errors come back as records, since structured
 * clone would drop their class and code.
 *
 *   main ── EncodeJob { kind, version, hints, values } (moved) ──► worker: encodePage ──► { ok, page } (buffers moved) ──► main
 */
import { Piscina } from 'piscina';
import { toErrorRecord, type ErrorRecord } from '../errors.js';
import type { WriteFileVersion } from './levels.js';
import { loadZstd } from './general-compression.js';
import { encodePage, needsZstd, type EncodedPage, type PageHints } from './page.js';
import type { ColumnKind } from './schema.js';
import type { PageValues } from './values.js';

/** One page to encode, in file version `version`, compressed as `hints` ask. */
export interface EncodeJob {
  kind: ColumnKind;
  version: WriteFileVersion;
  hints: PageHints;
  values: PageValues;
}

export type EncodeJobResult = { ok: true; page: EncodedPage } | { ok: false; error: ErrorRecord };

/**
 * Buffers below this size are copied back, not moved: small Node Buffers share 8 KiB pool slabs, and
 * moving a slab would pull it from under the other Buffers in it.
 */
const MOVE_FROM_BYTES = 64 * 1024;

/** The large buffers wholly behind the page's buffers, moved back instead of copied. */
function movableBuffers(page: EncodedPage): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const buffer of page.buffers) {
    for (const piece of Array.isArray(buffer) ? buffer : [buffer]) {
      const whole = piece.buffer;
      if (whole instanceof ArrayBuffer && whole.byteLength >= MOVE_FROM_BYTES) buffers.add(whole);
    }
  }
  return [...buffers];
}

/**
 * Encodes one page; its large buffers are moved back to the main thread. zstd's WebAssembly is loaded in
 * this thread (once) before the first page that may use it: the main thread's load does not reach here.
 */
export default async function encodeJob(job: EncodeJob): Promise<EncodeJobResult | object> {
  try {
    if (needsZstd(job.hints)) await loadZstd();
    const result: EncodeJobResult = { ok: true, page: encodePage(job.kind, job.values, job.version, job.hints) };
    const moved = { [Piscina.transferableSymbol]: movableBuffers(result.page), [Piscina.valueSymbol]: result };
    return Piscina.move(moved as unknown as Parameters<typeof Piscina.move>[0]);
  } catch (error) {
    return { ok: false, error: toErrorRecord(error) } satisfies EncodeJobResult;
  }
}

/** Piscina task `warmUp`: answers once this thread has loaded the encoder, so pages can be sent. */
export function warmUp(): boolean {
  return true;
}

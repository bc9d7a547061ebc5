/**
 * Direct-I/O reads of a local file into pooled SharedArrayBuffer memory (slab.ts), with at most
 * `queueDepth` reads in flight. Implements {@link ByteSource}; the zero-copy entry point is
 * {@link DirectFileSource.readRangesLeased}.
 *
 *   ranges ─► planCoalescedReads ─► merged reads ─► widen to blockBytes ─► pool.acquireAll (budget, FIFO)
 *                                                                              │
 *   views (one per range, into the slab) ◄── O_DIRECT pread × queueDepth ◄─────┘  (async fs.read, libuv pool)
 *
 * Modes (`stats.mode`, reason in `stats.modeReason`):
 * - 'direct': a second fd opened with O_DIRECT. Each merged read is widened to `blockBytes` (probed at
 *   open: 512 or 4096) boundaries in offset and length, read at an aligned view offset of the slab (the pool places
 *   regions at the slab's probed phase, align.ts), and the views handed back point at the requested bytes
 *   inside the slab. Near EOF the widened length runs past the end: O_DIRECT returns a short read, which
 *   is fine when the requested bytes are covered and an IoError otherwise.
 * - 'buffered': positional reads through the page cache into the same pool memory, unwidened. Chosen when
 *   `direct: false`; for `direct: 'auto'` also when the file is on tmpfs (page cache only: O_DIRECT there
 *   saves nothing — Linux ≥ 6.6 accepts O_DIRECT on tmpfs, older kernels refuse the open), when the file
 *   is empty, when the O_DIRECT open fails, or when the alignment probe fails at every offset.
 *   `direct: true` turns those failures into an IoError instead.
 *
 * Copies of a byte: readRangesLeased — none after the kernel's (DMA into the slab for O_DIRECT; page
 * cache → slab for buffered). readRanges — one more: slab → a fresh ArrayBuffer per merged read, so the
 * slab memory is back in the pool before the promise resolves and the caller owns plain memory.
 *
 * Queue depth: by default reads use async `fs.read` (verified on Node 20: a Uint8Array over a
 * SharedArrayBuffer is accepted and filled in place, O_DIRECT included). Those run on the libuv
 * threadpool, which has UV_THREADPOOL_SIZE = 4 threads unless the environment sets it before Node first
 * uses the pool, so at most 4 reads reach the disk at once by default whatever `queueDepth` says; set
 * UV_THREADPOOL_SIZE=32 (max 1024) in the environment to let queue depth fill a disk (see
 * bench/direct-read.ts for numbers). With `reads: 'blocking'` or `'queued'` a call's merged reads are one
 * batch (native-read.ts) through the native addon's io_uring of the calling thread, `queueDepth` of them
 * in flight: 'blocking' blocks the thread until the batch is done, 'queued' returns at once and lets the
 * thread's event loop reap the reads, so the batches of calls in progress together share the queue.
 * Without the addon both are one fs.readSync after another. `stats.engine` says which engine.
 *
 * Mapped reads: a buffered source with batch reads also maps the file read-only (`mapped`, default true;
 * native-read.ts MappedFile) and copies a batch's ranges out of the mapping in one call, with no syscall
 * or page-cache lookup per read. A copy that takes major faults (pages not in the page cache, each one
 * a synchronous read) stops within 64 KiB of them (map_read.c) and leaves the rest of the batch, and the source's next COLD_BATCHES batches,
 * to the batch reads, which keep `queueDepth` reads in flight; then the mapping is tried again, so a cold
 * epoch keeps its queue depth. The sources of one file (same inode and size) in a thread share one
 * mapping, unmapped when the last of them closes: every mapping is an entry of the process's
 * vm.max_map_count, and a loader's lanes and workers each open every data file. The addon maps at most
 * a few thousand files per process (mapLimit); sources past that read without a mapping. `stats.mapped`
 * and `stats.mappedReason` say whether and why, and `stats.mappedReads` how many reads were copies.
 *
 * Memory ownership: a leased result keeps its slab regions out of the pool until `release()`; the views
 * must not be used afterwards (the memory is reused by later reads). Release is idempotent.
 */
import { closeSync, constants, read as readCallback, readSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { AbortError, InvalidArgumentError, IoError } from '../errors.js';
import type { ByteRange } from '../format/file-metadata.js';
import {
  alignDown,
  alignUp,
  DIRECT_MEMORY_ALIGN_BYTES,
  isDirectAligned,
  isOnTmpfs,
  probeDirectAlignment,
  probeDirectBlockBytes,
  PROBE_READ_BYTES,
  PROBE_SCAN_BYTES,
} from './align.js';
import { defaultCoalesceOptions, planCoalescedReads, viewsOfRanges, type CoalesceOptions } from './coalesce.js';
import { MappedFile, readBatchQueued, readBatchSync, readEngine, type ReadEngine } from './native-read.js';
import { openRegularFile, reopenRegularFile } from './regular-file.js';
import { createSlabPool, type AcquireOptions, type SlabLease, type SlabPool } from './slab.js';
import { emptyReadStats, PendingReads, type ByteSource, type ReadStats } from './source.js';

type ReadMode = 'direct' | 'buffered';

interface DirectReadStats extends ReadStats {
  /** How the file is read; see the module comment. */
  mode: ReadMode;
  /** Why the mode was chosen, e.g. "tmpfs (page cache only)"; says what failed when a fallback happened. */
  modeReason: string;
  /** Merged reads done with O_DIRECT and through the page cache (a direct source reads buffered into a misaligned lease of a shared pool). */
  directReads: number;
  bufferedReads: number;
  /** File-offset granularity direct reads are widened to (0 in buffered mode). */
  blockBytes: number;
  /** How reads are issued: 'fs.read' (async, libuv threadpool), or the engine of batch reads (options.reads). */
  engine: ReadEngine | 'fs.read';
  /** Whether buffered reads are copied out of a mapping of the file (see the module comment). */
  mapped: boolean;
  /** 'mmap', or why the file is not mapped (e.g. "mapped: false", "O_DIRECT", the mmap error). */
  mappedReason: string;
  // readsIssued counts merged reads (as FileSource); bytesRead counts bytes the kernel delivered, which in
  // direct mode includes the widening to blockBytes.
}

export interface DirectFileSourceOptions {
  /** O_DIRECT: true (required, else IoError), false (buffered), 'auto' (direct when it works; default). */
  direct?: boolean | 'auto';
  /** Merged reads in flight at once for this source (default 16). See the threadpool note above. */
  queueDepth?: number;
  coalesce?: CoalesceOptions;
  /** Memory and in-flight budget, shareable between sources; default a private pool (4 MiB slabs, 64 MiB). */
  pool?: SlabPool;
  /**
   * Direct reads are widened to multiples of this in offset and length (a multiple of 512). Default: what
   * a probe at open finds the device accepts, 512 or 4096 (align.ts probeDirectBlockBytes).
   */
  blockBytes?: number;
  /**
   * How a call's merged reads are issued (default 'threadpool'):
   * - 'threadpool': one async fs.read each on the libuv threadpool, `queueDepth` at a time;
   * - 'blocking': one batch that blocks the calling thread (native-read.ts readBatchSync), `queueDepth` in
   *   flight through io_uring when the native addon is built, else one fs.readSync after another. For
   *   worker threads reading from the page cache: no threadpool hand-off per read, which costs more than
   *   the copy out of the cache;
   * - 'queued': one batch on the calling thread's io_uring without blocking (readBatchQueued): the batches
   *   of calls in progress together share `queueDepth` reads in flight, older calls first. For worker
   *   threads that plan or decode one batch while another is on the disk. Without the addon it blocks
   *   like 'blocking'.
   * Without io_uring, a batch that misses the page cache blocks at queue depth 1.
   */
  reads?: BatchReads;
  /**
   * With `reads: 'queued'`: the most bytes the thread's ring keeps in flight (always at least one read;
   * default 0: only queueDepth limits). The ring is the thread's, so the latest call's limit holds for
   * every batch on it.
   */
  bytesInFlight?: number;
  /**
   * Buffered mode with `reads: 'blocking'` or `'queued'`: copy reads out of a read-only mapping of the file
   * where its pages are in the page cache (default true; see the module comment). Needs the native addon.
   */
  mapped?: boolean;
}

/** How a {@link DirectFileSource} issues its reads; see DirectFileSourceOptions.reads. */
export type BatchReads = 'threadpool' | 'blocking' | 'queued';

/** Views of the requested ranges inside pool memory, valid until `release()`. */
interface LeasedViews {
  views: Uint8Array[];
  release(): void;
}

const DEFAULT_QUEUE_DEPTH = 16;
const DEFAULT_SLAB_BYTES = 4 * 1024 * 1024;
const DEFAULT_POOL_BYTES = 64 * 1024 * 1024;
/** Batches of a source read without its mapping after a copy out of it took major faults. */
const COLD_BATCHES = 32;
/** readRanges copies through pieces of at most this many bytes, so any read fits any pool. */
const MAX_PIECE_BYTES = 8 * 1024 * 1024;

/** Reads of a local file with O_DIRECT into SharedArrayBuffer slabs, falling back to buffered reads. */
export class DirectFileSource implements ByteSource {
  readonly stats: DirectReadStats;
  private closed = false;
  private inFlight = 0;
  /** Reads holding or waiting for a slot, and batches in the ring; close() waits for none. */
  private readonly pending = new PendingReads();
  private readonly slotWaiters: Array<() => void> = [];
  /** Batches left to read without the mapping (COLD_BATCHES after a copy took major faults). */
  private coldBatches = 0;
  private readonly phaseOf: AcquireOptions['phaseOf'];
  /** Positional read of one span: async on the threadpool, or readSync when reads are batched. */
  private readonly readAt: (
    fd: number,
    view: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ) => number | Promise<number>;

  private constructor(
    readonly path: string,
    readonly size: number,
    /** The file's device and inode when opened (regular-file.ts RegularFile.identity). */
    readonly identity: string,
    private readonly bufferedFd: number,
    /** -1 in buffered mode. */
    private readonly directFd: number,
    private readonly pool: SlabPool,
    private readonly ownsPool: boolean,
    private readonly queueDepth: number,
    private readonly coalesce: CoalesceOptions,
    private readonly blockBytes: number,
    modeReason: string,
    private readonly reads: BatchReads,
    private readonly bytesInFlight: number,
    /**
     * Buffered batch reads copy out of it where the pages are in the page cache; closed by close(), or
     * dropped for good when copies turn out impossible (a later SIGBUS handler).
     */
    private mapping: SharedMapping | null,
    mappedReason: string,
  ) {
    this.readAt = reads === 'threadpool' ? pread : readSync;
    const mode: ReadMode = directFd >= 0 ? 'direct' : 'buffered';
    this.stats = {
      ...emptyReadStats(),
      mode,
      modeReason,
      directReads: 0,
      bufferedReads: 0,
      blockBytes: mode === 'direct' ? blockBytes : 0,
      engine: reads === 'threadpool' ? 'fs.read' : readEngine().engine,
      mapped: mapping !== null,
      mappedReason,
      mappedReads: 0,
    };
    const unit = pool.unitBytes;
    this.phaseOf =
      mode === 'direct'
        ? (slab) => {
            if (slab.byteLength < PROBE_SCAN_BYTES + PROBE_READ_BYTES) return null; // too small to probe: read buffered
            const phase = probeDirectAlignment(directFd, slab);
            return phase === null ? null : phase % unit;
          }
        : undefined;
  }

  /** How this source reads: 'direct' (O_DIRECT) or 'buffered'. */
  get mode(): ReadMode {
    return this.stats.mode;
  }

  /** Opens `path`; a missing or unreadable file is an {@link IoError}, a bad option an InvalidArgumentError. */
  static async open(path: string, options: DirectFileSourceOptions = {}): Promise<DirectFileSource> {
    const direct = options.direct ?? 'auto';
    if (direct !== true && direct !== false && direct !== 'auto') {
      throw new InvalidArgumentError(
        `DirectFileSource option direct must be true, false or 'auto', got ${JSON.stringify(direct)}`,
        { option: 'direct' },
      );
    }
    const reads = options.reads ?? 'threadpool';
    if (reads !== 'threadpool' && reads !== 'blocking' && reads !== 'queued') {
      throw new InvalidArgumentError(
        `DirectFileSource option reads must be 'threadpool', 'blocking' or 'queued', got ${JSON.stringify(reads)}`,
        { option: 'reads' },
      );
    }
    const queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    const bytesInFlight = options.bytesInFlight ?? 0;
    if (!Number.isSafeInteger(bytesInFlight) || bytesInFlight < 0) {
      throw new InvalidArgumentError(
        `DirectFileSource option bytesInFlight must be an integer >= 0, got ${String(options.bytesInFlight)}`,
        { option: 'bytesInFlight' },
      );
    }
    if (!Number.isSafeInteger(queueDepth) || queueDepth < 1) {
      throw new InvalidArgumentError(
        `DirectFileSource option queueDepth must be an integer >= 1, got ${String(options.queueDepth)}`,
        { option: 'queueDepth' },
      );
    }
    let blockBytes = options.blockBytes ?? 4096;
    if (
      !Number.isSafeInteger(blockBytes) ||
      blockBytes < DIRECT_MEMORY_ALIGN_BYTES ||
      blockBytes % DIRECT_MEMORY_ALIGN_BYTES !== 0
    ) {
      throw new InvalidArgumentError(
        `DirectFileSource option blockBytes must be a positive multiple of 512, got ${String(options.blockBytes)}`,
        { option: 'blockBytes' },
      );
    }
    const mapped = options.mapped ?? true;
    if (typeof mapped !== 'boolean') {
      throw new InvalidArgumentError(
        `DirectFileSource option mapped must be true or false, got ${JSON.stringify(mapped)}`,
        { option: 'mapped' },
      );
    }
    const coalesce = options.coalesce ?? defaultCoalesceOptions;
    const pool = options.pool ?? createSlabPool({ slabBytes: DEFAULT_SLAB_BYTES, maxBytes: DEFAULT_POOL_BYTES });
    if (pool.maxBytes < 2 * blockBytes) {
      throw new InvalidArgumentError(
        `DirectFileSource needs a pool with maxBytes >= 2 * blockBytes (${2 * blockBytes}), got ${pool.maxBytes}`,
        { option: 'pool' },
      );
    }

    const { fd: bufferedFd, size, identity } = await openRegularFile(path, { what: 'data file' });
    let directFd = -1;
    let mapping: SharedMapping | string | undefined;
    try {
      let reason: string;
      if (direct === false) {
        reason = 'direct: false';
      } else if (direct === 'auto' && isOnTmpfs(path)) {
        reason = 'tmpfs (page cache only; O_DIRECT would save nothing)';
      } else if (size === 0) {
        reason = 'empty file (nothing to probe O_DIRECT with)';
      } else {
        const attempt = openDirect(bufferedFd, path);
        if (typeof attempt !== 'string') {
          directFd = attempt.fd;
          blockBytes = options.blockBytes ?? attempt.blockBytes;
          reason = 'O_DIRECT';
        } else {
          reason = attempt;
        }
      }
      if (directFd < 0 && direct === true) {
        throw new IoError(`${path}: direct: true but O_DIRECT is not usable: ${reason}`, { path, reason });
      }
      mapping = directFd < 0 ? mapFor(bufferedFd, size, identity, mapped, reads) : 'O_DIRECT';
      return new DirectFileSource(
        path,
        size,
        identity,
        bufferedFd,
        directFd,
        pool,
        options.pool === undefined,
        queueDepth,
        coalesce,
        blockBytes,
        reason,
        reads,
        bytesInFlight,
        typeof mapping === 'string' ? null : mapping,
        typeof mapping === 'string' ? mapping : 'mmap',
      );
    } catch (error) {
      if (typeof mapping === 'object') mapping.release();
      if (directFd >= 0) closeSync(directFd);
      closeSync(bufferedFd);
      if (options.pool === undefined) pool.close();
      throw error;
    }
  }

  /**
   * Reads the ranges (any order, overlaps and duplicates allowed) and returns one view per range into
   * pool memory, without copying. All the memory is acquired at once (waiting for budget, abortable by
   * `signal`); a call needing more than the pool's maxBytes is an InvalidArgumentError.
   */
  async readRangesLeased(ranges: readonly ByteRange[], options: { signal?: AbortSignal } = {}): Promise<LeasedViews> {
    this.checkRanges(ranges);
    const plan = planCoalescedReads(ranges, this.coalesce);
    const leaseSizes: number[] = [];
    for (const read of plan.reads) if (read.size > 0) leaseSizes.push(this.leaseBytesFor(read));
    const leases = await this.pool.acquireAll(leaseSizes, { signal: options.signal, phaseOf: this.phaseOf });
    const release = () => {
      for (const lease of leases) lease.release();
    };
    try {
      if (this.reads !== 'threadpool')
        return { views: viewsOfRanges(ranges, plan, await this.readLeasedBatch(plan.reads, leases)), release };
      const readViews: Uint8Array[] = new Array(plan.reads.length);
      let leaseAt = 0;
      // allSettled, not all: on a failure every other read must finish before its memory goes back.
      const outcomes = await Promise.allSettled(
        plan.reads.map((read, i) => {
          if (read.size === 0) {
            readViews[i] = new Uint8Array(0);
            return undefined;
          }
          const lease = leases[leaseAt++] as SlabLease;
          return this.withSlot(options.signal, async () => {
            readViews[i] = await this.readSpan(read, lease);
          });
        }),
      );
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
      return { views: viewsOfRanges(ranges, plan, readViews), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * {@link ByteSource.readRanges}: as readRangesLeased, but copies each merged read out of the slab into a
   * fresh buffer (the views alias those buffers) and returns the slab memory at once. Reads are split into
   * pieces that fit the pool, so any range size works.
   */
  async readRanges(ranges: readonly ByteRange[]): Promise<Uint8Array[]> {
    this.checkRanges(ranges);
    const plan = planCoalescedReads(ranges, this.coalesce);
    const results = plan.reads.map((read) => new Uint8Array(read.size));
    // A piece widened to blocks and rounded to pool units must fit the budget.
    const room = alignDown(this.pool.maxBytes, this.pool.unitBytes) - this.blockBytes - this.pool.unitBytes;
    const maxPiece = Math.max(this.blockBytes, alignDown(Math.min(MAX_PIECE_BYTES, room), this.blockBytes));
    const pieces: Array<{ read: number; offset: number; size: number }> = [];
    plan.reads.forEach((read, i) => {
      for (let at = 0; at < read.size; at += maxPiece)
        pieces.push({ read: i, offset: read.offset + at, size: Math.min(maxPiece, read.size - at) });
    });
    // Memory first, then a queue slot (as readRangesLeased): a read never holds a slot while it waits for
    // memory, so a leased call that holds memory and waits for a slot cannot deadlock against it.
    await Promise.all(
      pieces.map(async (piece) => {
        const lease = await this.pool.acquire(this.leaseBytesFor(piece), { phaseOf: this.phaseOf });
        try {
          await this.withSlot(undefined, async () => {
            const bytes = await this.readSpan(piece, lease);
            const read = plan.reads[piece.read] as ByteRange;
            (results[piece.read] as Uint8Array).set(bytes, piece.offset - read.offset); // the one copy
          });
        } finally {
          lease.release();
        }
      }),
    );
    return viewsOfRanges(ranges, plan, results);
  }

  /** Whether {@link readInto} reads straight into its targets (buffered batch reads), taking no pool memory. */
  get readsIntoTargets(): boolean {
    return this.reads !== 'threadpool' && this.directFd < 0;
  }

  /**
   * {@link ByteSource.readInto}: each range into its target. Blocking buffered sources read straight into
   * the targets (one batch, no pool memory). Others read through pool memory and copy, because O_DIRECT
   * needs aligned memory: leased at once (waiting for memory, abortable by `signal`) when the ranges need
   * at most half the pool, else through {@link readRanges}' pieces.
   */
  async readInto(
    ranges: readonly ByteRange[],
    targets: readonly Uint8Array[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (this.readsIntoTargets) {
      this.checkRanges(ranges);
      // Straight into the targets: each must be exactly its range's size (a batch read fills whole targets).
      ranges.forEach((r, k) => {
        if (targets[k]?.byteLength !== r.size)
          throw new InvalidArgumentError(
            `readInto target ${k} holds ${targets[k]?.byteLength} bytes for a range of ${r.size}`,
            { option: 'targets' },
          );
      });
      await this.readBuffered(ranges, targets);
      return;
    }
    const needed = ranges.reduce((sum, r) => sum + this.leaseBytesFor(r), 0);
    if (needed > this.pool.maxBytes / 2) {
      const views = await this.readRanges(ranges);
      views.forEach((view, k) => (targets[k] as Uint8Array).set(view));
      return;
    }
    const leased = await this.readRangesLeased(ranges, options);
    try {
      leased.views.forEach((view, k) => (targets[k] as Uint8Array).set(view));
    } finally {
      leased.release();
    }
  }

  /** Waits for reads in flight (closing an fd under a read could let the fd number be reused), then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pending.idle();
    this.mapping?.release();
    if (this.directFd >= 0) closeSync(this.directFd);
    closeSync(this.bufferedFd);
    if (this.ownsPool) this.pool.close();
  }

  /** Reads without the mapping from now on (every range of the batch that found out is -EAGAIN: read). */
  private dropMapping(reason: string): void {
    this.mapping?.release();
    this.mapping = null;
    this.stats.mapped = false;
    this.stats.mappedReason = reason;
  }

  private checkRanges(ranges: readonly ByteRange[]): void {
    if (this.closed) throw new IoError(`${this.path}: source is closed`, { path: this.path });
    for (const r of ranges) {
      if (!(
        Number.isSafeInteger(r.offset) &&
        Number.isSafeInteger(r.size) &&
        r.offset >= 0 &&
        r.size >= 0 &&
        r.offset + r.size <= this.size
      )) {
        throw new IoError(
          `${this.path}: read of bytes ${r.offset}..${r.offset + r.size} is outside the file (${this.size} bytes)`,
          {
            path: this.path,
            offset: r.offset,
            size: r.size,
          },
        );
      }
    }
    for (const r of ranges) this.stats.bytesRequested += r.size;
    this.stats.rangesRequested += ranges.length;
  }

  /** Pool bytes needed to read `span`: widened to blockBytes in direct mode. */
  private leaseBytesFor(span: ByteRange): number {
    if (this.directFd < 0) return span.size;
    return alignUp(span.offset + span.size, this.blockBytes) - alignDown(span.offset, this.blockBytes);
  }

  /** Reads exactly the bytes of `span` into `lease`; returns the view of them. A short read is an IoError. */
  private async readSpan(span: ByteRange, lease: SlabLease): Promise<Uint8Array> {
    this.stats.readsIssued++;
    if (this.directFd >= 0 && isDirectAligned(lease.buffer, lease.byteOffset) === true) {
      const start = alignDown(span.offset, this.blockBytes);
      const length = alignUp(span.offset + span.size, this.blockBytes) - start;
      const view = new Uint8Array(lease.buffer, lease.byteOffset, length);
      const need = span.offset + span.size - start;
      let done = 0;
      let misaligned = false;
      try {
        while (done < need) {
          const n = await this.readAt(this.directFd, view, done, length - done, start + done);
          if (n === 0) break;
          done += n;
          if (done % DIRECT_MEMORY_ALIGN_BYTES !== 0) break; // EOF inside a sector: the next read would be misaligned
        }
      } catch (cause) {
        // EINVAL before any byte: this slab's phase came from a probe on a device with a coarser alignment
        // rule (a pool shared across devices). Read this span buffered instead.
        if ((cause as NodeJS.ErrnoException).code !== 'EINVAL' || done > 0) throw this.readError(span, cause);
        misaligned = true;
      }
      if (!misaligned) {
        this.stats.bytesRead += done;
        if (done < need) throw this.shortRead(span, start + done);
        this.stats.directReads++;
        return view.subarray(span.offset - start, span.offset - start + span.size);
      }
    }
    // Buffered mode, or a lease of a shared pool whose slab was not aligned for this source.
    const view = new Uint8Array(lease.buffer, lease.byteOffset, span.size);
    let done = 0;
    while (done < span.size) {
      let n: number;
      try {
        n = await this.readAt(this.bufferedFd, view, done, span.size - done, span.offset + done);
      } catch (cause) {
        throw this.readError(span, cause);
      }
      if (n === 0) throw this.shortRead(span, span.offset + done);
      done += n;
      this.stats.bytesRead += n;
    }
    this.stats.bufferedReads++;
    return view;
  }

  /**
   * Batch reads of the non-empty `reads` into their leases, one batch per fd: O_DIRECT (widened) where the
   * lease is aligned for it, buffered otherwise. Resolves to the view of each read's bytes.
   */
  private async readLeasedBatch(reads: readonly ByteRange[], leases: readonly SlabLease[]): Promise<Uint8Array[]> {
    const views: Uint8Array[] = new Array(reads.length);
    const direct: number[] = [];
    const buffered: number[] = [];
    const leaseOf: SlabLease[] = new Array(reads.length);
    let leaseAt = 0;
    for (let i = 0; i < reads.length; i++) {
      if ((reads[i] as ByteRange).size === 0) {
        views[i] = new Uint8Array(0);
        continue;
      }
      const lease = (leaseOf[i] = leases[leaseAt++] as SlabLease);
      (this.directFd >= 0 && isDirectAligned(lease.buffer, lease.byteOffset) === true ? direct : buffered).push(i);
    }
    if (direct.length > 0) {
      const spans = direct.map((i) => reads[i] as ByteRange);
      const targets = direct.map((i, k) => {
        const lease = leaseOf[i] as SlabLease;
        return new Uint8Array(lease.buffer, lease.byteOffset, this.leaseBytesFor(spans[k] as ByteRange));
      });
      const misaligned = await this.readBatch(spans, targets, true);
      direct.forEach((i, k) => {
        if (misaligned.has(k)) buffered.push(i);
        const span = spans[k] as ByteRange;
        const skip = span.offset - alignDown(span.offset, this.blockBytes);
        views[i] = (targets[k] as Uint8Array).subarray(skip, skip + span.size);
      });
    }
    if (buffered.length > 0) {
      const targets = buffered.map((i) => {
        const lease = leaseOf[i] as SlabLease;
        return (views[i] = new Uint8Array(lease.buffer, lease.byteOffset, (reads[i] as ByteRange).size));
      });
      await this.readBuffered(
        buffered.map((i) => reads[i] as ByteRange),
        targets,
      );
    }
    return views;
  }

  /**
   * Buffered spans[k] into targets[k]: copied out of the mapping where the pages are in the page cache,
   * the rest as one batch read (with the ranges whose pages went from under the mapping). Throws an
   * IoError for a failed or short read.
   */
  private async readBuffered(spans: readonly ByteRange[], targets: readonly Uint8Array[]): Promise<void> {
    if (!this.mapping || this.coldBatches > 0) {
      if (this.coldBatches > 0) this.coldBatches--;
      await this.readBatch(spans, targets, false);
      return;
    }
    // Checked before the copy, which does not yield: close() cannot unmap the file under it.
    if (this.closed) throw new IoError(`${this.path}: source closed while a read was queued`, { path: this.path });
    const positions = new Float64Array(spans.length);
    for (let k = 0; k < spans.length; k++) positions[k] = (spans[k] as ByteRange).offset;
    const results = new Float64Array(spans.length);
    const faults = this.mapping.file.copy(positions, targets as Uint8Array[], results);
    if (faults > 0) this.coldBatches = COLD_BATCHES;
    else if (faults < 0) this.dropMapping("a later SIGBUS handler replaced the addon's: no copies");
    let rest: number[] | undefined;
    for (let k = 0; k < spans.length; k++) {
      const done = results[k] as number;
      // Not copied (pages not in the page cache, or the file now ends before the range does), or pages gone
      // from under the mapping: a read says what the file holds now, or fails as a short read.
      if (done < 0) (rest ??= []).push(k);
      else {
        this.stats.mappedReads++;
        this.stats.readsIssued++;
        this.stats.bytesRead += done;
      }
    }
    if (rest)
      await this.readBatch(
        rest.map((k) => spans[k] as ByteRange),
        rest.map((k) => targets[k] as Uint8Array),
        false,
      );
  }

  /**
   * One batch (blocking or queued, options.reads): spans[k] into targets[k] (direct: the span widened to
   * blockBytes, from the block boundary). Throws an IoError for a failed or short read. Returns the direct
   * reads that failed with EINVAL before any byte (a lease of a pool shared with a device of coarser
   * alignment): read them buffered.
   */
  private async readBatch(
    spans: readonly ByteRange[],
    targets: readonly Uint8Array[],
    direct: boolean,
  ): Promise<Set<number>> {
    // close() may have run while this call waited for memory: its fd numbers may already name other files
    // (or the ring's own eventfd, whose read would wait forever).
    if (this.closed) throw new IoError(`${this.path}: source closed while a read was queued`, { path: this.path });
    const positions = new Float64Array(spans.length);
    for (let k = 0; k < spans.length; k++)
      positions[k] = direct
        ? alignDown((spans[k] as ByteRange).offset, this.blockBytes)
        : (spans[k] as ByteRange).offset;
    const results = new Float64Array(spans.length);
    const fd = direct ? this.directFd : this.bufferedFd;
    if (this.reads === 'blocking') {
      readBatchSync(fd, positions, targets as Uint8Array[], this.queueDepth, direct, results);
    } else {
      // Counted as pending: close() must not close the fd while the ring still holds reads of it.
      this.pending.begin();
      try {
        await readBatchQueued(
          fd,
          positions,
          targets as Uint8Array[],
          this.queueDepth,
          direct,
          results,
          this.bytesInFlight,
        );
      } finally {
        this.pending.end();
      }
    }
    const misaligned = new Set<number>();
    for (let k = 0; k < spans.length; k++) {
      const span = spans[k] as ByteRange;
      const done = results[k] as number;
      if (done < 0) {
        if (direct && done === EINVAL) {
          misaligned.add(k);
          continue;
        }
        throw this.readError(span, errnoError(done));
      }
      this.stats.readsIssued++;
      this.stats.bytesRead += done;
      const start = positions[k] as number;
      if (start + done < span.offset + span.size) throw this.shortRead(span, start + done);
    }
    if (direct) this.stats.directReads += spans.length - misaligned.size;
    else this.stats.bufferedReads += spans.length;
    return misaligned;
  }

  private readError(span: ByteRange, cause: unknown): IoError {
    return new IoError(
      `${this.path}: read of bytes ${span.offset}..${span.offset + span.size} failed: ${(cause as Error).message}`,
      { path: this.path, ...span, mode: this.mode },
      { cause },
    );
  }

  private shortRead(span: ByteRange, at: number): IoError {
    return new IoError(
      `${this.path}: short read at byte ${at} (wanted ${span.size} bytes from ${span.offset}; the file may have been truncated)`,
      { path: this.path, ...span, mode: this.mode },
    );
  }

  /** Runs `fn` holding one of `queueDepth` slots; slots are handed over FIFO. */
  private async withSlot<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    this.pending.begin();
    try {
      if (this.inFlight < this.queueDepth) this.inFlight++;
      else await new Promise<void>((resolve) => this.slotWaiters.push(resolve)); // the slot is handed over
      try {
        if (signal?.aborted)
          throw new AbortError(`${this.path}: read aborted`, { path: this.path, reason: String(signal.reason) });
        if (this.closed) throw new IoError(`${this.path}: source closed while a read was queued`, { path: this.path });
        return await fn();
      } finally {
        const next = this.slotWaiters.shift();
        if (next) next();
        else this.inFlight--;
      }
    } finally {
      this.pending.end();
    }
  }
}

/**
 * Opens the file of `bufferedFd` again with O_DIRECT (regular-file.ts: the same inode, so never a FIFO
 * swapped in) and checks a direct read works at some memory offset; returns the fd and the file-offset
 * granularity of direct reads, or why not.
 */
function openDirect(bufferedFd: number, path: string): { fd: number; blockBytes: number } | string {
  const flag = constants.O_DIRECT;
  if (flag === undefined) return 'O_DIRECT is not available on this platform';
  let fd: number;
  try {
    fd = reopenRegularFile(bufferedFd, path, constants.O_RDONLY | flag);
  } catch (cause) {
    return `O_DIRECT open failed: ${(cause as Error).message}`;
  }
  try {
    // A throwaway buffer: the probe only has to show that some offset works on this device.
    const probe = new SharedArrayBuffer(PROBE_SCAN_BYTES + PROBE_READ_BYTES);
    if (probeDirectAlignment(fd, probe) === null) {
      closeSync(fd);
      return 'O_DIRECT reads failed (EINVAL) at every memory offset probed';
    }
    return { fd, blockBytes: probeDirectBlockBytes(fd, probe) };
  } catch (cause) {
    closeSync(fd);
    return `O_DIRECT probe failed: ${(cause as Error).message}`;
  }
}

function pread(fd: number, view: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    readCallback(fd, view, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

/** A mapping shared by the sources of one file in this thread; `release` once per source that took it. */
interface SharedMapping {
  readonly file: MappedFile;
  release(): void;
}

/** This thread's mappings by file identity and size, with the sources holding each. */
const sharedMappings = new Map<string, { file: MappedFile; sources: number }>();

/**
 * A mapping of the file for a buffered source's reads, shared with the thread's other sources of the
 * same file, or why there is none: only batch reads use it (threadpool reads exist for builds without
 * the addon, which has the mapping).
 */
function mapFor(
  fd: number,
  size: number,
  identity: string,
  mapped: boolean,
  reads: BatchReads,
): SharedMapping | string {
  if (!mapped) return 'mapped: false';
  if (reads === 'threadpool') return "reads: 'threadpool'";
  if (size === 0) return 'empty file';
  // The size is part of the key: a source opened after the file grew maps (and may read) more of it.
  const key = `${identity}:${size}`;
  let shared = sharedMappings.get(key);
  if (!shared) {
    const file = MappedFile.open(fd, size);
    if (typeof file === 'string') return file;
    sharedMappings.set(key, (shared = { file, sources: 0 }));
  }
  shared.sources++;
  const entry = shared;
  let released = false;
  return {
    file: entry.file,
    release() {
      if (released) return;
      released = true;
      if (--entry.sources > 0) return;
      sharedMappings.delete(key);
      entry.file.close();
    },
  };
}

/** Batch reads report errors as negative errno values. */
const EINVAL = -osConstants.errno.EINVAL;

/** An Error like Node's own for a negative errno from a batch read, e.g. "EIO: i/o error, read". */
function errnoError(errno: number): NodeJS.ErrnoException {
  const [code, description] = getSystemErrorMap().get(errno) ?? ['UNKNOWN', `errno ${errno}`];
  return Object.assign(new Error(`${code}: ${description}, read`), { code, errno, syscall: 'read' });
}

/**
 * Byte sources: where the bytes of a file come from. {@link FileSource} reads a local file with buffered
 * positional reads (`pread` of its descriptor on libuv's threadpool), merging nearby ranges (coalesce.ts)
 * and keeping at most `queueDepth` reads in flight. A short read is an {@link IoError}, never placeholder
 * data.
 *
 * Copies: one, from the kernel page cache into a fresh buffer per merged read; views handed back alias it.
 *
 * Closing: {@link FileSource.close} waits for the reads already handed to the OS and fails the ones still
 * queued with an IoError. A descriptor closed under a queued read is worse than an EBADF: once the number
 * is reused by the next open, the read would return that other file's bytes.
 */
import { allSettledOrFirstError } from './settle.js';
import { close, read } from 'node:fs';
import { promisify } from 'node:util';
import { IoError } from '../errors.js';
import type { ByteRange } from '../format/file-metadata.js';
import { defaultCoalesceOptions, planCoalescedReads, viewsOfRanges, type CoalesceOptions } from './coalesce.js';
import { openRegularFile, type RegularFileOptions } from './regular-file.js';

const readAsync = promisify(read);
const closeAsync = promisify(close);

/** Counters of what a source did, for tests and metrics. */
export interface ReadStats {
  /** Reads issued to the OS (after merging). */
  readsIssued: number;
  bytesRead: number;
  /** Byte ranges asked for, and their bytes (before merging). */
  rangesRequested: number;
  bytesRequested: number;
  /** Of readsIssued, those copied out of a mapping of the file instead (direct-source.ts, mapped reads). */
  mappedReads: number;
}

/** A zeroed {@link ReadStats}. */
export function emptyReadStats(): ReadStats {
  return { readsIssued: 0, bytesRead: 0, rangesRequested: 0, bytesRequested: 0, mappedReads: 0 };
}

/** Adds `sign` × `from` into `into`, counter by counter (sign -1 subtracts: a delta between snapshots). */
export function addReadStats(into: ReadStats, from: ReadStats, sign: 1 | -1 = 1): ReadStats {
  into.readsIssued += sign * from.readsIssued;
  into.bytesRead += sign * from.bytesRead;
  into.rangesRequested += sign * from.rangesRequested;
  into.bytesRequested += sign * from.bytesRequested;
  into.mappedReads += sign * from.mappedReads;
  return into;
}

export interface ByteSource {
  readonly path: string;
  readonly size: number;
  readonly stats: ReadStats;
  /** Reads the ranges (any order, overlaps allowed); returns one view per range. */
  readRanges(ranges: readonly ByteRange[]): Promise<Uint8Array[]>;
  /** Reads each range into `targets[k]` (the same length), e.g. straight into an output; not merged. */
  readInto?(ranges: readonly ByteRange[], targets: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

interface FileSourceOptions extends Partial<RegularFileOptions> {
  coalesce?: CoalesceOptions;
  /** Merged reads in flight at once. */
  queueDepth?: number;
}

/**
 * Reads of a descriptor handed to the OS (or holding a place to be) and not yet returned. A source closes
 * its descriptor only once none is left: closed under a read, the number could name the next file opened.
 */
export class PendingReads {
  private count = 0;
  private onIdle: (() => void) | undefined;

  begin(): void {
    this.count++;
  }

  end(): void {
    if (--this.count === 0) this.onIdle?.();
  }

  /** Resolves once no read is pending (for close(), which runs once). */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.onIdle = resolve));
  }
}

/** Reads each range into its target: with the source's readInto, else through readRanges and a copy. */
export async function readIntoTargets(
  source: ByteSource,
  ranges: readonly ByteRange[],
  targets: readonly Uint8Array[],
): Promise<void> {
  if (ranges.length === 0) return;
  if (source.readInto) return source.readInto(ranges, targets);
  const views = await source.readRanges(ranges);
  views.forEach((view, k) => (targets[k] as Uint8Array).set(view));
}

/** Buffered reads of a local file. */
export class FileSource implements ByteSource {
  readonly stats: ReadStats = emptyReadStats();
  private closed = false;
  /** Reads handed to the OS and not yet returned; close() waits for none before closing the fd. */
  private readonly pending = new PendingReads();
  private constructor(
    readonly path: string,
    readonly size: number,
    /** The file's device and inode when opened (regular-file.ts RegularFile.identity). */
    readonly identity: string,
    private readonly fd: number,
    private readonly options: { coalesce: CoalesceOptions; queueDepth: number },
  ) {}

  /**
   * Opens `path` (checked by regular-file.ts: a regular file, inside `options.inside` when given); a
   * missing, unreadable or irregular file is an {@link IoError}.
   */
  static async open(path: string, options: FileSourceOptions = {}): Promise<FileSource> {
    const { fd, size, identity } = await openRegularFile(path, { ...options, what: options.what ?? 'data file' });
    return new FileSource(path, size, identity, fd, {
      coalesce: options.coalesce ?? defaultCoalesceOptions,
      queueDepth: options.queueDepth ?? 16,
    });
  }

  async readRanges(ranges: readonly ByteRange[]): Promise<Uint8Array[]> {
    this.checkRanges(ranges);
    const plan = planCoalescedReads(ranges, this.options.coalesce);
    const results: Uint8Array[] = new Array(plan.reads.length);
    await this.inQueue(plan.reads.length, async (i) => {
      results[i] = await this.readExactly(plan.reads[i] as ByteRange);
    });
    return viewsOfRanges(ranges, plan, results);
  }

  async readInto(ranges: readonly ByteRange[], targets: readonly Uint8Array[]): Promise<void> {
    this.checkRanges(ranges);
    await this.inQueue(ranges.length, (i) => this.readExactly(ranges[i] as ByteRange, targets[i] as Uint8Array));
  }

  /** Runs `read(0 … count-1)` with at most `queueDepth` in flight. */
  private async inQueue(count: number, read: (i: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) await read(next++);
    };
    await allSettledOrFirstError(Array.from({ length: Math.min(this.options.queueDepth, count) }, worker));
  }

  private checkRanges(ranges: readonly ByteRange[]): void {
    if (this.closed) throw new IoError(`${this.path}: source is closed`, { path: this.path });
    for (const r of ranges) {
      if (!(r.offset >= 0 && r.size >= 0 && r.offset + r.size <= this.size)) {
        throw new IoError(
          `${this.path}: read of bytes ${r.offset}..${r.offset + r.size} is outside the file (${this.size} bytes)`,
          {
            path: this.path,
            offset: r.offset,
            size: r.size,
          },
        );
      }
      this.stats.bytesRequested += r.size;
    }
    this.stats.rangesRequested += ranges.length;
  }

  private async readExactly(range: ByteRange, buffer: Uint8Array = new Uint8Array(range.size)): Promise<Uint8Array> {
    let done = 0;
    this.stats.readsIssued++;
    while (done < range.size) {
      // close() may have run while this read waited in the queue: the fd number may name another file now.
      if (this.closed)
        throw new IoError(`${this.path}: source closed while a read was queued`, { path: this.path, ...range });
      let bytesRead: number;
      this.pending.begin();
      try {
        ({ bytesRead } = await readAsync(this.fd, buffer, done, range.size - done, range.offset + done));
      } catch (cause) {
        throw new IoError(
          `${this.path}: read of bytes ${range.offset}..${range.offset + range.size} failed: ${(cause as Error).message}`,
          { path: this.path, ...range },
          { cause },
        );
      } finally {
        this.pending.end();
      }
      if (bytesRead === 0) {
        throw new IoError(
          `${this.path}: short read at byte ${range.offset + done} (wanted ${range.size} bytes from ${range.offset}; the file may have been truncated)`,
          { path: this.path, ...range },
        );
      }
      done += bytesRead;
    }
    this.stats.bytesRead += range.size;
    return buffer;
  }

  /**
   * Closes the file once the reads handed to the OS have returned; reads still queued, and reads asked for
   * later, fail with an IoError. Closing again does nothing (the descriptor number may belong to another
   * file by then).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pending.idle();
    await closeAsync(this.fd);
  }
}

/**
 * The bytes of one new file, appended in order and written behind the caller: appended pieces gather
 * into large sequential `writev`s that run on libuv's threadpool while the main thread reads and encodes
 * the next rows, and every {@link SYNC_EVERY_BYTES} written an `fdatasync` starts the disk's writeback
 * early, so the `fsync` of {@link FileSink.close} finds little left to flush.
 *
 *   append ──► queued pieces ──(FLUSH_BYTES)──► writev at position p ──► writev at p + n ──► …
 *                                   │                       │ every SYNC_EVERY_BYTES
 *                 waitForRoom ◄─────┘ (IN_FLIGHT_BYTES)     └──► fdatasync (one at a time, beside the writes)
 *
 * Memory is bounded: the caller waits in {@link FileSink.waitForRoom} while more than IN_FLIGHT_BYTES are
 * queued or being written. Pieces are referenced, not copied, until their write completes. The first
 * failed write or sync is kept and thrown, as an IoError naming the file, by the next call.
 */
import fs from 'node:fs';
import { fsError } from './fs-error.js';

/** Queued bytes are handed to one writev once they reach this size. */
const FLUSH_BYTES = 8 * 1024 * 1024;
/** Bytes queued or being written after which the caller waits. */
const IN_FLIGHT_BYTES = 24 * 1024 * 1024;
/** Bytes written between background fdatasyncs. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;
/** writev takes at most IOV_MAX (1024) pieces per call. */
const IOV_MAX = 1024;

function writevAt(fd: number, pieces: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.writev(fd, pieces, position, (error, written) => (error ? reject(error) : resolve(written))),
  );
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Writes `pieces` (in order, `bytes` in all) at `position`, retrying what a short write left. */
async function writeAll(fd: number, pieces: Uint8Array[], bytes: number, position: number): Promise<void> {
  let left = bytes;
  let at = position;
  while (left > 0) {
    let written = await writevAt(fd, pieces.slice(0, IOV_MAX), at);
    at += written;
    left -= written;
    const rest: Uint8Array[] = [];
    for (const piece of pieces) {
      if (written >= piece.length) written -= piece.length;
      else {
        rest.push(written > 0 ? piece.subarray(written) : piece);
        written = 0;
      }
    }
    pieces = rest;
  }
}

/** One file being written. Not safe for concurrent use; call {@link close} or {@link abort} exactly once. */
export class FileSink {
  readonly path: string;
  private readonly fd: number;
  /** Bytes appended so far: the file offset of the next appended byte. */
  private appended = 0;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Bytes handed to writes that have not completed. */
  private writingBytes = 0;
  /** The chain of writes, each starting when the one before it completed. */
  private writes: Promise<void> = Promise.resolve();
  private syncing: Promise<void> | undefined;
  private bytesSinceSync = 0;
  private failure: unknown;
  private aborted = false;
  private closed = false;
  private room: { bytes: number; resolve: () => void } | undefined;
  /** Bytes from the file's start that writes have completed (or given up on, after a failure). */
  private done = 0;
  /** Callbacks waiting for bytes up to `position` to be written, in position order. */
  private waiters: { position: number; callback: () => void }[] = [];

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /** Creates the file at `path`, which must not exist. */
  static create(path: string): FileSink {
    try {
      return new FileSink(
        path,
        fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644),
      );
    } catch (cause) {
      throw fsError('creating the data file', path, cause);
    }
  }

  /** The file offset the next appended byte lands at. */
  get position(): number {
    return this.appended;
  }

  /** Appends `bytes`; they must not change until written (the sink holds a reference, not a copy). */
  append(bytes: Uint8Array): void {
    this.throwIfFailed();
    if (bytes.length === 0) return;
    this.queued.push(bytes);
    this.queuedBytes += bytes.length;
    this.appended += bytes.length;
    if (this.queuedBytes >= FLUSH_BYTES) this.flush();
  }

  /** Resolves once at most IN_FLIGHT_BYTES are queued or being written; rejects if a write failed. */
  async waitForRoom(): Promise<void> {
    this.throwIfFailed();
    if (this.queuedBytes + this.writingBytes <= IN_FLIGHT_BYTES) return;
    this.flush();
    await new Promise<void>((resolve) => (this.room = { bytes: IN_FLIGHT_BYTES, resolve }));
    this.throwIfFailed();
  }

  private flush(): void {
    if (this.queuedBytes === 0) return;
    const pieces = this.queued;
    const bytes = this.queuedBytes;
    const position = this.appended - bytes;
    this.queued = [];
    this.queuedBytes = 0;
    this.writingBytes += bytes;
    this.writes = this.writes.then(async () => {
      if (this.failure === undefined && !this.aborted) {
        try {
          await writeAll(this.fd, pieces, bytes, position);
        } catch (cause) {
          this.failure ??= fsError('writing the data file', this.path, cause);
        }
      }
      this.writingBytes -= bytes;
      this.done = position + bytes;
      this.callWaiters();
      this.bytesSinceSync += bytes;
      if (this.bytesSinceSync >= SYNC_EVERY_BYTES && !this.syncing && this.failure === undefined && !this.aborted)
        this.startSync();
      const room = this.room;
      if (room && (this.failure !== undefined || this.queuedBytes + this.writingBytes <= room.bytes)) {
        this.room = undefined;
        room.resolve();
      }
    });
  }

  /**
   * Calls `callback` once every byte appended so far has been handed to the file (or its write has
   * failed, or the sink was aborted): the sink then holds no reference to them, and their memory may
   * be reused. Bytes still queued are written when the queue fills or the sink closes.
   */
  whenWritten(callback: () => void): void {
    if (this.done >= this.appended) callback();
    else this.waiters.push({ position: this.appended, callback });
  }

  private callWaiters(): void {
    let called = 0;
    while (called < this.waiters.length && (this.waiters[called]?.position as number) <= this.done) called++;
    const ready = this.waiters.splice(0, called);
    for (const { callback } of ready) callback();
  }

  private startSync(): void {
    this.bytesSinceSync = 0;
    this.syncing = fdatasync(this.fd).then(
      () => (this.syncing = undefined),
      (cause: unknown) => {
        this.failure ??= fsError('syncing the data file', this.path, cause);
        this.syncing = undefined;
      },
    );
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes what is queued, fsyncs and closes the file; returns its size. */
  async close(): Promise<number> {
    this.flush();
    await this.writes;
    await this.syncing;
    this.throwIfFailed();
    try {
      fs.fsyncSync(this.fd);
      this.closed = true;
      fs.closeSync(this.fd);
    } catch (cause) {
      throw fsError('syncing the data file', this.path, cause);
    }
    return this.appended;
  }

  /** Waits for the writes in flight (the descriptor must outlive them), closes and removes the file. */
  async abort(): Promise<void> {
    this.queued = [];
    this.queuedBytes = 0;
    this.aborted = true;
    await this.writes;
    await this.syncing;
    this.done = this.appended;
    this.callWaiters();
    // Once closed, the descriptor's number may already belong to another file.
    if (!this.closed) {
      this.closed = true;
      try {
        fs.closeSync(this.fd);
      } catch {
        // The file is removed next; a failed close loses nothing.
      }
    }
    fs.rmSync(this.path, { force: true });
  }
}

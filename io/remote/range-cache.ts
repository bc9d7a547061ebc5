/**
 * A local cache of byte ranges fetched from object storage (RemoteIoOptions.cacheDir), bounded in bytes,
 * least recently used objects dropped first. Every thread and process pointed at the same directory
 * shares it: a second epoch reads what any worker fetched in the first.
 *
 *   <dir>/<hash of URL and size>.data     sparse file: fetched ranges at their own offsets
 *   <dir>/<hash of URL and size>.ranges   append-only log of the ranges present, 16 bytes each (f64 offset, f64 size)
 *
 * Why it is safe without locks: Lance never rewrites a data file (names are unique), and the size is
 * part of the key; a range's bytes are written to `.data` before its record is appended to `.ranges`
 * (a 16-byte O_APPEND write, atomic), so a record always names bytes that are there. Two threads
 * writing the same range write the same bytes. An object evicted while another thread holds it open
 * still reads correctly from the old file until that thread notices (at its next eviction check) and
 * lets it go.
 *
 * The bound is checked against the directory's allocated blocks after every CHECK_EVERY_BYTES written
 * by this instance, so all writers together may overshoot it by that much each.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';

const RECORD_BYTES = 16;

/** Bytes written by one instance between checks of the directory's size. */
const CHECK_EVERY_BYTES = 64 * 1024 * 1024;

/** After eviction the cache holds at most this share of its bound, so evictions come in batches. */
const EVICT_TO = 0.9;

/** Last-use times are written to disk at most this often per object. */
const TOUCH_EVERY_MS = 1_000;

interface CachedObject {
  name: string;
  data: FileHandle;
  log: FileHandle;
  /** Present ranges, sorted and merged, as [start, end) pairs. */
  present: number[];
  /** Bytes of the log read so far. */
  logBytes: number;
  touchedAt: number;
}

/** Counters of a cache, for tests and metrics. */
export interface RangeCacheStats {
  hits: number;
  misses: number;
  bytesWritten: number;
  objectsEvicted: number;
}

export class RangeCache {
  readonly stats: RangeCacheStats = { hits: 0, misses: 0, bytesWritten: 0, objectsEvicted: 0 };
  private readonly objects = new Map<string, Promise<CachedObject>>();
  private writtenSinceCheck = 0;
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /**
   * The bytes of each of `ranges` of the object at `url` (`size` bytes) that is cached whole, undefined
   * for the others. Hits are read into one buffer, one pread each (page-cache copies, cheaper blocking
   * than through the threadpool).
   */
  async read(url: string, size: number, ranges: readonly ByteRange[]): Promise<(Uint8Array | undefined)[]> {
    const object = await this.object(url, size);
    const cached = (r: ByteRange) => covers(object.present, r.offset, r.offset + r.size);
    // The log is read again only when what this instance knows does not cover every range.
    if (!ranges.every(cached)) await this.readLog(object);
    const hits = ranges.map(cached);
    const views = ranges.map((): Uint8Array | undefined => undefined);
    const buffer = new Uint8Array(ranges.reduce((sum, r, i) => sum + (hits[i] ? r.size : 0), 0));
    let at = 0;
    ranges.forEach((r, i) => {
      if (!hits[i]) return;
      const view = buffer.subarray(at, at + r.size);
      if (readSync(object.data.fd, view, 0, r.size, r.offset) === r.size) views[i] = view;
      at += r.size;
    });
    const found = views.filter((v) => v !== undefined).length;
    this.stats.hits += found;
    this.stats.misses += ranges.length - found;
    if (found > 0) await this.touch(object);
    return views;
  }

  /** Keeps `bytes`, the range `range` of the object at `url` (`size` bytes). */
  async write(url: string, size: number, range: ByteRange, bytes: Uint8Array): Promise<void> {
    if (this.maxBytes === 0 || bytes.length === 0) return;
    const object = await this.object(url, size);
    try {
      await object.data.write(bytes, 0, bytes.length, range.offset);
      const record = new Float64Array([range.offset, bytes.length]);
      await object.log.appendFile(new Uint8Array(record.buffer));
    } catch (cause) {
      throw new IoError(
        `range cache ${this.dir}: cannot keep ${url} bytes ${range.offset}..${range.offset + bytes.length}: ${(cause as Error).message}`,
        {
          path: this.dir,
        },
        { cause },
      );
    }
    addRange(object.present, range.offset, range.offset + bytes.length);
    this.stats.bytesWritten += bytes.length;
    this.writtenSinceCheck += bytes.length;
    if (this.writtenSinceCheck >= Math.min(CHECK_EVERY_BYTES, this.maxBytes / 4)) {
      this.writtenSinceCheck = 0;
      await this.evict();
    }
  }

  /** Closes every file this instance holds open. */
  async close(): Promise<void> {
    const objects = await Promise.all([...this.objects.values()].map((p) => p.catch(() => undefined)));
    this.objects.clear();
    await Promise.all(objects.flatMap((o) => (o ? [o.data.close(), o.log.close()] : [])));
  }

  private object(url: string, size: number): Promise<CachedObject> {
    const name = createHash('sha256').update(`${url}\0${size}`).digest('hex').slice(0, 40);
    let object = this.objects.get(name);
    if (!object) {
      object = (async () => {
        this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
        await this.ready;
        try {
          const data = await open(join(this.dir, `${name}.data`), 'a+');
          const log = await open(join(this.dir, `${name}.ranges`), 'a+');
          // 'a+' appends every write; data goes at its own offsets, so reopen it for positioned writes.
          await data.close();
          return {
            name,
            data: await open(join(this.dir, `${name}.data`), 'r+'),
            log,
            present: [],
            logBytes: 0,
            touchedAt: 0,
          };
        } catch (cause) {
          throw new IoError(
            `range cache ${this.dir}: cannot open its files: ${(cause as Error).message}`,
            { path: this.dir },
            { cause },
          );
        }
      })();
      object.catch(() => this.objects.delete(name));
      this.objects.set(name, object);
    }
    return object;
  }

  /**
   * Adds the records other threads appended since the last look. Two lanes of a worker may look at once:
   * each reads from where the log was read up to when it started and moves that mark only forward, so
   * no record is skipped (one read by both is added twice, which changes nothing).
   */
  private async readLog(object: CachedObject): Promise<void> {
    const { size } = await object.log.stat();
    const complete = Math.floor(size / RECORD_BYTES) * RECORD_BYTES;
    const from = object.logBytes;
    if (complete <= from) return;
    const bytes = new Uint8Array(complete - from);
    const { bytesRead } = await object.log.read(bytes, 0, bytes.length, from);
    const records = new Float64Array(bytes.buffer, 0, Math.floor(bytesRead / RECORD_BYTES) * 2);
    for (let i = 0; i < records.length; i += 2) {
      const start = records[i] as number;
      const length = records[i + 1] as number;
      if (Number.isSafeInteger(start) && Number.isSafeInteger(length) && start >= 0 && length > 0)
        addRange(object.present, start, start + length);
    }
    object.logBytes = Math.max(object.logBytes, from + records.length * 8);
  }

  /** Records a use of `object` for eviction order (on disk, so other processes see it). */
  private async touch(object: CachedObject): Promise<void> {
    const now = Date.now();
    if (now - object.touchedAt < TOUCH_EVERY_MS) return;
    object.touchedAt = now;
    await utimes(join(this.dir, `${object.name}.ranges`), now / 1000, now / 1000).catch(() => undefined);
  }

  /** Drops the least recently used objects while the directory holds more than the bound. */
  private async evict(): Promise<void> {
    const names = (await readdir(this.dir))
      .filter((n) => n.endsWith('.ranges'))
      .map((n) => n.slice(0, -'.ranges'.length));
    const objects = (
      await Promise.all(
        names.map(async (name) => {
          const [data, log] = await Promise.all([
            stat(join(this.dir, `${name}.data`)),
            stat(join(this.dir, `${name}.ranges`)),
          ]).catch(() => []);
          return data && log ? { name, bytes: data.blocks * 512 + log.size, usedMs: log.mtimeMs } : undefined;
        }),
      )
    ).filter((o) => o !== undefined);
    let total = objects.reduce((sum, o) => sum + o.bytes, 0);
    if (total > this.maxBytes) {
      objects.sort((a, b) => a.usedMs - b.usedMs);
      for (const o of objects) {
        if (total <= this.maxBytes * EVICT_TO) break;
        await Promise.all(
          [unlink(join(this.dir, `${o.name}.ranges`)), unlink(join(this.dir, `${o.name}.data`))].map((p) =>
            p.catch(() => undefined),
          ),
        );
        total -= o.bytes;
        this.stats.objectsEvicted++;
      }
    }
    // Let go of files evicted (here or by another thread), so their blocks are freed.
    for (const [name, pending] of this.objects) {
      const exists = await stat(join(this.dir, `${name}.ranges`)).then(
        () => true,
        () => false,
      );
      if (exists) continue;
      this.objects.delete(name);
      const object = await pending.catch(() => undefined);
      await Promise.all([object?.data.close(), object?.log.close()]);
    }
  }
}

/** Whether the merged ranges `present` cover [start, end): a binary search for the last range starting at or before `start`. */
function covers(present: readonly number[], start: number, end: number): boolean {
  let low = 0;
  let high = present.length / 2; // ranges [low, high) may hold it
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((present[2 * mid] as number) <= start) low = mid + 1;
    else high = mid;
  }
  return low > 0 && (present[2 * low - 1] as number) >= end;
}

/** Adds [start, end) to the sorted, merged ranges `present`. */
function addRange(present: number[], start: number, end: number): void {
  let i = 0;
  while (i < present.length && (present[i + 1] as number) < start) i += 2;
  let j = i;
  let s = start;
  let e = end;
  while (j < present.length && (present[j] as number) <= e) {
    s = Math.min(s, present[j] as number);
    e = Math.max(e, present[j + 1] as number);
    j += 2;
  }
  present.splice(i, j - i, s, e);
}

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
 * lets it go, once the writes to it in flight end (a write never finds its file closed under it).
 *
 * The bound is checked against the directory's allocated blocks after every CHECK_EVERY_BYTES written
 * by this instance, so all writers together may overshoot it by that much each.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';
import { planCoalescedReads, viewsOfRanges } from '../coalesce.js';
import { readBatchSync } from '../native-read.js';

const RECORD_BYTES = 16;

/** How hits are merged into reads: a local file's gap (loader io.maxGapBytes), holes in between read as zeros. */
const CACHE_READ_COALESCE = { maxGapBytes: 4 * 1024, maxReadBytes: 8 * 1024 * 1024 };

/** Reads of one lookup in flight at once where they miss the page cache (io_uring). */
const CACHE_QUEUE_DEPTH = 16;

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
  /** Set before its files are closed: a lookup that waited meanwhile must not read a descriptor number that may be another file's by then. */
  closed: boolean;
  /** Writes in flight: its files are closed when the last one ends, so none writes to a closed handle. */
  writes: number;
}

/** Counters of a cache, for tests and metrics. */
export interface RangeCacheStats {
  hits: number;
  misses: number;
  bytesWritten: number;
  objectsEvicted: number;
  /** Writes that failed (disk full, files removed meanwhile): the cache is best-effort, the range is fetched again next time. */
  writesFailed: number;
}

export class RangeCache {
  readonly stats: RangeCacheStats = { hits: 0, misses: 0, bytesWritten: 0, objectsEvicted: 0, writesFailed: 0 };
  private readonly objects = new Map<string, Promise<CachedObject>>();
  /** File names of the objects looked up, by URL and size (a hash per lookup cost more than the read). */
  private readonly names = new Map<string, string>();
  private writtenSinceCheck = 0;
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /**
   * The bytes of each of `ranges` of the object at `url` (`size` bytes) that is cached whole, undefined
   * for the others. Hits are read by one batched read (native-read.ts: io_uring or a pread loop in the
   * addon, no crossing into Node per range): with `targets` (one per range, each its range's size),
   * straight into them, and the view of a hit is its target; without, into one buffer, nearby hits merged
   * as a local file's reads are. A read that comes back short (the file cut by something else) leaves
   * its ranges missing.
   */
  async read(
    url: string,
    size: number,
    ranges: readonly ByteRange[],
    targets?: readonly Uint8Array[],
  ): Promise<(Uint8Array | undefined)[]> {
    const object = await this.object(url, size);
    const views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(ranges.length).fill(undefined);
    let hits = this.hitsOf(object, ranges);
    // The log is read again only when what this instance knows does not cover every range.
    if (hits.length < ranges.length) {
      await this.readLog(object);
      hits = this.hitsOf(object, ranges);
    }
    if (hits.length > 0 && !object.closed) {
      const wanted = hits.map((i) => ranges[i] as ByteRange);
      if (targets) {
        const into = hits.map((i) => targets[i] as Uint8Array);
        const read = readAll(object.data.fd, wanted, into);
        for (let k = 0; k < hits.length; k++)
          if (read[k] === (wanted[k] as ByteRange).size) views[hits[k] as number] = into[k];
      } else {
        readMerged(object.data.fd, wanted).forEach((view, k) => (views[hits[k] as number] = view));
      }
    }
    let found = 0;
    for (const view of views) if (view) found++;
    this.stats.hits += found;
    this.stats.misses += ranges.length - found;
    if (found > 0) await this.touch(object);
    return views;
  }

  /** Indexes of the ranges `object`'s known present ranges cover. */
  private hitsOf(object: CachedObject, ranges: readonly ByteRange[]): number[] {
    const hits: number[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i] as ByteRange;
      if (covers(object.present, r.offset, r.offset + r.size)) hits.push(i);
    }
    return hits;
  }

  /**
   * Keeps `bytes`, the range `range` of the object at `url` (`size` bytes). Best-effort: it never
   * rejects, a failure is counted in `stats.writesFailed`, and a range whose bytes were not all written
   * gets no record, so no lookup finds it.
   */
  async write(url: string, size: number, range: ByteRange, bytes: Uint8Array): Promise<void> {
    if (this.maxBytes === 0 || bytes.length === 0) return;
    let object: CachedObject;
    try {
      object = await this.object(url, size);
    } catch {
      this.stats.writesFailed++;
      return;
    }
    // Let go of (its files evicted, or the cache closed) while this write waited for it.
    if (object.closed) {
      this.stats.writesFailed++;
      return;
    }
    object.writes++;
    try {
      const { bytesWritten } = await object.data.write(bytes, 0, bytes.length, range.offset);
      if (bytesWritten !== bytes.length) throw new Error(`${bytesWritten} of ${bytes.length} bytes written`);
      const record = new Float64Array([range.offset, bytes.length]);
      await object.log.appendFile(new Uint8Array(record.buffer));
    } catch {
      this.stats.writesFailed++;
      return;
    } finally {
      if (--object.writes === 0 && object.closed) await closeFiles(object);
    }
    addRange(object.present, range.offset, range.offset + bytes.length);
    this.stats.bytesWritten += bytes.length;
    this.writtenSinceCheck += bytes.length;
    if (this.writtenSinceCheck >= Math.min(CHECK_EVERY_BYTES, this.maxBytes / 4)) {
      this.writtenSinceCheck = 0;
      await this.evict().catch(() => undefined);
    }
  }

  /** Closes every file this instance holds open (an object's files once its writes in flight end). */
  async close(): Promise<void> {
    const objects = await Promise.all([...this.objects.values()].map((p) => p.catch(() => undefined)));
    this.objects.clear();
    await Promise.all(objects.map((o) => o && release(o)));
  }

  private object(url: string, size: number): Promise<CachedObject> {
    const key = `${url}\0${size}`;
    let name = this.names.get(key);
    if (name === undefined) {
      name = createHash('sha256').update(key).digest('hex').slice(0, 40);
      this.names.set(key, name);
    }
    let object = this.objects.get(name);
    if (!object) {
      object = (async () => {
        this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
        await this.ready;
        const opened: FileHandle[] = [];
        const openFile = async (suffix: string, flags: string) => {
          const handle = await open(join(this.dir, `${name}.${suffix}`), flags);
          opened.push(handle);
          return handle;
        };
        try {
          const created = await openFile('data', 'a+');
          const log = await openFile('ranges', 'a+');
          // 'a+' appends every write; data goes at its own offsets, so reopen it for positioned writes.
          const data = await openFile('data', 'r+');
          await created.close();
          return {
            name,
            data,
            log,
            present: [],
            logBytes: 0,
            touchedAt: 0,
            closed: false,
            writes: 0,
          };
        } catch (cause) {
          // A handle left open here would be closed only when garbage collected.
          await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
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
    if (object.closed) return;
    const { size } = await object.log.stat();
    const complete = Math.floor(size / RECORD_BYTES) * RECORD_BYTES;
    const from = object.logBytes;
    if (complete <= from) return;
    const bytes = new Uint8Array(complete - from);
    if (object.closed) return;
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
      if (object) await release(object);
    }
  }
}

/** Marks `object` closed and closes its files now, or when its last write in flight ends. */
async function release(object: CachedObject): Promise<void> {
  if (object.closed) return;
  object.closed = true;
  if (object.writes === 0) await closeFiles(object);
}

async function closeFiles(object: CachedObject): Promise<void> {
  await Promise.all([object.data.close(), object.log.close()]).catch(() => undefined);
}

/**
 * The bytes of `ranges` of the file `fd`, read through one buffer, nearby ranges merged into one read;
 * undefined for those a read that came back short did not reach.
 */
function readMerged(fd: number, ranges: readonly ByteRange[]): (Uint8Array | undefined)[] {
  const plan = planCoalescedReads(ranges, CACHE_READ_COALESCE);
  let total = 0;
  for (const r of plan.reads) total += r.size;
  const buffer = new Uint8Array(total);
  const targets: Uint8Array[] = [];
  let at = 0;
  for (const r of plan.reads) {
    targets.push(buffer.subarray(at, at + r.size));
    at += r.size;
  }
  const read = readAll(fd, plan.reads, targets);
  return viewsOfRanges(ranges, plan, targets).map((view, i) =>
    (plan.offsetInRead[i] as number) + view.length <= (read[plan.readOf[i] as number] as number) ? view : undefined,
  );
}

/** Reads each of `ranges` of the file `fd` into its target (one batch); the bytes read of each, negative on an error. */
function readAll(fd: number, ranges: readonly ByteRange[], targets: Uint8Array[]): Float64Array {
  const positions = new Float64Array(ranges.length);
  for (let i = 0; i < ranges.length; i++) positions[i] = (ranges[i] as ByteRange).offset;
  const results = new Float64Array(ranges.length);
  readBatchSync(fd, positions, targets, CACHE_QUEUE_DEPTH, false, results);
  return results;
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

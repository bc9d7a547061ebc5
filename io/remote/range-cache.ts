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
 *
 * A range's bytes and its record are written synchronously, in the thread that fetched them (a write
 * into the page cache costs less than a hand-off to libuv's threadpool and back, and no write is then
 * ever in flight when an object's files are closed).
 *
 * Hits are read as a local file's ranges are, by a {@link DirectFileSource} of the `.data` file in
 * buffered mode: one blocking batch per lookup, straight into the caller's targets (a cached epoch
 * expects its bytes in the page cache, where a blocking batch costs less CPU than a queued one, and the
 * lookup needs no turn of the event loop). The `.data` file is extended to the object's size when an
 * instance first opens it (a hole takes no blocks), so every range lies inside the size that source saw
 * at its open.
 */
import { createHash } from 'node:crypto';
import { fstatSync, readSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';
import { DirectFileSource } from '../direct-source.js';

const RECORD_BYTES = 16;

/** Reads of one lookup in flight at once where they miss the page cache (io_uring). */
const CACHE_QUEUE_DEPTH = 16;

/** Bytes written by one instance between checks of the directory's size. */
const CHECK_EVERY_BYTES = 64 * 1024 * 1024;

/** After eviction the cache holds at most this share of its bound, so evictions come in batches. */
const EVICT_TO = 0.9;

/** Last-use times are written to disk at most this often per object. */
const TOUCH_EVERY_MS = 1_000;

/** A log record, written from here by one synchronous write at a time. */
const record = new Float64Array(2);
const recordBytes = new Uint8Array(record.buffer);

/** No index: what a lookup that found every range answers (shared, never written). */
const NONE: readonly number[] = Object.freeze([]);

interface CachedObject {
  /** URL and size, as the lookups name it. */
  key: string;
  name: string;
  /** Writes of fetched ranges at their own offsets. */
  data: FileHandle;
  /** Reads of kept ranges: the `.data` file read as a local file is (buffered batches, io/direct-source.ts). */
  reader: DirectFileSource;
  log: FileHandle;
  /** The ranges its data file holds. */
  present: PresentRanges;
  /** Bytes of the log read so far. */
  logBytes: number;
  touchedAt: number;
  /** Set before its files are closed: a lookup that waited meanwhile must not read a descriptor number that may be another file's by then. */
  closed: boolean;
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
  /** Objects opened or being opened, by file name. */
  private readonly objects = new Map<string, Promise<CachedObject>>();
  /** Those whose files are open, by key: a lookup of one takes no promise and no turn of the event loop. */
  private readonly opened = new Map<string, CachedObject>();
  /** File names of the objects looked up, by key (a hash per lookup cost more than the read). */
  private readonly names = new Map<string, string>();
  private writtenSinceCheck = 0;
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /**
   * Reads the kept ones of `ranges` of the object at `url` (`size` bytes) straight into their targets
   * (one per range, each its range's size), by one batched read, and resolves to the indexes of the
   * others, ascending: those not kept, whose targets it leaves alone, and those whose read came back
   * short (the file cut by something else), whose targets hold what was read.
   */
  async readInto(
    url: string,
    size: number,
    ranges: readonly ByteRange[],
    targets: readonly Uint8Array[],
  ): Promise<readonly number[]> {
    const key = keyOf(url, size);
    const object = this.opened.get(key) ?? (await this.object(key, size));
    let missing = missingOf(object, ranges);
    if (missing.length < ranges.length) {
      // Usually every range is kept: the caller's arrays are read as they are.
      const kept = missing.length === 0 ? undefined : complement(missing, ranges.length);
      const failed = await readKept(object, kept ? pick(ranges, kept) : ranges, kept ? pick(targets, kept) : targets);
      if (failed.length > 0) missing = union(missing, kept ? pick(kept, failed) : failed);
    }
    this.stats.hits += ranges.length - missing.length;
    this.stats.misses += missing.length;
    if (missing.length < ranges.length) this.touch(object);
    return missing;
  }

  /**
   * The bytes of each of `ranges` of the object at `url` (`size` bytes) that is kept, undefined for the
   * others: {@link readInto} one fresh buffer.
   */
  async read(url: string, size: number, ranges: readonly ByteRange[]): Promise<(Uint8Array | undefined)[]> {
    let total = 0;
    for (const r of ranges) total += r.size;
    const buffer = new Uint8Array(total);
    let at = 0;
    const targets = ranges.map((r) => buffer.subarray(at, (at += r.size)));
    const missing = new Set(await this.readInto(url, size, ranges, targets));
    return targets.map((target, i) => (missing.has(i) ? undefined : target));
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
      const key = keyOf(url, size);
      object = this.opened.get(key) ?? (await this.object(key, size));
    } catch {
      this.stats.writesFailed++;
      return;
    }
    // Let go of (its files evicted, or the cache closed) while this write waited for it.
    if (object.closed) {
      this.stats.writesFailed++;
      return;
    }
    try {
      if (writeSync(object.data.fd, bytes, 0, bytes.length, range.offset) !== bytes.length)
        throw new Error('short write');
      record[0] = range.offset;
      record[1] = bytes.length;
      writeSync(object.log.fd, recordBytes);
    } catch {
      this.stats.writesFailed++;
      return;
    }
    object.present.add(range.offset, range.offset + bytes.length);
    this.stats.bytesWritten += bytes.length;
    this.writtenSinceCheck += bytes.length;
    if (this.writtenSinceCheck >= Math.min(CHECK_EVERY_BYTES, this.maxBytes / 4)) {
      this.writtenSinceCheck = 0;
      await this.evict().catch(() => undefined);
    }
  }

  /** Closes every file this instance holds open. */
  async close(): Promise<void> {
    const objects = await Promise.all([...this.objects.values()].map((p) => p.catch(() => undefined)));
    this.objects.clear();
    this.opened.clear();
    await Promise.all(objects.map((o) => o && release(o)));
  }

  /** The object named `key` (URL and size), its files opened on the first lookup. */
  private object(key: string, size: number): Promise<CachedObject> {
    let name = this.names.get(key);
    if (name === undefined) {
      name = createHash('sha256').update(key).digest('hex').slice(0, 40);
      this.names.set(key, name);
    }
    let object = this.objects.get(name);
    if (!object) {
      object = this.openObject(key, name, size);
      object.then(
        (o) => {
          if (!o.closed) this.opened.set(key, o);
        },
        () => this.objects.delete(name),
      );
      this.objects.set(name, object);
    }
    return object;
  }

  private async openObject(key: string, name: string, size: number): Promise<CachedObject> {
    this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.ready;
    const path = (suffix: string) => join(this.dir, `${name}.${suffix}`);
    const opened: { close(): Promise<void> }[] = [];
    const openFile = async (suffix: string, flags: string) => {
      const handle = await open(path(suffix), flags);
      opened.push(handle);
      return handle;
    };
    try {
      const created = await openFile('data', 'a+');
      const log = await openFile('ranges', 'a+');
      // 'a+' appends every write; data goes at its own offsets, so reopen it for positioned writes.
      const data = await openFile('data', 'r+');
      await created.close();
      // Never shortened: another thread may be writing ranges into it.
      if ((await data.stat()).size < size) await data.truncate(size);
      const reader = await DirectFileSource.open(path('data'), {
        direct: false,
        reads: 'blocking',
        queueDepth: CACHE_QUEUE_DEPTH,
      });
      opened.push(reader);
      return {
        key,
        name,
        data,
        reader,
        log,
        present: new PresentRanges(),
        logBytes: 0,
        touchedAt: 0,
        closed: false,
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
  }

  /** Records a use of `object` for eviction order (on disk, so other processes see it), at most once a TOUCH_EVERY_MS. */
  private touch(object: CachedObject): void {
    const now = Date.now();
    if (now - object.touchedAt < TOUCH_EVERY_MS) return;
    object.touchedAt = now;
    utimes(join(this.dir, `${object.name}.ranges`), now / 1000, now / 1000).catch(() => undefined);
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
      if (object) {
        this.opened.delete(object.key);
        await release(object);
      }
    }
  }
}

/** Marks `object` closed (no lookup or write uses its descriptors from then on) and closes its files. */
async function release(object: CachedObject): Promise<void> {
  if (object.closed) return;
  object.closed = true;
  await Promise.all([object.data.close(), object.log.close(), object.reader.close()]).catch(() => undefined);
}

/** The lookup's name of the object at `url` of `size` bytes. */
function keyOf(url: string, size: number): string {
  return `${url}\0${size}`;
}

/**
 * Indexes of the ranges `object` does not keep, ascending: by what this instance knows, and where that
 * does not cover every range, by its log read again; every index once its files are let go.
 */
function missingOf(object: CachedObject, ranges: readonly ByteRange[]): readonly number[] {
  if (object.closed) return ranges.map((_, i) => i);
  let missing = uncovered(object.present, ranges);
  if (missing.length > 0) {
    readLog(object);
    missing = uncovered(object.present, ranges);
  }
  return missing;
}

/** Indexes of the ranges `present` does not cover ({@link NONE} when it covers all). */
function uncovered(present: PresentRanges, ranges: readonly ByteRange[]): readonly number[] {
  let missing: number[] | undefined;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i] as ByteRange;
    if (!present.covers(r.offset, r.offset + r.size)) (missing ??= []).push(i);
  }
  return missing ?? NONE;
}

/**
 * Adds the records other threads appended to `object`'s log since the last look. Synchronous (a few
 * bytes out of the page cache), so no other lookup or close runs in between. A log that cannot be read
 * adds nothing: its ranges are fetched again.
 */
function readLog(object: CachedObject): void {
  try {
    const complete = Math.floor(fstatSync(object.log.fd).size / RECORD_BYTES) * RECORD_BYTES;
    const from = object.logBytes;
    if (complete <= from) return;
    const bytes = new Uint8Array(complete - from);
    const bytesRead = readSync(object.log.fd, bytes, 0, bytes.length, from);
    const records = new Float64Array(bytes.buffer, 0, Math.floor(bytesRead / RECORD_BYTES) * 2);
    for (let i = 0; i < records.length; i += 2) {
      const start = records[i] as number;
      const length = records[i + 1] as number;
      // This instance's own records are already there.
      if (
        Number.isSafeInteger(start) &&
        Number.isSafeInteger(length) &&
        start >= 0 &&
        length > 0 &&
        !object.present.covers(start, start + length)
      )
        object.present.add(start, start + length);
    }
    object.logBytes = from + records.length * 8;
  } catch {
    // The log's file closed or removed under it: nothing is added.
  }
}

/**
 * Reads `ranges` of `object`'s data file into `targets` as one batch; resolves to the indexes of those
 * not read whole. A short read (the file cut by something else) or files let go meanwhile fail the
 * batch, and the ranges are then read one at a time to find which are still there.
 */
async function readKept(
  object: CachedObject,
  ranges: readonly ByteRange[],
  targets: readonly Uint8Array[],
): Promise<readonly number[]> {
  try {
    await object.reader.readInto(ranges, targets);
    return NONE;
  } catch {
    const failed: number[] = [];
    for (let i = 0; i < ranges.length; i++)
      await object.reader.readInto([ranges[i] as ByteRange], [targets[i] as Uint8Array]).catch(() => failed.push(i));
    return failed;
  }
}

/**
 * The items of `items` at the indexes `at`, in an array built by push, as the planner builds the arrays
 * of ranges and targets it reads: an array from map() has another map (holey), and passing both kinds
 * down the read path deoptimised its functions, to be compiled again, in every worker.
 */
export function pick<T>(items: readonly T[], at: readonly number[]): T[] {
  const out: T[] = [];
  for (const i of at) out.push(items[i] as T);
  return out;
}

/** The indexes below `count` not in `indexes` (ascending). */
function complement(indexes: readonly number[], count: number): number[] {
  const out: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (indexes[at] === i) at++;
    else out.push(i);
  }
  return out;
}

/** The ascending indexes of `a` and `b` (each ascending, no index in both). */
function union(a: readonly number[], b: readonly number[]): number[] {
  return [...a, ...b].sort((x, y) => x - y);
}

/** Pairs the recent tier of {@link PresentRanges} holds before it is folded into the settled one. */
const RECENT_PAIRS = 256;

/**
 * The ranges an object's data file holds, as sorted, merged [start, end) pairs in two tiers: ranges are
 * added to `recent`, which is folded into `settled` once it holds RECENT_PAIRS pairs. A shuffled epoch
 * adds a range per row, far apart: with one sorted array each addition moved every pair after it
 * (quadratic over an epoch); here it costs a pass over at most RECENT_PAIRS pairs, and a fold one pass
 * over both tiers.
 */
class PresentRanges {
  private settled: number[] = [];
  private recent: number[] = [];

  add(start: number, end: number): void {
    addRange(this.recent, start, end);
    if (this.recent.length >= 2 * RECENT_PAIRS) this.fold();
  }

  /** Whether [start, end) is held: by one tier, or by the two together (then folded first). */
  covers(start: number, end: number): boolean {
    if (covers(this.settled, start, end) || covers(this.recent, start, end)) return true;
    if (!(overlaps(this.settled, start, end) && overlaps(this.recent, start, end))) return false;
    this.fold();
    return covers(this.settled, start, end);
  }

  private fold(): void {
    this.settled = mergeRanges(this.settled, this.recent);
    this.recent = [];
  }
}

/** Whether the merged ranges `present` cover [start, end): the last one starting at or before `start` does. */
function covers(present: readonly number[], start: number, end: number): boolean {
  const i = countBefore(present, 0, start, true) - 1;
  return i >= 0 && (present[2 * i + 1] as number) >= end;
}

/** Whether one of the merged ranges `present` shares a byte with [start, end): the last one starting before `end` does. */
function overlaps(present: readonly number[], start: number, end: number): boolean {
  const i = countBefore(present, 0, end, false) - 1;
  return i >= 0 && (present[2 * i + 1] as number) > start;
}

/**
 * How many of the merged ranges `present` have their start (`field` 0) or end (1) before `at`, or at it
 * with `orAt`: a binary search (starts and ends of merged ranges both ascend).
 */
function countBefore(present: readonly number[], field: 0 | 1, at: number, orAt: boolean): number {
  let low = 0;
  let high = present.length / 2; // the count is low once [low, high) is empty
  while (low < high) {
    const mid = (low + high) >>> 1;
    const value = present[2 * mid + field] as number;
    if (value < at || (orAt && value === at)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The sorted, merged ranges `a` and `b` together, sorted and merged. */
function mergeRanges(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const fromA = j >= b.length || (i < a.length && (a[i] as number) <= (b[j] as number));
    const from = fromA ? a : b;
    const k = fromA ? i : j;
    const s = from[k] as number;
    const e = from[k + 1] as number;
    if (fromA) i += 2;
    else j += 2;
    if (out.length > 0 && s <= (out[out.length - 1] as number))
      out[out.length - 1] = Math.max(out[out.length - 1] as number, e);
    else out.push(s, e);
  }
  return out;
}

/** Adds [start, end) to the sorted, merged ranges `present`. */
function addRange(present: number[], start: number, end: number): void {
  const i = 2 * countBefore(present, 1, start, false); // the first range that ends at or after `start`
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

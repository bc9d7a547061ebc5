/**
 * A remote object read as a {@link ByteSource}: the same plan → read → decode path as a local file, with
 * ranges merged across gaps suited to object storage (RemoteIoOptions.maxGapBytes) and every merged read
 * one GET, all of a call's GETs in flight at once within the store's limits.
 *
 * Opening reads the object's tail speculatively (the last TAIL_BYTES), as Lance does: the footer, the
 * column metadata and the schema of a data file usually lie there, so the metadata costs one request.
 * Reads inside the tail are served from it. With a {@link RangeCache}, requested ranges are looked up on
 * local disk first, and merged reads are kept there after they are fetched.
 *
 * Copies: undici's body into a fresh buffer per GET, views handed back alias it, and readInto copies
 * them into its targets; a GET of one range with a target (readInto) has its body received into the
 * target instead (a loader's workers read through readInto, into slots or their receive pool).
 * Cached ranges: readInto reads them from the cache's file straight into its targets (one copy, out of
 * the page cache, as a local file's), readRanges into a fresh buffer. A readInto that fails settles
 * every request first, so nothing writes into its targets once it has rejected.
 */
import { InvalidArgumentError, IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';
import { planCoalescedReads, viewsOfRanges } from '../coalesce.js';
import { emptyReadStats, type ByteSource, type ReadStats } from '../source.js';
import type { ObjectStore } from './object-store.js';
import { allSettledOrFirstError } from '../settle.js';
import { pick, type RangeCache } from './range-cache.js';
import type { ResolvedRemoteIo } from './remote-options.js';

/** Bytes read from the end of an object when it is opened (Lance's cloud block size). */
export const TAIL_BYTES = 64 * 1024;

export class RemoteSource implements ByteSource {
  readonly stats: ReadStats = emptyReadStats();

  private constructor(
    readonly path: string,
    readonly size: number,
    private readonly store: ObjectStore,
    private readonly key: string,
    /** The last bytes of the object, from the speculative read. */
    private readonly tail: Uint8Array,
    private readonly options: ResolvedRemoteIo,
    private readonly cache: RangeCache | undefined,
    /** Whether closing this source closes the store (a file opened on its own, not a dataset's). */
    private readonly ownsStore: boolean,
  ) {}

  /**
   * Opens `key` of `store` with one GET of its tail: the last TAIL_BYTES of `size` bytes when the size is
   * known (a manifest records it), else a suffix range, whose answer also gives the size.
   */
  static async open(
    store: ObjectStore,
    key: string,
    options: ResolvedRemoteIo,
    size: number | undefined,
    cache?: RangeCache,
    ownsStore = false,
  ): Promise<RemoteSource> {
    const range =
      size === undefined
        ? { suffix: TAIL_BYTES }
        : { offset: Math.max(0, size - TAIL_BYTES), size: Math.min(size, TAIL_BYTES) };
    const { bytes, objectSize } = await store.get(key, range);
    const path = `${store.root}/${key}`;
    if (size !== undefined && objectSize !== size)
      throw new IoError(`${path}: the object is ${objectSize} bytes, but the manifest says ${size}`, {
        url: path,
        size,
        objectSize,
      });
    const source = new RemoteSource(path, objectSize, store, key, bytes, options, cache, ownsStore);
    source.stats.readsIssued++;
    source.stats.bytesRead += bytes.length;
    return source;
  }

  /**
   * Opens `key` of `store` without a tail read, for objects read a range at a time (blob sidecars): its
   * size comes from a 2-byte GET (s3rver answers a suffix range with the object's first bytes).
   */
  static async openUntailed(
    store: ObjectStore,
    key: string,
    options: ResolvedRemoteIo,
    cache: RangeCache | undefined,
  ): Promise<RemoteSource> {
    const { bytes, objectSize } = await store.get(key, { offset: 0, size: 2 });
    const source = new RemoteSource(
      `${store.root}/${key}`,
      objectSize,
      store,
      key,
      new Uint8Array(0),
      options,
      cache,
      false,
    );
    source.stats.readsIssued++;
    source.stats.bytesRead += bytes.length;
    return source;
  }

  readRanges(ranges: readonly ByteRange[]): Promise<Uint8Array[]> {
    return this.readCounted(ranges, this.stats);
  }

  /** {@link ByteSource.readInto}: cached ranges are read from the range cache straight into their targets. */
  readInto(ranges: readonly ByteRange[], targets: readonly Uint8Array[]): Promise<void> {
    return this.readIntoCounted(ranges, targets, this.stats);
  }

  /** A view of this source whose reads are counted in `stats` instead (a loader worker's per-batch counters). */
  countingInto(stats: ReadStats): ByteSource {
    return {
      path: this.path,
      size: this.size,
      stats,
      readRanges: (ranges) => this.readCounted(ranges, stats),
      readInto: (ranges, targets) => this.readIntoCounted(ranges, targets, stats),
      close: () => this.close(),
    };
  }

  /** The bytes of `ranges`, from the tail, the range cache or the store, counted in `stats`. */
  private async readCounted(ranges: readonly ByteRange[], stats: ReadStats): Promise<Uint8Array[]> {
    const views: Uint8Array[] = new Array(ranges.length);
    const away = this.serveTail(ranges, undefined, stats, views);
    // Ranges are looked up in the cache as asked, before merging: a merged read would also span gaps no
    // earlier read fetched.
    let fetchedAt = away;
    if (this.cache && away.length > 0) {
      const cached = await this.cache.read(this.path, this.size, pick(ranges, away));
      fetchedAt = [];
      away.forEach((i, k) => {
        const view = cached[k];
        if (view) views[i] = view;
        else fetchedAt.push(i);
      });
    }
    if (fetchedAt.length > 0) {
      const fetched = await this.fetch(pick(ranges, fetchedAt), undefined, stats);
      fetchedAt.forEach((i, k) => (views[i] = fetched[k] as Uint8Array));
    }
    return views;
  }

  /**
   * Reads each of `ranges` into its target (one per range, each its range's size), from the tail, the
   * range cache or the store, counted in `stats`.
   */
  private async readIntoCounted(
    ranges: readonly ByteRange[],
    targets: readonly Uint8Array[],
    stats: ReadStats,
  ): Promise<void> {
    const away = this.serveTail(ranges, targets, stats, undefined);
    if (away.length === 0) return;
    // Usually no range is in the tail: the caller's arrays are passed on as they are.
    let wanted = away.length === ranges.length ? ranges : pick(ranges, away);
    let into = away.length === ranges.length ? targets : pick(targets, away);
    if (this.cache) {
      const missing = await this.cache.readInto(this.path, this.size, wanted, into);
      if (missing.length === 0) return;
      wanted = pick(wanted, missing);
      into = pick(into, missing);
    }
    const fetched = await this.fetch(wanted, into, stats);
    fetched.forEach((view, k) => {
      const target = into[k] as Uint8Array;
      if (view.buffer !== target.buffer || view.byteOffset !== target.byteOffset) target.set(view);
    });
  }

  /**
   * Checks and counts `ranges` (and that each of `targets` is its range's size); serves those inside the
   * tail (copied into their targets, or their views put in `views`) and returns the indexes of the others.
   */
  private serveTail(
    ranges: readonly ByteRange[],
    targets: readonly Uint8Array[] | undefined,
    stats: ReadStats,
    views: Uint8Array[] | undefined,
  ): number[] {
    const tailStart = this.size - this.tail.length;
    const away: number[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i] as ByteRange;
      if (!(r.offset >= 0 && r.size >= 0 && r.offset + r.size <= this.size))
        throw new IoError(
          `${this.path}: read of bytes ${r.offset}..${r.offset + r.size} is outside the object (${this.size} bytes)`,
          {
            url: this.path,
            offset: r.offset,
            size: r.size,
          },
        );
      const target = targets?.[i];
      if (targets && target?.byteLength !== r.size)
        throw new InvalidArgumentError(
          `${this.path}: readInto target ${i} holds ${target?.byteLength} bytes for a range of ${r.size}`,
          { option: 'targets' },
        );
      stats.bytesRequested += r.size;
      if (r.offset < tailStart) away.push(i);
      else {
        const view = this.tail.subarray(r.offset - tailStart, r.offset - tailStart + r.size);
        if (target) target.set(view);
        else if (views) views[i] = view;
      }
    }
    stats.rangesRequested += ranges.length;
    return away;
  }

  /**
   * Fetches `ranges` from the store, merged across gaps suited to object storage, all GETs in flight at
   * once; a merged read that is one range with a target (a shuffled batch's rows, far apart) is received
   * into it. Resolves to one view per range (a target received into is its own view).
   */
  private async fetch(
    ranges: readonly ByteRange[],
    targets: readonly Uint8Array[] | undefined,
    stats: ReadStats,
  ): Promise<Uint8Array[]> {
    const plan = planCoalescedReads(ranges, this.options);
    const into: (Uint8Array | undefined)[] = new Array(plan.reads.length);
    if (targets)
      ranges.forEach((range, k) => {
        const read = plan.readOf[k] as number;
        if ((plan.reads[read] as ByteRange).size === range.size) into[read] = targets[k];
      });
    const bytes = await allSettledOrFirstError(plan.reads.map((read, r) => this.fetchRange(read, stats, into[r])));
    return viewsOfRanges(ranges, plan, bytes);
  }

  /** Closes the store when this source owns it; a dataset's store is closed with the dataset. */
  async close(): Promise<void> {
    if (this.ownsStore) this.store.close();
  }

  /** Fetches one merged read (into `into` when given) and keeps it in the range cache; `stats` counts requests sent. */
  private async fetchRange(range: ByteRange, stats: ReadStats, into: Uint8Array | undefined): Promise<Uint8Array> {
    const { bytes } = await this.store.get(this.key, range, into);
    stats.readsIssued++;
    stats.bytesRead += bytes.length;
    await this.cache?.write(this.path, this.size, range, bytes);
    return bytes;
  }
}

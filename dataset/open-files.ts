/**
 * Blob files kept open for reuse, at most `limit` of them at once unless more are in use: external blobs are
 * often one file per row and dedicated sidecars one per large value, so an epoch over many rows would
 * otherwise hold a descriptor per file it touched until the dataset closes.
 *
 * Each acquire() of a path is one use until the matching release(); a file in use is never closed, and an
 * idle one is closed least recently used first once more than `limit` are open. What closed files read is
 * kept for {@link OpenFiles.stats}.
 */
import { addReadStats, emptyReadStats, type ByteSource, type ReadStats } from '../io/source.js';

interface Entry {
  readonly source: Promise<ByteSource>;
  users: number;
}

export class OpenFiles {
  /** By path, least recently used first (a use moves its entry to the end). */
  private readonly entries = new Map<string, Entry>();
  /** The path each opened source was acquired under, for release(). */
  private readonly paths = new Map<ByteSource, string>();
  private readonly closing = new Set<Promise<void>>();
  private readonly retired = emptyReadStats();

  constructor(private readonly limit: number) {}

  /** The source of `path` (opened with `open` unless open already), in use until release(). */
  acquire(path: string, open: () => Promise<ByteSource>): Promise<ByteSource> {
    let entry = this.entries.get(path);
    if (entry) this.entries.delete(path);
    else {
      const opened: Entry = { source: open(), users: 0 };
      opened.source.then(
        (source) => this.paths.set(source, path),
        () => {
          if (this.entries.get(path) === opened) this.entries.delete(path);
        },
      );
      entry = opened;
    }
    entry.users++;
    this.entries.set(path, entry);
    this.evict();
    return entry.source;
  }

  /** Ends one use of `source`; a source not acquired here (a data file's) is left alone. */
  release(source: ByteSource): void {
    const path = this.paths.get(source);
    const entry = path === undefined ? undefined : this.entries.get(path);
    if (!entry || entry.users === 0) return;
    entry.users--;
    this.evict();
  }

  /** What every source opened here has read, closed ones included. */
  async stats(): Promise<ReadStats> {
    const total = addReadStats(emptyReadStats(), this.retired);
    const open = await Promise.all([...this.entries.values()].map((e) => e.source.catch(() => undefined)));
    for (const source of open) if (source) addReadStats(total, source.stats);
    return total;
  }

  /** Closes every source, in use or not, and waits for the ones closing already. */
  async close(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    this.paths.clear();
    await Promise.all([...entries.map((e) => this.retire(e)), ...this.closing]);
  }

  /** Closes idle sources, least recently used first, while more than `limit` are open. */
  private evict(): void {
    let excess = this.entries.size - this.limit;
    for (const [path, entry] of this.entries) {
      if (excess <= 0) return;
      if (entry.users > 0) continue;
      this.entries.delete(path);
      excess--;
      const closed = this.retire(entry).finally(() => this.closing.delete(closed));
      this.closing.add(closed);
    }
  }

  private async retire(entry: Entry): Promise<void> {
    const source = await entry.source.catch(() => undefined);
    if (!source) return;
    this.paths.delete(source);
    addReadStats(this.retired, source.stats);
    await source.close();
  }
}

/**
 * Request permits shared by a loader's threads: `io.remote.concurrency` requests and
 * `io.remote.bytesInFlight` bytes in flight in total, whichever workers send them, so a worker whose batch
 * is the only one reading may use all of them.
 *
 *   BigInt64 words: [0] in flight in total   [1 + h] held by holder h        each (requests << 48) | bytes
 *   Int32 words:    [0] releases so far (what waiting threads wait on)   [1 + h] holder h's threadId + 1, 0 if free
 *
 * Each thread drawing from the permits takes a holder slot. A worker killed while it holds permits never
 * gives them back, so the loader's main thread, told of the death, gives back what the slots of threads
 * no longer running hold ({@link releaseHolders}) and wakes the others: nobody waits for permits no one
 * will release. A thread adds to its slot before it takes from the total and gives to the total before
 * its slot, so a death between the two makes the main thread give back too much, never too little;
 * counts stop at zero.
 *
 * Waiting threads wait with Atomics.waitAsync, never Atomics.wait: a worker blocked in wait could not
 * finish its own requests, whose releases are what it would be waiting for.
 */
import { threadId } from 'node:worker_threads';
import { InternalError } from '../../errors.js';

/** The shared memory and limits, as plain data a worker receives. */
export interface RequestPermits {
  buffer: SharedArrayBuffer;
  maxRequests: number;
  maxBytes: number;
  holders: number;
}

const BYTES_BITS = 48n;
const BYTES_MASK = (1n << BYTES_BITS) - 1n;
/** Most bytes the counts can hold in flight (256 TiB): a larger limit means no limit. */
const MAX_COUNTED_BYTES = Number(BYTES_MASK);

/** How long a waiting thread waits for a wake-up before it looks at the counts again anyway. */
const RECHECK_MS = 1_000;

/** Permits for `maxRequests` requests and `maxBytes` bytes in flight, for up to `holders` threads at once. */
export function createRequestPermits(maxRequests: number, maxBytes: number, holders: number): RequestPermits {
  return {
    buffer: new SharedArrayBuffer(8 * (1 + holders) + 4 * (1 + holders)),
    maxRequests,
    maxBytes: Math.min(maxBytes, MAX_COUNTED_BYTES),
    holders,
  };
}

const pack = (requests: number, bytes: number): bigint => (BigInt(requests) << BYTES_BITS) | BigInt(bytes);

/** The counts of `permits`' buffer. */
function viewsOf(permits: RequestPermits): { counts: BigInt64Array; words: Int32Array } {
  return {
    counts: new BigInt64Array(permits.buffer, 0, 1 + permits.holders),
    words: new Int32Array(permits.buffer, 8 * (1 + permits.holders), 1 + permits.holders),
  };
}

/** Subtracts `held` from the total, each count stopping at zero, and wakes waiting threads. */
function giveBack(counts: BigInt64Array, words: Int32Array, held: bigint): void {
  for (;;) {
    const total = Atomics.load(counts, 0);
    const requests = (total >> BYTES_BITS) - (held >> BYTES_BITS);
    const bytes = (total & BYTES_MASK) - (held & BYTES_MASK);
    const next = ((requests > 0n ? requests : 0n) << BYTES_BITS) | (bytes > 0n ? bytes : 0n);
    if (Atomics.compareExchange(counts, 0, total, next) === total) break;
  }
  Atomics.add(words, 0, 1);
  Atomics.notify(words, 0);
}

/** One thread's use of shared permits, through the holder slot it took. */
export class SharedPermits {
  private readonly counts: BigInt64Array;
  private readonly words: Int32Array;
  private readonly slot: number;
  /** Releases counted when a take last failed: a wait returns at once if any came since. */
  private releasesSeen = 0;

  constructor(readonly permits: RequestPermits) {
    ({ counts: this.counts, words: this.words } = viewsOf(permits));
    let slot = 0;
    for (let h = 1; h <= permits.holders && slot === 0; h++)
      if (Atomics.compareExchange(this.words, h, 0, threadId + 1) === 0) slot = h;
    if (slot === 0)
      throw new InternalError(
        `all ${permits.holders} holder slots of the loader's shared request permits are taken (thread ${threadId}); please report`,
      );
    this.slot = slot;
  }

  /** Counts one request of `bytes` in flight if the totals have room for it; whether they had. */
  tryTake(bytes: number): boolean {
    const { counts, words, permits } = this;
    const taken = pack(1, bytes);
    Atomics.add(counts, this.slot, taken);
    for (;;) {
      const seen = Atomics.load(words, 0);
      const total = Atomics.load(counts, 0);
      const requests = Number(total >> BYTES_BITS);
      const inFlight = Number(total & BYTES_MASK);
      const fits = requests === 0 || (requests < permits.maxRequests && inFlight + bytes <= permits.maxBytes);
      if (!fits) {
        Atomics.sub(counts, this.slot, taken);
        this.releasesSeen = seen;
        return false;
      }
      if (Atomics.compareExchange(counts, 0, total, total + taken) === total) return true;
    }
  }

  /** Gives back one request of `bytes` and wakes the threads waiting for room. */
  give(bytes: number): void {
    const taken = pack(1, bytes);
    giveBack(this.counts, this.words, taken);
    Atomics.sub(this.counts, this.slot, taken);
  }

  /** Resolves when a release may have made room since the last failed take (or after RECHECK_MS). */
  async released(): Promise<void> {
    const wait = Atomics.waitAsync(this.words, 0, this.releasesSeen, RECHECK_MS);
    if (wait.async) await wait.value;
  }
}

/** Bytes of requests in flight now, from every thread. */
export function bytesInFlight(permits: RequestPermits): number {
  return Number(Atomics.load(viewsOf(permits).counts, 0) & BYTES_MASK);
}

/**
 * Gives back what threads not in `liveThreadIds` hold (workers that died) and frees their slots; called
 * by the thread that created the permits, once those workers are gone.
 */
export function releaseHolders(permits: RequestPermits, liveThreadIds: readonly number[]): void {
  const { counts, words } = viewsOf(permits);
  for (let h = 1; h <= permits.holders; h++) {
    const owner = Atomics.load(words, h);
    if (owner === 0 || liveThreadIds.includes(owner - 1)) continue;
    giveBack(counts, words, Atomics.exchange(counts, h, 0n));
    Atomics.store(words, h, 0);
  }
}

/** The permits every object store of this thread draws from (set in a loader's workers), or undefined. */
let threadPermits: SharedPermits | undefined;

/** Makes every object store this thread opens from now on draw from `permits` (a loader worker's). */
export function drawFromPermits(permits: RequestPermits): void {
  if (threadPermits?.permits.buffer !== permits.buffer) threadPermits = new SharedPermits(permits);
}

/** The permits this thread's object stores draw from, or undefined when each counts its own. */
export function permitsOfThisThread(): SharedPermits | undefined {
  return threadPermits;
}

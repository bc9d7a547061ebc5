/**
 * Requests in flight, bounded by count and by bytes, granted first come, first served (so the batch
 * that asked first, the one due first, is not overtaken by later ones). A request larger than the whole
 * byte budget goes alone when nothing else is in flight, so it waits but is never refused.
 *
 * {@link RequestLimiter} counts for one thread. {@link SharedRequestLimiter} counts in shared memory for
 * every thread of a loader (see shared-permits.ts): each thread keeps its own waiters in order and the
 * first of them takes from the shared counts when they have room, woken by other threads' releases.
 */
import { AbortError } from '../../errors.js';
import type { SharedPermits } from './shared-permits.js';

interface Waiter {
  bytes: number;
  signal: AbortSignal;
  grant: () => void;
  refuse: (error: AbortError) => void;
}

export class RequestLimiter {
  private requests = 0;
  private bytes = 0;
  protected readonly queue: Waiter[] = [];
  /** Signals listened to: one listener per signal (a store's), not one per waiting request. */
  private readonly watched = new WeakSet<AbortSignal>();

  constructor(
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {}

  /**
   * Takes room for one request of `bytes`: undefined when it was taken at once (no promise made on the
   * common path), else a promise that resolves once it is, or rejects with an AbortError once `signal`
   * aborts. Whoever took it gives it back with {@link release}, once.
   */
  acquire(bytes: number, signal: AbortSignal): Promise<void> | undefined {
    if (signal.aborted) return Promise.reject(closedError());
    if (this.queue.length === 0 && this.tryTake(bytes)) return undefined;
    if (!this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => this.refuseAborted(), { once: true });
    }
    return new Promise((grant, refuse) => {
      this.queue.push({ bytes, signal, grant, refuse });
      this.waitForRoom();
    });
  }

  /** Gives back the room of one request of `bytes` taken by {@link acquire}. */
  release(bytes: number): void {
    this.give(bytes);
    this.grantWaiting();
  }

  /** Counts one request of `bytes` in flight if it fits; whether it did. */
  protected tryTake(bytes: number): boolean {
    const fits = this.requests === 0 || (this.requests < this.maxRequests && this.bytes + bytes <= this.maxBytes);
    if (fits) {
      this.requests++;
      this.bytes += bytes;
    }
    return fits;
  }

  /** Uncounts one request of `bytes`. */
  protected give(bytes: number): void {
    this.requests--;
    this.bytes -= bytes;
  }

  /** Arranges for grantWaiting to run when room may have been made elsewhere (here, releases call it). */
  protected waitForRoom(): void {}

  /** Refuses the waiters whose signal aborted; those behind them may then fit. */
  private refuseAborted(): void {
    const waiting = this.queue.splice(0);
    for (const waiter of waiting)
      if (waiter.signal.aborted) waiter.refuse(closedError());
      else this.queue.push(waiter);
    this.grantWaiting();
  }

  protected grantWaiting(): void {
    for (let next = this.queue[0]; next !== undefined && this.tryTake(next.bytes); next = this.queue[0]) {
      this.queue.shift();
      next.grant();
    }
  }
}

/** A {@link RequestLimiter} drawing from permits shared with the loader's other threads. */
export class SharedRequestLimiter extends RequestLimiter {
  private waiting = false;

  constructor(private readonly shared: SharedPermits) {
    super(shared.permits.maxRequests, shared.permits.maxBytes);
  }

  protected override tryTake(bytes: number): boolean {
    return this.shared.tryTake(bytes);
  }

  protected override give(bytes: number): void {
    this.shared.give(bytes);
  }

  /** Waits (without blocking the thread) for another thread's release, then grants; again while any wait. */
  protected override waitForRoom(): void {
    if (this.waiting) return;
    this.waiting = true;
    void this.shared.released().then(() => {
      this.waiting = false;
      this.grantWaiting();
      if (this.queue.length > 0) this.waitForRoom();
    });
  }
}

function closedError(): AbortError {
  return new AbortError('the dataset was closed while a request waited to be sent');
}

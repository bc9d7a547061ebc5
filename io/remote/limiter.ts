/**
 * Requests in flight, bounded by count and by bytes, granted first come, first served (so the batch
 * that asked first, the one due first, is not overtaken by later ones). A request larger than the whole
 * byte budget goes alone when nothing else is in flight, so it waits but is never refused.
 */
import { AbortError } from '../../errors.js';

interface Waiter {
  bytes: number;
  grant: (release: () => void) => void;
}

export class RequestLimiter {
  private requests = 0;
  private bytes = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {}

  /** Waits for room for one request of `bytes`; resolves to its release. Rejects with an AbortError once `signal` aborts. */
  acquire(bytes: number, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(closedError());
    if (this.queue.length === 0 && this.fits(bytes)) return Promise.resolve(this.take(bytes));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        reject(closedError());
        this.grantWaiting();
      };
      const waiter: Waiter = {
        bytes,
        grant: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private fits(bytes: number): boolean {
    return this.requests === 0 || (this.requests < this.maxRequests && this.bytes + bytes <= this.maxBytes);
  }

  private take(bytes: number): () => void {
    this.requests++;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.requests--;
      this.bytes -= bytes;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    for (let next = this.queue[0]; next !== undefined && this.fits(next.bytes); next = this.queue[0]) {
      this.queue.shift();
      next.grant(this.take(next.bytes));
    }
  }
}

function closedError(): AbortError {
  return new AbortError('the dataset was closed while a request waited to be sent');
}

/**
 * Receive memory a worker reuses for a remote dataset's GET bodies. Each body of a batch used to be a
 * fresh buffer, garbage once the batch was decoded: on images (~70 KB a row) collecting those buffers was
 * about a third of the reading thread's CPU. A lane takes a buffer per range it reads and gives them all
 * back once the batch's values are decoded (the lane's leases), as a local lane's slab pool does; views
 * of them are valid until then, which the planner already assumes of any read memory. A read that failed
 * drops its buffers instead: one of its requests may have been cut short while writing.
 *
 * Buffers come in eight size classes per power of two (at most an eighth unused). The pool keeps what
 * is given back only while the buffers it kept and the ones taken and not yet returned total at most
 * `boundBytes` (the worker's share of the budget's `remote` part for fetched values), and a take it cannot
 * serve drops kept buffers of other sizes first, so reuse never adds memory beyond that share.
 */
const SMALLEST_CLASS_BYTES = 64;

/** The buffer size that serves a range of `size` bytes. */
function sizeClass(size: number): number {
  if (size <= SMALLEST_CLASS_BYTES) return SMALLEST_CLASS_BYTES;
  const step = 2 ** (Math.floor(Math.log2(size - 1)) - 3);
  return Math.ceil(size / step) * step;
}

export class ReceivePool {
  private readonly kept = new Map<number, ArrayBuffer[]>();
  private keptTotal = 0;
  private takenTotal = 0;

  constructor(private readonly boundBytes: number) {}

  /** `size` bytes of memory, not zeroed: a body is written in full before it is read. */
  take(size: number): Uint8Array {
    const bytes = sizeClass(size);
    this.takenTotal += bytes;
    const buffer = this.kept.get(bytes)?.pop();
    if (buffer) {
      this.keptTotal -= bytes;
      return new Uint8Array(buffer, 0, size);
    }
    this.dropKept(this.keptTotal + this.takenTotal - this.boundBytes);
    return new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, size);
  }

  /** Takes back what {@link take} gave, for reuse; nothing may read or write `views` afterwards. */
  give(views: readonly Uint8Array[]): void {
    for (const view of views) {
      const buffer = view.buffer as ArrayBuffer;
      const bytes = buffer.byteLength;
      this.takenTotal -= bytes;
      if (this.keptTotal + this.takenTotal + bytes > this.boundBytes) continue;
      const list = this.kept.get(bytes);
      if (list) list.push(buffer);
      else this.kept.set(bytes, [buffer]);
      this.keptTotal += bytes;
    }
  }

  /** Forgets what {@link take} gave without reusing it (a failed read's buffers). */
  drop(views: readonly Uint8Array[]): void {
    for (const view of views) this.takenTotal -= view.buffer.byteLength;
  }

  /** Drops kept buffers, largest sizes first, until `excess` bytes are gone or none are kept. */
  private dropKept(excess: number): void {
    if (excess <= 0 || this.keptTotal === 0) return;
    const sizes = [...this.kept.keys()].sort((a, b) => b - a);
    let left = excess;
    for (const size of sizes) {
      const list = this.kept.get(size) as ArrayBuffer[];
      while (left > 0 && list.length > 0) {
        list.pop();
        this.keptTotal -= size;
        left -= size;
      }
      if (list.length === 0) this.kept.delete(size);
      if (left <= 0) return;
    }
  }
}

/**
 * Receive memory a worker reuses for a remote dataset's GET bodies. Each body of a batch used to be a
 * fresh buffer, garbage once the batch was decoded: on images (~70 KB a row) collecting those buffers was
 * about a third of the reading thread's CPU. A lane takes a buffer per range it reads and gives them all
 * back once the batch's values are decoded (the lane's leases), as a local lane's slab pool does; views
 * of them are valid until then, which the planner already assumes of any read memory.
 *
 * Buffers come in eight size classes per power of two (at most an eighth unused). Given-back buffers are
 * kept while the kept ones total at most `keptBytes` (the worker's share of the budget's `remote` part for
 * fetched values); the rest are dropped, so idle memory stays inside the budget.
 */
const SMALLEST_CLASS_BYTES = 4096;

/** The buffer size that serves a range of `size` bytes. */
function sizeClass(size: number): number {
  if (size <= SMALLEST_CLASS_BYTES) return SMALLEST_CLASS_BYTES;
  const step = 2 ** (Math.floor(Math.log2(size - 1)) - 3);
  return Math.ceil(size / step) * step;
}

export class ReceivePool {
  private readonly kept = new Map<number, ArrayBuffer[]>();
  private keptTotal = 0;

  constructor(private readonly keptBytes: number) {}

  /** `size` bytes of memory, not zeroed: a body is written in full before it is read. */
  take(size: number): Uint8Array {
    const bytes = sizeClass(size);
    const buffer = this.kept.get(bytes)?.pop();
    if (buffer) {
      this.keptTotal -= bytes;
      return new Uint8Array(buffer, 0, size);
    }
    return new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, size);
  }

  /** Takes back what {@link take} gave; nothing may read or write `views` afterwards. */
  give(views: readonly Uint8Array[]): void {
    for (const view of views) {
      const buffer = view.buffer as ArrayBuffer;
      const bytes = buffer.byteLength;
      if (this.keptTotal + bytes > this.keptBytes) continue;
      const list = this.kept.get(bytes);
      if (list) list.push(buffer);
      else this.kept.set(bytes, [buffer]);
      this.keptTotal += bytes;
    }
  }
}

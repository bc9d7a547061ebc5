/**
 * A bounded pool of SharedArrayBuffer slabs: the memory that reads land in, and the in-flight byte budget.
 *
 * Guarantees:
 * - The bytes leased at once (each lease rounded up to `unitBytes`) never exceed `maxBytes`.
 * - A request that does not fit waits in a FIFO queue (a promise, no polling); waiters are served strictly
 *   in arrival order, so a large request is never starved by small ones behind it. `acquireAll` takes
 *   several regions as one request (all or nothing), so a reader that needs N regions at once can never
 *   hold some of them while waiting for the rest (no hold-and-wait deadlock between readers).
 * - A lease is a region of one slab that no other live lease overlaps. Regions start at
 *   `phase + k * unitBytes` within their slab; `phase` is chosen per slab (see O_DIRECT below).
 *
 *   slab (SharedArrayBuffer, slabBytes + unitBytes long)
 *   ┌─phase─┬────unit────┬────unit────┬────unit────┬─ ─ ─ ─┬────unit────┬─slack─┐
 *   │       │  lease A (2 units)      │  free      │       │  lease B   │       │
 *   └───────┴────────────┴────────────┴────────────┴─ ─ ─ ─┴────────────┴───────┘
 *
 * Allocation is first-fit over a sorted free list of unit runs per slab (neighbours merge on release).
 * Slabs are made on demand; a request larger than `slabBytes` (but within `maxBytes`) gets a slab of its
 * own that is dropped on release. An empty slab is kept for reuse while the slabs held total at most
 * `maxBytes`, and dropped (left to the GC) beyond that; before a new slab would take the slabs held past
 * `maxBytes`, empty ones are dropped. So the slabs held stay within `maxBytes` (each slab one unit longer
 * than its units, see the diagram, and as long as `allocateUnitBytes` rounds it) unless live leases
 * fragment them so that a request within the budget fits no slab.
 *
 * O_DIRECT: a read needs its memory address 512-byte aligned, and JS cannot see addresses (align.ts probes where aligned memory starts).
 * `acquire(..., { phaseOf })` lets the reader say where aligned regions start in a slab: the pool calls
 * `phaseOf(slab)` only while that slab is empty (a probe writes into it), and then places every region
 * of the slab at `phase + k * unitBytes`, which stays aligned because `unitBytes` is a multiple of 512.
 * Slabs whose phase was never probed (first used by a request without `phaseOf`) are skipped by requests
 * with `phaseOf` until they are empty again.
 *
 * Release is idempotent: a second `release()` of the same lease is ignored (and counted in
 * `stats().doubleReleases`). Each lease carries its own released flag, so a repeated release can never
 * free a region that was since leased to someone else; ignoring it lets cleanup run from both a
 * `finally` and an abort path without masking the original error.
 */
import { AbortError, InternalError, InvalidArgumentError, ResourceError } from '../errors.js';

export interface SlabPoolOptions {
  /** Bytes per slab (a multiple of `unitBytes`). */
  slabBytes: number;
  /** The in-flight byte budget: most bytes leased at once (leases rounded up to `unitBytes`). */
  maxBytes: number;
  /** Allocation granularity and alignment step of region starts (default 4096, a multiple of 512). */
  unitBytes?: number;
  /**
   * Slabs are SharedArrayBuffers (default true), so leased bytes can travel to other threads by reference.
   * A pool used by one thread only should say false: V8 copies into or out of shared memory byte
   * by byte when source and target offsets differ mod 8, far slower than between plain ArrayBuffers.
   */
  shared?: boolean;
  /**
   * Makes the memory of a plain slab (`shared: false`) of at least `bytes` bytes, e.g. huge-page-backed
   * memory from the native addon (native-addon.ts readMemory). Default `new ArrayBuffer(bytes)`.
   */
  allocate?: (bytes: number) => ArrayBuffer;
  /**
   * The size `allocate` rounds a request up to (a multiple of `unitBytes`; default `unitBytes`), e.g.
   * 2 MiB for huge-page memory: slabs are made in multiples of it and use all of it, so the slabs held
   * are what the pool counts.
   */
  allocateUnitBytes?: number;
}

/**
 * `bytes` with one byte of every 4 KiB page written: the kernel zeroes a page on its first touch, so memory
 * touched ahead (when a loader is created) does not fault while a batch waits for it.
 */
export function touchPages<T extends Uint8Array>(bytes: T): T {
  for (let at = 0; at < bytes.length; at += 4096) bytes[at] = 0;
  return bytes;
}

/** A region of a slab, owned by the caller until `release()`. */
export interface SlabLease {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly byteOffset: number;
  /** The bytes asked for (the pool reserves this rounded up to `unitBytes`). */
  readonly byteLength: number;
  /** Returns the region to the pool; further calls are ignored. */
  release(): void;
}

export interface AcquireOptions {
  signal?: AbortSignal;
  /**
   * Where aligned regions start in `slab` (a byte offset in [0, unitBytes)), or null if none is known.
   * Called only on an empty slab, so it may write into the slab (an O_DIRECT probe does).
   */
  phaseOf?: (slab: ArrayBuffer | SharedArrayBuffer) => number | null;
}

export interface SlabPoolStats {
  /** Bytes leased now (rounded up to unitBytes). Never above maxBytes. */
  bytesInUse: number;
  /** Highest bytesInUse seen. */
  peakBytesInUse: number;
  /** Acquires that had to wait for budget. */
  waits: number;
  /** Acquires waiting now. */
  waiting: number;
  /** Live leases. */
  leases: number;
  /** Slabs held (in use or idle) and their total bytes. */
  slabs: number;
  slabBytesHeld: number;
  /** Highest slabBytesHeld seen. */
  peakSlabBytesHeld: number;
  /** Slabs ever made (each is one SharedArrayBuffer allocation). */
  slabsCreated: number;
  /** Second releases of a lease, ignored. */
  doubleReleases: number;
}

export interface SlabPool {
  readonly slabBytes: number;
  readonly maxBytes: number;
  readonly unitBytes: number;
  /** Waits until `bytes` fit the budget, then leases a region of that many bytes. */
  acquire(bytes: number, options?: AbortSignal | AcquireOptions): Promise<SlabLease>;
  /** Leases one region per size, granted together once their total fits the budget. */
  acquireAll(sizes: readonly number[], options?: AbortSignal | AcquireOptions): Promise<SlabLease[]>;
  stats(): SlabPoolStats;
  /** Rejects every waiting acquire with AbortError; later acquires fail. Live leases stay valid. */
  close(): void;
}

interface Slab {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Units in the slab. */
  readonly units: number;
  /** Free runs of units: starts and ends (exclusive), ascending and disjoint. */
  freeStart: number[];
  freeEnd: number[];
  usedUnits: number;
  /** Byte offset of unit 0; undefined while the slab is empty and not yet placed. */
  phase: number | undefined;
  /** Whether `phase` came from a phaseOf probe (aligned for O_DIRECT). */
  probed: boolean;
  /** A slab made for one oversized request, dropped on release. */
  readonly dedicated: boolean;
}

interface Waiter {
  readonly units: number[];
  readonly totalBytes: number;
  readonly sizes: readonly number[];
  readonly phaseOf: AcquireOptions['phaseOf'];
  readonly resolve: (leases: SlabLease[]) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const isPositiveInteger = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/** Makes a pool; throws InvalidArgumentError naming the bad option. */
export function createSlabPool(options: SlabPoolOptions): SlabPool {
  const unitBytes = options.unitBytes ?? 4096;
  if (!isPositiveInteger(unitBytes) || unitBytes % 512 !== 0) {
    throw new InvalidArgumentError(
      `slab pool option unitBytes must be a positive multiple of 512, got ${String(options.unitBytes)}`,
      { option: 'unitBytes' },
    );
  }
  if (!isPositiveInteger(options.slabBytes) || options.slabBytes % unitBytes !== 0) {
    throw new InvalidArgumentError(
      `slab pool option slabBytes must be a positive multiple of unitBytes (${unitBytes}), got ${String(options.slabBytes)}`,
      { option: 'slabBytes' },
    );
  }
  if (!isPositiveInteger(options.maxBytes) || options.maxBytes < unitBytes) {
    throw new InvalidArgumentError(
      `slab pool option maxBytes must be an integer >= unitBytes (${unitBytes}), got ${String(options.maxBytes)}`,
      { option: 'maxBytes' },
    );
  }
  const allocateUnitBytes = options.allocateUnitBytes ?? unitBytes;
  if (!isPositiveInteger(allocateUnitBytes) || allocateUnitBytes % unitBytes !== 0) {
    throw new InvalidArgumentError(
      `slab pool option allocateUnitBytes must be a positive multiple of unitBytes (${unitBytes}), got ${String(options.allocateUnitBytes)}`,
      { option: 'allocateUnitBytes' },
    );
  }
  const shared = options.shared ?? true;
  const allocate = options.allocate ?? ((bytes: number) => new ArrayBuffer(bytes));
  return new Pool(
    options.slabBytes,
    options.maxBytes,
    unitBytes,
    allocateUnitBytes,
    shared ? (bytes) => new SharedArrayBuffer(bytes) : allocate,
  );
}

/**
 * A leased region: one small object with its `release` on the prototype, not an object plus a closure
 * and its context, since a batch takes a lease per read and they are the worker's garbage.
 */
class Lease implements SlabLease {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly byteOffset: number;
  private released = false;

  constructor(
    private readonly pool: Pool,
    private readonly slab: Slab,
    private readonly start: number,
    private readonly units: number,
    readonly byteLength: number,
  ) {
    this.buffer = slab.buffer;
    this.byteOffset = (slab.phase ?? 0) + start * pool.unitBytes;
  }

  release(): void {
    if (this.released) return this.pool.countDoubleRelease();
    this.released = true;
    this.pool.giveBack(this.slab, this.start, this.units);
  }
}

class Pool implements SlabPool {
  private readonly slabs: Slab[] = [];
  private readonly queue: Waiter[] = [];
  private closed = false;
  private pumping = false;
  private bytesInUse = 0;
  private peakBytesInUse = 0;
  private waits = 0;
  private leases = 0;
  private slabsCreated = 0;
  private doubleReleases = 0;
  private slabBytesHeld = 0;
  private peakSlabBytesHeld = 0;

  constructor(
    readonly slabBytes: number,
    readonly maxBytes: number,
    readonly unitBytes: number,
    private readonly allocateUnitBytes: number,
    private readonly allocate: (bytes: number) => ArrayBuffer | SharedArrayBuffer,
  ) {}

  acquire(bytes: number, options?: AbortSignal | AcquireOptions): Promise<SlabLease> {
    return this.acquireAll([bytes], options).then((leases) => leases[0] as SlabLease);
  }

  acquireAll(sizes: readonly number[], options?: AbortSignal | AcquireOptions): Promise<SlabLease[]> {
    const { signal, phaseOf } =
      options instanceof AbortSignal ? { signal: options, phaseOf: undefined } : (options ?? {});
    const units: number[] = [];
    let totalBytes = 0;
    for (const bytes of sizes) {
      if (!isPositiveInteger(bytes)) {
        return Promise.reject(
          new InvalidArgumentError(`slab pool acquire needs a positive integer byte count, got ${String(bytes)}`, {
            bytes,
          }),
        );
      }
      const u = Math.ceil(bytes / this.unitBytes);
      units.push(u);
      totalBytes += u * this.unitBytes;
    }
    if (totalBytes > this.maxBytes) {
      return Promise.reject(
        new ResourceError(
          'MEMORY_BUDGET',
          `slab pool acquire of ${totalBytes} bytes (rounded to ${this.unitBytes}-byte units) exceeds the pool's maxBytes (${this.maxBytes}); raise maxBytes (a loader's: options.memoryBytes) or read less at once`,
          {
            bytes: totalBytes,
            maxBytes: this.maxBytes,
          },
        ),
      );
    }
    if (this.closed) return Promise.reject(new AbortError('slab pool is closed'));
    if (signal?.aborted)
      return Promise.reject(
        new AbortError('slab pool acquire aborted before it started', { reason: String(signal.reason) }),
      );
    if (units.length === 0) return Promise.resolve([]);
    if (this.queue.length === 0 && this.bytesInUse + totalBytes <= this.maxBytes) {
      try {
        return Promise.resolve(this.grant(units, sizes, phaseOf));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.waits++;
    return new Promise<SlabLease[]>((resolve, reject) => {
      const waiter: Waiter = { units, totalBytes, sizes, phaseOf, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const at = this.queue.indexOf(waiter);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(
            new AbortError(`slab pool acquire of ${totalBytes} bytes aborted while waiting for budget`, {
              bytes: totalBytes,
              reason: String(signal.reason),
            }),
          );
          this.pump(); // the head may have changed
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
    });
  }

  stats(): SlabPoolStats {
    return {
      bytesInUse: this.bytesInUse,
      peakBytesInUse: this.peakBytesInUse,
      waits: this.waits,
      waiting: this.queue.length,
      leases: this.leases,
      slabs: this.slabs.length,
      slabBytesHeld: this.slabBytesHeld,
      peakSlabBytesHeld: this.peakSlabBytesHeld,
      slabsCreated: this.slabsCreated,
      doubleReleases: this.doubleReleases,
    };
  }

  close(): void {
    this.closed = true;
    for (const w of this.queue.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new AbortError('slab pool closed while an acquire was waiting', { bytes: w.totalBytes }));
    }
  }

  /** Serves waiters from the head while they fit. */
  private pump(): void {
    if (this.pumping) return; // a release inside grant's error path; the outer loop continues
    this.pumping = true;
    try {
      this.pumpQueue();
    } finally {
      this.pumping = false;
    }
  }

  private pumpQueue(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      if (this.bytesInUse + head.totalBytes > this.maxBytes) return;
      this.queue.shift();
      if (head.onAbort) head.signal?.removeEventListener('abort', head.onAbort);
      try {
        head.resolve(this.grant(head.units, head.sizes, head.phaseOf));
      } catch (error) {
        head.reject(error);
      }
    }
  }

  /** Places every region; the budget was checked by the caller. */
  private grant(units: readonly number[], sizes: readonly number[], phaseOf: AcquireOptions['phaseOf']): SlabLease[] {
    const leases: SlabLease[] = [];
    try {
      for (let i = 0; i < units.length; i++) leases.push(this.place(units[i] as number, sizes[i] as number, phaseOf));
      if (this.bytesInUse > this.maxBytes)
        throw new InternalError(`slab pool budget exceeded: ${this.bytesInUse} > ${this.maxBytes}`);
    } catch (error) {
      for (const lease of leases) lease.release();
      throw error;
    }
    return leases;
  }

  private place(units: number, bytes: number, phaseOf: AcquireOptions['phaseOf']): SlabLease {
    const slabUnits = this.slabBytes / this.unitBytes;
    if (units <= slabUnits) {
      for (const slab of this.slabs) {
        if (slab.dedicated || slab.units - slab.usedUnits < units) continue;
        if (slab.usedUnits === 0 && (slab.phase === undefined || (phaseOf && !slab.probed)))
          this.setPhase(slab, phaseOf);
        if (phaseOf && !slab.probed) continue;
        const start = takeRun(slab, units);
        if (start >= 0) return this.lease(slab, start, units, bytes);
      }
    }
    const slab = this.newSlab(units, slabUnits);
    this.setPhase(slab, phaseOf);
    const start = takeRun(slab, units);
    if (start < 0) throw new InternalError(`slab pool could not place ${units} units in a fresh slab of ${slab.units}`);
    return this.lease(slab, start, units, bytes);
  }

  private setPhase(slab: Slab, phaseOf: AcquireOptions['phaseOf']): void {
    const phase = phaseOf ? phaseOf(slab.buffer) : null;
    if (phase !== null && !(Number.isInteger(phase) && phase >= 0 && phase < this.unitBytes)) {
      throw new InternalError(`phaseOf returned ${phase}, outside [0, ${this.unitBytes})`);
    }
    slab.phase = phase ?? 0;
    // A request with phaseOf that got null still uses the slab (its reader falls back to buffered I/O).
    slab.probed = phaseOf !== undefined;
  }

  /** A slab for a request of `units`: of `slabUnits`, or dedicated to the request when it is larger. */
  private newSlab(units: number, slabUnits: number): Slab {
    const dedicated = units > slabUnits;
    // One extra unit of slack so that regions can start at any phase in [0, unitBytes); all that
    // `allocate` rounds up to is used.
    const bytes =
      Math.ceil(((Math.max(units, slabUnits) + 1) * this.unitBytes) / this.allocateUnitBytes) * this.allocateUnitBytes;
    units = bytes / this.unitBytes - 1;
    this.dropEmptySlabs(units);
    const buffer = this.allocate(bytes);
    this.slabBytesHeld += buffer.byteLength;
    this.peakSlabBytesHeld = Math.max(this.peakSlabBytesHeld, this.slabBytesHeld);
    const slab: Slab = {
      buffer,
      units,
      freeStart: [0],
      freeEnd: [units],
      usedUnits: 0,
      phase: undefined,
      probed: false,
      dedicated,
    };
    this.slabs.push(slab);
    this.slabsCreated++;
    return slab;
  }

  private lease(slab: Slab, start: number, units: number, bytes: number): SlabLease {
    slab.usedUnits += units;
    this.bytesInUse += units * this.unitBytes;
    this.peakBytesInUse = Math.max(this.peakBytesInUse, this.bytesInUse);
    this.leases++;
    return new Lease(this, slab, start, units, bytes);
  }

  /** Takes back a lease's region (Lease.release, once per lease). */
  giveBack(slab: Slab, start: number, units: number): void {
    giveRun(slab, start, units);
    slab.usedUnits -= units;
    this.bytesInUse -= units * this.unitBytes;
    this.leases--;
    if (slab.usedUnits === 0) this.retireIfIdle(slab);
    this.pump();
  }

  /** Counts a release of a lease already released. */
  countDoubleRelease(): void {
    this.doubleReleases++;
  }

  private retireIfIdle(slab: Slab): void {
    if (slab.dedicated || this.unitsHeld() * this.unitBytes > this.maxBytes) {
      this.drop(slab);
      return;
    }
    if (!slab.probed) slab.phase = undefined; // may be placed again, e.g. by a probing request
  }

  /** Drops empty slabs while a new slab of `units` would take the slabs held past maxBytes. */
  private dropEmptySlabs(units: number): void {
    for (const slab of this.slabs.filter((s) => s.usedUnits === 0)) {
      if ((this.unitsHeld() + units) * this.unitBytes <= this.maxBytes) return;
      this.drop(slab);
    }
  }

  private unitsHeld(): number {
    let units = 0;
    for (const s of this.slabs) units += s.units;
    return units;
  }

  private drop(slab: Slab): void {
    this.slabs.splice(this.slabs.indexOf(slab), 1);
    this.slabBytesHeld -= slab.buffer.byteLength;
  }
}

/** First-fit: takes `units` from the first free run long enough; returns the start unit or -1. */
function takeRun(slab: Slab, units: number): number {
  for (let i = 0; i < slab.freeStart.length; i++) {
    const start = slab.freeStart[i] as number;
    const end = slab.freeEnd[i] as number;
    if (end - start < units) continue;
    if (end - start === units) {
      removeAt(slab.freeStart, i);
      removeAt(slab.freeEnd, i);
    } else {
      slab.freeStart[i] = start + units;
    }
    return start;
  }
  return -1;
}

/** Returns a run to the free list, merging with its neighbours. */
function giveRun(slab: Slab, start: number, units: number): void {
  const end = start + units;
  let i = 0;
  while (i < slab.freeStart.length && (slab.freeStart[i] as number) < start) i++;
  const mergesLeft = i > 0 && slab.freeEnd[i - 1] === start;
  const mergesRight = i < slab.freeStart.length && slab.freeStart[i] === end;
  if (mergesLeft && mergesRight) {
    slab.freeEnd[i - 1] = slab.freeEnd[i] as number;
    removeAt(slab.freeStart, i);
    removeAt(slab.freeEnd, i);
  } else if (mergesLeft) {
    slab.freeEnd[i - 1] = end;
  } else if (mergesRight) {
    slab.freeStart[i] = start;
  } else {
    insertAt(slab.freeStart, i, start);
    insertAt(slab.freeEnd, i, end);
  }
}

/** Removes list[i] in place (splice would allocate the array of removed elements on every lease). */
function removeAt(list: number[], i: number): void {
  for (let k = i + 1; k < list.length; k++) list[k - 1] = list[k] as number;
  list.pop();
}

/** Inserts value at list[i] in place (as removeAt, without splice's garbage). */
function insertAt(list: number[], i: number, value: number): void {
  list.push(value);
  for (let k = list.length - 1; k > i; k--) list[k] = list[k - 1] as number;
  list[i] = value;
}

/**
 * planMemoryBudget: how options.memoryBytes is split into the parts every allocation of a loader and its
 * workers draws from, and the budgets it refuses.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DECODE_SCRATCH_COPIES,
  LIST_ROW_SCRATCH_BYTES,
  MEMORY_PARTS,
  MIN_WORKER_READ_BYTES,
  planDeepestBudget,
  planMemoryBudget,
  transformScratchFor,
  type MemoryBudgetInput,
} from '../../loader/budget.js';
import type { LanceLoaderError } from '../../errors.js';

const MiB = 1024 * 1024;

/** A loader of 2 workers and 6 slots of 1 MiB, with a variable-width column of 4 MiB a batch. */
const VARIABLE: MemoryBudgetInput = {
  memoryBytes: 512 * MiB,
  workers: 2,
  slotCount: 6,
  slotBytes: MiB,
  batchSize: 1024,
  variableColumns: 1,
  batchBytes: 5 * MiB,
  variableBatchBytes: 4 * MiB,
  cacheBytes: 16 * MiB,
  nativeGather: true,
};

const FLAT: MemoryBudgetInput = { ...VARIABLE, variableColumns: 0, variableBatchBytes: 0 };

function refusal(input: MemoryBudgetInput): LanceLoaderError {
  try {
    planMemoryBudget(input);
  } catch (error) {
    return error as LanceLoaderError;
  }
  throw new Error('expected planMemoryBudget to refuse');
}

const inputs = fc.record({
  memoryBytes: fc.integer({ min: 1, max: 8192 }).map((n) => n * MiB),
  workers: fc.integer({ min: 1, max: 16 }),
  slotCount: fc.integer({ min: 3, max: 66 }),
  slotBytes: fc.integer({ min: 0, max: 64 * MiB }),
  batchSize: fc.integer({ min: 1, max: 1 << 16 }),
  variableColumns: fc.integer({ min: 0, max: 4 }),
  batchBytes: fc.integer({ min: 0, max: 64 * MiB }),
  variableBatchBytes: fc.integer({ min: 0, max: 64 * MiB }),
  cacheBytes: fc.integer({ min: 0, max: 64 * MiB }),
  nativeGather: fc.boolean(),
  listColumns: fc.integer({ min: 0, max: 2 }),
  remoteBytesInFlight: fc.option(fc.integer({ min: 1, max: 1024 * MiB }), { nil: undefined }),
  blobColumns: fc.array(
    fc
      .tuple(fc.integer({ min: 0, max: MiB }), fc.integer({ min: 0, max: 64 * MiB }))
      .map(([mean, more]) => ({ column: 'blob', meanBytes: mean, largestBytes: mean + more })),
    { maxLength: 2 },
  ),
});

describe('planMemoryBudget', () => {
  it('plans parts that add up to at most memoryBytes, or refuses a budget below the bytes it says it needs', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        let budget;
        try {
          budget = planMemoryBudget(input);
        } catch (error) {
          expect((error as LanceLoaderError).code).toBe('MEMORY_BUDGET');
          const needed = (error as LanceLoaderError).details.neededBytes as number;
          expect(needed).toBeGreaterThan(input.memoryBytes);
          expect(() => planMemoryBudget({ ...input, memoryBytes: needed })).not.toThrow();
          return;
        }
        const total = MEMORY_PARTS.reduce((sum, part) => sum + budget.parts[part], 0);
        expect(total).toBeLessThanOrEqual(input.memoryBytes);
        for (const part of MEMORY_PARTS) expect(budget.parts[part]).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('names every part it plans', () => {
    expect(Object.keys(planMemoryBudget(VARIABLE).parts).sort()).toEqual([...MEMORY_PARTS].sort());
  });

  it('plans the batch slots, the page caches and no transform scratch as asked', () => {
    const { parts } = planMemoryBudget(VARIABLE);
    expect(parts.slots).toBe(6 * MiB);
    expect(parts.pageCaches).toBe(2 * 16 * MiB);
    expect(parts.transformScratch).toBe(0);
  });

  it('gives read memory all that slots and caches leave when no column is variable-width', () => {
    const { parts } = planMemoryBudget(FLAT);
    expect(parts.variable + parts.decodeScratch).toBe(0);
    expect(512 * MiB - parts.slots - parts.pageCaches - parts.readMemory).toBeLessThan(2 * 4096);
  });

  it('gives each slot at least an average batch of variable-width values, and each worker scratch for as many', () => {
    const { worker } = planMemoryBudget(VARIABLE);
    expect(worker.variableSlotBytes).toBeGreaterThanOrEqual(4 * MiB);
    expect(worker.decodeScratchBytes).toBeGreaterThanOrEqual(DECODE_SCRATCH_COPIES.native * worker.variableSlotBytes);
    const fallback = planMemoryBudget({ ...VARIABLE, nativeGather: false }).worker;
    expect(fallback.decodeScratchBytes).toBeGreaterThanOrEqual(
      DECODE_SCRATCH_COPIES.fallback * fallback.variableSlotBytes,
    );
  });

  it('refuses a budget below what its parts need with MEMORY_BUDGET, saying how many bytes it needs', () => {
    const error = refusal({ ...VARIABLE, memoryBytes: 64 * MiB });
    expect(error.code).toBe('MEMORY_BUDGET');
    const needed = error.details.neededBytes as number;
    expect(needed).toBeGreaterThan(64 * MiB);
    expect(error.message).toContain(`needs at least ${needed} bytes`);
    expect(error.message).toContain('io.cacheBytes 16777216');
  });

  it('accepts a budget of exactly the bytes a refusal said it needs', () => {
    const needed = refusal({ ...VARIABLE, memoryBytes: 64 * MiB }).details.neededBytes as number;
    const { worker } = planMemoryBudget({ ...VARIABLE, memoryBytes: needed });
    expect(worker.readMemoryBytes).toBeGreaterThanOrEqual(MIN_WORKER_READ_BYTES);
    expect(worker.variableSlotBytes).toBeGreaterThanOrEqual(4 * MiB);
  });

  /** A blob column of `mean` bytes a row whose largest sampled value is `largest` bytes. */
  const blob = (column: string, mean: number, largest = mean) => ({ column, meanBytes: mean, largestBytes: largest });

  it('gives each slot and worker scratch room for an average batch of blob values outside the data files too', () => {
    const { worker } = planMemoryBudget({ ...VARIABLE, blobColumns: [blob('image', 20 * 1024)] });
    expect(worker.variableSlotBytes).toBeGreaterThanOrEqual(24 * MiB);
    expect(worker.decodeScratchBytes).toBeGreaterThanOrEqual(DECODE_SCRATCH_COPIES.native * 24 * MiB);
  });

  it("gives each slot room for a batch holding a blob column's largest sampled value beside average ones", () => {
    const input = { ...VARIABLE, blobColumns: [blob('image', 1024, 20 * MiB)] };
    // The stored values with headroom, and the largest value with 1023 average ones.
    const full = 4 * MiB * 1.25 + 20 * MiB + 1023 * 1024;
    expect(planMemoryBudget(input).worker.variableSlotBytes).toBeGreaterThanOrEqual(full);
    const least = refusal({ ...input, memoryBytes: 64 * MiB }).details.neededBytes as number;
    expect(planMemoryBudget({ ...input, memoryBytes: least }).worker.variableSlotBytes).toBeGreaterThanOrEqual(full);
  });

  it('leaves the list scratch to the stored bytes, not the blob values beside them', () => {
    const list = { ...VARIABLE, listColumns: 1 };
    const blobColumns = [blob('image', 20 * 1024, 5 * MiB)];
    expect(planMemoryBudget({ ...list, blobColumns }).worker.listScratchBytes).toBe(
      planMemoryBudget(list).worker.listScratchBytes,
    );
  });

  it("refuses a budget that cannot hold a batch with each blob column's largest sampled value, naming its bytes", () => {
    expect(() => planMemoryBudget(VARIABLE)).not.toThrow();
    const blobColumns = [blob('image', 50 * 1024), blob('audio', 1000, 6 * MiB)];
    const error = refusal({ ...VARIABLE, blobColumns });
    expect(error.code).toBe('MEMORY_BUDGET');
    expect(error.message).toContain(
      `(a batch's blob values in sidecars or external files, with the largest value sampled: ` +
        `"image" ${50 * MiB} bytes (largest ${50 * 1024}, mean ${50 * 1024} a row), ` +
        `"audio" ${6 * MiB + 1023 * 1000} bytes (largest ${6 * MiB}, mean 1000 a row))`,
    );
  });

  it('loads two batches per worker at once only when half its read memory holds two batches', () => {
    expect(planMemoryBudget(FLAT).lanes).toBe(2);
    expect(planMemoryBudget({ ...FLAT, memoryBytes: 64 * MiB, batchBytes: 8 * MiB }).lanes).toBe(1);
  });

  it("counts a remote dataset's requests in flight and fetched batches as its remote part, leaving read memory the least", () => {
    const { parts, worker, lanes } = planMemoryBudget({ ...VARIABLE, remoteBytesInFlight: 64 * MiB });
    expect(parts.remote).toBe(64 * MiB + 2 * 4 * 5 * MiB);
    expect(worker.readMemoryBytes).toBe(MIN_WORKER_READ_BYTES);
    expect(lanes).toBe(2);
    expect(MEMORY_PARTS.reduce((sum, part) => sum + parts[part], 0)).toBeLessThanOrEqual(512 * MiB);
  });

  it("plans each worker's list scratch: twice a batch of row scratch and four batches of the list's stored bytes", () => {
    const { parts, worker } = planMemoryBudget({ ...VARIABLE, listColumns: 1 });
    expect(worker.listScratchBytes).toBe(1024 * LIST_ROW_SCRATCH_BYTES + 4 * 4 * MiB);
    expect(parts.listScratch).toBe(2 * worker.listScratchBytes);
  });

  it('plans no list scratch without list columns', () => {
    expect(planMemoryBudget(VARIABLE).parts.listScratch).toBe(0);
  });

  it('takes the list scratch out of what the other parts get, and refuses a budget that cannot hold it', () => {
    const without = planMemoryBudget(VARIABLE);
    const withList = planMemoryBudget({ ...VARIABLE, listColumns: 1 });
    expect(MEMORY_PARTS.reduce((sum, part) => sum + withList.parts[part], 0)).toBeLessThanOrEqual(512 * MiB);
    expect(withList.parts.readMemory + withList.parts.variable).toBeLessThan(
      without.parts.readMemory + without.parts.variable,
    );
    const needed = refusal({ ...VARIABLE, memoryBytes: 64 * MiB }).details.neededBytes as number;
    const error = refusal({ ...VARIABLE, listColumns: 1, memoryBytes: needed });
    expect(error.details.neededBytes).toBe(needed + 2 * withList.worker.listScratchBytes);
    expect(error.message).toContain(`list rows and levels 2 × ${withList.worker.listScratchBytes}`);
  });

  it('plans no remote part for a local dataset', () => {
    expect(planMemoryBudget(VARIABLE).parts.remote).toBe(0);
  });

  it('refuses remote requests in flight that memoryBytes cannot hold, naming io.remote.bytesInFlight', () => {
    const error = refusal({ ...FLAT, remoteBytesInFlight: 600 * MiB });
    expect(error.code).toBe('MEMORY_BUDGET');
    expect(error.message).toContain(
      `remote reads ${600 * MiB + 40 * MiB}: io.remote.bytesInFlight ${600 * MiB} + ${40 * MiB} fetched and not yet decoded`,
    );
    expect(error.message).toMatch(/or io\.cacheBytes or io\.remote\.bytesInFlight$/);
  });
});

describe('transformScratchFor', () => {
  it('holds four average batches, or two and a batch with the largest blob values sampled when that is more', () => {
    expect(transformScratchFor(MiB, 100)).toBe(4 * MiB + 100);
    expect(transformScratchFor(MiB, 100, 1.5 * MiB)).toBe(4 * MiB + 100);
    expect(transformScratchFor(MiB, 100, 10 * MiB)).toBe(12 * MiB + 100);
  });
});

describe('planDeepestBudget', () => {
  /** A remote loader of 2 workers at prefetch 4 with one variable-width column of 8 MiB a batch. */
  const REMOTE: MemoryBudgetInput = {
    ...VARIABLE,
    slotBytes: 256 * 8,
    batchSize: 256,
    batchBytes: 8 * MiB,
    variableBatchBytes: 8 * MiB,
    remoteBytesInFlight: 128 * MiB,
  };
  const REMOTE_FLAT: MemoryBudgetInput = { ...REMOTE, variableColumns: 0, variableBatchBytes: 0 };

  it("keeps input's prefetch where a deeper one would shrink each slot's variable-width memory", () => {
    const budget = planDeepestBudget(REMOTE, 16);
    expect(budget.slotCount).toBe(6);
    expect(budget.worker.variableSlotBytes).toBe(planMemoryBudget(REMOTE).worker.variableSlotBytes);
  });

  it('takes the deepest prefetch without variable-width columns', () => {
    expect(planDeepestBudget(REMOTE_FLAT, 16).slotCount).toBe(18);
  });

  it('takes the deepest prefetch memoryBytes holds when the deepest asked for does not fit', () => {
    const needed = refusal({ ...REMOTE_FLAT, slotCount: 18, slotBytes: 8 * MiB, memoryBytes: 64 * MiB }).details
      .neededBytes as number;
    expect(planDeepestBudget({ ...REMOTE_FLAT, slotBytes: 8 * MiB, memoryBytes: needed - 1 }, 16).slotCount).toBe(17);
  });

  it("refuses with MEMORY_BUDGET when input's own prefetch does not fit", () => {
    expect(() => planDeepestBudget({ ...REMOTE, memoryBytes: 64 * MiB }, 16)).toThrow(
      expect.objectContaining({ code: 'MEMORY_BUDGET' }),
    );
  });
});

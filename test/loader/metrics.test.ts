/**
 * loader.metrics().memory on a LanceDB-written dataset with fixed- and variable-width columns, real
 * worker threads: the budget by part, and what each part holds as batches are loaded, kept and released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, openDataset, type Dataset } from '../../index.js';
import type { DataLoader } from '../../loader/loader.js';
import { MEMORY_PARTS } from '../../loader/budget.js';
import type { Batch } from '../../loader/batch.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

const MEMORY_BYTES = 64 << 20;

let dataset: Dataset;
let loader: DataLoader;

beforeAll(async () => {
  dataset = await openDataset(await ensureDataset(specByName('deletions_arrow'), '2.1'));
  loader = await createLoader(dataset, {
    batchSize: 1000,
    workers: 2,
    prefetch: 2,
    memoryBytes: MEMORY_BYTES,
    seed: 5,
  });
});

afterAll(async () => {
  await loader.close();
  await dataset.close();
});

describe('metrics().memory', () => {
  it('plans every part of the budget within memoryBytes', () => {
    const memory = loader.metrics().memory;
    expect(memory.budgetBytes).toBe(MEMORY_BYTES);
    expect(Object.keys(memory.parts).sort()).toEqual([...MEMORY_PARTS].sort());
    expect(memory.plannedBytes).toBeLessThanOrEqual(MEMORY_BYTES);
    expect(memory.parts.slots.plannedBytes).toBeGreaterThan(0);
    expect(memory.parts.variable.plannedBytes).toBeGreaterThan(0);
  });

  it('counts the slots and values of batches the consumer holds as in use, and frees them on release', async () => {
    const iterator = loader.epoch(0);
    const held = [(await iterator.next()).value as Batch, (await iterator.next()).value as Batch];
    const before = loader.metrics().memory.parts;
    const slotBytes = before.slots.plannedBytes / 4;
    // The two held, and whatever is loading in the others.
    expect(before.slots.inUseBytes).toBeGreaterThanOrEqual(2 * slotBytes);
    expect(before.variable.inUseBytes).toBeGreaterThanOrEqual(
      held.reduce((sum, b) => sum + (b.columns.utf8_words?.values.byteLength ?? 0), 0),
    );
    for (const batch of held) batch.release();
    await iterator.return(undefined);
    const after = loader.metrics().memory.parts;
    expect(after.slots.inUseBytes).toBe(0);
    expect(after.variable.inUseBytes).toBe(0);
  });

  it("reports the workers' read memory, kept pages and decode scratch, none past its planned bytes", async () => {
    for await (const batch of loader.epoch(1)) batch.release();
    const { parts } = loader.metrics().memory;
    expect(parts.readMemory.allocatedBytes).toBeGreaterThan(0);
    expect(parts.pageCaches.allocatedBytes).toBeGreaterThan(0);
    expect(parts.decodeScratch.allocatedBytes).toBeGreaterThan(0);
    for (const part of MEMORY_PARTS) expect(parts[part].peakBytes, part).toBeLessThanOrEqual(parts[part].plannedBytes);
  });
});

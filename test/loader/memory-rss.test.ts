/**
 * The memory budget holds for the whole process: a loader's peak RSS stays within options.memoryBytes
 * plus a fixed overhead, over a flat dataset (fixed-size float32 vectors) and a variable-width one
 * (binary values of 300 B – 3 KB), each written by LanceDB and large enough that the loader's parts fill
 * most of the budget. Each run is a child process of its own (rss-run.ts), so its peak is one loader's.
 *
 * The fixed overhead, which no budget covers:
 * - the process without a loader: Node, tsx and a decode pool whose worker threads loaded their modules,
 *   measured once by the same script;
 * - JS_HEAP_BYTES_PER_THREAD for the main thread and each worker: per-batch JS objects (plan steps, one
 *   view per read range, Piscina's messages) are collected in waves, and the allowance is above the
 *   highest wave of a worker over eight epochs of the variable-width run;
 * - the data files' pages that warm buffered reads map (`io.mapped`): page cache, not memory of the budget,
 *   counted in RSS as RssFile. The allowance is the RssFile the loader run ends with beyond the baseline's,
 *   and a test checks that it is no more than each worker's mapping of every data file.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LoaderOptions } from '../../index.js';
import { MEMORY_PARTS } from '../../loader/budget.js';
import type { LoaderMemoryMetrics } from '../../loader/metrics.js';
import { ensureDataset } from '../fixtures/datasets.js';
import type { DatasetSpec } from '../fixtures/matrix.js';
import type { RssResult, RssRun } from './rss-run.js';

const MiB = 1024 * 1024;
const MEMORY_BYTES = 256 * MiB;
const WORKERS = 2;
const JS_HEAP_BYTES_PER_THREAD = 48 * MiB;

const FLAT: DatasetSpec = {
  name: 'budget_flat',
  description: 'float32 vectors of 768 (3 KB a row, full-zip): a loader whose slots fill its memory budget',
  rows: 24000,
  batchRows: 4000,
  fragments: 1,
  versions: ['2.1'],
  columns: [
    { name: 'idx', kind: 'idx' },
    { name: 'vec', kind: 'fsl_float32', dim: 768 },
  ],
};

const VARIABLE: DatasetSpec = {
  name: 'budget_variable',
  description: 'binary values of 300 B – 3 KB (full-zip): read memory, decode scratch and slot memory at work',
  rows: 48000,
  batchRows: 4000,
  fragments: 1,
  versions: ['2.1'],
  columns: [
    { name: 'idx', kind: 'idx' },
    { name: 'bytes', kind: 'binary_medium' },
  ],
};

function runChild(job: RssRun): RssResult {
  const script = fileURLToPath(new URL('./rss-run.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, JSON.stringify(job)], {
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
  });
  return JSON.parse(out) as RssResult;
}

let baseline: RssResult;

beforeAll(async () => {
  await Promise.all([ensureDataset(FLAT, '2.1'), ensureDataset(VARIABLE, '2.1')]);
  baseline = runChild({ mode: 'baseline', workers: WORKERS });
});

function dataFileBytes(path: string): number {
  const data = join(path, 'data');
  return readdirSync(data).reduce((sum, name) => sum + statSync(join(data, name)).size, 0);
}

describe.skipIf(process.platform !== 'linux').each([
  // 8000 rows of 3 KB: eight slots take 197 MB of the 256 MiB.
  { spec: FLAT, options: { batchSize: 8000, prefetch: 6 } },
  // 9000 rows of 1.6 KB on average: read memory, scratch and slot memory share what the slots leave.
  { spec: VARIABLE, options: { batchSize: 9000, prefetch: 4 } },
])('a loader over $spec.name', ({ spec, options }) => {
  let result: RssResult;
  let path: string;

  beforeAll(async () => {
    path = await ensureDataset(spec, '2.1');
    const loaderOptions: LoaderOptions = {
      ...options,
      workers: WORKERS,
      memoryBytes: MEMORY_BYTES,
      io: { cacheBytes: MiB },
    };
    result = runChild({ mode: 'loader', path, options: loaderOptions, epochs: 2 });
  });

  it('keeps its peak RSS within memoryBytes plus the process without a loader, its JS heaps and its mapped data pages', () => {
    const mapped = Math.max(0, result.rssFileBytes - baseline.rssFileBytes);
    const overhead = baseline.peakRssBytes + (WORKERS + 1) * JS_HEAP_BYTES_PER_THREAD + mapped;
    expect(result.peakRssBytes).toBeLessThanOrEqual(MEMORY_BYTES + overhead);
  });

  it('maps no more file pages than one mapping of each data file per worker', () => {
    // Beyond the data files: the addon and the modules a loader loads and the baseline does not.
    expect(result.rssFileBytes - baseline.rssFileBytes).toBeLessThanOrEqual(WORKERS * dataFileBytes(path) + 8 * MiB);
  });

  it('fills two thirds of the budget at least, so the bound says something', () => {
    const memory = result.memory as LoaderMemoryMetrics;
    const peaks = MEMORY_PARTS.reduce((sum, part) => sum + memory.parts[part].peakBytes, 0);
    expect(peaks).toBeGreaterThan((MEMORY_BYTES * 2) / 3);
  });

  it('never allocates more of a part than the budget planned for it', () => {
    const memory = result.memory as LoaderMemoryMetrics;
    for (const part of MEMORY_PARTS)
      expect(memory.parts[part].peakBytes, part).toBeLessThanOrEqual(memory.parts[part].plannedBytes);
  });
});

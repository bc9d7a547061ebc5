/**
 * Run in a child process by memory-rss.test.ts: prints the process's peak RSS (VmHWM) as JSON after
 * either a loader run (`loader`: createLoader over a dataset, whole epochs, every batch released) or
 * the same process without a loader (`baseline`: Node, tsx, and a decode pool whose worker threads
 * have loaded the worker module), which is the fixed overhead a loader's budget does not cover.
 *
 *   node --import tsx test/loader/rss-run.ts '{"mode":"loader","path":…,"options":{…},"epochs":2}'
 */
import { readFileSync } from 'node:fs';
import { createLoader, type LoaderOptions } from '../../index.js';
import { DecodePool } from '../../decode-workers/pool.js';
import { workerRefFor } from '../fixtures/worker-ref.js';

export type RssRun =
  { mode: 'loader'; path: string; options: LoaderOptions; epochs: number } | { mode: 'baseline'; workers: number };

export interface RssResult {
  peakRssBytes: number;
  /** The loader's metrics().memory at the end (loader runs only). */
  memory?: unknown;
}

/** The process's peak resident set (VmHWM in /proc/self/status), in bytes. */
function peakRssBytes(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number(match[1]) * 1024;
}

async function run(job: RssRun): Promise<RssResult> {
  if (job.mode === 'baseline') {
    const pool = new DecodePool({ workers: job.workers });
    // A dataset that does not exist: each worker loads its module and fails to open it, nothing more.
    await pool.prepare(await workerRefFor('single_row', { path: '/nonexistent.lance' }));
    const peak = peakRssBytes();
    await pool.destroy();
    return { peakRssBytes: peak };
  }
  const loader = await createLoader(job.path, job.options);
  try {
    for (let epoch = 0; epoch < job.epochs; epoch++) for await (const batch of loader.epoch(epoch)) batch.release();
    return { peakRssBytes: peakRssBytes(), memory: loader.metrics().memory };
  } finally {
    await loader.close();
  }
}

process.stdout.write(JSON.stringify(await run(JSON.parse(process.argv[2] as string) as RssRun)) + '\n');

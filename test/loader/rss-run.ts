/**
 * Run in a child process by memory-rss.test.ts: prints the process's peak RSS (VmHWM) and its resident
 * pages of mapped files (RssFile) as JSON after
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
  /** Resident pages of mapped files (RssFile) at the end: the binaries', and the data files' that warm buffered reads map. */
  rssFileBytes: number;
  /** The loader's metrics().memory at the end (loader runs only). */
  memory?: unknown;
}

/** A field of /proc/self/status in bytes: VmHWM, the peak resident set, or RssFile. */
function statusBytes(field: 'VmHWM' | 'RssFile'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]) * 1024;
}

function measure(): Pick<RssResult, 'peakRssBytes' | 'rssFileBytes'> {
  return { peakRssBytes: statusBytes('VmHWM'), rssFileBytes: statusBytes('RssFile') };
}

async function run(job: RssRun): Promise<RssResult> {
  if (job.mode === 'baseline') {
    const pool = new DecodePool({ workers: job.workers });
    // A dataset that does not exist: each worker loads its module and fails to open it, nothing more.
    await pool.prepare(await workerRefFor('single_row', { path: '/nonexistent.lance' }));
    const peak = measure();
    await pool.destroy();
    return peak;
  }
  const loader = await createLoader(job.path, job.options);
  try {
    for (let epoch = 0; epoch < job.epochs; epoch++) for await (const batch of loader.epoch(epoch)) batch.release();
    return { ...measure(), memory: loader.metrics().memory };
  } finally {
    await loader.close();
  }
}

process.stdout.write(JSON.stringify(await run(JSON.parse(process.argv[2] as string) as RssRun)) + '\n');

/**
 * Runs one read of a dataset or data file in a process of its own, for hostile-files.test.ts: a
 * regression that hangs in open(2) on a FIFO is then ended by the parent's timeout instead of hanging
 * the suite. Prints the outcome as JSON: `{ ok: true }` or the error's `{ name, code, message }`.
 *
 *   node --import tsx hostile-files.child.ts <openDataset|take|openFile|directSource|createLoader> <path>
 */
import { createLoader, openDataset, openFile } from '../../index.js';
import { DirectFileSource } from '../../io/direct-source.js';

const runs: Record<string, (path: string) => Promise<unknown>> = {
  openDataset: async (path) => (await openDataset(path)).close(),
  take: async (path) => {
    const dataset = await openDataset(path);
    try {
      await dataset.take([0]);
    } finally {
      await dataset.close();
    }
  },
  openFile: async (path) => (await openFile(path)).close(),
  directSource: async (path) => (await DirectFileSource.open(path, { direct: 'auto' })).close(),
  createLoader: async (path) => {
    const loader = await createLoader(path, { batchSize: 16, workers: 1, shuffle: false });
    try {
      for await (const batch of loader.epoch(0)) batch.release();
    } finally {
      await loader.close();
    }
  },
};

const [op, path] = process.argv.slice(2);
const run = runs[op as string];
if (!run || !path) throw new Error(`usage: hostile-files.child.ts <${Object.keys(runs).join('|')}> <path>`);
try {
  await run(path);
  console.log(JSON.stringify({ ok: true }));
} catch (error) {
  const { name, code, message } = error as { name: string; code?: string; message: string };
  console.log(JSON.stringify({ name, code, message }));
}

/**
 * Run by worker-deaths.test.ts in a child process, on the ES module build (dist/): for each round,
 * terminates every decode worker, then, after a few turns of the event loop, the replacements that are
 * loading the worker module, then takes one batch to see the pool recover. Prints the rounds done, how
 * many threads were left and the targets of descriptors opened since the first loader and still open
 * after close(), as JSON. argv: dataset path, rounds.
 */
import { readdirSync, readlinkSync } from 'node:fs';

type Entry = typeof import('../../index.js');

/** Each open descriptor with what it points at ('' when it closed while being looked at). */
function openFds(): Map<string, string> {
  const fds = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      fds.set(fd, '');
    }
  }
  return fds;
}

const path = process.argv[2] as string;
const rounds = Number(process.argv[3]);
const { createLoader } = (await import(new URL('../../dist/index.js', import.meta.url).href)) as Entry;

const options = { batchSize: 500, workers: 2, prefetch: 2, seed: 1 };
// The main thread keeps what its first loader opens for good (its read engine): counted fds start after.
await (await createLoader(path, options)).close();
const before = openFds();
const loader = await createLoader(path, options);
let done = 0;
for (; done < rounds; done++) {
  await Promise.all(loader.decodePool.threads.map((thread) => thread.terminate()));
  // A varying delay, so the second terminate lands at different points of the module load.
  for (let turn = 0; turn < done % 8; turn++) await new Promise((resolve) => setImmediate(resolve));
  await Promise.all(loader.decodePool.threads.map((thread) => thread.terminate()));
  const iterator = loader.epoch(done)[Symbol.asyncIterator]();
  ((await iterator.next()).value as { release(): void }).release();
  await iterator.return?.(undefined);
}
await loader.close();
const fdsLeft = [...openFds()].filter(([fd, target]) => before.get(fd) !== target).map(([, target]) => target);
console.log(JSON.stringify({ rounds: done, threads: loader.decodePool.threads.length, fdsLeft }));

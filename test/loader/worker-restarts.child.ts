/**
 * Run by worker-deaths.test.ts in a child process, on the ES module build (dist/): for each round,
 * terminates every decode worker, then, after a few turns of the event loop, the replacements that are
 * loading the worker module, then takes one batch to see the pool recover. Prints the rounds done and
 * how many threads were left as JSON. argv: dataset path, rounds.
 */
type Entry = typeof import('../../index.js');

const path = process.argv[2] as string;
const rounds = Number(process.argv[3]);
const { createLoader } = (await import(new URL('../../dist/index.js', import.meta.url).href)) as Entry;

const loader = await createLoader(path, { batchSize: 500, workers: 2, prefetch: 2, seed: 1 });
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
console.log(JSON.stringify({ rounds: done, threads: loader.decodePool.threads.length }));

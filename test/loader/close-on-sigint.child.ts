/**
 * Run by loader-lifecycle.test.ts in a child process: iterates an epoch, sends itself SIGINT after the
 * third batch, and the SIGINT handler closes the loader. Prints what the loop saw and what was left
 * running as JSON. No 'unhandledRejection' handler: an unhandled rejection makes the process exit 1.
 */
import { readdirSync } from 'node:fs';
import { createLoader } from '../../loader/loader.js';

const openFds = () => readdirSync('/proc/self/fd').length;
const path = process.argv[2] as string;
const fdsBefore = openFds();
const loader = await createLoader(path, { batchSize: 64, workers: 2, prefetch: 4, seed: 1 });
let closing: Promise<void> | undefined;
process.once('SIGINT', () => (closing = loader.close()));

let delivered = 0;
for await (const batch of loader.epoch(0)) {
  delivered++;
  if (delivered === 3) {
    // Listeners run in the order added: when this one runs, the handler above has called close().
    const signalled = new Promise((resolve) => process.once('SIGINT', resolve));
    // The signal arrives asynchronously and Node's signal watcher does not keep the event loop alive: with
    // the workers idle, the process could otherwise end (unsettled top-level await, exit 13) before it.
    const keepAlive = setInterval(() => {}, 1000);
    process.kill(process.pid, 'SIGINT');
    await signalled;
    clearInterval(keepAlive);
  }
  batch.release();
}
await closing;
const report = {
  delivered,
  numBatches: loader.numBatches,
  closed: loader.closed,
  threads: loader.decodePool.threads.length,
  fdsLeft: openFds() - fdsBefore,
};
console.log(JSON.stringify(report));

/**
 * Temporary folders that do not outlive the example: removed when the process exits, also through
 * `process.exit`, an uncaught error, or Ctrl-C / SIGTERM / SIGHUP (after which the signal is raised again,
 * so the process still ends the way the signal says).
 */
import { rmSync } from 'node:fs';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Writes passed to `removeAfterWriting` that have not settled yet. */
const writing = new Set<Promise<unknown>>();

/**
 * Removes `path` (recursively) when the process ends. Returns a function that removes it at once and
 * forgets it, for a folder whose work is done before the process ends.
 */
export function removeOnExit(path: string): () => void {
  // maxRetries: a LanceDB writer thread may still be adding files while the folder is removed.
  const remove = () => rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  const removeAndRaise = (signal: NodeJS.Signals) => {
    try {
      // A LanceDB writer thread may also create the folder again (mkdir -p) just after it is removed.
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 3; i++) {
        remove();
        Atomics.wait(pause, 0, 0, 100);
      }
      remove();
    } finally {
      // A removal that failed must not turn the signal into an uncaught error's exit code.
      process.kill(process.pid, signal);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (writing.size === 0) removeAndRaise(signal);
    else void Promise.allSettled(writing).then(() => removeAndRaise(signal));
  };
  process.on('exit', remove);
  for (const signal of SIGNALS) process.once(signal, onSignal);
  return () => {
    process.off('exit', remove);
    for (const signal of SIGNALS) process.off(signal, onSignal);
    remove();
  };
}

/**
 * Returns `write` (work that fills a folder given to `removeOnExit`), and holds the removal a signal
 * starts until it has settled: LanceDB's writer threads run on while JavaScript removes the folder, so
 * removing it mid-write fails (ENOTEMPTY) or is undone by the writer making the folder again.
 */
export function removeAfterWriting<T>(write: Promise<T>): Promise<T> {
  writing.add(write);
  const settled = () => writing.delete(write);
  write.then(settled, settled);
  return write;
}

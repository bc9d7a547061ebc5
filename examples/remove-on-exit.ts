/**
 * Temporary folders that do not outlive the example: removed when the process exits, also through
 * `process.exit`, an uncaught error, or Ctrl-C / SIGTERM / SIGHUP (after which the signal is raised again,
 * so the process still ends the way the signal says).
 */
import { rmSync } from 'node:fs';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Removes `path` (recursively) when the process ends. Returns a function that removes it at once and
 * forgets it, for a folder whose work is done before the process ends.
 */
export function removeOnExit(path: string): () => void {
  // maxRetries: a LanceDB writer thread may still be adding files while the folder is removed.
  const remove = () => rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  const onSignal = (signal: NodeJS.Signals) => {
    // A LanceDB writer thread may also create the folder again (mkdir -p) just after it is removed.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 3; i++) {
      remove();
      Atomics.wait(pause, 0, 0, 100);
    }
    remove();
    process.kill(process.pid, signal);
  };
  process.on('exit', remove);
  for (const signal of SIGNALS) process.once(signal, onSignal);
  return () => {
    process.off('exit', remove);
    for (const signal of SIGNALS) process.off(signal, onSignal);
    remove();
  };
}

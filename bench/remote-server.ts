/**
 * The remote benchmark's object store, in a process of its own so that serving does not share an event
 * loop with the loader it measures: s3rver (objects under bench/.data/.s3rver) and a proxy in front of it
 * that adds a fixed delay to every request (the round trip of a far store). Prints one JSON line
 * `{ endpoint, delayed }` and serves until killed. Run by bench/remote.ts: `node --import tsx
 * bench/remote-server.ts <delay ms>`.
 */
import { startFaultProxy, startS3 } from '../test/io/remote/servers.js';

const delayMs = Number(process.argv[2] ?? 20);
const s3 = await startS3(['bench']);
const proxy = await startFaultProxy(s3.endpoint);
proxy.delayMs = delayMs;
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, delayed: proxy.url })}\n`);
process.on('SIGTERM', () => {
  void Promise.all([proxy.close(), s3.close()]).then(() => process.exit(0));
});

/**
 * RemoteSource against a plain HTTP server on loopback that answers one range with a 404 at once and
 * delays another: a failed read must not go on writing into its targets after it rejects, since the
 * caller then gives them to the next batch (a slot, a receive buffer).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ObjectStore } from '../../../io/remote/object-store.js';
import { resolveRemoteIo } from '../../../io/remote/remote-options.js';
import { RemoteSource } from '../../../io/remote/remote-source.js';

const SIZE = 4 << 20;
const MISSING = 100_000;
const SLOW = 2_000_000;
const data = new Uint8Array(SIZE).map((_, i) => (i * 7 + 1) & 255);
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const [a, b] = m ? [Number(m[1]), Number(m[2])] : [0, SIZE - 1];
    if (a === MISSING) {
      res.writeHead(404);
      res.end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    const send = () => {
      res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${SIZE}`, 'content-length': b - a + 1 });
      res.end(Buffer.from(data.subarray(a, b + 1)));
    };
    if (a === SLOW) setTimeout(send, 300);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bucket`;
});
afterAll(() => server.close());

it('writes nothing into the targets of a failed readInto once it has rejected', async () => {
  const options = resolveRemoteIo({ retries: 0 }, 'remote');
  const store = ObjectStore.open(url, undefined, options);
  try {
    const source = await RemoteSource.open(store, 'object', options, SIZE);
    const targets = [new Uint8Array(1000), new Uint8Array(1000)];
    const ranges = [
      { offset: MISSING, size: 1000 },
      { offset: SLOW, size: 1000 },
    ];
    await expect(source.readInto(ranges, targets)).rejects.toMatchObject({ code: 'IO_ERROR' });
    (targets[1] as Uint8Array).fill(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((targets[1] as Uint8Array).every((byte) => byte === 0)).toBe(true);
  } finally {
    store.close();
  }
});

/**
 * The HTTP/1.1 client under fetch-object (io/remote/http1-client.ts), through ObjectStore against raw TCP
 * servers that write exactly the bytes each test needs: chunked bodies and heads split across reads,
 * 1xx answers, keep-alive reuse, servers closing connections (idle, as a request arrives, or with
 * Connection: close), and answers that are not HTTP, run past their length or never end their head.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError, IoError } from '../../../errors.js';
import { Agent, ProtocolError } from '../../../io/remote/http1-client.js';
import { ObjectStore } from '../../../io/remote/object-store.js';
import { resolveRemoteIo } from '../../../io/remote/remote-options.js';
import { rejection } from '../../caught.js';

interface RawServer {
  store: ObjectStore;
  /** Connections accepted so far. */
  connections: number;
  /** Each request's head as received, in order. */
  requests: string[];
  /** Resolves when every connection the server accepted has closed. */
  allClosed(): Promise<void>;
}

const servers: Server[] = [];
const stores: ObjectStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) store.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server that calls `answer` for each request head it receives (the n-th of all, the i-th on its connection). */
async function startRawServer(
  answer: (socket: Socket, request: { n: number; i: number; head: string }) => void,
): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const closedWaiters: (() => void)[] = [];
  const raw: RawServer = {
    store: undefined as unknown as ObjectStore,
    connections: 0,
    requests: [],
    allClosed: () => (sockets.size === 0 ? Promise.resolve() : new Promise((resolve) => closedWaiters.push(resolve))),
  };
  const server = createServer((socket) => {
    raw.connections++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) for (const resolve of closedWaiters.splice(0)) resolve();
    });
    socket.on('error', () => {});
    let received = '';
    let i = 0;
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      for (let end = received.indexOf('\r\n\r\n'); end >= 0; end = received.indexOf('\r\n\r\n')) {
        const head = received.slice(0, end);
        received = received.slice(end + 4);
        raw.requests.push(head);
        answer(socket, { n: raw.requests.length - 1, i: i++, head });
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  raw.store = ObjectStore.open(`http://127.0.0.1:${port}/d`, undefined, resolveRemoteIo({ retries: 0 }, 'remote'));
  stores.push(raw.store);
  return raw;
}

/** A complete answer of `body` with its Content-Length. */
function answerOf(body: string, headers = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${headers}\r\n${body}`;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('the HTTP/1.1 client', () => {
  it('sends one GET with Host, the signed headers, identity encoding and the range', async () => {
    const raw = await startRawServer((socket) =>
      socket.write('HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 5-9/100\r\ncontent-length: 5\r\n\r\n56789'),
    );
    const { bytes, objectSize } = await raw.store.get('a b', { offset: 5, size: 5 });
    expect(text(bytes)).toBe('56789');
    expect(objectSize).toBe(100);
    const port = (servers[0]?.address() as AddressInfo).port;
    expect(raw.requests).toEqual([
      `GET /d/a%20b HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept-encoding: identity\r\nrange: bytes=5-9`,
    ]);
  });

  it('reads a chunked body whose head, sizes and data arrive split across many reads', async () => {
    const answer =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6;name=value\r\n456789\r\n0\r\ntrailer: x\r\n\r\n';
    const raw = await startRawServer((socket) => {
      void (async () => {
        for (let at = 0; at < answer.length; at += 3) {
          socket.write(answer.slice(at, at + 3));
          await pause();
        }
      })();
    });
    const { bytes } = await raw.store.get('o', undefined);
    expect(text(bytes)).toBe('0123456789');
  });

  it('skips 1xx answers before the real one', async () => {
    const raw = await startRawServer((socket) =>
      socket.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n${answerOf('body')}`),
    );
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('body');
  });

  it('reads a body that runs to the end of the connection when the answer gives no length', async () => {
    const raw = await startRawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end'));
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('to the end');
  });

  it('sends the requests of a store one after another over one kept-alive connection', async () => {
    const raw = await startRawServer((socket, { n }) => socket.write(answerOf(`answer ${n}`)));
    for (let n = 0; n < 5; n++) expect(text((await raw.store.get('o', undefined)).bytes)).toBe(`answer ${n}`);
    expect(raw.connections).toBe(1);
  });

  it('opens a new connection after an answer that says Connection: close', async () => {
    const raw = await startRawServer((socket, { n }) => {
      socket.write(answerOf(`answer ${n}`, 'connection: close\r\n'));
      socket.end();
    });
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('answer 0');
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('answer 1');
    expect(raw.connections).toBe(2);
  });

  it('sends a request on a new connection when the server closed the idle one', async () => {
    const raw = await startRawServer((socket, { n }) => {
      socket.write(answerOf(`answer ${n}`));
      setTimeout(() => socket.destroy(), 20);
    });
    await raw.store.get('o', undefined);
    await raw.allClosed();
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('answer 1');
    expect(raw.connections).toBe(2);
  });

  it('sends a request again on a new connection, not as a retry, when a reused one closes as it arrives', async () => {
    // The keep-alive race: the server closes a connection it deems idle just as a request is sent on it.
    const raw = await startRawServer((socket, { n, i }) => {
      if (i === 0) socket.write(answerOf(`answer ${n}`));
      else socket.destroy();
    });
    await raw.store.get('o', undefined);
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('answer 2');
    expect(raw.connections).toBe(2);
  });

  it('fails a connection that closes before answering a fresh request with an IoError', async () => {
    const raw = await startRawServer((socket) => socket.destroy());
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toMatch(
      /failed after 1 attempt \(retry budget: 0 retries within 60000 ms\): connection failed: (ECONNRESET|the server closed the connection without answering)$/,
    );
  });

  it('fails an answer that is not HTTP with an IoError, never retried', async () => {
    const raw = await startRawServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const store = ObjectStore.open(
      `http://127.0.0.1:${(servers[0]?.address() as AddressInfo).port}/d`,
      undefined,
      resolveRemoteIo({ retries: 3 }, 'remote'),
    );
    stores.push(store);
    const error = await rejection(store.get('o', { offset: 0, size: 4 }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toBe(
      `${store.root}/o: GET of bytes 0..4 failed after 1 attempt: unreadable answer: the answer does not start with an HTTP/1.x status line: "SSH-2.0-OpenSSH_9.6"`,
    );
    expect(raw.requests).toHaveLength(1);
  });

  it('fails an answer whose body runs past its Content-Length', async () => {
    const raw = await startRawServer((socket) => socket.write(`${answerOf('four')}HTTP/1.1 200 OK`));
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: 15 bytes arrived past the end of the answer',
    );
  });

  it('refuses a chunked body that runs past the range asked for before it is all received', async () => {
    const raw = await startRawServer((socket) => {
      socket.write(
        'HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-3/100\r\ntransfer-encoding: chunked\r\n\r\n',
      );
      socket.write(`100000\r\n${'x'.repeat(0x10000)}`);
    });
    const error = await rejection(raw.store.get('o', { offset: 0, size: 4 }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain('failed after 1 attempt: the server sent more than the 4 bytes asked for');
    await raw.allClosed();
  });

  it('closes a connection on which bytes arrive while no request waits, and answers the next request on another', async () => {
    const raw = await startRawServer((socket, { n }) => {
      socket.write(answerOf(`answer ${n}`));
      setTimeout(() => socket.write('garbage'), 20);
    });
    await raw.store.get('o', undefined);
    await raw.allClosed();
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('answer 1');
    expect(raw.connections).toBe(2);
  });

  it('fails an answer whose headers never end with an IoError once they pass 16 KiB, and closes its connection', async () => {
    const raw = await startRawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 1000; i++) socket.write(`x-filler-${i}: ${'x'.repeat(100)}\r\n`);
    });
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: the status line and headers of the answer are longer than 16384 bytes',
    );
    await raw.allClosed();
  });

  it('ends an exchange whose handler throws with an InternalError instead of throwing out of the socket', async () => {
    await startRawServer((socket) => socket.write(answerOf('body')));
    const agent = new Agent(undefined);
    const ended = await new Promise<Error | undefined>((resolve) =>
      agent.request(`http://127.0.0.1:${(servers[0]?.address() as AddressInfo).port}`, '/o', '', 0, {
        onHead: () => true,
        onBody: () => {
          throw new RangeError('a handler bug');
        },
        onEnd: resolve,
      }),
    );
    agent.destroy();
    expect(ended).toBeInstanceOf(InternalError);
    expect(ended?.message).toMatch(
      /^reading the answer from http:\/\/127\.0\.0\.1:\d+ failed: RangeError: a handler bug /,
    );
  });

  it('gives its protocol errors a machine-readable code', async () => {
    const raw = await startRawServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const agent = new Agent(undefined);
    const ended = await new Promise<Error | undefined>((resolve) =>
      agent.request(`http://127.0.0.1:${(servers[0]?.address() as AddressInfo).port}`, '/o', '', 0, {
        onHead: () => true,
        onBody: () => {},
        onEnd: resolve,
      }),
    );
    agent.destroy();
    expect(raw.requests).toHaveLength(1);
    expect(ended).toBeInstanceOf(ProtocolError);
    expect((ended as ProtocolError).code).toBe('HTTP_PROTOCOL');
  });

  it('fails an answer with a transfer coding other than chunked, whose body it would not decode', async () => {
    const raw = await startRawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n4\r\n0123\r\n0\r\n\r\n'),
    );
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: unsupported Transfer-Encoding "gzip, chunked"',
    );
  });

  it('fails an answer whose transfer codings are split over two header lines', async () => {
    const raw = await startRawServer((socket) =>
      socket.write(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n4\r\n0123\r\n0\r\n\r\n',
      ),
    );
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: unsupported Transfer-Encoding "chunked"',
    );
  });

  it('reads an answer with both Content-Length and chunked by its chunks, and does not reuse its connection', async () => {
    const raw = await startRawServer((socket, { n }) =>
      socket.write(
        n === 0
          ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n4\r\n0123\r\n0\r\n\r\n'
          : answerOf('second'),
      ),
    );
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('0123');
    expect(text((await raw.store.get('o', undefined)).bytes)).toBe('second');
    expect(raw.connections).toBe(2);
  });

  it('fails a chunked answer followed by more bytes in the same read', async () => {
    const raw = await startRawServer((socket) =>
      socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n0123\r\n0\r\n\r\n${answerOf('stale')}`),
    );
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: 43 bytes arrived past the end of the answer',
    );
  });

  it('fails a same-origin redirect whose read carries more bytes instead of reading them as the redirected answer', async () => {
    const raw = await startRawServer((socket, { n }) =>
      socket.write(
        n === 0
          ? `HTTP/1.1 302 Found\r\nlocation: /d/other\r\ncontent-length: 0\r\n\r\n${answerOf('stale')}`
          : answerOf('fresh'),
      ),
    );
    const error = await rejection(raw.store.get('o', undefined));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      'failed after 1 attempt: unreadable answer: 43 bytes arrived past the end of the answer',
    );
    expect(raw.requests).toHaveLength(1);
  });

  it('sends a request on a new connection when the reused one receives bytes after its last answer before the request is sent', async () => {
    // The stray bytes come two immediates after the answer: after the client's read of the answer and the
    // next request it queues at once, before that request's answer.
    const raw = await startRawServer((socket, { n }) => {
      socket.write(answerOf(n === 0 ? 'first' : 'fresh'));
      if (n === 0) setImmediate(() => setImmediate(() => socket.write(answerOf('stale'))));
    });
    const first = raw.store.get('o', undefined).then(({ bytes }) => {
      expect(text(bytes)).toBe('first');
      return raw.store.get('o', undefined);
    });
    expect(text((await first).bytes)).toBe('fresh');
    expect(raw.connections).toBe(2);
  });
});

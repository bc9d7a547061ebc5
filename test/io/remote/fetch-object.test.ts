/**
 * One object's GETs (io/remote/fetch-object.ts through ObjectStore) against a local HTTP server behind a
 * fault-injecting proxy: what is retried and what is not, the typed error after the retry budget,
 * per-request timeouts on stalled bodies, the in-flight limit, and close() aborting requests in flight.
 */
import { getEventListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rejection } from '../../caught.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, IoError } from '../../../errors.js';
import { Attempts, fetchObject, type ObjectRequest } from '../../../io/remote/fetch-object.js';
import { RequestLimiter } from '../../../io/remote/limiter.js';
import { ObjectStore } from '../../../io/remote/object-store.js';
import { resolveRemoteIo, type RemoteIoOptions } from '../../../io/remote/remote-options.js';
import {
  startFaultProxy,
  startStaticServer,
  temporaryDirectory,
  type FaultProxy,
  type LoopbackServer,
} from './servers.js';

const BYTES = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 13) & 0xff);
let files: ReturnType<typeof temporaryDirectory>;
let server: LoopbackServer;
let proxy: FaultProxy;

beforeAll(async () => {
  files = temporaryDirectory('lance-loader-fetch-');
  writeFileSync(`${files.dir}/object.bin`, BYTES);
  server = await startStaticServer(files.dir);
  proxy = await startFaultProxy(server.url);
});

afterAll(async () => {
  await proxy.close();
  await server.close();
  files.remove();
});

beforeEach(() => {
  proxy.fault = () => ({ kind: 'pass' });
  proxy.requests = 0;
  proxy.delayMs = 0;
  proxy.peakInFlight = 0;
});

function storeOf(options: RemoteIoOptions = {}): ObjectStore {
  return ObjectStore.open(
    proxy.url,
    undefined,
    resolveRemoteIo({ retries: 2, timeoutMs: 5_000, ...options }, 'remote'),
  );
}

describe('a GET of a byte range', () => {
  it('returns exactly the bytes asked for and the object size', async () => {
    const { bytes, objectSize } = await storeOf().get('object.bin', { offset: 1000, size: 5000 });
    expect(objectSize).toBe(BYTES.length);
    expect(bytes).toEqual(BYTES.subarray(1000, 6000));
  });

  it('from an http server that redirects (as a CDN does) follows the redirect to the bytes', async () => {
    const redirector = createServer((request, response) => {
      response.writeHead(302, { location: `${server.url}/${(request.url ?? '').replace(/^\/moved\//, '')}` });
      response.end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = redirector.address() as AddressInfo;
      const store = ObjectStore.open(`http://127.0.0.1:${port}/moved`, undefined, resolveRemoteIo({}, 'remote'));
      const { bytes } = await store.get('object.bin', { offset: 10, size: 20 });
      expect(bytes).toEqual(BYTES.subarray(10, 30));
    } finally {
      redirector.close();
    }
  });

  it('of the last bytes (a suffix range) learns the object size', async () => {
    const { bytes, objectSize } = await storeOf().get('object.bin', { suffix: 64 });
    expect(objectSize).toBe(BYTES.length);
    expect(bytes).toEqual(BYTES.subarray(BYTES.length - 64));
  });

  it.each([
    ['a 503 SlowDown', { kind: 'status', status: 503 }],
    ['a 429', { kind: 'status', status: 429 }],
    ['a connection reset mid-body', { kind: 'reset' }],
    ['a body cut short', { kind: 'truncate' }],
  ] as const)('is retried after %s and then returns the right bytes', async (_, fault) => {
    proxy.fault = (__, n) => (n < 2 ? fault : { kind: 'pass' });
    const { bytes } = await storeOf().get('object.bin', { offset: 10, size: 50_000 });
    expect(bytes).toEqual(BYTES.subarray(10, 50_010));
    expect(proxy.requests).toBe(3);
  });

  it('into memory given for it receives the body there, and after a body cut short and a stall holds exactly the range', async () => {
    proxy.fault = (_, n) => (n === 0 ? { kind: 'truncate' } : n === 1 ? { kind: 'stall' } : { kind: 'pass' });
    const into = new Uint8Array(new SharedArrayBuffer(70_000), 10_000, 50_000);
    const { bytes } = await storeOf({ timeoutMs: 300 }).get('object.bin', { offset: 10, size: 50_000 }, into);
    expect(bytes.buffer).toBe(into.buffer);
    expect(bytes.byteOffset).toBe(into.byteOffset);
    expect(into).toEqual(BYTES.subarray(10, 50_010));
    expect(proxy.requests).toBe(3);
  });

  it('that keeps failing is an IoError naming the URL, range, status and attempts', async () => {
    proxy.fault = () => ({ kind: 'status', status: 503 });
    const error = await rejection(storeOf().get('object.bin', { offset: 10, size: 10 }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toBe(
      `${proxy.url}/object.bin: GET of bytes 10..20 failed after 3 attempts (retry budget: 2 retries within 60000 ms): HTTP 503 SlowDown`,
    );
    expect(error.details).toMatchObject({
      url: `${proxy.url}/object.bin`,
      offset: 10,
      size: 10,
      status: 503,
      attempts: 3,
    });
  });

  it.each([
    [403, 'access denied'],
    [404, 'no such object'],
  ])('answered %i is never retried and says what was denied', async (status, says) => {
    proxy.fault = () => ({ kind: 'status', status });
    const error = await rejection(storeOf().get('object.bin', { offset: 0, size: 10 }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(`failed after 1 attempt: HTTP ${status} Injected: ${says}`);
    expect(proxy.requests).toBe(1);
  });

  it('whose signing fails is an IoError at once, never retried, that names no credential', async () => {
    // A session token no header may carry: the signer rejects it, quoting it in its own message.
    const store = ObjectStore.open(
      's3://bucket/table.lance',
      {
        aws_access_key_id: 'AKIDEXAMPLE',
        aws_secret_access_key: 'SECRETKEY',
        aws_session_token: 'SESSIONTOKEN\u0000',
        aws_endpoint: proxy.url,
        aws_region: 'us-east-1',
        allow_http: 'true',
      },
      resolveRemoteIo({ retries: 2, timeoutMs: 5_000 }, 'remote'),
    );
    try {
      const error = await rejection(store.get('object.bin', { offset: 10, size: 10 }));
      expect(error).toBeInstanceOf(IoError);
      expect(error.code).toBe('IO_ERROR');
      expect(error.message).toBe(
        `s3://bucket/table.lance/object.bin: signing the GET of bytes 10..20 failed (TypeError): check the credentials in options.storage`,
      );
      expect(error.message).not.toMatch(/SESSIONTOKEN|SECRETKEY/);
      expect(proxy.requests).toBe(0);
    } finally {
      store.close();
    }
  });

  it('whose signing takes longer than timeoutMs is timed from when it is sent, not from when signing began', async () => {
    const timeoutMs = 200;
    const request: ObjectRequest = {
      shown: `${proxy.url}/object.bin`,
      range: { offset: 0, size: 100 },
      // A signer slower than the timeout (a loaded machine, a credentials provider that waits).
      target: () =>
        new Promise((resolve) =>
          setTimeout(() => resolve({ origin: proxy.url, path: '/object.bin', headers: [] }), 2 * timeoutMs),
        ),
      agent: undefined,
      maxRedirections: 0,
    };
    const { bytes } = await fetchObject(
      request,
      resolveRemoteIo({ retries: 2, timeoutMs }, 'remote'),
      new RequestLimiter(8, 1 << 30),
      new Attempts(timeoutMs, new AbortController().signal),
    );
    expect(bytes).toEqual(BYTES.subarray(0, 100));
    expect(proxy.requests).toBe(1);
  });

  it('whose body stalls is abandoned after timeoutMs and retried', async () => {
    proxy.fault = (_, n) => (n === 0 ? { kind: 'stall' } : { kind: 'pass' });
    const { bytes } = await storeOf({ timeoutMs: 300 }).get('object.bin', { offset: 0, size: 80_000 });
    expect(bytes).toEqual(BYTES.subarray(0, 80_000));
    expect(proxy.requests).toBe(2);
  });

  it('that always stalls ends with an IoError naming the timeout, never a hang', async () => {
    proxy.fault = () => ({ kind: 'stall' });
    const error = await rejection(
      storeOf({ timeoutMs: 200, retries: 1 }).get('object.bin', { offset: 0, size: 80_000 }),
    );
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain('failed after 2 attempts');
    expect(error.message).toContain('no complete answer within 200 ms (io.remote.timeoutMs)');
  });

  it('answered with the whole object (a server without Range support) fails at once, saying so', async () => {
    const plain = createServer((_, response) => {
      response.writeHead(200, { 'content-length': BYTES.length });
      response.end(BYTES);
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = plain.address() as AddressInfo;
      const store = ObjectStore.open(`http://127.0.0.1:${port}/d`, undefined, resolveRemoteIo({}, 'remote'));
      const error = await rejection(store.get('object.bin', { offset: 10, size: 20 }));
      expect(error).toBeInstanceOf(IoError);
      expect(error.message).toContain(
        'failed after 1 attempt: the server answered a range request with the whole object (200): it does not serve Range requests',
      );
    } finally {
      plain.close();
    }
  });

  it('stalled, started at different times, each time out and are retried', async () => {
    proxy.fault = (_, n) => (n < 3 ? { kind: 'stall' } : { kind: 'pass' });
    const store = storeOf({ timeoutMs: 300 });
    const gets: Promise<{ bytes: Uint8Array }>[] = [];
    for (let i = 0; i < 3; i++) {
      gets.push(store.get('object.bin', { offset: i * 1000, size: 1000 }));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const got = await Promise.all(gets);
    got.forEach(({ bytes }, i) => expect(bytes).toEqual(BYTES.subarray(i * 1000, i * 1000 + 1000)));
    expect(proxy.requests).toBe(6);
  });

  it('in flight is aborted by close() with an AbortError', async () => {
    proxy.fault = () => ({ kind: 'stall' });
    const store = storeOf({ timeoutMs: 600_000 });
    const pending = rejection(store.get('object.bin', { offset: 0, size: 80_000 }));
    while (proxy.requests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    store.close();
    const error = await pending;
    expect(error).toBeInstanceOf(AbortError);
    expect(error.message).toContain(
      `${proxy.url}/object.bin: the dataset was closed while bytes 0..80000 were being fetched`,
    );
  });
});

describe('requests in flight', () => {
  it('waiting for room add one listener to the signal that aborts them, and all of them reject when it does', async () => {
    const limiter = new RequestLimiter(1, 1 << 30);
    const closed = new AbortController();
    expect(limiter.acquire(10, closed.signal)).toBeUndefined();
    const waiting = Array.from({ length: 50 }, () => rejection(limiter.acquire(10, closed.signal) as Promise<void>));
    expect(getEventListeners(closed.signal, 'abort')).toHaveLength(1);
    closed.abort();
    for (const error of await Promise.all(waiting)) {
      expect(error).toBeInstanceOf(AbortError);
      expect(error.message).toBe('the dataset was closed while a request waited to be sent');
    }
  });

  it('never exceed the concurrency limit', async () => {
    proxy.delayMs = 30;
    const store = storeOf({ concurrency: 3 });
    const ranges = Array.from({ length: 12 }, (_, i) => ({ offset: i * 1000, size: 1000 }));
    const got = await Promise.all(ranges.map((r) => store.get('object.bin', r)));
    got.forEach(({ bytes }, i) => expect(bytes).toEqual(BYTES.subarray(i * 1000, i * 1000 + 1000)));
    expect(proxy.peakInFlight).toBe(3);
  });

  it('never exceed the byte limit, except one request larger than it going alone', async () => {
    proxy.delayMs = 30;
    const store = storeOf({ bytesInFlight: 2500 });
    const ranges = [
      ...Array.from({ length: 6 }, (_, i) => ({ offset: i * 1000, size: 1000 })),
      { offset: 0, size: 9000 },
    ];
    await Promise.all(ranges.map((r) => store.get('object.bin', r)));
    expect(proxy.peakInFlight).toBe(2);
  });
});

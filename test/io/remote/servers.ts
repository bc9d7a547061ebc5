/**
 * Loopback servers for the remote tests: an S3-compatible store (s3rver, its objects in a temporary
 * directory), a plain HTTP server answering Range requests over a local directory, and a fault-injecting
 * proxy in front of either. Every server listens on 127.0.0.1 on a port the OS picks.
 */
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, relative } from 'node:path';
import { AwsClient } from 'aws4fetch';
import S3rver from 's3rver';

/** Credentials s3rver accepts (its defaults), as LanceDB's storageOptions name them. */
export const S3_KEY = { awsAccessKeyId: 'S3RVER', awsSecretAccessKey: 'S3RVER', region: 'us-east-1' };

export interface S3Server {
  endpoint: string;
  /** LanceDB storage options for this server (also accepted by lance-loader's `storage`). */
  storage: Record<string, string>;
  close(): Promise<void>;
}

/** Starts s3rver with `buckets` on a random loopback port. */
export async function startS3(buckets: readonly string[]): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'lance-loader-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const { port } = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    storage: { endpoint, allowHttp: 'true', ...S3_KEY },
    async close() {
      // LanceDB's client keeps idle connections open for 90 s, and close() would wait for them.
      (server as unknown as { httpServer: Server }).httpServer.closeAllConnections();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Uploads every file under the local directory `dir` to `<endpoint>/<bucket>/<prefix>/…`, 8 at a time. */
export async function uploadDirectory(endpoint: string, dir: string, bucket: string, prefix: string): Promise<void> {
  const client = new AwsClient({
    accessKeyId: S3_KEY.awsAccessKeyId,
    secretAccessKey: S3_KEY.awsSecretAccessKey,
    region: S3_KEY.region,
    service: 's3',
  });
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
  for (let i = 0; i < files.length; i += 8) {
    await Promise.all(
      files.slice(i, i + 8).map(async (file) => {
        const key = file.split('/').map(encodeURIComponent).join('/');
        const response = await client.fetch(`${endpoint}/${bucket}/${prefix}/${key}`, {
          method: 'PUT',
          body: readFileSync(join(dir, file)),
        });
        if (!response.ok) throw new Error(`upload of ${file}: HTTP ${response.status}`);
      }),
    );
  }
}

export interface LoopbackServer {
  url: string;
  /** Requests answered so far. */
  requests: number;
  close(): Promise<void>;
}

function listen(server: Server, sockets: Set<Socket>, protocol = 'http'): Promise<string> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`${protocol}://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Serves the files under `root` over HTTP with single-range support (bytes=a-b, bytes=a-, bytes=-n); over
 * HTTPS with `tls`'s key and certificate.
 */
export async function startStaticServer(root: string, tls?: { key: string; cert: string }): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const served: LoopbackServer = { url: '', requests: 0, close: () => closeServer(server, sockets) };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    served.requests++;
    void serveFile(root, req, res);
  };
  const server: Server = tls ? createHttpsServer(tls, handle) : createServer(handle);
  served.url = await listen(server, sockets, tls ? 'https' : 'http');
  return served;
}

async function serveFile(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
  const info = await stat(path).catch(() => undefined);
  if (!path.startsWith(root) || !info?.isFile()) {
    res.writeHead(404).end('not found');
    return;
  }
  const size = info.size;
  const match = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (!match) {
    res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
    createReadStream(path).pipe(res);
    return;
  }
  let start = match[1] === '' ? Math.max(0, size - Number(match[2])) : Number(match[1]);
  const end = match[1] === '' || match[2] === '' ? size - 1 : Math.min(size - 1, Number(match[2]));
  if (start > end || start >= size) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  start = Math.max(0, start);
  res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
  createReadStream(path, { start, end }).pipe(res);
}

/** What the proxy does to one request, chosen per request. */
export type Fault =
  | { kind: 'pass' }
  /** Answers with this status and a short body, without asking the target. */
  | { kind: 'status'; status: number }
  /** Sends the headers and part of the body, then destroys the connection. */
  | { kind: 'reset' }
  /** Sends the headers and part of the body, then ends the response cleanly (a body shorter than announced). */
  | { kind: 'truncate' }
  /** Sends the headers and part of the body, then sends nothing more. */
  | { kind: 'stall' };

export interface FaultProxy extends LoopbackServer {
  /** Picks the fault of each request (by default every request passes). */
  fault: (req: IncomingMessage, n: number) => Fault;
  /** Milliseconds added before every request is forwarded. */
  delayMs: number;
  /** The most requests the proxy had open at once. */
  peakInFlight: number;
}

/**
 * A proxy in front of `target` that adds latency and the faults `proxy.fault` picks; it listens over HTTPS
 * with `tls`'s key and certificate (a TLS endpoint in front of a plain one).
 */
export async function startFaultProxy(target: string, tls?: { key: string; cert: string }): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const stalled = new Set<ServerResponse>();
  const proxy: FaultProxy = {
    url: '',
    requests: 0,
    delayMs: 0,
    peakInFlight: 0,
    fault: () => ({ kind: 'pass' }),
    close: () => {
      for (const res of stalled) res.destroy();
      return closeServer(server, sockets);
    },
  };
  let inFlight = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const fault = proxy.fault(req, proxy.requests++);
    proxy.peakInFlight = Math.max(proxy.peakInFlight, ++inFlight);
    res.on('close', () => inFlight--);
    const forward = () => {
      if (fault.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(`<Error><Code>${fault.status === 503 ? 'SlowDown' : 'Injected'}</Code></Error>`);
        return;
      }
      const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault.kind === 'pass') {
          answer.pipe(res);
          return;
        }
        answer.once('data', (chunk: Buffer) => {
          res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)));
          answer.destroy();
          if (fault.kind === 'reset') res.destroy();
          else if (fault.kind === 'truncate') res.socket?.end();
          else stalled.add(res);
        });
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (proxy.delayMs > 0) setTimeout(forward, proxy.delayMs);
    else forward();
  };
  const server: Server = tls ? createHttpsServer(tls, handle) : createServer(handle);
  proxy.url = await listen(server, sockets, tls ? 'https' : 'http');
  return proxy;
}

/** A temporary directory removed by the returned function. */
export function temporaryDirectory(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

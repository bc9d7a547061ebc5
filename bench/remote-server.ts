/**
 * The remote benchmark's object store, in processes of its own so that serving does not share an event
 * loop with the readers it measures. Two kinds:
 *
 *   lean    (default) the read side of S3 over a local directory: GET with one Range, HEAD and
 *           ListObjectsV2 (prefix, delimiter, start-after), path-style `/<bucket>/<key>` where the key is
 *           the path below the directory. SigV4 is not checked. Enough for LanceDB's object_store and
 *           lance-loader alike, at a few tenths of a millisecond of CPU per request instead of s3rver's
 *           several (koa, XML, a metadata file and a stream per GET), and served by --processes cluster
 *           workers sharing one port, so the store is not the bottleneck the readers are compared on.
 *   s3rver  s3rver (objects uploaded by the bench into a temporary directory) behind a proxy adding the
 *           delay, the protocol-faithful store of the tests.
 *
 * Every request waits --delay-ms before it is answered (the round trip of a far store). Prints one JSON
 * line `{ endpoint, delayed }` (the same URL for lean, whose delay is built in) and serves until killed.
 * A line "stats" on stdin is answered on stdout with `{ requests, cpuMs }` of the serving processes so far
 * (lean only). Run by bench/remote.ts: `node --import tsx bench/remote-server.ts --store lean --dir
 * bench/.data --bucket bench --delay-ms 20 --processes 2`.
 */
import cluster from 'node:cluster';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { startFaultProxy, startS3 } from '../test/io/remote/servers.js';

const argv = process.argv.slice(2);
function flag(name: string, fallback: string): string {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? (argv[at + 1] as string) : fallback;
}
const STORE = flag('store', 'lean');
const DELAY_MS = Number(flag('delay-ms', '20'));
const PROCESSES = Number(flag('processes', '2'));
const BUCKET = flag('bucket', 'bench');
const ROOT = normalize(flag('dir', '.'));

interface ServerStats {
  requests: number;
  cpuMs: number;
}

if (STORE === 's3rver') {
  const s3 = await startS3([BUCKET]);
  const proxy = await startFaultProxy(s3.endpoint);
  proxy.delayMs = DELAY_MS;
  process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, delayed: proxy.url })}\n`);
  process.on('SIGTERM', () => {
    void Promise.all([proxy.close(), s3.close()]).then(() => process.exit(0));
  });
} else if (cluster.isPrimary) {
  const workers = Array.from({ length: PROCESSES }, () => cluster.fork());
  const port = await new Promise<number>((resolve) =>
    cluster.once('listening', (_, address: AddressInfo) => resolve(address.port)),
  );
  const url = `http://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ endpoint: url, delayed: url })}\n`);
  createInterface({ input: process.stdin }).on('line', () => {
    void Promise.all(
      workers.map(
        (worker) =>
          new Promise<ServerStats>((resolve) => {
            worker.once('message', resolve);
            worker.send('stats');
          }),
      ),
    ).then((all) => {
      const total = all.reduce((a, s) => ({ requests: a.requests + s.requests, cpuMs: a.cpuMs + s.cpuMs }), {
        requests: 0,
        cpuMs: 0,
      });
      process.stdout.write(`${JSON.stringify(total)}\n`);
    });
  });
  process.on('SIGTERM', () => {
    for (const worker of workers) worker.kill();
    process.exit(0);
  });
} else {
  let requests = 0;
  process.on('message', () => {
    const { user, system } = process.cpuUsage();
    process.send?.({ requests, cpuMs: (user + system) / 1000 });
  });
  // Workers listening on port 0 share the one port the primary picks, which round-robins connections.
  createServer((req, res) => {
    requests++;
    setTimeout(() => void answer(req, res).catch(() => res.destroy()), DELAY_MS);
  }).listen(0, '127.0.0.1');
}

/** Open files by path, kept for the server's life (the bench's datasets are not rewritten while it runs). */
const files = new Map<string, Promise<FileHandle>>();

function fileOf(path: string): Promise<FileHandle> {
  let handle = files.get(path);
  if (!handle) {
    handle = open(path, 'r');
    handle.catch(() => files.delete(path));
    files.set(path, handle);
  }
  return handle;
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const [, bucket = '', ...rest] = url.pathname.split('/');
  const key = rest.map(decodeURIComponent).join('/');
  if (bucket !== BUCKET) return notFound(res, 'NoSuchBucket');
  if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2')
    return list(res, url.searchParams);
  const path = normalize(join(ROOT, key));
  if (!path.startsWith(ROOT + sep)) return notFound(res, 'NoSuchKey');
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return notFound(res, 'NoSuchKey');
  const headers = {
    'accept-ranges': 'bytes',
    etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
    'last-modified': info.mtime.toUTCString(),
    'content-type': 'application/octet-stream',
  };
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = info.size - 1;
  if (range) {
    if (range[1] === '') start = Math.max(0, info.size - Number(range[2]));
    else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${info.size}` }).end();
      return;
    }
  }
  const length = end - start + 1;
  const status = range ? 206 : 200;
  const rangeHeader = range ? { 'content-range': `bytes ${start}-${end}/${info.size}` } : {};
  res.writeHead(status, { ...headers, ...rangeHeader, 'content-length': length });
  if (req.method === 'HEAD') return void res.end();
  const body = Buffer.allocUnsafe(length);
  const file = await fileOf(path);
  for (let done = 0; done < length;) {
    const { bytesRead } = await file.read(body, done, length - done, start + done);
    if (bytesRead === 0) throw new Error(`${path} ended at ${start + done}`);
    done += bytesRead;
  }
  res.end(body);
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { 'content-type': 'application/xml' }).end(`<Error><Code>${code}</Code></Error>`);
}

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);

/** ListObjectsV2 under the bucket: every key starting with `prefix`, folded at `delimiter` ('/' only). */
async function list(res: ServerResponse, query: URLSearchParams): Promise<void> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const startAfter = query.get('start-after') ?? '';
  const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  const entries = await readdir(join(ROOT, dir), { recursive: delimiter !== '/', withFileTypes: true }).catch(() => []);
  const contents: string[] = [];
  const folders: string[] = [];
  for (const entry of entries) {
    const below = join(entry.parentPath, entry.name).slice(join(ROOT, dir).length).replace(/^\//, '');
    const key = `${dir}${below}`;
    if (!key.startsWith(prefix) || key <= startAfter) continue;
    const info = await stat(join(ROOT, key)).catch(() => undefined);
    if (info?.isDirectory() && delimiter === '/')
      folders.push(`<CommonPrefixes><Prefix>${escapeXml(key)}/</Prefix></CommonPrefixes>`);
    else if (info?.isFile())
      contents.push(
        `<Contents><Key>${escapeXml(key)}</Key><LastModified>${info.mtime.toISOString()}</LastModified><ETag>"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"</ETag><Size>${info.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
  }
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>${BUCKET}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${contents.length + folders.length}</KeyCount>` +
    `<MaxKeys>100000</MaxKeys><Delimiter>${escapeXml(delimiter)}</Delimiter><IsTruncated>false</IsTruncated>` +
    `${contents.join('')}${folders.join('')}</ListBucketResult>`;
  res.writeHead(200, { 'content-type': 'application/xml' }).end(xml);
}

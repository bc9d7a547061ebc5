/**
 * The remote benchmark's object store, in processes of its own so that serving does not share an event
 * loop with the readers it measures. Two kinds:
 *
 *   lean    (default) the read side of S3 over a local directory: GET with one Range, HEAD and
 *           ListObjectsV2 (prefix, delimiter, start-after), path-style `/<bucket>/<key>` where the key is
 *           the path below the directory. SigV4 is not checked. Enough for LanceDB's object_store and
 *           lance-loader alike. It stands in for S3, whose CPU is not on the reader's machine, so it
 *           spends as little CPU per request as it can on the cores it shares with the readers: HTTP/1.1
 *           over `net` (Node's http server, its request and response objects and streams were most of
 *           its CPU), each object opened and stat'ed once, and an answer's header lines and bytes
 *           assembled in one kept buffer by one synchronous read (the datasets sit in the page cache)
 *           and sent by one write. Served by --processes cluster workers sharing one port.
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
import { openSync, readdirSync, readSync, statSync, type Dirent, type Stats } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join, normalize, resolve, sep } from 'node:path';
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
const ROOT = resolve(flag('dir', '.'));

/** The blank line ending a request's head; GET and HEAD have no body. */
const HEAD_END = '\r\n\r\n';
/** Most bytes of a request head kept while its end has not arrived. */
const MAX_HEAD_BYTES = 64 * 1024;
/** A Range header of one range, in the lowercased head. */
const RANGE = /\r\nrange:[ \t]*bytes=(\d*)-(\d*)/;

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
  createTcpServer((socket) => {
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      const data = pending ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      for (let end = data.indexOf(HEAD_END, at); end >= 0; end = data.indexOf(HEAD_END, at)) {
        requests++;
        delayed.push({ due: performance.now() + DELAY_MS, socket, head: data.toString('latin1', at, end) });
        at = end + HEAD_END.length;
      }
      pending = at < data.length ? data.subarray(at) : undefined;
      if (pending && pending.length > MAX_HEAD_BYTES) socket.destroy();
      if (delayed.length > 0 && timer === undefined) answerDue();
    });
    socket.on('error', () => socket.destroy());
  }).listen(0, '127.0.0.1');
}

/**
 * A request received and when it is due: requests wait in arrival order, and all wait DELAY_MS, so the
 * queue is also in order of due time and one timer, set for its head, answers them all (a request's
 * answer then also leaves its connection in order when a client pipelines).
 */
interface DelayedRequest {
  due: number;
  socket: Socket;
  /** Request line and headers, without the blank line. */
  head: string;
}
const delayed: DelayedRequest[] = [];
let timer: NodeJS.Timeout | undefined;

function answerDue(): void {
  timer = undefined;
  const now = performance.now();
  let served = 0;
  for (; served < delayed.length && (delayed[served] as DelayedRequest).due <= now; served++) {
    const { socket, head } = delayed[served] as DelayedRequest;
    try {
      if (!socket.destroyed) answer(socket, head);
    } catch {
      socket.destroy();
    }
  }
  delayed.splice(0, served);
  // A timer may fire early by the event loop's millisecond clock: the next is set again, never answers early.
  if (delayed.length > 0)
    timer = setTimeout(answerDue, Math.max(1, Math.ceil((delayed[0] as DelayedRequest).due - now)));
}

/**
 * An object served, opened and described once (the bench's datasets are not rewritten while it runs):
 * its descriptor, size and the answer's header lines other than the status, Content-Range and Length.
 */
interface ServedFile {
  fd: number;
  size: number;
  headers: string;
}
/** By request path as received (still percent-encoded). */
const files = new Map<string, ServedFile>();

/** The file of an object key below ROOT, or undefined when there is none. */
function fileAt(target: string): ServedFile | undefined {
  const known = files.get(target);
  if (known) return known;
  const [, bucket = '', ...rest] = target.split('/');
  const path = normalize(join(ROOT, ...rest.map(decodeURIComponent)));
  if (bucket !== BUCKET || !path.startsWith(ROOT + sep)) return undefined;
  const info = statIfExists(path);
  if (!info?.isFile()) return undefined;
  const file = {
    fd: openSync(path, 'r'),
    size: info.size,
    headers:
      `accept-ranges: bytes\r\netag: "${etagOf(info)}"\r\nlast-modified: ${info.mtime.toUTCString()}\r\n` +
      'content-type: application/octet-stream\r\n',
  };
  files.set(target, file);
  return file;
}

/** Answers one request: GET or HEAD of an object (whole, a range or a suffix), or ListObjectsV2. */
function answer(socket: Socket, head: string): void {
  const lower = head.toLowerCase();
  const close = lower.includes('\r\nconnection: close');
  const [method = '', target = ''] = head.slice(0, head.indexOf('\r\n')).split(' ');
  const query = target.indexOf('?');
  if (query >= 0) {
    const params = new URLSearchParams(target.slice(query + 1));
    const path = target.slice(0, query);
    if ((path === `/${BUCKET}` || path === `/${BUCKET}/`) && params.get('list-type') === '2')
      return respond(socket, close, '200 OK', 'content-type: application/xml\r\n', list(params));
  }
  const file = fileAt(query >= 0 ? target.slice(0, query) : target);
  if (!file)
    return notFound(socket, close, target.startsWith(`/${BUCKET}/`) ? 'NoSuchKey' : 'NoSuchBucket', method === 'HEAD');
  let start = 0;
  let end = file.size - 1;
  const range = RANGE.exec(lower);
  if (range) {
    if (range[1] === '') start = Math.max(0, file.size - Number(range[2]));
    else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (start > end)
      return respond(socket, close, '416 Range Not Satisfiable', `content-range: bytes */${file.size}\r\n`, '');
  }
  const length = end - start + 1;
  const lines =
    `HTTP/1.1 ${range ? '206 Partial Content' : '200 OK'}\r\n${file.headers}` +
    `${range ? `content-range: bytes ${start}-${end}/${file.size}\r\n` : ''}content-length: ${length}\r\n\r\n`;
  const body = method === 'HEAD' ? 0 : length;
  const out = outputOf(lines.length + body);
  out.write(lines, 0, 'latin1');
  for (let done = 0; done < body;) {
    const read = readSync(file.fd, out, lines.length + done, body - done, start + done);
    if (read === 0) throw new Error(`${target} ended at ${start + done}`);
    done += read;
  }
  send(socket, out.subarray(0, lines.length + body), close);
}

/**
 * The buffer an answer is assembled in: one kept for every answer, unless a socket still holds it (a
 * write the kernel did not take at once is sent from the buffer later).
 */
let output = Buffer.allocUnsafeSlow(1 << 20);

function outputOf(bytes: number): Buffer {
  if (bytes > output.length) output = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * output.length));
  return output;
}

function send(socket: Socket, bytes: Buffer, close: boolean): void {
  socket.write(bytes);
  // Left to write later: the socket keeps this buffer, so the next answer gets another.
  if (socket.writableLength > 0 && bytes.buffer === output.buffer) output = Buffer.allocUnsafeSlow(output.length);
  if (close) socket.end();
}

/** An answer with `body`, whose bytes a HEAD answer leaves out (its content-length still counts them). */
function respond(socket: Socket, close: boolean, status: string, headers: string, body: string, head = false): void {
  const length = Buffer.byteLength(body);
  const text = `HTTP/1.1 ${status}\r\n${headers}content-length: ${length}\r\n\r\n${head ? '' : body}`;
  send(socket, Buffer.from(text, 'utf8'), close);
}

function notFound(socket: Socket, close: boolean, code: string, head: boolean): void {
  respond(
    socket,
    close,
    '404 Not Found',
    'content-type: application/xml\r\n',
    `<Error><Code>${code}</Code></Error>`,
    head,
  );
}

function statIfExists(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

const etagOf = (info: Stats) => `${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}`;

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);

/**
 * ListObjectsV2 under the bucket: every key starting with `prefix`, folded at `delimiter` ('/' only). Read
 * synchronously, as every answer is, so answers leave a connection in the order asked.
 */
function list(query: URLSearchParams): string {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const startAfter = query.get('start-after') ?? '';
  const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(join(ROOT, dir), { recursive: delimiter !== '/', withFileTypes: true });
  } catch {
    // No such directory: nothing under the prefix.
  }
  const contents: string[] = [];
  const folders: string[] = [];
  for (const entry of entries) {
    const below = join(entry.parentPath, entry.name).slice(join(ROOT, dir).length).replace(/^\//, '');
    const key = `${dir}${below}`;
    if (!key.startsWith(prefix) || key <= startAfter) continue;
    const info = statIfExists(join(ROOT, key));
    if (info?.isDirectory() && delimiter === '/')
      folders.push(`<CommonPrefixes><Prefix>${escapeXml(key)}/</Prefix></CommonPrefixes>`);
    else if (info?.isFile())
      contents.push(
        `<Contents><Key>${escapeXml(key)}</Key><LastModified>${info.mtime.toISOString()}</LastModified><ETag>"${etagOf(info)}"</ETag><Size>${info.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>${BUCKET}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${contents.length + folders.length}</KeyCount>` +
    `<MaxKeys>100000</MaxKeys><Delimiter>${escapeXml(delimiter)}</Delimiter><IsTruncated>false</IsTruncated>` +
    `${contents.join('')}${folders.join('')}</ListBucketResult>`
  );
}

/**
 * A lean HTTP/1.1 client for object GETs: keep-alive connections per origin over `net` or `tls`, one
 * write per request, and a parser that reads the status line and headers of an answer and hands its
 * body's bytes to the request's {@link ResponseHandler} as they arrive, slices of one receive buffer that
 * every socket reads into. No Readable stream, timer or AbortController per request: the caller times its
 * attempts (fetch-object.ts does, with one timer per store) and cancels one with {@link Exchange.abort}.
 *
 *   request ──► Agent ──► Pool (origin) ──► idle Connection (newest first) or a new socket
 *                                               │ "GET path HTTP/1.1 ..." in one write
 *                                               ▼
 *   handler ◄── onHead(status, lengths) ◄── head (status line, headers; 1xx skipped, redirects followed)
 *           ◄── onBody(chunk, start, end) ◄── Content-Length, chunked, or until the server closes
 *           ◄── onEnd(error?)             ──► the connection goes back to its pool, or is closed
 *
 * What it refuses, as a {@link ProtocolError}: a status line that is not HTTP/1.x, a head past
 * MAX_HEAD_BYTES, a malformed Content-Length or chunk, a Transfer-Encoding other than `chunked`, bytes
 * past the end of a body, in the same read as the answer. Requests are never pipelined: a released
 * connection sends its next request only after the event loop has polled its socket once more, and a
 * byte arriving while no request is sent on it closes it (the request waiting goes to a new connection).
 * Bytes a server sends after that poll would still be read as the next answer: HTTP/1.1 cannot tell
 * them apart. A request whose reused connection closes before any byte of the answer arrives (the
 * server closed it while idle: the keep-alive race) is sent again once on a new connection. Idle
 * connections are closed after IDLE_MS, before servers commonly close theirs (Node's http server: 5 s),
 * and do not keep the process alive.
 *
 * Only GET is sent, so a body ends where its framing says (no HEAD answers without bodies). Requests ask
 * for `identity` when the caller says so; bodies are never decompressed.
 */
import { connect as connectTcp, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as connectTls, createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { InternalError } from '../../errors.js';

/** Largest status line and headers of one answer. */
const MAX_HEAD_BYTES = 16 * 1024;

/** How long a connection stays open unused. */
const IDLE_MS = 4_000;

/** Bytes one read of a socket takes, as many as libuv's own reads. */
const RECEIVE_BYTES = 64 * 1024;

/**
 * The memory every socket of this thread reads into (net's `onread`): each read is parsed, and its body
 * bytes copied out, before the next read of any socket, so one buffer serves all, instead of a Buffer
 * and a Readable stream push per read.
 */
let receiveBuffer: Buffer | undefined;

/**
 * An answer the client cannot read as HTTP/1.1: the server (or something between) is broken. fetch-object
 * wraps it into an IoError naming the URL.
 */
export class ProtocolError extends Error {
  readonly code = 'HTTP_PROTOCOL';
}

/** What a request's answer is handed to. Each exchange calls onEnd exactly once, last. */
export interface ResponseHandler {
  /**
   * The answer's status (never 1xx, nor a redirect that was followed) with its Content-Length (-1 when
   * the body is chunked or runs to the connection's end) and Content-Range (`''` when absent). Returning
   * false refuses it: the connection is closed and nothing more arrives but onEnd.
   */
  onHead(status: number, contentLength: number, contentRange: string): boolean;
  /** Bytes `start..end` of `chunk` are the next bytes of the body; `chunk` is reused after the call: copy what is kept. */
  onBody(chunk: Buffer, start: number, end: number): void;
  /** The answer is complete (undefined) or failed. */
  onEnd(error: Error | undefined): void;
}

/** One request and its answer, across the connections and redirects it takes. */
export class Exchange {
  /** The connection its answer is awaited on. */
  connection: Connection | undefined;
  done = false;
  /** Sent again on a new connection after its reused one closed unanswered. */
  resent = false;

  constructor(
    readonly agent: Agent,
    public origin: string,
    public path: string,
    /** Header lines after Host, each ending in CRLF. */
    readonly headerLines: string,
    public redirectsLeft: number,
    readonly handler: ResponseHandler,
  ) {}

  /** Ends the exchange with `error`, closing its connection (whose answer can then never be read to its end). */
  abort(error: Error): void {
    if (this.done) return;
    const { connection } = this;
    if (connection) {
      connection.exchange = undefined;
      connection.destroy();
    }
    this.end(error);
  }

  end(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    this.connection = undefined;
    this.handler.onEnd(error);
  }
}

/**
 * Connections per origin, trusting `ca` (PEM certificates; Node's defaults when undefined) over TLS.
 * Connections are opened as requests need them: the caller bounds its requests in flight, and so the
 * connections (io.remote.concurrency).
 */
export class Agent {
  private readonly pools = new Map<string, Pool>();
  private destroyed = false;
  private context: SecureContext | undefined;

  constructor(private readonly ca: readonly string[] | undefined) {}

  /** The TLS context of every connection, trusting `ca` (Node's roots when undefined), made once rather than per connection. */
  get secureContext(): SecureContext {
    this.context ??= createSecureContext(this.ca === undefined ? {} : { ca: [...this.ca] });
    return this.context;
  }

  /**
   * Sends `GET path` to `origin` with `headerLines` (each `name: value\r\n`, Host not among them: it is
   * added), following up to `maxRedirections` redirects; the answer goes to `handler`.
   */
  request(
    origin: string,
    path: string,
    headerLines: string,
    maxRedirections: number,
    handler: ResponseHandler,
  ): Exchange {
    const exchange = new Exchange(this, origin, path, headerLines, maxRedirections, handler);
    this.send(exchange, false);
    return exchange;
  }

  /** Sends `exchange` on an idle connection to its origin, or a new one (`fresh`: always a new one). */
  send(exchange: Exchange, fresh: boolean): void {
    if (this.destroyed) {
      exchange.end(new Error('the connections were closed'));
      return;
    }
    let pool = this.pools.get(exchange.origin);
    if (pool === undefined) {
      pool = new Pool(exchange.origin, this);
      this.pools.set(exchange.origin, pool);
    }
    let connection = fresh ? undefined : pool.idle.pop();
    // A connection closing (by either side) leaves the idle list when it has closed, a little later.
    while (connection?.socket.destroyed) connection = pool.idle.pop();
    (connection ?? new Connection(pool)).send(exchange);
  }

  /** Closes every connection; requests in flight fail, later ones too. */
  destroy(): void {
    this.destroyed = true;
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }
}

/** The connections to one origin. */
class Pool {
  readonly tls: boolean;
  readonly hostname: string;
  readonly port: number;
  /** The Host header's line. */
  readonly hostLine: string;
  readonly open = new Set<Connection>();
  /** Idle connections, least recently used first. */
  readonly idle: Connection[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    origin: string,
    private readonly agent: Agent,
  ) {
    const url = new URL(origin);
    this.tls = url.protocol === 'https:';
    // An IPv6 literal comes bracketed in the URL and must not be in the socket's address.
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port === '' ? (this.tls ? 443 : 80) : Number(url.port);
    this.hostLine = `host: ${url.host}\r\n`;
  }

  /** A new socket to the origin, whose reads go to `receive` (`length` bytes at the start of `bytes`). */
  connect(receive: (length: number, bytes: Buffer) => boolean): Socket {
    const onread: OnReadOpts = { buffer: (receiveBuffer ??= Buffer.allocUnsafeSlow(RECEIVE_BYTES)), callback: receive };
    if (!this.tls) return connectTcp({ host: this.hostname, port: this.port, onread });
    // tls.connect takes onread too (Node 14.18), which @types/node leaves out of ConnectionOptions.
    const options: ConnectionOptions & { onread: OnReadOpts } = {
      host: this.hostname,
      port: this.port,
      onread,
      // SNI takes a name, never an address.
      ...(isIP(this.hostname) === 0 ? { servername: this.hostname } : {}),
      secureContext: this.agent.secureContext,
      ALPNProtocols: ['http/1.1'],
    };
    return connectTls(options);
  }

  release(connection: Connection): void {
    connection.idleSince = performance.now();
    this.idle.push(connection);
    this.sweeper ??= setTimeout(() => this.sweep(), IDLE_MS).unref();
  }

  forget(connection: Connection): void {
    this.open.delete(connection);
    const at = this.idle.lastIndexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  }

  /** Closes the connections idle for IDLE_MS; looks again while any remain. */
  private sweep(): void {
    this.sweeper = undefined;
    const stale = performance.now() - IDLE_MS;
    let expired = 0;
    while (expired < this.idle.length && (this.idle[expired] as Connection).idleSince <= stale) expired++;
    for (const connection of this.idle.splice(0, expired)) connection.destroy();
    const oldest = this.idle[0];
    if (oldest !== undefined)
      this.sweeper = setTimeout(() => this.sweep(), oldest.idleSince + IDLE_MS - performance.now()).unref();
  }

  destroy(): void {
    clearTimeout(this.sweeper);
    for (const connection of [...this.open]) connection.destroy();
  }
}

/** Connections released since the last immediate, and whether it is scheduled. */
let released: Connection[] = [];
let settleScheduled = false;

/**
 * Settles `connection` two immediates later, one pair for all connections released in a turn: the first
 * runs in the same turn of the event loop as the read that ended the answer, the second after the next
 * poll, which has read (and so closed the connection on) any bytes that arrived after the answer.
 */
function settleLater(connection: Connection): void {
  released.push(connection);
  if (settleScheduled) return;
  settleScheduled = true;
  setImmediate(() => {
    const batch = released;
    released = [];
    settleScheduled = false;
    setImmediate(() => {
      for (const each of batch) each.settled();
    });
  });
}

/** Where the parser is in the current answer. */
const enum Phase {
  Head,
  /** contentLeft bytes of body to go. */
  Length,
  /** The body runs to the connection's end. */
  UntilClose,
  /** Reading a chunk's size line. */
  ChunkSize,
  /** contentLeft bytes of the chunk's data to go. */
  ChunkData,
  /** The CRLF after a chunk's data; contentLeft bytes of it to go. */
  ChunkEnd,
  /** Trailer lines after the last chunk, up to an empty one. */
  Trailers,
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One socket, answering one request at a time. */
class Connection {
  readonly socket: Socket;
  exchange: Exchange | undefined;
  idleSince = 0;
  /** Whether an answer was read on it before (only then can the server have closed it while idle). */
  private reused = false;
  /**
   * Released, but not yet through a poll of the sockets: a request sent on it waits (see settleLater), as
   * bytes the server sent after its answer may already be in the kernel's buffer.
   */
  private settling = false;
  /** Whether any byte of the current answer arrived. */
  private answered = false;
  private error: Error | undefined;
  private phase = Phase.Head;
  /** Whether the current answer has been read to its end (receive() then finishes it). */
  private complete = false;
  /** Bytes of a head (or a chunk-size or trailer line) received in earlier chunks. */
  private partial: Buffer | undefined;
  private contentLeft = 0;
  private keepAlive = true;
  /** Where the current answer redirects to (its body is then skipped), or undefined. */
  private location: string | undefined;

  constructor(private readonly pool: Pool) {
    pool.open.add(this);
    const socket = pool.connect((length, bytes) => {
      this.receive(bytes.subarray(0, length));
      return true;
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('end', () => this.ended());
    socket.on('error', (error: Error) => (this.error ??= error));
    socket.on('close', () => this.closed());
  }

  send(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.answered = false;
    this.phase = Phase.Head;
    this.location = undefined;
    this.socket.ref();
    if (!this.settling) this.write(exchange);
  }

  private write(exchange: Exchange): void {
    this.socket.write(`GET ${exchange.path} HTTP/1.1\r\n${this.pool.hostLine}${exchange.headerLines}\r\n`, 'latin1');
  }

  /** Sends the request that waited for the connection to settle, if any (see settleLater). */
  settled(): void {
    this.settling = false;
    const { exchange } = this;
    if (exchange !== undefined && !this.socket.destroyed) this.write(exchange);
  }

  destroy(): void {
    this.keepAlive = false;
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined || this.settling) {
      // Nothing was asked (a request waiting for the settling is not sent yet): what arrives belongs to no
      // request. A waiting request is sent again on a new connection when this one has closed.
      this.destroy();
      return;
    }
    this.answered = true;
    let at = 0;
    try {
      // The loop stops at the end of an answer, before the connection is released or sent a redirect's
      // request, so that its bytes are never read as the next answer.
      while (at < chunk.length && !this.complete && !exchange.done) at = this.parse(exchange, chunk, at);
      // Refused or cancelled, the connection is closed already and what else arrived is dropped.
      if (exchange.done || !this.complete) return;
      // Requests are not pipelined: bytes after an answer belong to none.
      if (at < chunk.length) throw new ProtocolError(`${chunk.length - at} bytes arrived past the end of the answer`);
      this.finish(exchange);
    } catch (error) {
      // Thrown out of this socket callback, any error would end the thread.
      exchange.abort(
        error instanceof ProtocolError
          ? error
          : new InternalError(
              `reading the answer from ${exchange.origin} failed: ${String(error)}`,
              {},
              { cause: error },
            ),
      );
    }
  }

  /** Reads what `chunk` holds from `at` for the current phase; where it stopped. */
  private parse(exchange: Exchange, chunk: Buffer, at: number): number {
    switch (this.phase) {
      case Phase.Head:
        return this.parseHead(exchange, chunk, at);
      case Phase.Length: {
        const end = Math.min(chunk.length, at + this.contentLeft);
        this.deliver(exchange, chunk, at, end);
        this.contentLeft -= end - at;
        if (this.contentLeft === 0) this.complete = true;
        return end;
      }
      case Phase.UntilClose:
        this.deliver(exchange, chunk, at, chunk.length);
        return chunk.length;
      case Phase.ChunkData: {
        const end = Math.min(chunk.length, at + this.contentLeft);
        this.deliver(exchange, chunk, at, end);
        this.contentLeft -= end - at;
        if (this.contentLeft === 0) {
          this.phase = Phase.ChunkEnd;
          this.contentLeft = 2;
        }
        return end;
      }
      case Phase.ChunkEnd:
        for (; this.contentLeft > 0 && at < chunk.length; this.contentLeft--, at++)
          if (chunk[at] !== (this.contentLeft === 2 ? 13 : 10))
            throw new ProtocolError("a chunk's data is not followed by CRLF");
        if (this.contentLeft === 0) this.phase = Phase.ChunkSize;
        return at;
      case Phase.ChunkSize:
      case Phase.Trailers:
        return this.parseChunkLine(chunk, at);
    }
  }

  /** Reads a head from `chunk` at `at` (with what earlier chunks brought); where its bytes end. */
  private parseHead(exchange: Exchange, chunk: Buffer, at: number): number {
    const line = this.line(chunk, at, '\r\n\r\n', 'the status line and headers');
    if (line === undefined) return chunk.length;
    this.readHead(exchange, line.bytes.toString('latin1', line.start, line.end));
    return line.after;
  }

  /**
   * Finds `terminator` in the bytes kept from earlier chunks followed by `chunk` from `at`: the bytes
   * searched, where the line starts and ends in them and where `chunk`'s bytes after its terminator
   * begin; undefined (the rest is kept) when the terminator has not arrived yet.
   */
  private line(
    chunk: Buffer,
    at: number,
    terminator: string,
    what: string,
  ): { bytes: Buffer; start: number; end: number; after: number } | undefined {
    const kept = this.partial;
    // Searching the kept bytes again finds a terminator split between two chunks.
    const bytes = kept === undefined ? chunk : Buffer.concat([kept, chunk.subarray(at)]);
    const start = kept === undefined ? at : 0;
    const end = bytes.indexOf(terminator, start);
    if (end < 0 || end - start > MAX_HEAD_BYTES) {
      if (bytes.length - start > MAX_HEAD_BYTES)
        throw new ProtocolError(`${what} of the answer are longer than ${MAX_HEAD_BYTES} bytes`);
      this.partial = Buffer.from(bytes.subarray(start));
      return undefined;
    }
    this.partial = undefined;
    const after = end + terminator.length + (kept === undefined ? 0 : at - kept.length);
    return { bytes, start, end, after };
  }

  /** Takes in a head: skips 1xx, notes a redirect to follow, else hands status and lengths to the handler. */
  private readHead(exchange: Exchange, head: string): void {
    if (!head.startsWith('HTTP/1.') || head.charCodeAt(8) !== 32 || !/^\d{3}$/.test(head.slice(9, 12)))
      throw new ProtocolError(
        `the answer does not start with an HTTP/1.x status line: ${JSON.stringify(head.slice(0, 40))}`,
      );
    const status = Number(head.slice(9, 12));
    if (status < 200) {
      if (status === 101) throw new ProtocolError('the server switched protocols (101), which was not asked for');
      return; // 100 Continue, 103 Early Hints: the real answer follows.
    }
    let contentLength = -1;
    let contentRange = '';
    let chunked = false;
    let close = head.charCodeAt(7) === 48; // HTTP/1.0 closes unless it says keep-alive
    let location: string | undefined;
    for (let from = head.indexOf('\r\n') + 2; from > 1 && from < head.length;) {
      const next = head.indexOf('\r\n', from);
      const to = next < 0 ? head.length : next;
      const colon = head.indexOf(':', from);
      if (colon < 0 || colon > to)
        throw new ProtocolError(
          `a header line has no colon: ${JSON.stringify(head.slice(from, Math.min(to, from + 40)))}`,
        );
      // Names are compared only when their length is one of the few read: most are never lowered.
      const nameLength = colon - from;
      if (nameLength === 14 || nameLength === 13 || nameLength === 17 || nameLength === 10 || nameLength === 8) {
        const name = head.slice(from, colon).toLowerCase();
        const value = head.slice(colon + 1, to).trim();
        if (name === 'content-length') {
          if (!/^\d{1,15}$/.test(value) || (contentLength >= 0 && contentLength !== Number(value)))
            throw new ProtocolError(`unreadable Content-Length "${value.slice(0, 40)}"`);
          contentLength = Number(value);
        } else if (name === 'content-range') contentRange = value;
        else if (name === 'transfer-encoding') {
          // Any coding besides chunked (gzip, chunked) would hand over coded bytes: bodies are never decoded.
          if (chunked || value.toLowerCase() !== 'chunked')
            throw new ProtocolError(`unsupported Transfer-Encoding "${value.slice(0, 40)}"`);
          chunked = true;
        } else if (name === 'connection') {
          const tokens = value.toLowerCase();
          if (/(^|,)\s*close\s*(,|$)/.test(tokens)) close = true;
          else if (/(^|,)\s*keep-alive\s*(,|$)/.test(tokens)) close = false;
        } else if (name === 'location') location = value;
      }
      from = to + 2;
    }
    // Both lengths: chunked frames the body, and the connection is not reused (RFC 9112 §6.3).
    this.keepAlive = !close && !(chunked && contentLength >= 0);
    if (REDIRECTS.has(status) && location !== undefined && exchange.redirectsLeft > 0) this.location = location;
    else if (!exchange.handler.onHead(status, chunked ? -1 : contentLength, contentRange)) {
      exchange.abort(new Error('the answer was refused'));
      return;
    }
    if (chunked) this.phase = Phase.ChunkSize;
    else if (status === 204 || status === 304 || contentLength === 0) this.complete = true;
    else if (contentLength > 0) {
      this.phase = Phase.Length;
      this.contentLeft = contentLength;
    } else {
      this.phase = Phase.UntilClose;
      this.keepAlive = false;
    }
  }

  /** Reads a chunk-size line, or a trailer line after the last chunk; where its bytes end. */
  private parseChunkLine(chunk: Buffer, at: number): number {
    const line = this.line(chunk, at, '\r\n', 'a chunk-size or trailer line');
    if (line === undefined) return chunk.length;
    const { bytes, start, end, after } = line;
    if (this.phase === Phase.Trailers) {
      if (end === start) this.complete = true;
      return after;
    }
    // The size in hex, then optional extensions after `;`.
    const text = bytes.toString('latin1', start, end);
    const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(text)?.[1];
    if (size === undefined) throw new ProtocolError(`unreadable chunk size "${text.slice(0, 40)}"`);
    this.contentLeft = parseInt(size, 16);
    this.phase = this.contentLeft === 0 ? Phase.Trailers : Phase.ChunkData;
    return after;
  }

  private deliver(exchange: Exchange, chunk: Buffer, start: number, end: number): void {
    // A redirect's body is skipped.
    if (this.location === undefined && end > start) exchange.handler.onBody(chunk, start, end);
  }

  /** The answer is complete: the connection is released (or closed), then the exchange ends or is redirected. */
  private finish(exchange: Exchange): void {
    this.exchange = undefined;
    this.reused = true;
    this.phase = Phase.Head;
    this.complete = false;
    const { location } = this;
    if (this.keepAlive && !this.socket.destroyed) {
      this.socket.unref();
      this.settling = true;
      settleLater(this);
      this.pool.release(this);
    } else this.destroy();
    if (location === undefined) {
      exchange.end(undefined);
      return;
    }
    let target: URL;
    try {
      target = new URL(location, `${exchange.origin}${exchange.path}`);
    } catch {
      exchange.end(new ProtocolError(`a redirect to an unreadable Location "${location.slice(0, 80)}"`));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      exchange.end(new ProtocolError(`a redirect to a ${target.protocol} URL`));
      return;
    }
    exchange.redirectsLeft--;
    exchange.origin = target.origin;
    exchange.path = `${target.pathname}${target.search}`;
    exchange.agent.send(exchange, false);
  }

  /** The server closed its side: the end of a body that runs to it. */
  private ended(): void {
    const { exchange } = this;
    if (exchange !== undefined && this.phase === Phase.UntilClose) this.finish(exchange);
  }

  private closed(): void {
    this.pool.forget(this);
    const { exchange } = this;
    if (exchange === undefined || exchange.done) return;
    this.exchange = undefined;
    if (!this.answered && this.reused && !exchange.resent) {
      // The keep-alive race: the server closed the connection as the request was sent on it.
      exchange.resent = true;
      exchange.agent.send(exchange, true);
      return;
    }
    exchange.end(
      this.error ??
        new Error(
          this.answered
            ? 'the server closed the connection before the answer was complete'
            : 'the server closed the connection without answering',
        ),
    );
  }
}

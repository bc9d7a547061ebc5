/**
 * One GET of an object or a byte range of it, as object storage needs it: a timeout per attempt (body
 * included, so a stalled body is abandoned), retries with exponential backoff and full jitter for what
 * can pass (5xx, 429/SlowDown, 408, connection resets, timeouts, short bodies) within a budget of
 * attempts and time, and never for what will not (403, 404 and other 4xx). A failure is an IoError
 * naming the URL (never a credential: requests are signed in headers, and URLs are shown without query
 * strings), the range, the last status and the attempts. Closing the store aborts attempts in flight and
 * backoffs, with an AbortError.
 *
 * Keep-alive: requests go to http1-client.ts, whose connections stay open per origin, one request in
 * flight on each, and whose parser hands the body's bytes straight to this module's BodyCollector: no
 * WHATWG Request and Response, no Readable body, AbortController or timer per request, which were most
 * of the reader's CPU per request.
 */
import { AbortError, InternalError, IoError } from '../../errors.js';
import { concatBytes } from '../../format/bytes.js';
import type { ByteRange } from '../../format/file-metadata.js';
import { Agent, ProtocolError, type Exchange, type ResponseHandler } from './http1-client.js';
import type { RequestLimiter } from './limiter.js';
import type { ResolvedRemoteIo } from './remote-options.js';
import { untrustedCertificateReason } from './tls.js';

/** What to get: the whole object, a byte range, or its last `suffix` bytes. */
export type ObjectRange = ByteRange | { suffix: number } | undefined;

/** Where an attempt goes: origin, path and query, and its headers as name, value pairs (signed when the store signs). */
export interface RequestTarget {
  origin: string;
  path: string;
  headers: readonly string[];
}

/** A request to send, with what is shown of it in messages. */
export interface ObjectRequest {
  /** The object's URL without credentials or query string. */
  shown: string;
  range: ObjectRange;
  /** Memory of the range's size to receive the body in, instead of a buffer of its own; undefined for one. */
  into?: Uint8Array | undefined;
  /** Where each attempt goes, without Range: at once when known (a reused signature), else once signed. */
  target(): RequestTarget | Promise<RequestTarget>;
  /** The connections to send it on: a store's own (trusting its ca_bundle), or undefined for this thread's shared ones. */
  agent: Agent | undefined;
  /** Redirects followed: none for signed requests, whose headers must not reach another host. */
  maxRedirections: number;
}

/** The bytes received and the object's whole size. */
export interface ObjectBytes {
  bytes: Uint8Array;
  objectSize: number;
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_MAX_MS = 5_000;

/** Largest Content-Length of a whole-object answer given its buffer up front; beyond, the body grows as it arrives. */
const WHOLE_OBJECT_PREALLOCATED_BYTES = 64 * 1024 * 1024;

/** Bytes of an error answer's body kept to find its S3 `<Code>`. */
const ERROR_BODY_BYTES = 4096;

/** Why an attempt failed, and whether another may succeed. */
class AttemptFailure {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
    readonly status: number | undefined,
  ) {}
}

/** Where `range` is, for a message: `bytes 10..20`, `the last 65536 bytes`, `the whole object`. */
export function describeRange(range: ObjectRange): string {
  if (range === undefined) return 'the whole object';
  if ('suffix' in range) return `the last ${range.suffix} bytes`;
  return `bytes ${range.offset}..${range.offset + range.size}`;
}

/**
 * The attempts of one store in flight, in the order they were added, which is the order of their
 * deadlines (each is set when its attempt is added, just before it is sent, and a store's attempts all
 * have the same timeout; signing, which may wait, comes before): one timer, set for the earliest deadline, times them
 * out, and one listener on the store's `closed` signal aborts them all, instead of a timer, an
 * AbortController and a listener per attempt.
 */
export class Attempts {
  private readonly inFlight = new Set<BodyCollector>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly timeoutMs: number,
    /** Aborted when the store closes. */
    readonly closed: AbortSignal,
  ) {
    closed.addEventListener('abort', () => {
      clearTimeout(this.timer);
      for (const collector of this.inFlight) collector.cancel('closed');
      this.inFlight.clear();
    });
  }

  add(collector: BodyCollector): void {
    if (this.closed.aborted) {
      collector.cancel('closed');
      return;
    }
    collector.deadline = performance.now() + this.timeoutMs;
    this.inFlight.add(collector);
    if (this.timer === undefined) this.expireAt(collector.deadline);
  }

  delete(collector: BodyCollector): void {
    // The timer stays: when it fires it finds the next deadline.
    this.inFlight.delete(collector);
  }

  private expireAt(deadline: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(0, deadline - performance.now()));
    // Requests in flight keep the process alive by their sockets, not by this timer.
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const collector of this.inFlight) {
      if (collector.deadline > now) {
        this.expireAt(collector.deadline);
        return;
      }
      this.inFlight.delete(collector);
      collector.cancel('timeout');
    }
  }
}

/** Gets `request`'s bytes, retrying within `policy`'s budget; closing the store (`attempts.closed`) aborts everything. */
export async function fetchObject(
  request: ObjectRequest,
  policy: ResolvedRemoteIo,
  limiter: RequestLimiter,
  attempts: Attempts,
): Promise<ObjectBytes> {
  const started = performance.now();
  const expected =
    request.range === undefined ? 0 : 'suffix' in request.range ? request.range.suffix : request.range.size;
  let failure: AttemptFailure | undefined;
  let tries = 0;
  for (;;) {
    tries++;
    const waiting = limiter.acquire(expected, attempts.closed);
    if (waiting) await waiting;
    try {
      return await attempt(request, attempts);
    } catch (error) {
      if (!(error instanceof AttemptFailure)) throw error;
      failure = error;
    } finally {
      limiter.release(expected);
    }
    const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (tries - 1));
    const spent = performance.now() - started;
    if (!failure.retryable || tries > policy.retries || spent + delay > policy.retryTimeoutMs) break;
    await sleep(delay, attempts.closed);
  }
  const { shown, range } = request;
  const budget = failure.retryable
    ? ` (retry budget: ${policy.retries} retries within ${policy.retryTimeoutMs} ms)`
    : '';
  throw new IoError(
    `${shown}: GET of ${describeRange(range)} failed after ${tries} attempt${tries === 1 ? '' : 's'}${budget}: ${failure.reason}`,
    {
      url: shown,
      ...(range && 'offset' in range ? { offset: range.offset, size: range.size } : {}),
      ...(range && 'suffix' in range ? { suffix: range.suffix } : {}),
      status: failure.status,
      attempts: tries,
    },
  );
}

/** The connections of requests without an agent of their own (no ca_bundle), shared by this thread's stores. */
let sharedAgent: Agent | undefined;

async function attempt(request: ObjectRequest, attempts: Attempts): Promise<ObjectBytes> {
  const { range } = request;
  const collector = new BodyCollector(range, request.into);
  try {
    const pending = targetOf(request);
    const target = pending instanceof Promise ? await pending : pending;
    let headerLines = '';
    for (let i = 0; i + 1 < target.headers.length; i += 2)
      headerLines += `${target.headers[i]}: ${target.headers[i + 1]}\r\n`;
    // Identity: a compressed body would not match the range's length.
    headerLines += 'accept-encoding: identity\r\n';
    if (range !== undefined)
      headerLines +=
        'suffix' in range
          ? `range: bytes=-${range.suffix}\r\n`
          : `range: bytes=${range.offset}-${range.offset + range.size - 1}\r\n`;
    const agent = request.agent ?? (sharedAgent ??= new Agent(undefined));
    const done = collector.done();
    attempts.add(collector);
    if (collector.cancelled === undefined)
      collector.exchange = agent.request(target.origin, target.path, headerLines, request.maxRedirections, collector);
    else collector.onEnd(new Error(collector.cancelled));
    await done;
    if (collector.refusal) throw collector.refusal;
    if (collector.status !== 200 && collector.status !== 206)
      throw statusFailure(collector.status, collector.errorText);
    return checkBody(collector.status, collector.contentRange, collector.contentLength, collector.bytes(), range);
  } catch (error) {
    if (error instanceof AttemptFailure || error instanceof IoError) throw error;
    if (collector.refusal) throw collector.refusal;
    if (collector.cancelled === 'closed' || attempts.closed.aborted)
      throw new AbortError(`${request.shown}: the dataset was closed while ${describeRange(range)} were being fetched`);
    if (collector.cancelled === 'timeout')
      throw new AttemptFailure(
        `no complete answer within ${attempts.timeoutMs} ms (io.remote.timeoutMs)`,
        true,
        undefined,
      );
    // The server does not speak HTTP/1.1 as it should: asking again would get the same answer.
    if (error instanceof ProtocolError)
      throw new AttemptFailure(`unreadable answer: ${error.message}`, false, collector.status || undefined);
    if (error instanceof InternalError) throw new AttemptFailure(error.message, false, collector.status || undefined);
    const { code, message, cause } = error as {
      code?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    const untrusted = untrustedCertificateReason(cause?.code ?? code, cause?.message ?? message ?? '');
    if (untrusted) throw new AttemptFailure(untrusted, false, undefined);
    throw new AttemptFailure(`connection failed: ${networkReason(error)}`, true, undefined);
  } finally {
    attempts.delete(collector);
  }
}

/**
 * Where `request`'s attempt goes: at once when its target is known, else once signed. A failure to sign
 * is an IoError, not retried (signing again fails the same way); its message names the error's kind
 * only and it carries no cause, as the signer's own message may quote a credential.
 */
function targetOf(request: ObjectRequest): RequestTarget | Promise<RequestTarget> {
  const failed = (error: unknown): never => {
    const { range } = request;
    throw new IoError(
      `${request.shown}: signing the GET of ${describeRange(range)} failed (${error instanceof Error ? error.name : typeof error}): check the credentials in options.storage`,
      { url: request.shown, ...(range && 'offset' in range ? { offset: range.offset, size: range.size } : {}) },
    );
  };
  try {
    const pending = request.target();
    return pending instanceof Promise ? pending.catch(failed) : pending;
  } catch (error) {
    return failed(error);
  }
}

/**
 * One attempt's answer as http1-client.ts hands it over. The body goes straight from the socket's receive buffer
 * into the request's `into` or one buffer of the answer's Content-Length (one copy); without a usable
 * length, chunks are kept and joined at the end. A cancelled attempt takes no more chunks, so a retry
 * alone writes `into`.
 */
class BodyCollector implements ResponseHandler {
  /** When the attempt times out: set by Attempts.add. */
  deadline = Infinity;
  /** Why the attempt was abandoned: its deadline passed, or the store closed. */
  cancelled: 'timeout' | 'closed' | undefined;
  /** Set when the headers alone show the answer is unusable; the request is then aborted. */
  refusal: AttemptFailure | undefined;
  status = 0;
  contentRange = '';
  /** -1 when the answer gave none. */
  contentLength = -1;
  errorText = '';
  /** The request on its way, once sent. */
  exchange: Exchange | undefined;
  /** The most body bytes a range request takes (a suffix's or range's size). */
  private rangeBytes = Infinity;
  private body: Uint8Array | undefined;
  private chunks: Uint8Array[] | undefined;
  private received = 0;
  private settle: ((error?: Error) => void) | undefined;

  constructor(
    private readonly range: ObjectRange,
    private readonly into: Uint8Array | undefined,
  ) {}

  /** Settles when the answer is complete, or rejects with what ended it. */
  done(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.settle = (error) => (error ? reject(error) : resolve());
    });
  }

  cancel(why: 'timeout' | 'closed'): void {
    this.cancelled ??= why;
    this.exchange?.abort(new Error(why));
  }

  /** The body received. */
  bytes(): Uint8Array {
    if (this.chunks) return concatBytes(this.chunks);
    return this.body && this.received === this.body.length
      ? this.body
      : (this.body ?? new Uint8Array(0)).subarray(0, this.received);
  }

  onHead(status: number, contentLength: number, contentRange: string): boolean {
    this.status = status;
    this.contentLength = contentLength;
    this.contentRange = contentRange;
    const { range } = this;
    if (
      status === 200 &&
      range !== undefined &&
      !('suffix' in range) &&
      !(range.offset === 0 && range.size === this.contentLength)
    ) {
      // The whole object for a range: refused, without reading the object.
      this.refusal = wholeObjectRefusal();
      return false;
    }
    const limit = range === undefined ? WHOLE_OBJECT_PREALLOCATED_BYTES : 'suffix' in range ? range.suffix : range.size;
    if (range !== undefined) this.rangeBytes = limit;
    if ((status === 200 || status === 206) && this.contentLength >= 0 && this.contentLength <= limit)
      this.body = this.into?.length === this.contentLength ? this.into : uninitializedBytes(this.contentLength);
    else this.chunks = [];
    return true;
  }

  onBody(chunk: Buffer, start: number, end: number): void {
    if (this.status !== 200 && this.status !== 206) {
      if (this.errorText.length < ERROR_BODY_BYTES)
        this.errorText += chunk.toString('latin1', start, Math.min(end, start + ERROR_BODY_BYTES));
      return;
    }
    const length = end - start;
    if (this.body && this.received + length <= this.body.length) chunk.copy(this.body, this.received, start, end);
    else if (this.received + length > this.rangeBytes) {
      // A body without a length (chunked) going past the range: refused before it takes more memory.
      this.refusal = new AttemptFailure(
        `the server sent more than the ${this.rangeBytes} bytes asked for`,
        false,
        this.status,
      );
      this.exchange?.abort(new Error('refused'));
      return;
    } else {
      // Without a usable Content-Length (chunked, or past the limit): kept, and joined at the end.
      this.chunks ??= this.body ? [this.body.subarray(0, this.received)] : [];
      this.body = undefined;
      this.chunks.push(Uint8Array.prototype.slice.call(chunk, start, end));
    }
    this.received += length;
  }

  onEnd(error: Error | undefined): void {
    this.settle?.(error);
  }
}

/**
 * `length` bytes of fresh memory, not zeroed (zeroing a 70 KB image row costs more than its copy): a body
 * is written in full before it is read, and only what arrived is ever handed out. A plain Uint8Array over
 * an ArrayBuffer of its own, not a Buffer, whose slice() would alias.
 */
function uninitializedBytes(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

function wholeObjectRefusal(): AttemptFailure {
  return new AttemptFailure(
    'the server answered a range request with the whole object (200): it does not serve Range requests',
    false,
    200,
  );
}

/** The failure a non-2xx status stands for; an S3 error body's `<Code>` is named (its other fields may echo a key id). */
function statusFailure(status: number, body: string): AttemptFailure {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1];
  const named = `HTTP ${status}${code ? ` ${code}` : ''}`;
  if (status === 403)
    return new AttemptFailure(
      `${named}: access denied (check the credentials and that they may read this object)`,
      false,
      status,
    );
  if (status === 404) return new AttemptFailure(`${named}: no such object`, false, status);
  const retryable = status >= 500 || status === 429 || status === 408;
  return new AttemptFailure(named, retryable, status);
}

/** Checks that the body is the range asked for (a short body is retried); resolves the object size. */
function checkBody(
  status: number,
  contentRange: string,
  contentLength: number,
  bytes: Uint8Array,
  range: ObjectRange,
): ObjectBytes {
  if (status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange);
    if (!match) throw new AttemptFailure(`206 answer with an unreadable Content-Range "${contentRange}"`, false, 206);
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const wantFirst = range === undefined ? 0 : 'suffix' in range ? Math.max(0, total - range.suffix) : range.offset;
    const wantLast =
      range === undefined || 'suffix' in range ? total - 1 : Math.min(total, range.offset + range.size) - 1;
    if (first !== wantFirst || last !== wantLast)
      throw new AttemptFailure(
        `the server sent bytes ${first}..${last + 1} of ${total}, not the range asked for`,
        false,
        206,
      );
    if (bytes.length !== last - first + 1)
      throw new AttemptFailure(`short body: ${bytes.length} of ${last - first + 1} bytes arrived`, true, 206);
    if (range !== undefined && 'offset' in range && last - first + 1 !== range.size)
      throw new AttemptFailure(`the object is ${total} bytes, too short for the range asked for`, false, 206);
    return { bytes, objectSize: total };
  }
  const length = contentLength >= 0 ? contentLength : bytes.length;
  if (bytes.length !== length)
    throw new AttemptFailure(`short body: ${bytes.length} of ${length} bytes arrived`, true, 200);
  const whole = range === undefined || 'suffix' in range || (range.offset === 0 && range.size === bytes.length);
  if (!whole) throw wholeObjectRefusal();
  return { bytes, objectSize: bytes.length };
}

/** A request failure's reason: the socket error's code (ECONNRESET, ECONNREFUSED), or what ended the answer. */
function networkReason(error: unknown): string {
  const { code, cause } = error as { code?: string; cause?: { code?: string; message?: string } };
  return cause?.code ?? code ?? cause?.message ?? (error as Error).message ?? String(error);
}

function sleep(ms: number, closed: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => {
      clearTimeout(timer);
      reject(new AbortError('the dataset was closed while a request waited to be retried'));
    };
    const timer = setTimeout(() => {
      closed.removeEventListener('abort', onClose);
      resolve();
    }, ms);
    if (closed.aborted) onClose();
    else closed.addEventListener('abort', onClose, { once: true });
  });
}

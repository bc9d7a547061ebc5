/**
 * One GET of an object or a byte range of it, as object storage needs it: a timeout per attempt (body
 * included, so a stalled body is abandoned), retries with exponential backoff and full jitter for what
 * can pass (5xx, 429/SlowDown, 408, connection resets, timeouts, short bodies) within a budget of
 * attempts and time, and never for what will not (403, 404 and other 4xx). A failure is an IoError
 * naming the URL (never a credential: requests are signed in headers, and URLs are shown without query
 * strings), the range, the last status and the attempts. Closing the store aborts attempts in flight and
 * backoffs, with an AbortError.
 *
 * Keep-alive: requests go through undici's `request` (the client under Node's fetch, without the WHATWG
 * Request, Response and stream objects fetch builds per request), whose global dispatcher keeps
 * connections open and reuses them per origin.
 */
import { AbortError, IoError } from '../../errors.js';
import type { ByteRange } from '../../format/file-metadata.js';
import type { Agent } from 'undici';
import { packageRequire } from '../module-dir.cjs';
import type { RequestLimiter } from './limiter.js';
import type { ResolvedRemoteIo } from './remote-options.js';
import { untrustedCertificateReason } from './tls.js';

/**
 * undici's request, loaded on the first GET rather than at import: undici is a quarter of the modules
 * every decode worker would load at start, and a local dataset's workers never send a request.
 */
let undiciRequest: typeof import('undici').request | undefined;

/** What to get: the whole object, a byte range, or its last `suffix` bytes. */
export type ObjectRange = ByteRange | { suffix: number } | undefined;

/** A request to send, with what is shown of it in messages. */
export interface ObjectRequest {
  /** The object's URL without credentials or query string. */
  shown: string;
  range: ObjectRange;
  /** The URL and headers of one attempt with `headers` added (signed when the store signs). */
  build(headers: Record<string, string>): Promise<{ url: string; headers: Record<string, string> }>;
  /** The connections to send it on: a store's own (trusting its ca_bundle), or undefined for Node's global pool. */
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

/** Gets `request`'s bytes, retrying within `policy`'s budget; `closed` aborts everything. */
export async function fetchObject(
  request: ObjectRequest,
  policy: ResolvedRemoteIo,
  limiter: RequestLimiter,
  closed: AbortSignal,
): Promise<ObjectBytes> {
  const started = performance.now();
  const expected =
    request.range === undefined ? 0 : 'suffix' in request.range ? request.range.suffix : request.range.size;
  let failure: AttemptFailure | undefined;
  let attempts = 0;
  for (;;) {
    attempts++;
    const release = await limiter.acquire(expected, closed);
    try {
      return await attempt(request, policy.timeoutMs, closed);
    } catch (error) {
      if (!(error instanceof AttemptFailure)) throw error;
      failure = error;
    } finally {
      release();
    }
    const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
    const spent = performance.now() - started;
    if (!failure.retryable || attempts > policy.retries || spent + delay > policy.retryTimeoutMs) break;
    await sleep(delay, closed);
  }
  const { shown, range } = request;
  const budget = failure.retryable
    ? ` (retry budget: ${policy.retries} retries within ${policy.retryTimeoutMs} ms)`
    : '';
  throw new IoError(
    `${shown}: GET of ${describeRange(range)} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}${budget}: ${failure.reason}`,
    {
      url: shown,
      ...(range && 'offset' in range ? { offset: range.offset, size: range.size } : {}),
      ...(range && 'suffix' in range ? { suffix: range.suffix } : {}),
      status: failure.status,
      attempts,
    },
  );
}

async function attempt(request: ObjectRequest, timeoutMs: number, closed: AbortSignal): Promise<ObjectBytes> {
  const controller = new AbortController();
  let timedOut = false;
  // A timer cleared when the attempt ends (AbortSignal.timeout would keep each signal alive until it fires).
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onClose = () => controller.abort();
  closed.addEventListener('abort', onClose, { once: true });
  try {
    const { range } = request;
    // Identity: a compressed body would not match the range's length.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (range !== undefined)
      headers.range =
        'suffix' in range ? `bytes=-${range.suffix}` : `bytes=${range.offset}-${range.offset + range.size - 1}`;
    const built = await request.build(headers);
    undiciRequest ??= (packageRequire('undici') as typeof import('undici')).request;
    const response = await undiciRequest(built.url, {
      method: 'GET',
      headers: built.headers,
      signal: controller.signal,
      maxRedirections: request.maxRedirections,
      ...(request.agent && { dispatcher: request.agent }),
    });
    if (response.statusCode !== 200 && response.statusCode !== 206) {
      const body = await response.body.text().catch(() => '');
      throw statusFailure(response.statusCode, body);
    }
    const bytes = new Uint8Array(await response.body.arrayBuffer());
    return checkBody(response.statusCode, response.headers, bytes, range);
  } catch (error) {
    if (error instanceof AttemptFailure || error instanceof IoError) throw error;
    if (closed.aborted)
      throw new AbortError(
        `${request.shown}: the dataset was closed while ${describeRange(request.range)} were being fetched`,
      );
    if (timedOut)
      throw new AttemptFailure(`no complete answer within ${timeoutMs} ms (io.remote.timeoutMs)`, true, undefined);
    const { code, message, cause } = error as {
      code?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    const untrusted = untrustedCertificateReason(cause?.code ?? code, cause?.message ?? message ?? '');
    if (untrusted) throw new AttemptFailure(untrusted, false, undefined);
    throw new AttemptFailure(`connection failed: ${networkReason(error)}`, true, undefined);
  } finally {
    clearTimeout(timer);
    closed.removeEventListener('abort', onClose);
  }
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
  headers: Record<string, string | string[] | undefined>,
  bytes: Uint8Array,
  range: ObjectRange,
): ObjectBytes {
  const contentRange = String(headers['content-range'] ?? '');
  if (status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
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
  const length = Number(headers['content-length'] ?? bytes.length);
  if (bytes.length !== length)
    throw new AttemptFailure(`short body: ${bytes.length} of ${length} bytes arrived`, true, 200);
  const whole = range === undefined || 'suffix' in range || (range.offset === 0 && range.size === bytes.length);
  if (!whole)
    throw new AttemptFailure(
      'the server answered a range request with the whole object (200): it does not serve Range requests',
      false,
      200,
    );
  return { bytes, objectSize: bytes.length };
}

/** A request failure's reason: undici's code, or its cause's (ECONNRESET, ECONNREFUSED, UND_ERR_SOCKET). */
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

/**
 * An object store holding one dataset: S3 (or an S3-compatible store) with SigV4-signed requests, or a
 * plain http(s) server answering Range requests (read-only, cannot list). Keys are relative to the
 * dataset's root (`_versions/…`, `data/…`). Every GET goes through fetchObject (timeouts, retries,
 * typed errors) and one {@link RequestLimiter}; `close()` aborts what is in flight.
 *
 * Addressing, as LanceDB's object_store: path-style `<endpoint>/<bucket>/<key>` by default (endpoint
 * `https://s3.<region>.amazonaws.com` when none is given); with `virtual_hosted_style_request`,
 * `https://<bucket>.s3.<region>.amazonaws.com/<key>`, or `<endpoint>/<key>` with the bucket already in
 * the endpoint's host.
 *
 * Signing uses aws4fetch: SigV4 over WebCrypto, no dependencies, a few hundred lines that cache the
 * derived signing key per day and region. @smithy/signature-v4 (the AWS SDK's) would bring a dozen
 * @smithy packages and a separate SHA-256 implementation for the same four HMACs.
 *
 * A GET's signature covers its URL and the host and x-amz-* headers only, not Range (SigV4 signs the
 * headers it lists; S3 requires only host and x-amz-*): the signed headers of an object are reused for
 * SIGNATURE_REUSE_MS with every range read from it, instead of four WebCrypto HMACs per request, which
 * were most of the reader's own CPU per request on a shuffled epoch. S3 accepts a signature for 15
 * minutes after its x-amz-date.
 */
import { setMaxListeners } from 'node:events';
import { AwsClient } from 'aws4fetch';
import { InvalidArgumentError, IoError, UnsupportedError } from '../../errors.js';
import type { Agent } from './http1-client.js';
import { Attempts, fetchObject, type ObjectBytes, type ObjectRange, type RequestTarget } from './fetch-object.js';
import { RequestLimiter, SharedRequestLimiter } from './limiter.js';
import type { ResolvedRemoteIo } from './remote-options.js';
import { resolveHttpSettings, resolveS3Settings, type StorageOptions } from './storage-options.js';
import { permitsOfThisThread } from './shared-permits.js';
import { createTlsAgent } from './tls.js';

/** An object listed under a prefix: its name below the prefix and its size. */
export interface ListedObject {
  name: string;
  size: number;
}

/** How long an object's signed headers are reused (well inside the 15 minutes S3 accepts them). */
const SIGNATURE_REUSE_MS = 60_000;

/** Objects whose address and signed headers a store keeps; the least recently signed go first. */
const MAX_KEPT_TARGETS = 1024;

/** Redirects an unsigned request follows, as fetch would (it follows up to 20). */
const MAX_REDIRECTIONS = 5;

/** Most pages of a listing followed (1000 keys each): more is a runaway listing, not a dataset. */
const MAX_LIST_PAGES = 10_000;

export class ObjectStore {
  private readonly aborter = new AbortController();
  private readonly limiter: RequestLimiter;
  private readonly attempts: Attempts;
  /**
   * Per key, where its GETs go and their signed headers, kept for SIGNATURE_REUSE_MS (for ever when
   * unsigned), in the order they were signed, at most MAX_KEPT_TARGETS.
   */
  private readonly targets = new Map<string, { target: RequestTarget; signedAt: number }>();

  private constructor(
    /** The dataset's URL without credentials or query string (`s3://bucket/prefix/table.lance`). */
    readonly root: string,
    /** The dataset root's http(s) URL, ending in `/`. */
    private readonly base: string,
    private readonly signer: AwsClient | undefined,
    /** How to list keys under the root (S3), or undefined (plain http). */
    private readonly listing: { bucketUrl: string; prefix: string } | undefined,
    private readonly policy: ResolvedRemoteIo,
    /** Connections trusting options.storage.ca_bundle, or undefined for Node's global pool. */
    private readonly agent: Agent | undefined,
  ) {
    // In a loader's worker, the loader's permits shared by all its workers; else this store's own.
    const shared = permitsOfThisThread();
    this.limiter = shared
      ? new SharedRequestLimiter(shared)
      : new RequestLimiter(policy.concurrency, policy.bytesInFlight);
    // Requests waiting to be retried listen for close(): hundreds at once are expected, not a leak.
    setMaxListeners(0, this.aborter.signal);
    this.attempts = new Attempts(policy.timeoutMs, this.aborter.signal);
  }

  /** The store of `url` (`s3://bucket/prefix`, `http(s)://host/path`), with `storage` settings for S3. */
  static open(url: string, storage: StorageOptions | undefined, policy: ResolvedRemoteIo): ObjectStore {
    const parsed = new URL(url);
    const root = `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
    if (parsed.username || parsed.password)
      throw new InvalidArgumentError(
        `${root}: credentials in the URL are not accepted (an s3:// dataset's go in options.storage)`,
        {
          url: root,
        },
      );
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      const { caBundle } = resolveHttpSettings(storage, root);
      return new ObjectStore(root, `${root}/`, undefined, undefined, policy, createTlsAgent(caBundle));
    }
    if (parsed.protocol !== 's3:')
      throw new UnsupportedError(
        `${root}: ${parsed.protocol}// datasets are not readable; lance-loader reads s3://, http(s):// and local datasets`,
        {
          url: root,
        },
      );
    const bucket = parsed.host;
    const prefix = decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, ''));
    if (bucket === '' || prefix === '')
      throw new InvalidArgumentError(
        `${root}: an s3:// dataset URL names a bucket and the dataset's key prefix, e.g. s3://bucket/path/table.lance`,
        {
          url: root,
        },
      );
    const s3 = resolveS3Settings(storage);
    const endpoint = s3.endpoint ?? `https://s3.${s3.region}.amazonaws.com`;
    const bucketUrl = s3.virtualHostedStyle
      ? (s3.endpoint ?? `https://${bucket}.s3.${s3.region}.amazonaws.com`)
      : `${endpoint}/${encodeURIComponent(bucket)}`;
    const signer =
      s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined
        ? new AwsClient({
            accessKeyId: s3.accessKeyId,
            secretAccessKey: s3.secretAccessKey,
            ...(s3.sessionToken !== undefined ? { sessionToken: s3.sessionToken } : {}),
            region: s3.region,
            service: 's3',
            // Retries are fetchObject's: aws4fetch's own would retry outside the budget and the timeouts.
            retries: 0,
          })
        : undefined;
    return new ObjectStore(
      root,
      `${bucketUrl}/${encodeKey(prefix)}/`,
      signer,
      { bucketUrl, prefix: `${prefix}/` },
      policy,
      createTlsAgent(s3.caBundle),
    );
  }

  /** An unsigned store follows redirects (an http dataset behind a CDN); a signed one never sends its headers on. */
  private get maxRedirections(): number {
    return this.signer ? 0 : MAX_REDIRECTIONS;
  }

  /** Whether keys can be listed (S3) or only fetched by name (http). */
  get canList(): boolean {
    return this.listing !== undefined;
  }

  /**
   * Gets `range` of the object at `key` (relative to the root); with `into` (the range's size), the body
   * is received straight into it, and it is the bytes returned.
   */
  get(key: string, range: ObjectRange, into?: Uint8Array): Promise<ObjectBytes> {
    return fetchObject(
      {
        shown: `${this.root}/${key}`,
        range,
        into,
        target: () => this.targetOf(key),
        agent: this.agent,
        maxRedirections: this.maxRedirections,
      },
      this.policy,
      this.limiter,
      this.attempts,
    );
  }

  /** The objects directly under `dir` (relative to the root, no trailing slash), by name; S3 only. */
  async list(dir: string): Promise<ListedObject[]> {
    if (!this.listing)
      throw new UnsupportedError(`${this.root}: an http(s) server cannot list objects`, { url: this.root });
    const { bucketUrl, prefix } = this.listing;
    const listed: ListedObject[] = [];
    const under = `${prefix}${dir}/`;
    let token: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const query = new URLSearchParams({ 'list-type': '2', prefix: under, delimiter: '/' });
      if (token !== undefined) query.set('continuation-token', token);
      const { bytes } = await fetchObject(
        {
          shown: `${this.root}/${dir}/ (listing)`,
          range: undefined,
          target: () => this.sign(`${bucketUrl}?${query}`),
          agent: this.agent,
          maxRedirections: this.maxRedirections,
        },
        this.policy,
        this.limiter,
        this.attempts,
      );
      const xml = new TextDecoder().decode(bytes);
      for (const [, body] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const key = unescapeXml(/<Key>([\s\S]*?)<\/Key>/.exec(body as string)?.[1] ?? '');
        const size = Number(/<Size>(\d+)<\/Size>/.exec(body as string)?.[1]);
        if (key.startsWith(under) && Number.isSafeInteger(size)) listed.push({ name: key.slice(under.length), size });
      }
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
        ? unescapeXml(/<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '')
        : undefined;
      if (!token) return listed;
    }
    throw new IoError(`${this.root}/${dir}/: listing did not end after ${MAX_LIST_PAGES} pages`, { url: this.root });
  }

  /** Aborts every request in flight or waiting; later requests fail with an AbortError. */
  close(): void {
    this.aborter.abort();
    void this.agent?.destroy();
  }

  /** Where GETs of `key` go, with its signed headers: the kept ones while they may be reused. */
  private targetOf(key: string): RequestTarget | Promise<RequestTarget> {
    const kept = this.targets.get(key);
    const now = Date.now();
    if (kept && now - kept.signedAt <= SIGNATURE_REUSE_MS) return kept.target;
    const signing = this.sign(`${this.base}${encodeKey(key)}`);
    const keep = (target: RequestTarget) => {
      this.targets.delete(key);
      this.targets.set(key, { target, signedAt: this.signer ? now : Infinity });
      for (const [oldest, { signedAt }] of this.targets) {
        if (this.targets.size <= MAX_KEPT_TARGETS && now - signedAt <= SIGNATURE_REUSE_MS) break;
        this.targets.delete(oldest);
      }
      return target;
    };
    return signing instanceof Promise ? signing.then(keep) : keep(signing);
  }

  /**
   * Where a GET of `url` goes, with its signed headers when the store signs. SigV4 signs the URL and the
   * host and x-amz-* headers only, so Range and Accept-Encoding go unsigned beside them.
   */
  private sign(url: string): RequestTarget | Promise<RequestTarget> {
    const { origin, pathname, search } = new URL(url);
    const path = `${pathname}${search}`;
    if (!this.signer) return { origin, path, headers: [] };
    return this.signer.sign(url, { method: 'GET' }).then((signed) => ({
      origin,
      path,
      headers: [...signed.headers].flat(),
    }));
  }
}

/** The key as a URL path: each segment percent-encoded, slashes kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
    if (e[0] !== '#') return named[e.toLowerCase()] as string;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });
}

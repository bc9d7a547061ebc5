/**
 * Where an object store is and how to sign for it: LanceDB's `storageOptions` names (snake_case or
 * camelCase, with or without the `aws_` prefix) merged over the usual `AWS_*` environment variables,
 * checked once. Unknown names are refused so that a misspelt credential is not silently ignored.
 *
 * The resolved settings hold secrets: no message here names a key or secret, only which is missing.
 */
import { InvalidArgumentError } from '../../errors.js';

/**
 * Object storage settings, named as LanceDB's `storageOptions`: `endpoint`, `region`,
 * `access_key_id`/`aws_access_key_id`/`awsAccessKeyId`, `secret_access_key`, `session_token`,
 * `allow_http`, `virtual_hosted_style_request`, and `ca_bundle` (a PEM file of certificate authorities to
 * trust, as the AWS CLI and SDKs name it; the only setting an `https://` dataset takes). Values are strings
 * (`'true'`) or booleans.
 */
export type StorageOptions = Readonly<Record<string, string | boolean | undefined>>;

/** Resolved S3 settings (secrets included: never put this object in a message). */
export interface S3Settings {
  /** The endpoint URL without a trailing slash, or undefined for AWS (`https://s3.<region>.amazonaws.com`). */
  endpoint: string | undefined;
  region: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  sessionToken: string | undefined;
  allowHttp: boolean;
  /** Requests to `<bucket>.<host>` instead of `<host>/<bucket>`. */
  virtualHostedStyle: boolean;
  /** A PEM file of certificate authorities trusted beside Node's own, or undefined. */
  caBundle: string | undefined;
}

type Setting =
  | 'access_key_id'
  | 'secret_access_key'
  | 'session_token'
  | 'region'
  | 'endpoint'
  | 'allow_http'
  | 'virtual_hosted_style_request'
  | 'ca_bundle';

/** Accepted spellings (after lower-casing camelCase to snake_case and dropping `aws_`) → setting. */
const NAMES: Readonly<Record<string, Setting>> = {
  access_key_id: 'access_key_id',
  secret_access_key: 'secret_access_key',
  session_token: 'session_token',
  token: 'session_token',
  region: 'region',
  default_region: 'region',
  endpoint: 'endpoint',
  endpoint_url: 'endpoint',
  allow_http: 'allow_http',
  virtual_hosted_style_request: 'virtual_hosted_style_request',
  ca_bundle: 'ca_bundle',
};

/** Environment variables read for each setting, first found wins (options win over all of them). */
const ENVIRONMENT: Readonly<Record<Setting, readonly string[]>> = {
  access_key_id: ['AWS_ACCESS_KEY_ID'],
  secret_access_key: ['AWS_SECRET_ACCESS_KEY'],
  session_token: ['AWS_SESSION_TOKEN'],
  region: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  endpoint: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT'],
  allow_http: ['AWS_ALLOW_HTTP'],
  virtual_hosted_style_request: ['AWS_VIRTUAL_HOSTED_STYLE_REQUEST'],
  ca_bundle: ['AWS_CA_BUNDLE'],
};

function canonicalName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/^aws_/, '');
}

function flag(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  throw new InvalidArgumentError(`options.storage.${name} must be true or false, got ${JSON.stringify(value)}`, {
    option: `storage.${name}`,
  });
}

/** Checks `options` (the `storage` option) and merges it over `env`: each setting's value, options first. */
function settingsOf(
  options: StorageOptions | undefined,
  env: NodeJS.ProcessEnv,
): (setting: Setting) => string | undefined {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
    throw new InvalidArgumentError(
      `options.storage must be an object of LanceDB storage options such as { region: 'us-east-1' }, got ${options === null ? 'null' : typeof options}`,
      { option: 'storage' },
    );
  const given = new Map<Setting, string>();
  for (const [name, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    const setting = NAMES[canonicalName(name)];
    if (setting === undefined)
      throw new InvalidArgumentError(
        `options.storage.${name} is not a storage option lance-loader knows; it takes ${Object.keys(NAMES).join(', ')} (also as aws_… or camelCase)`,
        { option: `storage.${name}` },
      );
    if (typeof value !== 'string' && typeof value !== 'boolean')
      throw new InvalidArgumentError(`options.storage.${name} must be a string, got ${typeof value}`, {
        option: `storage.${name}`,
      });
    given.set(setting, String(value));
  }
  return (setting) =>
    given.get(setting) ??
    ENVIRONMENT[setting].map((variable) => env[variable]).find((v) => v !== undefined && v !== '');
}

/**
 * The settings of an `http(s)://` dataset: only `ca_bundle` (or AWS_CA_BUNDLE), since a plain server
 * takes no credentials, region or endpoint; any other option is refused, naming it.
 */
export function resolveHttpSettings(
  options: StorageOptions | undefined,
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): { caBundle: string | undefined } {
  const get = settingsOf(options, env);
  for (const [name, value] of Object.entries(options ?? {}))
    if (value !== undefined && NAMES[canonicalName(name)] !== 'ca_bundle')
      throw new InvalidArgumentError(
        `${url}: options.storage.${name} applies to s3:// URLs; an http(s):// dataset takes only ca_bundle`,
        { url, option: `storage.${name}` },
      );
  return { caBundle: get('ca_bundle') };
}

/** Checks `options` (the `storage` option) and merges it over `env`. */
export function resolveS3Settings(
  options: StorageOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): S3Settings {
  const get = settingsOf(options, env);
  const endpoint = get('endpoint')?.replace(/\/+$/, '');
  const allowHttp = flag(get('allow_http'), 'allow_http');
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new InvalidArgumentError(
        `options.storage.endpoint must be a URL such as https://s3.example.com, got "${endpoint}"`,
        {
          option: 'storage.endpoint',
        },
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new InvalidArgumentError(
        `options.storage.endpoint must be an http(s) URL, got ${url.protocol}//${url.host}`,
        {
          option: 'storage.endpoint',
        },
      );
    if (url.protocol === 'http:' && !allowHttp)
      throw new InvalidArgumentError(
        `options.storage.endpoint ${url.protocol}//${url.host} is plain http: set allow_http: 'true' to allow it`,
        { option: 'storage.allow_http' },
      );
  }
  const accessKeyId = get('access_key_id');
  const secretAccessKey = get('secret_access_key');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    throw new InvalidArgumentError(
      `options.storage needs both access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), got only ${accessKeyId === undefined ? 'the secret' : 'the key id'}`,
      { option: 'storage' },
    );
  return {
    endpoint,
    region: get('region') ?? 'us-east-1',
    accessKeyId,
    secretAccessKey,
    sessionToken: get('session_token'),
    allowHttp,
    virtualHostedStyle: flag(get('virtual_hosted_style_request'), 'virtual_hosted_style_request'),
    caBundle: get('ca_bundle'),
  };
}

/**
 * S3 settings (io/remote/storage-options.ts): LanceDB's storageOptions names in every spelling, the AWS_*
 * environment beneath them, and exact refusals.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../errors.js';
import { resolveS3Settings } from '../../../io/remote/storage-options.js';
import { caught } from '../../caught.js';

describe('storage options', () => {
  it.each([
    [{ aws_access_key_id: 'K', aws_secret_access_key: 'S' }],
    [{ access_key_id: 'K', secret_access_key: 'S' }],
    [{ awsAccessKeyId: 'K', awsSecretAccessKey: 'S' }],
    [{ accessKeyId: 'K', secretAccessKey: 'S' }],
  ])('accept LanceDB spellings of the credentials (%o)', (options) => {
    expect(resolveS3Settings(options, {})).toMatchObject({ accessKeyId: 'K', secretAccessKey: 'S' });
  });

  it('fall back to the AWS_* environment, options first', () => {
    const env = {
      AWS_ACCESS_KEY_ID: 'envK',
      AWS_SECRET_ACCESS_KEY: 'envS',
      AWS_SESSION_TOKEN: 'envT',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'https://minio.local:9000/',
    };
    expect(resolveS3Settings({ region: 'us-west-2' }, env)).toEqual({
      endpoint: 'https://minio.local:9000',
      region: 'us-west-2',
      accessKeyId: 'envK',
      secretAccessKey: 'envS',
      sessionToken: 'envT',
      allowHttp: false,
      virtualHostedStyle: false,
    });
  });

  it('default to us-east-1, AWS endpoints, path-style and unsigned requests without credentials', () => {
    expect(resolveS3Settings(undefined, {})).toEqual({
      endpoint: undefined,
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      sessionToken: undefined,
      allowHttp: false,
      virtualHostedStyle: false,
    });
  });

  it('refuse a plain http endpoint unless allow_http is set', () => {
    const error = caught(() => resolveS3Settings({ endpoint: 'http://127.0.0.1:9000' }, {}));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      "options.storage.endpoint http://127.0.0.1:9000 is plain http: set allow_http: 'true' to allow it",
    );
    expect(resolveS3Settings({ endpoint: 'http://127.0.0.1:9000', allowHttp: true }, {}).allowHttp).toBe(true);
  });

  it('refuse a key id without its secret, naming neither value', () => {
    const error = caught(() => resolveS3Settings({ aws_access_key_id: 'AKIAEXAMPLE' }, {}));
    expect(error.message).toBe(
      'options.storage needs both access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), got only the key id',
    );
    expect(error.message).not.toContain('AKIAEXAMPLE');
  });

  it('refuse a flag that is not true or false', () => {
    expect(caught(() => resolveS3Settings({ allow_http: 'yes' }, {})).message).toBe(
      'options.storage.allow_http must be true or false, got "yes"',
    );
  });
});

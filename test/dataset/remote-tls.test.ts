/**
 * Remote datasets over HTTPS with a certificate authority of the tests' own (made with openssl at test
 * time): trusted through options.storage.ca_bundle (https:// and s3:// endpoints, the loader's workers
 * included) or NODE_EXTRA_CA_CERTS; untrusted, a request fails at once with an IoError saying why and
 * what to pass, never retried.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, InvalidArgumentError, IoError, openDataset } from '../../index.js';
import { rejection } from '../caught.js';
import { expectTablesEqual, oracleScan } from '../fixtures/index.js';
import { runScript } from '../fixtures/run-script.js';
import { makeCertificates, type TestCertificates } from '../io/remote/certificates.js';
import { writeRemoteFixture, type RemoteFixture } from '../io/remote/remote-fixture.js';
import {
  startFaultProxy,
  startStaticServer,
  temporaryDirectory,
  type FaultProxy,
  type LoopbackServer,
} from '../io/remote/servers.js';

let fixture: RemoteFixture;
let certificates: TestCertificates;
let certificateDir: ReturnType<typeof temporaryDirectory>;
let https: LoopbackServer;
/** An HTTPS endpoint in front of the fixture's s3rver. */
let s3Endpoint: FaultProxy;
let httpsUrl: string;

beforeAll(async () => {
  fixture = await writeRemoteFixture();
  certificateDir = temporaryDirectory('lance-loader-tls-');
  certificates = makeCertificates(certificateDir.dir);
  const versions = join(fixture.localPath, '_versions');
  const newest = readdirSync(versions).sort()[0] as string; // V2 names: the latest sorts first
  copyFileSync(join(versions, newest), join(versions, '_latest.manifest'));
  https = await startStaticServer(join(fixture.localPath, '..'), certificates);
  httpsUrl = `${https.url}/t.lance`;
  s3Endpoint = await startFaultProxy(fixture.s3.endpoint, certificates);
});

afterAll(async () => {
  await s3Endpoint?.close();
  await https?.close();
  certificateDir?.remove();
  await fixture?.close();
});

async function readAll(url: string, options: Parameters<typeof openDataset>[1]) {
  const dataset = await openDataset(url, options);
  try {
    return await dataset.take(Array.from({ length: dataset.numRows }, (_, i) => i));
  } finally {
    await dataset.close();
  }
}

describe('an https:// dataset', () => {
  it('whose certificate authority is given in storage.ca_bundle reads as LanceDB reads it', async () => {
    const table = await readAll(httpsUrl, { storage: { ca_bundle: certificates.caPath } });
    expectTablesEqual(table, await oracleScan(fixture.localPath));
  });

  it('whose certificate is not trusted fails at once with an IoError saying what to pass', async () => {
    const error = await rejection(openDataset(httpsUrl, { remote: { retries: 5 } }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toMatch(
      /failed after 1 attempt: the server's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: .*\); give its certificate authority in options\.storage\.ca_bundle \(a PEM file\), AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS$/,
    );
    expect(error.details).toMatchObject({ attempts: 1, url: `${httpsUrl}/_versions/_latest.manifest` });
  });

  it('is not trusted through a bundle of another certificate authority', async () => {
    const error = await rejection(openDataset(httpsUrl, { storage: { caBundle: certificates.otherCaPath } }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain("the server's TLS certificate is not trusted");
    expect(error.details).toMatchObject({ attempts: 1 });
  });

  it('is trusted through NODE_EXTRA_CA_CERTS, which Node reads at startup', async () => {
    const child = await runScript('test/dataset/remote-tls.child.ts', [httpsUrl], {
      env: { NODE_EXTRA_CA_CERTS: certificates.caPath },
    });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe(String(fixture.numRows));
  });

  it('feeds a loader whose workers trust storage.ca_bundle too', async () => {
    const loader = await createLoader(httpsUrl, {
      batchSize: 200,
      workers: 2,
      columns: ['id'],
      storage: { ca_bundle: certificates.caPath },
    });
    try {
      let rows = 0;
      for await (const batch of loader.epoch(0)) {
        rows += batch.numRows;
        batch.release();
      }
      expect(rows).toBe(fixture.numRows);
    } finally {
      await loader.close();
    }
  });

  it('with a ca_bundle that does not exist is an InvalidArgumentError naming the file', async () => {
    const missing = join(certificateDir.dir, 'missing.pem');
    const error = await rejection(openDataset(httpsUrl, { storage: { ca_bundle: missing } }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(
      new RegExp(`^options\\.storage\\.ca_bundle \\(or AWS_CA_BUNDLE\\): cannot read ${missing}: ENOENT`),
    );
  });

  it('with a ca_bundle holding no certificate is an InvalidArgumentError saying so', async () => {
    const keyOnly = join(certificateDir.dir, 'server.key');
    const error = await rejection(openDataset(httpsUrl, { storage: { ca_bundle: keyOnly } }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      `options.storage.ca_bundle (or AWS_CA_BUNDLE): ${keyOnly} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  });

  it('with an S3 storage option is an InvalidArgumentError naming it', async () => {
    const error = await rejection(openDataset(httpsUrl, { storage: { region: 'eu-west-1' } }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      `${httpsUrl}: options.storage.region applies to s3:// URLs; an http(s):// dataset takes only ca_bundle`,
    );
  });
});

describe('an s3:// dataset behind an https endpoint', () => {
  it('reads as LanceDB reads it when the endpoint is trusted through storage.ca_bundle', async () => {
    const storage = { ...fixture.s3.storage, endpoint: s3Endpoint.url, ca_bundle: certificates.caPath };
    expectTablesEqual(await readAll(fixture.url, { storage }), await oracleScan(fixture.url));
  });

  it('is refused at once when the endpoint is not trusted', async () => {
    const error = await rejection(
      openDataset(fixture.url, { storage: { ...fixture.s3.storage, endpoint: s3Endpoint.url } }),
    );
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain(
      "s3://lance/db/t.lance/_versions/ (listing): GET of the whole object failed after 1 attempt: the server's TLS certificate is not trusted",
    );
  });
});

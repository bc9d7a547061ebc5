/**
 * Remote datasets through openDataset: a LanceDB-written dataset on a loopback S3 server (s3rver), and the
 * same dataset over plain HTTP with Range requests, read value for value as LanceDB reads the same URL
 * (scans, shuffled takes with duplicates, every version).
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { rejection } from '../caught.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../dataset/inspect.js';
import { InvalidArgumentError, IoError, openDataset, openFile, type Dataset } from '../../index.js';
import { runScript } from '../fixtures/run-script.js';
import { expectTablesEqual, oracleScan, oracleTake, oracleVersion, Rng } from '../fixtures/index.js';
import {
  REMOTE_VERSIONS,
  writeRemote22Table,
  writeRemoteFixture,
  type RemoteFixture,
} from '../io/remote/remote-fixture.js';
import { startFaultProxy, startStaticServer, type Fault, type LoopbackServer } from '../io/remote/servers.js';

let fixture: RemoteFixture;
let http: LoopbackServer;

beforeAll(async () => {
  fixture = await writeRemoteFixture();
  http = await startStaticServer(join(fixture.localPath, '..'));
});

afterAll(async () => {
  await http?.close();
  await fixture?.close();
});

async function scanAll(dataset: Dataset) {
  const rows = Array.from({ length: dataset.numRows }, (_, i) => i);
  return dataset.take(rows);
}

describe('an s3:// dataset', () => {
  it('scans value for value as LanceDB reads the same URL', async () => {
    const dataset = await openDataset(fixture.url, { storage: fixture.s3.storage });
    try {
      expect(dataset.numRows).toBe(fixture.numRows);
      const batches = [];
      for await (const batch of dataset.scan({ batchSize: 333 })) batches.push(batch);
      expectTablesEqual(new arrow.Table(batches), await oracleScan(fixture.url));
    } finally {
      await dataset.close();
    }
  });

  it('takes shuffled rows with duplicates as LanceDB does', async () => {
    const dataset = await openDataset(fixture.url, { storage: fixture.s3.storage });
    try {
      const rng = new Rng(13);
      const offsets = Array.from({ length: 300 }, () => rng.int(0, dataset.numRows));
      offsets.push(offsets[0] as number);
      expectTablesEqual(await dataset.take(offsets), await oracleTake(fixture.url, offsets));
    } finally {
      await dataset.close();
    }
  });

  it('lists its versions and reads each one as LanceDB time-travels to it', async () => {
    const latest = await openDataset(fixture.url, { storage: fixture.s3.storage });
    try {
      expect((await latest.versions()).map((v) => v.version)).toEqual([1, 2, 3, 4]);
    } finally {
      await latest.close();
    }
    for (let version = 1; version <= REMOTE_VERSIONS; version++) {
      const dataset = await openDataset(fixture.url, { storage: fixture.s3.storage, version });
      try {
        expectTablesEqual(await scanAll(dataset), await oracleVersion(fixture.url, version), {
          label: `version ${version}`,
        });
      } finally {
        await dataset.close();
      }
    }
  });

  it('takes credentials, region and endpoint from the AWS_* environment when options give none', async () => {
    // The fixture set AWS_ENDPOINT, AWS_ALLOW_HTTP, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
    const dataset = await openDataset(fixture.url);
    try {
      expect(dataset.numRows).toBe(fixture.numRows);
    } finally {
      await dataset.close();
    }
  });

  it('is read through a virtual-hosted endpoint, which names the bucket itself', async () => {
    const dataset = await openDataset('s3://lance/db/t.lance', {
      storage: {
        ...fixture.s3.storage,
        endpoint: `${fixture.s3.endpoint}/lance`,
        virtual_hosted_style_request: 'true',
      },
    });
    try {
      expectTablesEqual(await dataset.take([0, 5, 1100]), await oracleTake(fixture.url, [0, 5, 1100]));
    } finally {
      await dataset.close();
    }
  });

  it('with wrong credentials is an IoError saying access was denied, tried once, without the secret', async () => {
    const secret = 'wrong-secret-value-123';
    const error = await rejection(
      openDataset(fixture.url, {
        storage: { ...fixture.s3.storage, awsAccessKeyId: 'NOBODY', awsSecretAccessKey: secret },
      }),
    );
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain('s3://lance/db/t.lance/_versions/ (listing)');
    expect(error.message).toMatch(/HTTP 403 InvalidAccessKeyId: access denied/);
    expect(error.details).toMatchObject({ status: 403, attempts: 1 });
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(secret);
  });

  it('that does not exist is an IoError naming its URL', async () => {
    const error = await rejection(openDataset('s3://lance/db/missing.lance', { storage: fixture.s3.storage }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toBe('s3://lance/db/missing.lance is not a Lance dataset: _versions/ holds no manifest');
  });

  it('with a storage option lance-loader does not know is an InvalidArgumentError naming it', async () => {
    const error = await rejection(openDataset(fixture.url, { storage: { ...fixture.s3.storage, awsRegoin: 'x' } }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(
      'options.storage.awsRegoin is not a storage option lance-loader knows; it takes access_key_id, secret_access_key, session_token, token, region, default_region, endpoint, endpoint_url, allow_http, virtual_hosted_style_request, ca_bundle (also as aws_… or camelCase)',
    );
  });

  it('over a link that fails a third of its requests (503, resets, short bodies) still reads exactly', async () => {
    const proxy = await startFaultProxy(fixture.s3.endpoint);
    const rng = new Rng(7);
    const faults: Fault[] = [{ kind: 'status', status: 503 }, { kind: 'reset' }, { kind: 'truncate' }];
    let injected = 0;
    proxy.fault = () => {
      if (!rng.bool(1 / 3)) return { kind: 'pass' };
      injected++;
      return faults[rng.int(0, faults.length)] as Fault;
    };
    const dataset = await openDataset(fixture.url, {
      storage: { ...fixture.s3.storage, endpoint: proxy.url },
      remote: { retries: 8, timeoutMs: 5_000 },
    });
    try {
      expectTablesEqual(await scanAll(dataset), await oracleScan(fixture.url));
      expect(injected).toBeGreaterThan(3);
    } finally {
      await dataset.close();
      await proxy.close();
    }
  });
});

describe('an http:// dataset', () => {
  it('opens its latest version from _versions/_latest.manifest and reads as LanceDB does', async () => {
    const versions = join(fixture.localPath, '_versions');
    const newest = readdirSync(versions).sort()[0] as string; // V2 names: the latest sorts first
    copyFileSync(join(versions, newest), join(versions, '_latest.manifest'));
    const dataset = await openDataset(`${http.url}/t.lance`);
    try {
      expect(dataset.version).toBe(REMOTE_VERSIONS);
      expectTablesEqual(await scanAll(dataset), await oracleScan(fixture.localPath));
    } finally {
      await dataset.close();
    }
  });

  it('opens the version asked for by its manifest name', async () => {
    const dataset = await openDataset(`${http.url}/t.lance`, { version: 2 });
    try {
      expectTablesEqual(await scanAll(dataset), await oracleVersion(fixture.localPath, 2));
    } finally {
      await dataset.close();
    }
  });

  it('without _latest.manifest needs a version, and says so', async () => {
    const proxy = await startFaultProxy(http.url);
    proxy.fault = (req) => (req.url?.endsWith('_latest.manifest') ? { kind: 'status', status: 404 } : { kind: 'pass' });
    try {
      const error = await rejection(openDataset(`${proxy.url}/t.lance`));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toBe(
        `${proxy.url}/t.lance is served over http(s), which cannot list versions, and has no _versions/_latest.manifest: pass the version to open, e.g. { version: 3 }`,
      );
    } finally {
      await proxy.close();
    }
  });

  it('that has no such version is an InvalidArgumentError naming both manifest names tried', async () => {
    await expect(openDataset(`${http.url}/t.lance`, { version: 9 })).rejects.toThrow(
      /has no version 9 \(neither _versions\/18446744073709551606\.manifest nor _versions\/9\.manifest exists\)/,
    );
  });
});

describe('inspect and openFile on remote URLs', () => {
  it('inspect reports an s3:// dataset as it reports the same dataset written locally', async () => {
    const [remote, local] = await Promise.all([
      inspect(fixture.url, { storage: fixture.s3.storage }),
      inspect(fixture.localPath),
    ]);
    if (remote.kind !== 'dataset' || local.kind !== 'dataset') throw new Error('expected dataset reports');
    expect(remote.path).toBe(fixture.url);
    expect(remote.versions.map((v) => v.version)).toEqual(local.versions.map((v) => v.version));
    expect(remote.schema).toEqual(local.schema);
    expect(remote.numRows).toBe(local.numRows);
    const rowsOf = (report: typeof remote) => report.fragments.map((f) => [f.physicalRows, f.deletedRows]);
    expect(rowsOf(remote)).toEqual(rowsOf(local));
  });

  it('openFile reads a data file of an s3:// dataset by range requests', async () => {
    const dataset = await openDataset(fixture.url, { storage: fixture.s3.storage });
    const [fragment] = dataset.fragments;
    await dataset.close();
    const file = await openFile(`${fixture.url}/data/${fragment?.files[0]?.path}`, { storage: fixture.s3.storage });
    try {
      expect(file.numRows).toBe(fragment?.physicalRows);
      const ids = (await file.take([0, 599, 7], { columns: ['id'] })).getChild('id')?.toArray();
      expect(Array.from(ids as BigInt64Array)).toEqual([0n, 599n, 7n]);
    } finally {
      await file.close();
    }
  });

  it('the CLI inspects an s3:// dataset and one of its data files, reaching the store through AWS_*', async () => {
    const dataset = await runScript('cli.ts', ['inspect', fixture.url, '--json']);
    expect(dataset.stderr).toBe('');
    const report = JSON.parse(dataset.stdout) as {
      kind: string;
      numRows: number;
      fragments: { files: { path: string }[] }[];
    };
    expect(report).toMatchObject({ kind: 'dataset', numRows: fixture.numRows });
    const fileUrl = `${fixture.url}/data/${report.fragments[0]?.files[0]?.path}`;
    const file = await runScript('cli.ts', ['inspect', fileUrl]);
    expect(file.stderr).toBe('');
    expect(file.stdout).toMatch(new RegExp(`^file +${fileUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });
});

describe('an s3:// dataset of file version 2.2 (LanceDB 0.39 default)', () => {
  let url: string;
  beforeAll(async () => {
    url = await writeRemote22Table(fixture, 't22');
  });

  it('scans and takes shuffled rows value for value as LanceDB reads the same URL', async () => {
    const dataset = await openDataset(url, { storage: fixture.s3.storage });
    try {
      expect(dataset.fragments[0]?.files[0]?.fileVersion).toBe('2.2');
      expectTablesEqual(await scanAll(dataset), await oracleScan(url));
      const rng = new Rng(22);
      const offsets = Array.from({ length: 200 }, () => rng.int(0, dataset.numRows));
      expectTablesEqual(await dataset.take(offsets), await oracleTake(url, offsets));
    } finally {
      await dataset.close();
    }
  });
});

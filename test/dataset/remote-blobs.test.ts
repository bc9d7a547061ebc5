/**
 * dataset.takeBlobs on remote datasets: the LanceDB-written blob fixtures (legacy blobs in 2.0 and 2.1,
 * blob v2 with inline, packed and dedicated sidecar values in 2.2) uploaded to a loopback S3 server
 * (s3rver) and served over plain HTTP, read through a proxy that records every request. The handles'
 * bytes are compared with the bytes written; a handle's read is one request of exactly the range asked
 * for; external blob URIs resolve relative to the dataset.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobFiles, createBlobHandles } from '../../dataset/blobs.js';
import { RemoteStorage } from '../../dataset/storage.js';
import { CorruptFileError, openDataset, UnsupportedError, type Dataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { rejection } from '../caught.js';
import {
  startFaultProxy,
  startS3,
  startStaticServer,
  temporaryDirectory,
  uploadDirectory,
  type FaultProxy,
  type LoopbackServer,
  type S3Server,
} from '../io/remote/servers.js';
import { BLOB_CASES, externalDescriptor, writtenBlobs } from './blob-fixtures.js';

const CASES = BLOB_CASES.filter((c) => c.version !== '2.0');

let s3: S3Server;
let s3Proxy: FaultProxy;
const http: LoopbackServer[] = [];
/** Per case: its local directory, and its latest version (an http server cannot list versions). */
const local = new Map<string, { path: string; version: number }>();
/** The Range headers of the requests the proxy in front of s3rver passed, in order. */
let ranges: string[] = [];

const caseKey = (c: { spec: string; version: string }) => `${c.spec}-${c.version}`;

beforeAll(async () => {
  s3 = await startS3(['blobs']);
  s3Proxy = await startFaultProxy(s3.endpoint);
  s3Proxy.fault = (req) => {
    ranges.push(req.headers.range ?? 'whole object');
    return { kind: 'pass' };
  };
  for (const c of CASES) {
    const path = await ensureDataset(specByName(c.spec), c.version);
    const ds = await openDataset(path);
    local.set(caseKey(c), { path, version: ds.version });
    await ds.close();
    await uploadDirectory(s3.endpoint, path, 'blobs', `${caseKey(c)}/${basename(path)}`);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(http.map((server) => server.close()));
  await s3Proxy?.close();
  await s3?.close();
});

/** Opens the case's dataset over `scheme`: s3:// through the recording proxy, or http:// from its directory. */
async function openRemote(c: { spec: string; version: string }, scheme: 's3' | 'http'): Promise<Dataset> {
  const { path, version } = local.get(caseKey(c)) as { path: string; version: number };
  if (scheme === 's3')
    return openDataset(`s3://blobs/${caseKey(c)}/${basename(path)}`, {
      storage: { ...s3.storage, endpoint: s3Proxy.url },
    });
  const server = await startStaticServer(dirname(path));
  http.push(server);
  return openDataset(`${server.url}/${basename(path)}`, { version });
}

const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');

describe.each(CASES.flatMap((c) => (['s3', 'http'] as const).map((scheme) => ({ ...c, scheme }))))(
  'takeBlobs on $spec written as $version, over $scheme',
  (c) => {
    it('returns handles whose bytes are the values written, in the order asked, nulls as null', async () => {
      const written = writtenBlobs(c.spec);
      const ds = await openRemote(c, c.scheme);
      try {
        const rows = Array.from({ length: ds.numRows }, (_, i) => ds.numRows - 1 - i);
        rows.push(3, 3);
        const handles = await ds.takeBlobs(rows, 'image');
        for (const [i, row] of rows.entries()) {
          const handle = handles[i] ?? null;
          expect(handle === null ? null : hex(await handle.arrayBuffer()), `row ${row}`).toBe(written[row] ?? null);
        }
      } finally {
        await ds.close();
      }
    });
  },
);

describe.each(CASES)('takeBlobs on $spec written as $version, over s3 through a counting proxy', (c) => {
  it("reads a megabyte value's slice with one request of just the bytes asked for", async () => {
    const written = writtenBlobs(c.spec);
    const big = written.findIndex((v) => v !== null && v.length / 2 >= 1_000_000);
    const ds = await openRemote(c, 's3');
    try {
      const [handle] = await ds.takeBlobs([big], 'image');
      expect(handle?.size).toBe((written[big] as string).length / 2);
      ranges = [];
      const slice = await handle?.read(500_000, 100);
      expect(hex(slice as Uint8Array)).toBe((written[big] as string).slice(1_000_000, 1_000_200));
      expect(ranges).toHaveLength(1);
      const [, first, last] = /^bytes=(\d+)-(\d+)$/.exec(ranges[0] as string) ?? [];
      expect(Number(last) - Number(first) + 1).toBe(100);
    } finally {
      await ds.close();
    }
  });

  it('opens handles without reading the values', async () => {
    const written = writtenBlobs(c.spec);
    const rows = written.flatMap((v, row) => (v !== null && v.length / 2 >= 100_000 ? [row] : []));
    const ds = await openRemote(c, 's3');
    try {
      const before = (await ds.readStats()).bytesRead;
      await ds.takeBlobs(rows, 'image');
      const descriptorBytes = (await ds.readStats()).bytesRead - before;
      const valueBytes = rows.reduce((sum, row) => sum + (written[row] as string).length / 2, 0);
      expect(descriptorBytes).toBeLessThan(valueBytes / 10);
    } finally {
      await ds.close();
    }
  });
});

describe("a remote dataset's external blobs", () => {
  const root = 's3://blobs/external/t.lance';
  const clip = Uint8Array.from({ length: 64 }, (_, i) => i);

  beforeAll(async () => {
    const upload = temporaryDirectory('llrext-');
    mkdirSync(join(upload.dir, 'media'));
    writeFileSync(join(upload.dir, 'media', 'clip.bin'), clip);
    await uploadDirectory(s3.endpoint, upload.dir, 'blobs', 'external/t.lance');
    upload.remove();
  });

  /** The bytes [position, position + size) of external blob `uri` of a dataset at `root`. */
  async function readExternal(
    uri: string,
    position: bigint,
    size: bigint,
    base?: string,
  ): Promise<Uint8Array | undefined> {
    const storage = RemoteStorage.open(root, s3.storage, undefined, 'remote');
    const files = new BlobFiles(storage, base ? [{ id: 1, is_dataset_root: false, path: base }] : []);
    try {
      const source = await storage.openBlobFile(`${root}/media/clip.bin`, 'origin');
      const origin = { source, where: 'f.lance column 1 ("image")', row: 7 };
      const descriptor = externalDescriptor(uri, position, size, base ? 1 : 0);
      const [handle] = await createBlobHandles(descriptor, [origin], files, {});
      return await handle?.read();
    } finally {
      await files.close();
      storage.close();
    }
  }

  it('reads a URI relative to the dataset', async () => {
    expect([...((await readExternal('media/clip.bin', 10n, 5n)) as Uint8Array)]).toEqual([10, 11, 12, 13, 14]);
  });

  it('reads an absolute URI under the dataset', async () => {
    expect([...((await readExternal(`${root}/media/clip.bin`, 60n, 4n)) as Uint8Array)]).toEqual([60, 61, 62, 63]);
  });

  it('reads a URI relative to an external base under the dataset', async () => {
    expect([...((await readExternal('clip.bin', 0n, 0n, `${root}/media`)) as Uint8Array)]).toEqual([...clip]);
  });

  it('refuses a URI relative to an external base outside the dataset, naming the base', async () => {
    const error = await rejection(readExternal('clip.bin', 0n, 0n, 's3://blobs/elsewhere'));
    expect(error).toBeInstanceOf(UnsupportedError);
    expect((error as Error).message).toBe(
      `f.lance column 1 ("image"): row 7: external blob "clip.bin" is relative to external base 1 (s3://blobs/elsewhere), outside the dataset ${root}; a remote dataset's external blobs are read only under it`,
    );
  });

  it.each([
    ['a relative URI leaving the dataset', '../other.lance/media/clip.bin'],
    ['another bucket', 's3://elsewhere/t.lance/media/clip.bin'],
    ['a local file: URI', 'file:///etc/hostname'],
  ])('refuses %s with UnsupportedError', async (_, uri) => {
    const error = await rejection(readExternal(uri, 0n, 1n));
    expect(error).toBeInstanceOf(UnsupportedError);
    expect((error as Error).message).toBe(
      `f.lance column 1 ("image"): row 7: external blob "${uri}" lies outside the dataset ${root}; a remote dataset's external blobs are read only under it`,
    );
  });
});

describe('a base-relative external blob URI read locally and remotely', () => {
  const root = 's3://blobs/names/t.lance';
  // Decoys: what a URI parsed as a URL would open instead of the file it names.
  const files: Record<string, string> = {
    'media/clip#1.mp4': 'clip number one',
    'media/clip': 'decoy before the #',
    'media/a b.jpg': 'a space b',
    'media/100%.jpg': 'one hundred percent',
    'media/x?y.jpg': 'x question y',
    'media/x': 'decoy before the ?',
    'media/%2e%2e/secret.bin': 'inside the base',
    'secret.bin': 'decoy outside the base',
  };
  let local: { dir: string; remove: () => void };
  let server: LoopbackServer;

  beforeAll(async () => {
    local = temporaryDirectory('llrnames-');
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(local.dir, 'media', '..', name)), { recursive: true });
      writeFileSync(join(local.dir, name), text);
    }
    await uploadDirectory(s3.endpoint, local.dir, 'blobs', 'names/t.lance');
    server = await startStaticServer(dirname(local.dir));
    http.push(server);
  });

  afterAll(() => local.remove());

  /** The text of external blob `uri` relative to base 1, the media folder: locally, over s3 or over http. */
  async function read(uri: string, where: 'local' | 's3' | 'http'): Promise<string> {
    const remoteRoot = where === 's3' ? root : `${server.url}/${basename(local.dir)}`;
    const storage =
      where === 'local'
        ? undefined
        : RemoteStorage.open(remoteRoot, where === 's3' ? s3.storage : undefined, undefined, 'remote');
    const base = where === 'local' ? pathToFileURL(join(local.dir, 'media')).href : `${remoteRoot}/media`;
    const blobs = new BlobFiles(storage, [{ id: 1, is_dataset_root: false, path: base }]);
    try {
      const source = storage
        ? await storage.openBlobFile(`${remoteRoot}/secret.bin`, 'origin')
        : await blobs.open(join(local.dir, 'secret.bin'), 'origin');
      const origin = { source, where: 'f.lance column 1 ("image")', row: 7 };
      const [handle] = await createBlobHandles(externalDescriptor(uri, 0n, 0n, 1), [origin], blobs, {
        externalRoots: [local.dir],
      });
      return new TextDecoder().decode(await handle?.read());
    } finally {
      await blobs.close();
      storage?.close();
    }
  }

  it.each(['clip#1.mp4', 'a b.jpg', '100%.jpg', 'x?y.jpg', '%2e%2e/secret.bin'])(
    'reads the same file for %s locally, over s3 and over http',
    async (uri) => {
      const text = files[`media/${uri}`];
      expect([await read(uri, 'local'), await read(uri, 's3'), await read(uri, 'http')]).toEqual([text, text, text]);
    },
  );

  it.each(['a//b.jpg', './a b.jpg', 'a\\b.jpg'])('refuses %s locally and remotely as CorruptFileError', async (uri) => {
    for (const where of ['local', 's3'] as const) {
      const error = await rejection(read(uri, where));
      expect(error).toBeInstanceOf(CorruptFileError);
      expect(error.message).toContain(`row 7: external blob "${uri}"`);
    }
  });
});

describe("a remote dataset's absolute external blob URI", () => {
  /** The rejection of reading external blob `uri` (absolute, base 0) of the dataset s3://blobs/names/t.lance. */
  async function refusal(uri: string): Promise<Error> {
    const storage = RemoteStorage.open('s3://blobs/names/t.lance', s3.storage, undefined, 'remote');
    const blobs = new BlobFiles(storage);
    try {
      const source = await storage.openBlobFile('s3://blobs/names/t.lance/secret.bin', 'origin');
      const descriptor = externalDescriptor(uri, 0n, 0n);
      return await rejection(createBlobHandles(descriptor, [{ source, where: 'f', row: 3 }], blobs, {}));
    } finally {
      await blobs.close();
      storage.close();
    }
  }

  it('is refused with a hash, not read as the file before it', async () => {
    expect(await refusal('s3://blobs/names/t.lance/media/clip#1.mp4')).toBeInstanceOf(UnsupportedError);
  });

  it('with a malformed %-escape is a CorruptFileError naming the row and URI', async () => {
    const error = await refusal('s3://blobs/names/t.lance/media/100%.jpg');
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toBe(
      'f: row 3: external blob "s3://blobs/names/t.lance/media/100%.jpg" has a malformed %-escape in its path',
    );
  });
});

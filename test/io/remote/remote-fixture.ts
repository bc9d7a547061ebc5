/**
 * A dataset written by LanceDB into a loopback S3 server (s3rver) and, by the same calls, into a local
 * directory (served over HTTP by the tests): 3 fragments of an id, a label, a 16-d float32 vector, a
 * string and a 0.2–2 KB binary, then a delete, so versions 1–4 with a deletion file per fragment
 * (file version 2.1; writeRemote22Table writes the same in 2.2).
 *
 * LanceDB reads the same URLs as the oracle: the AWS_* variables set here are how its object store finds
 * the server (test/fixtures/oracle.ts opens tables without storage options); they are restored by close().
 */
import * as lancedb from '@lancedb/lancedb';
import { lanceDbArrow as A } from '../../fixtures/arrow-bridge.js';
import { startS3, temporaryDirectory, type S3Server } from './servers.js';

export interface RemoteFixture {
  s3: S3Server;
  /** The dataset on S3, `s3://lance/db/t.lance`. */
  url: string;
  /** The same dataset written locally (for the HTTP server). */
  localPath: string;
  /** Visible rows at the latest version. */
  numRows: number;
  close(): Promise<void>;
}

const BATCHES = [600, 500, 400];
export const REMOTE_VERSIONS = 4;

function rowsOf(start: number, count: number) {
  return Array.from({ length: count }, (_, k) => {
    const id = start + k;
    const blob = new Uint8Array(200 + ((id * 7919) % 1800));
    for (let b = 0; b < blob.length; b++) blob[b] = (id * 31 + b) & 0xff;
    return {
      id,
      label: id % 10,
      vec: Array.from({ length: 16 }, (_, d) => id + d / 16),
      text: `row ${id} ${'x'.repeat(id % 40)}`,
      blob,
    };
  });
}

const schema = new A.Schema([
  new A.Field('id', new A.Int64(), false),
  new A.Field('label', new A.Int32(), false),
  new A.Field('vec', new A.FixedSizeList(16, new A.Field('item', new A.Float32(), true)), false),
  new A.Field('text', new A.Utf8(), true),
  new A.Field('blob', new A.Binary(), true),
]);

/** Writes table `name` (file version `fileVersion`) into the database at `dbUri`. */
async function writeTable(
  dbUri: string,
  storageOptions: Record<string, string>,
  name = 't',
  fileVersion = '2.1',
): Promise<void> {
  const db = await lancedb.connect(dbUri, { storageOptions });
  let start = 0;
  const [first, ...rest] = BATCHES;
  const table = await db.createTable(name, lancedb.makeArrowTable(rowsOf(0, first as number), { schema }), {
    storageOptions: { new_table_data_storage_version: fileVersion },
  });
  start += first as number;
  for (const count of rest) {
    await table.add(lancedb.makeArrowTable(rowsOf(start, count), { schema }));
    start += count;
  }
  await table.delete('id % 5 = 2');
  table.close();
  db.close();
}

/** Starts s3rver and writes the dataset there and into a local directory. */
export async function writeRemoteFixture(): Promise<RemoteFixture> {
  const s3 = await startS3(['lance']);
  const local = temporaryDirectory('lance-loader-remote-');
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ENDPOINT: s3.endpoint,
    AWS_ALLOW_HTTP: 'true',
    AWS_ACCESS_KEY_ID: s3.storage.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.storage.awsSecretAccessKey,
    AWS_REGION: s3.storage.region,
  });
  await writeTable('s3://lance/db', s3.storage);
  await writeTable(local.dir, {});
  const total = BATCHES.reduce((a, b) => a + b, 0);
  return {
    s3,
    url: 's3://lance/db/t.lance',
    localPath: `${local.dir}/t.lance`,
    numRows: total - Math.ceil((total - 2) / 5),
    async close() {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
      local.remove();
      await s3.close();
    },
  };
}

/**
 * Writes the same rows, fragments and deletions as table `name` in file version 2.2 (LanceDB 0.39's
 * default) to the fixture's S3 server; resolves to its URL.
 */
export async function writeRemote22Table(fixture: RemoteFixture, name: string): Promise<string> {
  await writeTable('s3://lance/db', fixture.s3.storage, name, '2.2');
  return `s3://lance/db/${name}.lance`;
}

/**
 * What may be passed where a dataset is expected (dataset/location.ts), through the public entry points:
 * local paths, `file:` URLs and real LanceDB `Table` objects open; unreadable URLs, closed tables and values of
 * the wrong type are typed errors naming what was passed; a LanceDB database folder lists its tables.
 * Datasets are written by LanceDB into one database folder holding two tables; the LanceDB Cloud table is
 * LanceDB's own RemoteTable, opened against a local HTTP server.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Dataset,
  InvalidArgumentError,
  UnsupportedError,
  createLoader,
  openDataset,
  openFile,
  type DatasetLocation,
} from '../../index.js';
import { inspect } from '../../dataset/inspect.js';
import { expectFailure } from './bad-input-helpers.js';

let dbDir: string;
let db: lancedb.Connection;
/** An open table of `db`: ids 0..49 in the first fragment, 50..59 in the second. */
let table: lancedb.Table;
let tablePath: string;
let dataFile: string;

const rows = (start: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: start + i, x: (start + i) / 2 }));

/** Pinned to file version 2.1 (LanceDB 0.39 writes 2.2 unless told): these tests are about locations, not versions. */
const V21 = { storageOptions: { new_table_data_storage_version: '2.1' } };

beforeAll(async () => {
  dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llloc-'));
  db = await lancedb.connect(dbDir);
  table = await db.createTable('images', rows(0, 50), V21);
  tablePath = path.join(dbDir, 'images.lance');
  const dataDir = path.join(tablePath, 'data');
  // The first fragment's file (50 rows), taken while it is the only one.
  dataFile = path.join(dataDir, fs.readdirSync(dataDir)[0] as string);
  await table.add(rows(50, 10));
  (await db.createTable('labels', rows(0, 5), V21)).close();
});

afterAll(() => {
  table?.close();
  db?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

async function idsOf(location: DatasetLocation): Promise<number[]> {
  const ds = await openDataset(location);
  try {
    const ids: number[] = [];
    for await (const batch of ds.scan({ columns: ['id'] })) ids.push(...Array.from(batch.getChild('id')!, Number));
    return ids;
  } finally {
    await ds.close();
  }
}

const allIds = Array.from({ length: 60 }, (_, i) => i);

describe('a local location', () => {
  it('opens a dataset given as a file:// URL string', async () => {
    expect(await idsOf(pathToFileURL(tablePath).href)).toEqual(allIds);
  });

  it('opens a dataset given as a URL object', async () => {
    expect(await idsOf(pathToFileURL(tablePath))).toEqual(allIds);
  });

  it('opens a data file given as a file:// URL', async () => {
    const file = await openFile(pathToFileURL(dataFile));
    try {
      expect(file.numRows).toBe(50);
    } finally {
      await file.close();
    }
  });

  it('rejects a file:// URL with a host as an InvalidArgumentError naming the URL', async () => {
    await expectFailure(
      () => openDataset('file://server/share/images.lance'),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openDataset(path): file://server/share/images.lance names no local path',
      'file:///absolute/path',
    );
  });
});

describe('a remote URL', () => {
  it.each([
    ['gs://bucket/images.lance', 'gs://bucket/images.lance'],
    ['az://container/images.lance', 'az://container/images.lance'],
    ['GS://bucket/images.lance', 'gs://bucket/images.lance'],
  ])('%s is an UnsupportedError naming the schemes lance-loader reads', async (url, shown) => {
    const error = await expectFailure(
      () => openDataset(url),
      UnsupportedError,
      'UNSUPPORTED',
      `${shown} is a remote URL`,
      'it reads local, s3:// and http(s):// datasets',
    );
    expect(error.details).toMatchObject({ url: shown });
  });

  it('with credentials in it is refused before any request, named without them, its query string or fragment', async () => {
    const error = await expectFailure(
      () => openDataset('https://user:hunter2@example.com/data/images.lance?X-Amz-Signature=abc123#frag'),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'https://example.com/data/images.lance: credentials in the URL are not accepted',
    );
    expect(error.message).not.toMatch(/hunter2|user|abc123|Signature|frag/);
  });

  it('given as a URL object is the same UnsupportedError', async () => {
    await expectFailure(
      () => openDataset(new URL('gs://bucket/images.lance?generation=7')),
      UnsupportedError,
      'UNSUPPORTED',
      'gs://bucket/images.lance is a remote URL',
    );
  });

  it('of a store lance-loader cannot read given to openFile is the same UnsupportedError', async () => {
    const url = 'gs://bucket/images.lance/data/0.lance';
    await expectFailure(() => openFile(url), UnsupportedError, 'UNSUPPORTED', `${url} is a remote URL`);
  });

  it('given to createLoader is the same UnsupportedError', async () => {
    await expectFailure(
      () => createLoader('az://container/images.lance', { batchSize: 8 }),
      UnsupportedError,
      'UNSUPPORTED',
      'az://container/images.lance is a remote URL',
      'lance-loader cannot read it',
    );
  });
});

describe('a LanceDB Table', () => {
  it('opens the dataset at the table directory', async () => {
    const ds = await openDataset(table);
    try {
      expect(ds.path).toBe(tablePath);
      expect(ds.numRows).toBe(await table.countRows());
      expect(ds.version).toBe(await table.version());
    } finally {
      await ds.close();
    }
  });

  it('of a database connected through a file:// URL opens the same dataset', async () => {
    const viaUrl = await lancedb.connect(pathToFileURL(dbDir).href);
    const other = await viaUrl.openTable('images');
    try {
      expect(other.display()).toContain('uri=file://');
      expect(await idsOf(other)).toEqual(allIds);
    } finally {
      other.close();
      viaUrl.close();
    }
  });

  it('feeds createLoader every row once per epoch', async () => {
    const loader = await createLoader(table, { batchSize: 16, workers: 1, columns: ['id'], seed: 1 });
    try {
      expect(loader.dataset.path).toBe(tablePath);
      const ids: number[] = [];
      for await (const batch of loader.epoch(0)) {
        ids.push(...Array.from(batch.columns.id!.values as Int32Array | Float64Array, Number));
        batch.release();
      }
      expect(ids.sort((a, b) => a - b)).toEqual(allIds);
    } finally {
      await loader.close();
    }
  });

  it('is inspected like its directory', async () => {
    const report = await inspect(table);
    expect(report).toMatchObject({ kind: 'dataset', path: tablePath, numRows: 60 });
  });

  it('that is closed is an InvalidArgumentError saying how to pass its path', async () => {
    const closed = await db.openTable('labels');
    closed.close();
    await expectFailure(
      () => openDataset(closed),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openDataset(path) got a closed LanceDB Table ("labels")',
      "path.join(dbUri, 'labels.lance')",
    );
  });

  it('of LanceDB Cloud is an UnsupportedError asking for the s3:// URL of its dataset', async () => {
    // A real RemoteTable: LanceDB's client opens it with one describe request, answered here locally.
    const server = http.createServer((request, response) => {
      request.resume().on('end', () => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ version: 1, schema: { fields: [] } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const cloud = await lancedb.connect('db://mydb', {
      apiKey: 'key',
      region: 'us-east-1',
      hostOverride: `http://127.0.0.1:${port}`,
    });
    const remote = await cloud.openTable('images');
    try {
      expect(remote.display()).toBe('RemoteTable(images)');
      await expectFailure(
        () => openDataset(remote),
        UnsupportedError,
        'UNSUPPORTED',
        'openDataset(path) got a LanceDB Cloud Table ("images"), which lance-loader cannot read',
      );
    } finally {
      remote.close();
      cloud.close();
      server.close();
    }
  });

  it('given to openFile is an InvalidArgumentError pointing at openDataset', async () => {
    await expectFailure(
      () => openFile(table as unknown as string),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openFile(path) must be a .lance data file',
      'got a LanceDB Table ("images")',
      'open it with openDataset',
    );
  });
});

describe('a value that is no location', () => {
  const values: [string, unknown, string][] = [
    ['a number', 123, 'a number (123)'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a plain object', {}, 'a plain object'],
    ['an array', ['a.lance'], 'an array'],
    ['a boolean', true, 'a boolean (true)'],
    ['a Map', new Map(), 'a Map object'],
  ];

  it.each(values)('(%s) given to openDataset is an InvalidArgumentError naming the argument', async (_, value, got) => {
    await expectFailure(
      () => openDataset(value as string),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openDataset(path) must be a dataset directory: a path, a file:, s3:// or http(s):// URL, or a LanceDB Table',
      `; got ${got}`,
    );
  });

  it.each(values)(
    '(%s) given to createLoader is an InvalidArgumentError naming the argument',
    async (_, value, got) => {
      await expectFailure(
        () => createLoader(value as string, { batchSize: 8 }),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'createLoader(dataset) must be a dataset (a path, a file:, s3:// or http(s):// URL, or a LanceDB Table) or an open Dataset',
        `; got ${got}`,
      );
    },
  );

  it('(a number) given to openFile is an InvalidArgumentError naming the argument', async () => {
    await expectFailure(
      () => openFile(7 as unknown as string),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openFile(path) must be a .lance data file: a path, a file: URL, or an s3:// or http(s):// URL; got a number (7)',
    );
  });

  it('(an open Dataset) given to openDataset is an InvalidArgumentError naming its class', async () => {
    const ds = await openDataset(tablePath);
    try {
      expect(ds).toBeInstanceOf(Dataset);
      await expectFailure(
        () => openDataset(ds as unknown as string),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'got a Dataset object',
      );
    } finally {
      await ds.close();
    }
  });
});

describe('a path to something other than a dataset', () => {
  it('a LanceDB database folder is an InvalidArgumentError listing its tables', async () => {
    const error = await expectFailure(
      () => openDataset(dbDir),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      `${dbDir} is a LanceDB database folder, not a table`,
      'it holds the tables images, labels',
      `pass one of them, e.g. ${tablePath}`,
    );
    expect(error.details).toMatchObject({ path: dbDir, tables: ['images', 'labels'] });
  });

  it('a LanceDB database folder with many tables lists the first ten and counts the rest', async () => {
    const many = fs.mkdtempSync(path.join(os.tmpdir(), 'llloc-many-'));
    try {
      const conn = await lancedb.connect(many);
      for (let i = 0; i < 12; i++) (await conn.createTable(`t${String(i).padStart(2, '0')}`, rows(0, 1))).close();
      conn.close();
      await expectFailure(
        () => openDataset(many),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'holds the tables t00, t01, t02, t03, t04, t05, t06, t07, t08, t09 and 2 more;',
      );
    } finally {
      fs.rmSync(many, { recursive: true, force: true });
    }
  });

  it('a LanceDB database folder is named the same way by createLoader and inspect', async () => {
    for (const run of [() => createLoader(dbDir, { batchSize: 8 }), () => inspect(dbDir)])
      await expectFailure(run, InvalidArgumentError, 'INVALID_ARGUMENT', 'is a LanceDB database folder');
  });

  it('a data file is an InvalidArgumentError pointing at openFile and at its dataset', async () => {
    const error = await expectFailure(
      () => openDataset(dataFile),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      `${dataFile} is a single Lance data file, not a dataset directory: open it with openFile(path)`,
      `or open its dataset ${tablePath} with openDataset`,
    );
    expect(error.details).toMatchObject({ path: dataFile, dataset: tablePath });
  });

  it('a dataset directory given to openFile is an InvalidArgumentError pointing at openDataset', async () => {
    await expectFailure(
      () => openFile(tablePath),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      `${tablePath} is a Lance dataset directory, not a single data file: open it with openDataset(path)`,
    );
  });
});

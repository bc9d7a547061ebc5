/**
 * The compatibility matrix: every fixture dataset (written by LanceDB in file versions 2.0, 2.1 and 2.2) is read
 * by lance-loader and compared value for value with LanceDB's own reads: full scans, shuffled takes with
 * duplicates, and every older version, nested columns (lists, structs) included. A subset is also written by
 * LanceDB 0.37 with its defaults (file version 2.1).
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { ensureDataset, type FixtureWriter } from '../fixtures/datasets.js';
import { LANCEDB_037_SPECS, SPECS, specByName, specVersions, type DatasetSpec } from '../fixtures/matrix.js';
import { oracleScan, oracleTake, oracleVersion, oracleVersions } from '../fixtures/oracle.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { Rng } from '../fixtures/random.js';

/** Every column of the dataset, nested ones included. */
function readableColumns(ds: Dataset): string[] {
  return ds.schema.fields.map((f) => f.name);
}

async function scanAll(ds: Dataset, columns: string[], batchSize: number): Promise<arrow.Table> {
  const batches: arrow.RecordBatch[] = [];
  for await (const batch of ds.scan({ columns, batchSize })) batches.push(batch);
  return batches.length > 0 ? new arrow.Table(batches) : new arrow.Table(ds.schema.select(columns));
}

async function withDataset<T>(path: string, fn: (ds: Dataset) => Promise<T>, version?: number): Promise<T> {
  const ds = await openDataset(path, version === undefined ? {} : { version });
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

const cases = [
  ...SPECS.flatMap((spec: DatasetSpec) =>
    specVersions(spec).map((version) => ({ spec, version, writer: 'lancedb' as FixtureWriter })),
  ),
  ...LANCEDB_037_SPECS.map((name) => ({
    spec: specByName(name),
    version: '2.1' as const,
    writer: 'lancedb-0.37' as FixtureWriter,
  })),
];

describe.each(cases)('$spec.name written as $version by $writer', ({ spec, version, writer }) => {
  it('scans the same values as LanceDB', async () => {
    const path = await ensureDataset(spec, version, writer);
    await withDataset(path, async (ds) => {
      const columns = readableColumns(ds);
      const expected = await oracleScan(path, columns);
      expect(ds.numRows).toBe(expected.numRows);
      expectTablesEqual(await scanAll(ds, columns, 1000), expected, { label: `${spec.name} v${version} scan` });
    });
  });

  it('takes shuffled offsets with duplicates like LanceDB', async () => {
    const path = await ensureDataset(spec, version, writer);
    await withDataset(path, async (ds) => {
      if (ds.numRows === 0) return;
      const rng = new Rng(7);
      const offsets = Array.from({ length: Math.min(300, ds.numRows * 2) }, () => rng.int(0, ds.numRows));
      offsets.push(0, ds.numRows - 1, offsets[0] as number);
      const columns = readableColumns(ds);
      expectTablesEqual(await ds.take(offsets, { columns }), await oracleTake(path, offsets, columns), {
        label: `${spec.name} v${version} take`,
      });
    });
  });

  it('takes the same values as LanceDB with decoded pages kept (cacheBytes)', async () => {
    const path = await ensureDataset(spec, version, writer);
    const ds = await openDataset(path, { cacheBytes: 64 * 1024 * 1024 });
    try {
      if (ds.numRows === 0) return;
      const rng = new Rng(8);
      const offsets = Array.from({ length: Math.min(200, ds.numRows) }, () => rng.int(0, ds.numRows));
      const columns = readableColumns(ds);
      const expected = await oracleTake(path, offsets, columns);
      // The first take keeps the pages it touches; the second reads them from memory.
      expectTablesEqual(await ds.take(offsets, { columns }), expected, {
        label: `${spec.name} v${version} first take`,
      });
      expectTablesEqual(await ds.take(offsets, { columns }), expected, { label: `${spec.name} v${version} kept take` });
    } finally {
      await ds.close();
    }
  });

  it('reads every older version like LanceDB', async () => {
    const path = await ensureDataset(spec, version, writer);
    const versions = await oracleVersions(path);
    for (const v of versions.slice(0, -1)) {
      await withDataset(
        path,
        async (ds) => {
          const columns = readableColumns(ds);
          expectTablesEqual(await scanAll(ds, columns, 4096), await oracleVersion(path, v, columns), {
            label: `${spec.name} v${version} @${v}`,
          });
        },
        v,
      );
    }
  });
});

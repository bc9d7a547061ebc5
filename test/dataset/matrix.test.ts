/**
 * The compatibility matrix: every fixture dataset (written by LanceDB in file versions 2.0 and 2.1) is read
 * by lance-loader and compared value for value with LanceDB's own reads: full scans, shuffled takes with
 * duplicates, and every older version. Nested columns must fail with UnsupportedError while the other
 * columns of the same dataset stay readable.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { openDataset, UnsupportedError, type Dataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { SPECS, specVersions, type DatasetSpec } from '../fixtures/matrix.js';
import { oracleScan, oracleTake, oracleVersion, oracleVersions } from '../fixtures/oracle.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { Rng } from '../fixtures/random.js';

function isNested(type: arrow.DataType): boolean {
  return arrow.DataType.isList(type) || arrow.DataType.isStruct(type);
}

function flatColumns(ds: Dataset): string[] {
  return ds.schema.fields.filter((f) => !isNested(f.type)).map((f) => f.name);
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

// Packed structs and blobs are compared in packed-struct.test.ts and blobs.test.ts.
const cases = SPECS.filter((spec) => !spec.tags?.includes('packed')).flatMap((spec: DatasetSpec) =>
  specVersions(spec).map((version) => ({ spec, version })),
);

describe.each(cases)('$spec.name written as $version', ({ spec, version }) => {
  it('scans the same values as LanceDB', async () => {
    const path = await ensureDataset(spec, version);
    await withDataset(path, async (ds) => {
      const columns = flatColumns(ds);
      const expected = await oracleScan(path, columns);
      expect(ds.numRows).toBe(expected.numRows);
      expectTablesEqual(await scanAll(ds, columns, 1000), expected, { label: `${spec.name} v${version} scan` });
    });
  });

  it('takes shuffled offsets with duplicates like LanceDB', async () => {
    const path = await ensureDataset(spec, version);
    await withDataset(path, async (ds) => {
      if (ds.numRows === 0) return;
      const rng = new Rng(7);
      const offsets = Array.from({ length: Math.min(300, ds.numRows * 2) }, () => rng.int(0, ds.numRows));
      offsets.push(0, ds.numRows - 1, offsets[0] as number);
      const columns = flatColumns(ds);
      expectTablesEqual(await ds.take(offsets, { columns }), await oracleTake(path, offsets, columns), {
        label: `${spec.name} v${version} take`,
      });
    });
  });

  it('takes the same values as LanceDB with decoded pages kept (cacheBytes)', async () => {
    const path = await ensureDataset(spec, version);
    const ds = await openDataset(path, { cacheBytes: 64 * 1024 * 1024 });
    try {
      if (ds.numRows === 0) return;
      const rng = new Rng(8);
      const offsets = Array.from({ length: Math.min(200, ds.numRows) }, () => rng.int(0, ds.numRows));
      const columns = flatColumns(ds);
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
    const path = await ensureDataset(spec, version);
    const versions = await oracleVersions(path);
    for (const v of versions.slice(0, -1)) {
      await withDataset(
        path,
        async (ds) => {
          const columns = flatColumns(ds);
          expectTablesEqual(await scanAll(ds, columns, 4096), await oracleVersion(path, v, columns), {
            label: `${spec.name} v${version} @${v}`,
          });
        },
        v,
      );
    }
  });

  it('refuses nested columns with UnsupportedError and nothing else', async () => {
    const path = await ensureDataset(spec, version);
    await withDataset(path, async (ds) => {
      for (const field of ds.schema.fields.filter((f) => isNested(f.type))) {
        await expect(ds.take([0], { columns: [field.name] })).rejects.toBeInstanceOf(UnsupportedError);
      }
    });
  });
});

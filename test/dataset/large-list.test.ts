/**
 * large_list columns, which LanceDB writes (test/fixtures/large-lists.ts adds them to copies of matrix
 * datasets by a SQL cast) and apache-arrow 18 cannot represent: the reader returns them as `List` vectors
 * (32-bit offsets), value for value as LanceDB reads them cast to List, in full scans and in shuffled takes
 * with repeated rows; lists of ints with null items and null lists, of strings, of lists, of structs and of
 * fixed-size lists, and rows spanning mini-block chunks.
 */
import { describe, expect, it } from 'vitest';
import * as arrow from 'apache-arrow';
import { openDataset, type Dataset } from '../../index.js';
import { expectTablesEqual, selectRows } from '../fixtures/compare.js';
import { LARGE_LIST_FIXTURES } from '../fixtures/matrix.js';
import { ensureLargeListDataset, largeListCasts, oracleLargeLists } from '../fixtures/large-lists.js';
import { Rng } from '../fixtures/random.js';

const CASES = LARGE_LIST_FIXTURES.flatMap((f) => f.versions.map((version) => ({ spec: f.spec, version })));

async function withDataset<T>(path: string, use: (dataset: Dataset) => Promise<T>): Promise<T> {
  const dataset = await openDataset(path);
  try {
    return await use(dataset);
  } finally {
    await dataset.close();
  }
}

describe.each(CASES)('large_list columns of $spec in file version $version', ({ spec, version }) => {
  const columns = ['idx', ...largeListCasts(spec).map((c) => c.name)];

  it('scan as List vectors with the values LanceDB reads', async () => {
    const path = await ensureLargeListDataset(spec, version);
    const expected = await oracleLargeLists(path, spec);
    await withDataset(path, async (dataset) => {
      const batches: arrow.RecordBatch[] = [];
      for await (const batch of dataset.scan({ columns, batchSize: 700 })) batches.push(batch);
      const table = new arrow.Table(batches);
      for (const name of columns.slice(1)) {
        expect(dataset.selectFields([name])[0]?.logicalType).toMatch(/^large_list/);
        expect(arrow.DataType.isList(table.getChild(name)?.type)).toBe(true);
      }
      expectTablesEqual(table, expected, { label: `${spec} v${version} scan` });
    });
  }, 120_000);

  it('take shuffled rows, repeats included, with the values LanceDB reads', async () => {
    const path = await ensureLargeListDataset(spec, version);
    const expected = await oracleLargeLists(path, spec);
    const rng = new Rng(7);
    const rows = Array.from({ length: 300 }, () => rng.int(0, expected.numRows));
    rows.push(rows[0] as number, rows[1] as number);
    await withDataset(path, async (dataset) => {
      expectTablesEqual(await dataset.take(rows, { columns }), selectRows(expected, rows), {
        label: `${spec} v${version} take`,
      });
    });
  }, 120_000);
});

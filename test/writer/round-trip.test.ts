/**
 * Round trips over the fixture matrix, in file versions 2.1 and 2.2: the rows each spec would hand
 * LanceDB are written by lance-loader's writer instead, then read back by LanceDB (value for value against the rows written)
 * and by lance-loader's reader. Nested columns are left out (the writer refuses them).
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset, writeDataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { SPECS, type DatasetSpec } from '../fixtures/matrix.js';
import { oracleCountRows, oracleScan } from '../fixtures/oracle.js';
import { buildWriteTable } from '../fixtures/plan.js';
import { columnField } from '../fixtures/generators.js';
import { isBlobField } from '../../writer/schema.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-round-trip-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function isNested(type: arrow.DataType): boolean {
  return arrow.DataType.isList(type) || arrow.DataType.isStruct(type);
}

/** The spec with only the columns the writer can write. */
function flatSpec(spec: DatasetSpec): DatasetSpec {
  return {
    ...spec,
    columns: spec.columns.filter((c) => {
      const field = columnField(c);
      return !isNested(field.type) && !isBlobField(field);
    }),
  };
}

/** The rows the spec writes at creation, as LanceDB would get them (in `batchRows` batches). */
function initialTable(spec: DatasetSpec): arrow.Table {
  return buildWriteTable(spec, {
    kind: 'create',
    rowStart: 0,
    rowCount: spec.rows,
    batchRows: spec.batchRows,
    derived: [],
  });
}

async function scanOurs(path: string): Promise<arrow.Table> {
  const ds = await openDataset(path);
  try {
    const batches: arrow.RecordBatch[] = [];
    for await (const batch of ds.scan({ batchSize: 1000 })) batches.push(batch);
    return batches.length > 0 ? new arrow.Table(batches) : new arrow.Table(ds.schema);
  } finally {
    await ds.close();
  }
}

const CASES = (['2.1', '2.2'] as const).flatMap((fileVersion) =>
  SPECS.map(flatSpec).map((spec) => ({ ...spec, fileVersion })),
);

describe.each(CASES)('$name written by lance-loader as file version $fileVersion', (spec) => {
  const path = join(root, `${spec.name}-${spec.fileVersion}.lance`);
  const table = initialTable(spec);

  it('is read by LanceDB value for value', async () => {
    await writeDataset(path, table, { fileVersion: spec.fileVersion });
    expect(await oracleCountRows(path)).toBe(spec.rows);
    expectTablesEqual(await oracleScan(path), table, { label: `${spec.name} via LanceDB` });
  });

  it('is read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(path), table, { label: `${spec.name} via lance-loader` });
  });
});

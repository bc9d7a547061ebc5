/**
 * Round trips over the fixture matrix: the rows each spec would hand LanceDB are written by
 * lance-loader's writer instead, then read back by LanceDB (value for value against the rows written)
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
import { NULL_ITEM_KINDS } from '../fixtures/generators-nested.js';
import { isBlobField } from '../../writer/schema.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-round-trip-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function isNested(type: arrow.DataType): boolean {
  return arrow.DataType.isList(type) || arrow.DataType.isStruct(type) || arrow.DataType.isMap(type);
}

/** The spec with only the columns the writer can write (fixed-size lists with null items are not written yet). */
function flatSpec(spec: DatasetSpec): DatasetSpec {
  return {
    ...spec,
    columns: spec.columns.filter((c) => {
      const field = columnField(c);
      return !isNested(field.type) && !isBlobField(field) && !NULL_ITEM_KINDS.has(c.kind);
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

describe.each(SPECS.map(flatSpec))('$name written by lance-loader', (spec) => {
  const path = join(root, `${spec.name}.lance`);
  const table = initialTable(spec);

  it('is read by LanceDB value for value', async () => {
    await writeDataset(path, table);
    expect(await oracleCountRows(path)).toBe(spec.rows);
    expectTablesEqual(await oracleScan(path), table, { label: `${spec.name} via LanceDB` });
  });

  it('is read by lance-loader value for value', async () => {
    expectTablesEqual(await scanOurs(path), table, { label: `${spec.name} via lance-loader` });
  });
});

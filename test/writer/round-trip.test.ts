/**
 * Round trips over the fixture matrix, in file versions 2.1 and 2.2: the rows each spec would hand
 * LanceDB are written by lance-loader's writer instead, then read back by LanceDB (value for value
 * against the rows written) and by lance-loader's reader. Blob columns (test/writer/blob.test.ts) and
 * packed structs of strings (which the writer refuses) are left out.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { SPECS, type DatasetSpec } from '../fixtures/matrix.js';
import { oracleCountRows, oracleScan } from '../fixtures/oracle.js';
import { scanOurs } from './read-back.js';
import { buildWriteTable } from '../fixtures/plan.js';
import { columnField } from '../fixtures/generators.js';
import { isBlobField, packedBits } from '../../writer/schema.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-round-trip-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Whether the writer writes the column: blob columns are tested apart, packed structs of strings refused. */
function isWritable(column: DatasetSpec['columns'][number]): boolean {
  const field = columnField(column);
  return (
    !isBlobField(field) && (field.metadata.get('lance-encoding:packed') !== 'true' || packedBits(field) !== undefined)
  );
}

/** The spec with only the columns the writer can write. */
function writableSpec(spec: DatasetSpec): DatasetSpec {
  return { ...spec, columns: spec.columns.filter(isWritable) };
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

const CASES = (['2.1', '2.2'] as const).flatMap((fileVersion) =>
  SPECS.map(writableSpec).map((spec) => ({ ...spec, fileVersion })),
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

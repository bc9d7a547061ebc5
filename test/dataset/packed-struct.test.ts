/**
 * Packed structs and blob descriptors, read as Arrow Struct columns value for value with LanceDB:
 * fixed-width packed structs (2.0 PackedStruct, 2.1 MiniBlock PackedStruct), variable packed structs
 * (2.2 FullZip VariablePackedStruct), and the descriptors LanceDB's queries return for blob columns
 * (legacy blobs in 2.0/2.1, blob v2 in 2.2), over fragments, deletions and nulls.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { openDataset, openFile } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';
import { oracleScan, oracleTake } from '../fixtures/oracle.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { Rng } from '../fixtures/random.js';

/** (spec, version, column) read here; 2.2 reads only the packed column (its idx pages need the 2.2 mini-block reader). */
const CASES: { spec: string; version: StorageVersion; columns: string[] }[] = [
  { spec: 'packed_struct', version: '2.0', columns: ['idx', 'xyc'] },
  { spec: 'packed_struct', version: '2.1', columns: ['idx', 'xyc'] },
  { spec: 'packed_struct_nulls', version: '2.1', columns: ['idx', 'xyc'] },
  { spec: 'packed_struct_var', version: '2.2', columns: ['item', 'item_null'] },
  { spec: 'blob', version: '2.0', columns: ['idx', 'image'] },
  { spec: 'blob', version: '2.1', columns: ['idx', 'image'] },
  { spec: 'blob_v2', version: '2.2', columns: ['image'] },
];

describe.each(CASES)('$spec written as $version', ({ spec, version, columns }) => {
  it('scans the same structs as LanceDB', async () => {
    const path = await ensureDataset(specByName(spec), version);
    const ds = await openDataset(path);
    try {
      const batches: arrow.RecordBatch[] = [];
      for await (const batch of ds.scan({ columns, batchSize: 700 })) batches.push(batch);
      expectTablesEqual(new arrow.Table(batches), await oracleScan(path, columns), { label: `${spec} v${version}` });
    } finally {
      await ds.close();
    }
  });

  it('takes shuffled rows with duplicates like LanceDB', async () => {
    const path = await ensureDataset(specByName(spec), version);
    const ds = await openDataset(path);
    try {
      const rng = new Rng(11);
      const offsets = Array.from({ length: 200 }, () => rng.int(0, ds.numRows));
      offsets.push(ds.numRows - 1, 0, offsets[0] as number);
      expectTablesEqual(await ds.take(offsets, { columns }), await oracleTake(path, offsets, columns), {
        label: `${spec} v${version} take`,
      });
    } finally {
      await ds.close();
    }
  });
});

describe('packed struct schema', () => {
  it('reports a packed struct as the Struct of its fields with its packed metadata', async () => {
    const ds = await openDataset(await ensureDataset(specByName('packed_struct'), '2.1'));
    try {
      const field = ds.schema.fields.find((f) => f.name === 'xyc');
      expect(String(field?.type)).toBe('Struct<{x:Float32, y:Float32, cls:Int32}>');
      expect(field?.metadata.get('lance-encoding:packed')).toBe('true');
    } finally {
      await ds.close();
    }
  });

  it('reports a blob column as the descriptor struct LanceDB queries return', async () => {
    const path = await ensureDataset(specByName('blob_v2'), '2.2');
    const ds = await openDataset(path);
    try {
      const type = ds.schema.fields.find((f) => f.name === 'image')?.type;
      expect(String(type)).toBe(String((await oracleScan(path, ['image'])).schema.fields[0]?.type));
    } finally {
      await ds.close();
    }
  });

  it('reads a packed struct column of a data file opened on its own', async () => {
    const ds = await openDataset(await ensureDataset(specByName('packed_struct'), '2.1'));
    const expected = await ds.take([0, 1, 2], { columns: ['xyc'] });
    const dataFile = `${ds.path}/data/${ds.fragments[0]?.files[0]?.path}`;
    await ds.close();
    const file = await openFile(dataFile);
    try {
      // Fragment 0 has no deleted row among its first three.
      expectTablesEqual(await file.take([0, 1, 2], { columns: ['xyc'] }), expected);
    } finally {
      await file.close();
    }
  });

  it('reads a blob v2 column of a data file opened on its own, whose schema lists the descriptor fields', async () => {
    const path = await ensureDataset(specByName('blob_v2'), '2.2');
    const ds = await openDataset(path);
    const dataFile = `${ds.path}/data/${ds.fragments[0]?.files[0]?.path}`;
    await ds.close();
    const file = await openFile(dataFile);
    try {
      const table = await file.take([0, 2], { columns: ['image'] });
      // Physical rows 0 and 2 are visible rows 0 and 1 (row 1, idx 1, is deleted).
      expectTablesEqual(table, await oracleTake(path, [0, 1], ['image']));
    } finally {
      await file.close();
    }
  });
});

/**
 * Dataset.takeByIds on real datasets: a converted indexed batch-file directory (int64 ids in no
 * order), a LanceDB-written table with deletions, and string ids written by writeDataset.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { writeNpyBatchFiles } from '../../examples/npy.js';
import { convertToLance, openDataset, writeDataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'take-by-ids-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const DIM = 4;

/** A converted batch-file directory whose ids are a shuffle of 1000, 1010, …; row r's tensor starts at r·DIM. */
async function convertedStore(): Promise<{ path: string; ids: BigInt64Array }> {
  const ids = BigInt64Array.from({ length: 300 }, (_, i) => BigInt(1000 + ((i * 7919) % 300) * 10));
  const values = Float32Array.from({ length: ids.length * DIM }, (_, i) => i);
  const store = join(root, 'store');
  await writeNpyBatchFiles(store, ids, values, DIM, 32);
  const path = join(root, 'store.lance');
  await convertToLance('npy', [store], path, { column: 'tensor', progress: false });
  return { path, ids };
}

const converted = convertedStore();

describe('Dataset.takeByIds', () => {
  it('reads the rows of a converted batch-file directory by id, in the order asked', async () => {
    const { path, ids } = await converted;
    const ds = await openDataset(path);
    const asked = [ids[299] as bigint, ids[0] as bigint, 1500n, ids[0] as bigint];
    const table = await ds.takeByIds(asked);
    await ds.close();
    const rowOf = (id: bigint): number => ids.indexOf(id);
    expect(table.getChild('id')?.toArray()).toEqual(BigInt64Array.from(asked));
    asked.forEach((id, i) => {
      const start = rowOf(id) * DIM;
      expect(Array.from(table.getChild('tensor')?.get(i) as Iterable<number>)).toEqual([
        start,
        start + 1,
        start + 2,
        start + 3,
      ]);
    });
  });

  it('takes plain numbers for an int64 id column and reads only the columns asked', async () => {
    const { path } = await converted;
    const ds = await openDataset(path);
    const table = await ds.takeByIds([1010, 3990], { columns: ['id'] });
    await ds.close();
    expect(table.schema.fields.map((f) => f.name)).toEqual(['id']);
    expect(table.getChild('id')?.toArray()).toEqual(BigInt64Array.from([1010n, 3990n]));
  });

  it('refuses an id that no row holds, naming it and the column', async () => {
    const { path } = await converted;
    const ds = await openDataset(path);
    const error = await rejection(ds.takeByIds([1010n, 1005n]));
    await ds.close();
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'id', id: '1005' } });
    expect((error as Error).message).toContain('no row has id "1005" in column "id"');
  });

  it('finds visible rows of a LanceDB table with deleted rows, as take reads them', async () => {
    const path = await ensureDataset(specByName('deletions_arrow'), '2.1');
    const ds = await openDataset(path);
    const offsets = [0, 17, ds.numRows - 1, 4321];
    const expected = await ds.take(offsets);
    const ids = expected.getChild('idx')?.toArray() as BigInt64Array;
    const table = await ds.takeByIds(Array.from(ids), { idColumn: 'idx' });
    await ds.close();
    expectTablesEqual(table, expected);
  });

  it('finds string ids and refuses a number asked of a string column', async () => {
    const path = join(root, 'strings.lance');
    const names = Array.from({ length: 500 }, (_, i) => `object-${(i * 37) % 500}`);
    await writeDataset(
      path,
      new arrow.Table({
        name: arrow.vectorFromArray(names, new arrow.Utf8()),
        value: arrow.makeVector(Int32Array.from({ length: 500 }, (_, i) => i)),
      }),
    );
    const ds = await openDataset(path);
    const table = await ds.takeByIds(['object-1', 'object-499', 'object-0'], { idColumn: 'name' });
    const error = await rejection(ds.takeByIds([1], { idColumn: 'name' }));
    await ds.close();
    expect(Array.from(table.getChild('value')?.toArray() as Int32Array)).toEqual(
      ['object-1', 'object-499', 'object-0'].map((name) => names.indexOf(name)),
    );
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 'name' } });
  });

  it('refuses an id column of floats with an UnsupportedError naming it', async () => {
    const path = join(root, 'floats.lance');
    await writeDataset(path, new arrow.Table({ score: arrow.makeVector(Float32Array.from([0.5, 1.5])) }));
    const ds = await openDataset(path);
    const error = await rejection(ds.takeByIds([0.5], { idColumn: 'score' }));
    await ds.close();
    expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { column: 'score' } });
  });
});

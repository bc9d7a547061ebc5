/**
 * Nested columns through the public API on LanceDB-written data: struct children selected by path (a
 * column of their own, null where a struct above them is null), structs with all their leaves, a clear
 * refusal of paths that do not name a struct child, and the loader's refusal naming the nested column.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, InvalidArgumentError, openDataset, type Dataset } from '../../index.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { oracleScan } from '../fixtures/oracle.js';

let path: string;
let dataset: Dataset;

beforeAll(async () => {
  path = await ensureDataset(specByName('nested_types'), '2.1');
  dataset = await openDataset(path);
});

afterAll(async () => {
  await dataset.close();
});

type Row = Record<string, unknown> | null;

/** LanceDB's struct_nested column, row by row, as plain objects (null for a null struct). */
async function structRows(): Promise<Row[]> {
  const table = await oracleScan(path, ['struct_nested']);
  return table.toArray().map((row) => (row.toJSON().struct_nested as { toJSON(): Row } | null)?.toJSON() ?? null);
}

describe('a struct child selected by its path', () => {
  it('is a column of its own, named by the path, with the child values LanceDB gives', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => (i * 37) % dataset.numRows);
    const table = await dataset.take(rows, { columns: ['struct_nested.label'] });
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(['struct_nested.label: Int32']);
    const expected = await structRows();
    expect(table.getChild('struct_nested.label')?.toArray().length).toBe(rows.length);
    rows.forEach((row, i) => {
      expect(table.get(i)?.toJSON()['struct_nested.label'] ?? null).toBe(expected[row]?.['label'] ?? null);
    });
  });

  it('is null where a struct above it is null, two levels down', async () => {
    const expected = await structRows();
    const inner = (row: Row) => (row?.['inner'] as { toJSON(): Row } | null)?.toJSON() ?? null;
    const rows: number[] = [];
    for (let r = 0; r < expected.length && rows.length < 50; r++) if (inner(expected[r] as Row) === null) rows.push(r);
    expect(rows.length).toBeGreaterThan(0);
    const table = await dataset.take(rows, { columns: ['struct_nested.inner.x'] });
    expect(table.getChild('struct_nested.inner.x')?.nullCount).toBe(rows.length);
  });

  it('refuses a path that does not lead through structs, naming it', async () => {
    await expect(dataset.take([0], { columns: ['list_struct.item.k'] })).rejects.toThrow(InvalidArgumentError);
    await expect(dataset.take([0], { columns: ['struct_nested.nope'] })).rejects.toThrow(
      /has no column "struct_nested.nope"/,
    );
  });
});

describe('a selected struct', () => {
  it('comes back with every leaf below it', async () => {
    const table = await dataset.take([0, 1], { columns: ['struct_nested'] });
    expect(String(table.schema.fields[0]?.type)).toBe('Struct<{inner:Struct<{x:Float32, y:Float32}>, label:Int32}>');
  });
});

describe('the loader', () => {
  it('batches a list of lists with the offsets of both levels', async () => {
    const loader = await createLoader(path, { columns: ['idx', 'list_list'], batchSize: 16, workers: 1 });
    try {
      for await (const batch of loader.epoch(0)) {
        const column = batch.columns.list_list;
        expect(column?.offsets?.length).toBe(17);
        expect(column?.innerOffsets?.[0]?.length).toBe((column?.offsets?.[16] ?? 0) + 1);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

describe('inspect', () => {
  it('names nested columns by their path and shows each page’s rep/def layers', async () => {
    const [file] = await dataset.describeFiles();
    const column = file?.columns.find((c) => c.field === 'list_list.item.item');
    expect(column?.pages[0]?.layout).toContain('layers=[NULLABLE_ITEM, NULL_AND_EMPTY_LIST, NULL_AND_EMPTY_LIST]');
  });
});

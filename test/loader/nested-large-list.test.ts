/**
 * The DataLoader over large_list columns (test/fixtures/large-lists.ts: LanceDB casts list columns of
 * matrix datasets to large_list): ragged and padded batches of each large_list column hold exactly what
 * the batch holds for the list column it was cast from (itself checked against dataset.take in
 * nested-ragged.test.ts), and the rows of a large list of ints are LanceDB's, value for value, with real
 * worker threads.
 */
import { describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../index.js';
import { createLoader } from '../../loader/loader.js';
import type { LoaderOptions } from '../../loader/loader-options.js';
import type { BatchColumn } from '../../loader/batch.js';
import type { StorageVersion } from '../fixtures/matrix.js';
import { ensureLargeListDataset, largeListCasts, oracleLargeLists } from '../fixtures/large-lists.js';

/** Each column of each batch of an epoch as plain arrays, with the batch's row offsets. */
async function epochOf(
  dataset: Dataset,
  options: LoaderOptions,
): Promise<{ rows: number[]; columns: Record<string, Record<string, unknown>> }[]> {
  const loader = await createLoader(dataset, options);
  const out: { rows: number[]; columns: Record<string, Record<string, unknown>> }[] = [];
  try {
    for await (const batch of loader.epoch(0)) {
      const columns: Record<string, Record<string, unknown>> = {};
      for (const [name, column] of Object.entries(batch.columns))
        columns[name] = Object.fromEntries(
          Object.entries(column as BatchColumn).map(([key, value]) => [key, copyOf(value)]),
        );
      out.push({ rows: Array.from(batch.rowOffsets), columns });
      batch.release();
    }
  } finally {
    await loader.close();
  }
  return out;
}

function copyOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyOf);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>);
  return value;
}

async function withDataset<T>(
  spec: string,
  version: StorageVersion,
  use: (dataset: Dataset) => Promise<T>,
): Promise<T> {
  const dataset = await openDataset(await ensureLargeListDataset(spec, version));
  try {
    return await use(dataset);
  } finally {
    await dataset.close();
  }
}

/** Batch column names of a list column: its own, or its leaves' for a list of structs. */
function leafNames(columns: Record<string, unknown>, name: string): string[] {
  return Object.keys(columns).filter((c) => c === name || c.startsWith(`${name}.`));
}

describe('a loader over large_list columns', () => {
  for (const [spec, version] of [
    ['nested', '2.0'],
    ['nested', '2.2'],
    ['nested_long', '2.1'],
    ['nested_types', '2.2'],
    ['nested_types', '2.1'],
  ] as const) {
    it(`batches each ragged, as it batches the list it was cast from (${spec} ${version})`, async () => {
      const casts = largeListCasts(spec);
      const batches = await withDataset(spec, version, (dataset) =>
        epochOf(dataset, {
          columns: casts.flatMap((c) => [c.name, c.from]),
          batchSize: spec === 'nested_long' ? 40 : 500,
          workers: 2,
          seed: 3,
        }),
      );
      expect(batches.length).toBeGreaterThan(1);
      for (const { columns } of batches)
        for (const { name, from } of casts) {
          const large = leafNames(columns, name);
          expect(large.length).toBeGreaterThan(0);
          for (const leaf of large) expect(columns[leaf]).toEqual(columns[`${from}${leaf.slice(name.length)}`]);
        }
    });
  }

  it('pads a large list of ints as it pads the list it was cast from, null items marked', async () => {
    const batches = await withDataset('nested', '2.1', (dataset) =>
      epochOf(dataset, {
        columns: ['large_int32', 'list_int32_null'],
        batchSize: 500,
        workers: 2,
        pad: {
          large_int32: { length: 6, value: -1, truncate: 'random' },
          list_int32_null: { length: 6, value: -1, truncate: 'random' },
        },
      }),
    );
    expect(batches.some((b) => b.columns.large_int32?.itemValidity)).toBe(true);
    for (const { columns } of batches) expect(columns.large_int32).toEqual(columns.list_int32_null);
  });

  it("gives a large list of ints' rows as LanceDB reads them", async () => {
    await withDataset('nested', '2.2', async (dataset) => {
      const expected = (await oracleLargeLists(dataset.path, 'nested')).getChild('large_int32');
      const batches = await epochOf(dataset, { columns: ['large_int32'], batchSize: 700, workers: 1, seed: 8 });
      for (const { rows, columns } of batches) {
        const column = columns.large_int32 as {
          values: number[];
          offsets: number[];
          validity: number[];
          itemValidity?: number[];
        };
        rows.forEach((row, r) => {
          const items = column.values
            .slice(column.offsets[r], column.offsets[r + 1])
            .map((x, k) => (column.itemValidity?.[(column.offsets[r] as number) + k] === 0 ? null : x));
          const want = expected?.get(row) as Iterable<number | null> | null;
          expect(column.validity[r] === 0 ? null : items).toEqual(want === null ? null : Array.from(want));
        });
      }
    });
  });
});

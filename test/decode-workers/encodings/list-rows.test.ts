/**
 * The single-list rows path (decode-workers/encodings/list-rows.ts) against the general nested path
 * (nested.ts → unravel.ts → decode-workers/nested-fill.ts): the same planned reads of LanceDB-written
 * list columns (every page kind those fixtures hold, in file versions 2.0, 2.1 and 2.2) decoded both
 * ways, padded (truncation end, start, random; pad values) and ragged, give the same bytes; and the native
 * kernel (list-rows-native.ts, native/list_rows.c) against list-rows.ts's JavaScript on the same tasks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset, writeDataset, type Dataset } from '../../../index.js';
import { outputWidthOf } from '../../../dataset/arrow-build.js';
import { leafColumns, type LeafColumn } from '../../../dataset/columns.js';
import { runDecodeTask } from '../../../decode-workers/encodings/decode-task.js';
import {
  createPaddedListOutput,
  createRaggedListOutput,
  decodeListChunks,
  finishListOutput,
  isSingleList,
  listItemValidity,
  type PaddedTarget,
} from '../../../decode-workers/encodings/list-rows.js';
import { decodeListRowsNative } from '../../../decode-workers/encodings/list-rows-native.js';
import { nativeAddon } from '../../../io/native-addon.js';
import { CHUNK_FIELDS, GROUP_FIELDS, type DecodeTask } from '../../../io/plan-steps.js';
import { createNestedOutput } from '../../../decode-workers/encodings/nested-output.js';
import { compactVariable } from '../../../decode-workers/encodings/output.js';
import { fillPadded, nestedAsVariable } from '../../../decode-workers/nested-fill.js';
import { createRandom } from '../../../samplers/random.js';
import { ensureDataset } from '../../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../../fixtures/matrix.js';
import { firstDifference, nativeAndJs, paddedTarget, tasksOf } from './list-tasks.js';

const opened: Dataset[] = [];
const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** The single-list leaves of a fixture (one list over fixed-width items) and the dataset. */
async function listLeaves(name: string, version: StorageVersion): Promise<{ dataset: Dataset; leaves: LeafColumn[] }> {
  const dataset = await openDataset(await ensureDataset(specByName(name), version));
  opened.push(dataset);
  const leaves = leafColumns(dataset.selectFields(undefined)).filter(
    (leaf) =>
      leaf.layers && isSingleList(leaf.layers, outputWidthOf(leaf.field.arrowType, leaf.name), leaf.field.arrowType),
  );
  return { dataset, leaves };
}

/** A shuffled batch of `n` distinct visible rows. */
function shuffledRows(numRows: number, n: number, seed: string): Uint32Array {
  const random = createRandom(seed);
  const all = Array.from({ length: numRows }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = random.nextBelow(i + 1);
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return Uint32Array.from(all.slice(0, Math.min(n, numRows)));
}

/** Both paths' padded batch of `rows` of `leaf`: the general path's bytes and the list path's. */
async function paddedBoth(
  dataset: Dataset,
  leaf: LeafColumn,
  rows: Uint32Array,
  length: number,
  truncate: PaddedTarget['truncate'],
): Promise<[Uint8Array, Uint8Array]> {
  const layers = leaf.layers ?? [];
  const width = outputWidthOf(leaf.field.arrowType, leaf.name) as number;
  const tasks = await tasksOf(dataset, leaf, rows);
  const general = paddedTarget(rows.length, width, length, truncate, 0xab);
  const nested = createNestedOutput(rows.length, layers, width);
  for (const { task } of tasks) runDecodeTask(task, nested);
  fillPadded({ kind: 'padded', ...general }, nested, rows, leaf.name);
  const fast = paddedTarget(rows.length, width, length, truncate, 0xab);
  const list = createPaddedListOutput(fast, rows, layers);
  for (const { task } of tasks) runDecodeTask(task, list);
  expect(finishListOutput(list, leaf.name)).toBeNull();
  return [new Uint8Array(general.buffer), new Uint8Array(fast.buffer)];
}

/** A ragged batch in slot order: each row's byte offsets, the bytes and the validity. */
interface Ragged {
  offsets: number[];
  data: Uint8Array;
  validity: number[];
}

/** Both paths' ragged batch of `rows` of `leaf`: the general path's and the list path's. */
async function raggedBoth(dataset: Dataset, leaf: LeafColumn, rows: Uint32Array): Promise<[Ragged, Ragged]> {
  const layers = leaf.layers ?? [];
  const width = outputWidthOf(leaf.field.arrowType, leaf.name) as number;
  const tasks = await tasksOf(dataset, leaf, rows);
  const nested = createNestedOutput(rows.length, layers, width);
  for (const { task } of tasks) runDecodeTask(task, nested);
  const general = nestedAsVariable(nested, rows.length, true, leaf.name).output;
  const list = createRaggedListOutput(rows.length, width, true, layers);
  for (const { task } of tasks) runDecodeTask(task, list);
  const fast = finishListOutput(list, leaf.name);
  if (!fast) throw new Error('a ragged list output gave no rows');
  const inOrder = (out: typeof general): Ragged => {
    const { offsets, data } = compactVariable(out);
    return { offsets: Array.from(offsets), data, validity: Array.from(out.validity ?? []) };
  };
  return [inOrder(general), inOrder(fast)];
}

// nested_lists and nested_types are left out: their single lists are list<fixed_size_list> of nullable
// items, which may carry item validity buffers and so are read by the general path.
const FIXTURES: [string, StorageVersion[]][] = [
  ['nested', ['2.0', '2.1', '2.2']],
  ['nested_long', ['2.1', '2.2']],
  ['nested_single_row', ['2.1', '2.2']],
  ['nested_constant', ['2.1', '2.2']],
];

/** Padded lengths and truncations: shorter than most rows (each way), and longer than any. */
const PAD_CASES = [
  [3, 'end'],
  [5, 'start'],
  [4, 'random'],
  [2000, 'end'],
] as const;

describe.each(FIXTURES)('list rows of the %s fixture', (name, versions) => {
  it.each(versions)('pad every single-list column of file version %s as the general path does', async (version) => {
    const { dataset, leaves } = await listLeaves(name, version);
    expect(leaves.length).toBeGreaterThan(0);
    for (const leaf of leaves) {
      for (const [length, truncate] of PAD_CASES) {
        const rows = shuffledRows(dataset.numRows, 300, `${name}:${leaf.name}:${truncate}`);
        const [general, fast] = await paddedBoth(dataset, leaf, rows, length, truncate);
        expect(firstDifference(fast, general), `${leaf.name} ${version} pad ${length} ${truncate}`).toBe(-1);
      }
    }
  });

  it.each(versions)(
    'gives ragged rows of every single-list column of file version %s as the general path does',
    async (version) => {
      const { dataset, leaves } = await listLeaves(name, version);
      for (const leaf of leaves) {
        const rows = shuffledRows(dataset.numRows, 300, `${name}:${leaf.name}:ragged`);
        const [general, fast] = await raggedBoth(dataset, leaf, rows);
        expect(fast.validity, `${leaf.name} ${version}`).toEqual(general.validity);
        expect(fast.offsets, `${leaf.name} ${version}`).toEqual(general.offsets);
        expect(firstDifference(fast.data, general.data), `${leaf.name} ${version}`).toBe(-1);
      }
    },
  );
});

/** A fixture's single-list leaves, or the token-sequence table's ('tokens'). */
function leavesOf(name: string, version: StorageVersion): Promise<{ dataset: Dataset; leaves: LeafColumn[] }> {
  return name === 'tokens' ? tokensDataset() : listLeaves(name, version);
}

describe.runIf(nativeAddon())('the native list-rows kernel', () => {
  it.each([
    ...FIXTURES.flatMap(([name, versions]) => versions.filter((v) => v !== '2.0').map((v) => [name, v] as const)),
    ['tokens', '2.2'] as const,
  ])(
    'writes the rows of %s (file version %s) byte for byte as the JavaScript path does, padded and ragged',
    async (name, version) => {
      const { dataset, leaves } = await leavesOf(name, version);
      let taken = 0;
      for (const leaf of leaves) {
        const layers = leaf.layers ?? [];
        const width = outputWidthOf(leaf.field.arrowType, leaf.name) as number;
        for (const [length, truncate] of PAD_CASES) {
          const rows = shuffledRows(dataset.numRows, 300, `${name}:${leaf.name}:native:${truncate}`);
          rows.sort();
          const tasks = await tasksOf(dataset, leaf, rows);
          const targets: PaddedTarget[] = [];
          const run = nativeAndJs(tasks, () => {
            const target = paddedTarget(rows.length, width, length, truncate, 0xcd);
            targets.push(target);
            return createPaddedListOutput(target, rows, layers);
          });
          taken += run.taken;
          const [native, js] = targets.map((t) => new Uint8Array(t.buffer)) as [Uint8Array, Uint8Array];
          expect(firstDifference(native, js), `${leaf.name} pad ${length} ${truncate}`).toBe(-1);
          expect([run.native.written, run.native.nullItems]).toEqual([run.js.written, run.js.nullItems]);
          expect(run.native.padded?.nullPlaces).toEqual(run.js.padded?.nullPlaces);
        }
        const rows = Uint32Array.from({ length: dataset.numRows }, (_, i) => i);
        const run = nativeAndJs(await tasksOf(dataset, leaf, rows), () =>
          createRaggedListOutput(rows.length, width, true, layers, undefined, true),
        );
        taken += run.taken;
        const [native, js] = [run.native, run.js].map((out) => {
          const ragged = finishListOutput(out, leaf.name);
          if (!ragged) throw new Error('a ragged list output gave no rows');
          const { offsets, data } = compactVariable(ragged);
          return {
            offsets: Array.from(offsets),
            data,
            validity: Array.from(ragged.validity ?? []),
            items: listItemValidity(out),
          };
        }) as [Ragged & { items: Uint8Array | null }, Ragged & { items: Uint8Array | null }];
        expect(native.offsets, leaf.name).toEqual(js.offsets);
        expect(native.validity, leaf.name).toEqual(js.validity);
        expect(firstDifference(native.data, js.data), leaf.name).toBe(-1);
        expect(native.items, leaf.name).toEqual(js.items);
      }
      expect(taken).toBeGreaterThan(0);
    },
  );
});

/** `task` with its bytes copied, then one byte of chunk `chunk` set to `value` or the chunk cut to `cut` bytes. */
function damaged(
  task: DecodeTask & { kind: 'miniblock-nested' },
  chunk: number,
  at: number,
  value: number,
  cut: number,
): DecodeTask & { kind: 'miniblock-nested' } {
  const views = task.views.map((view) => view.slice());
  const chunks = task.chunks.slice();
  const start = chunks[CHUNK_FIELDS * chunk] as number;
  const size = (chunks[CHUNK_FIELDS * chunk + 1] as number) - start;
  const view = views[groupOfChunk(task, chunk)] as Uint8Array;
  if (at < size) view[start + at] = value;
  if (cut < size) chunks[CHUNK_FIELDS * chunk + 1] = start + cut;
  return { ...task, views, chunks };
}

/** The group holding chunk `chunk` of a task. */
function groupOfChunk(task: DecodeTask & { kind: 'miniblock-nested' }, chunk: number): number {
  for (let g = 0, end = 0; g < task.views.length; g++) {
    end += task.groups[GROUP_FIELDS * g + 3] as number;
    if (chunk < end) return g;
  }
  throw new Error(`chunk ${chunk} is past the task's chunks`);
}

describe.runIf(nativeAddon())('the native list-rows kernel on damaged chunks', () => {
  it.each([
    ['nested_long', '2.1'],
    ['nested_long', '2.2'],
    ['tokens', '2.2'],
  ] as const)(
    "gives the JavaScript path's rows or leaves the page to it, never other bytes (%s, file version %s)",
    async (name, version) => {
      const { dataset, leaves } = await leavesOf(name, version);
      const leaf = leaves[0] as LeafColumn;
      const rows = Uint32Array.from({ length: 24 }, (_, i) => i * 3);
      const [first] = (await tasksOf(dataset, leaf, rows)).filter(({ task }) => task.kind === 'miniblock-nested');
      const task = first?.task as DecodeTask & { kind: 'miniblock-nested' };
      const numChunks = task.chunks.length / CHUNK_FIELDS;
      const random = createRandom(`damaged:${name}:${version}`);
      let refused = 0;
      for (let trial = 0; trial < 300; trial++) {
        const chunk = random.nextBelow(numChunks);
        const size = (task.chunks[CHUNK_FIELDS * chunk + 1] as number) - (task.chunks[CHUNK_FIELDS * chunk] as number);
        // Headers and levels are where a byte changes rows; a cut anywhere.
        const bad = damaged(
          task,
          chunk,
          random.nextBelow(Math.min(size, 64)),
          random.nextBelow(256),
          trial % 3 === 0 ? random.nextBelow(size) : size,
        );
        const make = (target: PaddedTarget) => createPaddedListOutput(target, rows, leaf.layers ?? []);
        const nativeTarget = paddedTarget(rows.length, 4, 700, 'random', 7);
        const jsTarget = paddedTarget(rows.length, 4, 700, 'random', 7);
        const taken = decodeListRowsNative(bad, make(nativeTarget));
        let jsError: unknown;
        try {
          decodeListChunks(bad, make(jsTarget));
        } catch (error) {
          jsError = error;
        }
        if (!taken) {
          refused++;
          continue;
        }
        expect(jsError, `trial ${trial}`).toBeUndefined();
        expect(
          firstDifference(new Uint8Array(nativeTarget.buffer), new Uint8Array(jsTarget.buffer)),
          `trial ${trial}`,
        ).toBe(-1);
      }
      expect(refused).toBeGreaterThan(0);
    },
  );
});

describe('list rows of a whole page read in order', () => {
  it('pads every row of nested_long (rows over several chunks, one group) as the general path does', async () => {
    const { dataset, leaves } = await listLeaves('nested_long', '2.2');
    const rows = Uint32Array.from({ length: dataset.numRows }, (_, i) => i);
    for (const leaf of leaves) {
      const [general, fast] = await paddedBoth(dataset, leaf, rows, 1500, 'random');
      expect(firstDifference(fast, general)).toBe(-1);
    }
  });
});

/**
 * 3000 rows of 64–1023 ids below 32000 as LanceDB 0.39 writes them by default (2.2: all-valid layers,
 * bit-packed ids, run-length rep, no def levels): rows over several chunks.
 */
let tokens: Promise<{ dataset: Dataset; leaves: LeafColumn[] }> | undefined;
function tokensDataset(): Promise<{ dataset: Dataset; leaves: LeafColumn[] }> {
  tokens ??= (async () => {
    const random = createRandom('tokens');
    const valueOffsets = new Int32Array(3001);
    for (let i = 0; i < 3000; i++) valueOffsets[i + 1] = (valueOffsets[i] as number) + 64 + random.nextBelow(960);
    const ids = Int32Array.from({ length: valueOffsets[3000] as number }, () => random.nextBelow(32000));
    const column = arrow.makeVector(
      arrow.makeData({
        type: new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
        length: 3000,
        nullCount: 0,
        valueOffsets,
        child: arrow.makeData({ type: new arrow.Int32(), length: ids.length, data: ids }),
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'list-rows-'));
    tempDirs.push(dir);
    const db = await lancedb.connect(dir);
    (await db.createTable('tokens', new arrow.Table({ tokens: column }))).close();
    db.close();
    const dataset = await openDataset(join(dir, 'tokens.lance'));
    opened.push(dataset);
    return { dataset, leaves: leafColumns(dataset.selectFields(undefined)) };
  })();
  return tokens;
}

describe('list rows of a token-sequence column as LanceDB 0.39 writes it by default', () => {
  it('pads and gives ragged rows as the general path does (2.2: all-valid layers, bit-packed ids, run-length rep)', async () => {
    const { dataset, leaves } = await tokensDataset();
    const [leaf] = leaves;
    if (!leaf) throw new Error('no tokens column');
    for (const truncate of ['end', 'start', 'random'] as const) {
      const [general, fast] = await paddedBoth(dataset, leaf, shuffledRows(3000, 256, truncate), 512, truncate);
      expect(firstDifference(fast, general), truncate).toBe(-1);
    }
    const [general, fast] = await raggedBoth(dataset, leaf, shuffledRows(3000, 256, 'ragged'));
    expect(fast.offsets).toEqual(general.offsets);
    expect(firstDifference(fast.data, general.data)).toBe(-1);
  });
});

describe('lists of items wider than the native kernel copies', () => {
  it('takes rows of list<fixed_size_binary(16)> stored as 128-bit flat mini-block values, value for value', async () => {
    const numRows = 200;
    const valueOffsets = Int32Array.from({ length: numRows + 1 }, (_, i) => 3 * i);
    const bytes = Uint8Array.from({ length: 16 * 3 * numRows }, (_, i) => (i * 7 + (i >> 4)) & 0xff);
    const column = arrow.makeVector(
      arrow.makeData({
        type: new arrow.List(new arrow.Field('item', new arrow.FixedSizeBinary(16), false)),
        length: numRows,
        nullCount: 0,
        valueOffsets,
        child: arrow.makeData({ type: new arrow.FixedSizeBinary(16), length: 3 * numRows, data: bytes }),
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'list-rows-wide-'));
    tempDirs.push(dir);
    await writeDataset(join(dir, 'wide.lance'), new arrow.Table({ ids: column }));
    const dataset = await openDataset(join(dir, 'wide.lance'));
    opened.push(dataset);
    const rows = [199, 0, 57, 58, 120];
    const taken = (await dataset.take(rows)).getChild('ids');
    rows.forEach((row, i) => {
      const items = taken?.get(i) as arrow.Vector;
      expect(items.length).toBe(3);
      for (let k = 0; k < 3; k++) {
        const start = 16 * (3 * row + k);
        expect(Array.from(items.get(k) as Uint8Array), `row ${row} item ${k}`).toEqual(
          Array.from(bytes.subarray(start, start + 16)),
        );
      }
    });
  });
});

describe.runIf(nativeAddon())('the native list-rows kernel, padded', () => {
  it.each(['2.1', '2.2'] as const)(
    'decodes the padded tasks that meet null items itself and records where they went (file version %s)',
    async (version) => {
      const { dataset, leaves } = await listLeaves('nested', version);
      const rows = Uint32Array.from({ length: dataset.numRows }, (_, i) => i);
      let nullTasks = 0;
      for (const leaf of leaves) {
        const width = outputWidthOf(leaf.field.arrowType, leaf.name) as number;
        for (const { task } of await tasksOf(dataset, leaf, rows)) {
          if (task.kind !== 'miniblock-nested') continue;
          const make = () =>
            createPaddedListOutput(paddedTarget(rows.length, width, 4, 'end', 0), rows, leaf.layers ?? []);
          const [native, js] = [make(), make()];
          decodeListChunks(task, js);
          if (js.nullItems === 0) continue;
          nullTasks++;
          expect(decodeListRowsNative(task, native), leaf.name).toBe(true);
          expect(native.padded?.nullPlaces, leaf.name).toEqual(js.padded?.nullPlaces);
        }
      }
      expect(nullTasks).toBeGreaterThan(0);
    },
  );
});

describe.runIf(nativeAddon())('the native list-rows kernel, ragged', () => {
  it("holds about the wanted rows' items for a shuffled batch, not every item of the chunks they are in", async () => {
    const { dataset, leaves } = await listLeaves('nested', '2.2');
    const leaf = leaves[0] as LeafColumn;
    const rows = shuffledRows(dataset.numRows, 32, 'ragged-reserve');
    rows.sort();
    const tasks = (await tasksOf(dataset, leaf, rows)).filter(({ task }) => task.kind === 'miniblock-nested');
    const out = createRaggedListOutput(rows.length, 4, false, leaf.layers ?? []);
    let chunkItems = 0;
    for (const { task } of tasks) {
      const mini = task as DecodeTask & { kind: 'miniblock-nested' };
      for (let c = 0; c < mini.chunks.length; c += CHUNK_FIELDS) chunkItems += mini.chunks[c + 2] as number;
      expect(decodeListRowsNative(mini, out)).toBe(true);
    }
    const ragged = finishListOutput(out, leaf.name);
    if (!ragged) throw new Error('a ragged list output gave no rows');
    const wantedBytes = compactVariable(ragged).data.length;
    expect(ragged.data.length).toBeLessThanOrEqual(4 * wantedBytes);
    expect(chunkItems * 4).toBeGreaterThan(8 * wantedBytes);
  });
});

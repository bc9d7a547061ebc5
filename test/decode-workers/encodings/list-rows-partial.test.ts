/**
 * The native list-rows kernel unpacks only the values of the rows asked for, straight into their place
 * (native/list_rows.c). These tests put row boundaries where a partial unpack can go wrong, on lists
 * LanceDB 0.39 writes by default (2.2, InlineBitpacking values of 1024-value chunks, run-length rep):
 * rows starting and ending mid-lane, at value 0 and 1023 of a block, rows over two and three chunks, one-value
 * rows, and blocks packed at every interesting bit width of 8-, 16-, 32- and 64-bit items (0, 1, 7, half,
 * half + 1 or half − 1, full − 1, full). Every row read natively is compared with the values written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, openFile, type Dataset } from '../../../index.js';
import { leafColumns, type LeafColumn } from '../../../dataset/columns.js';
import {
  createPaddedListOutput,
  createRaggedListOutput,
  finishListOutput,
} from '../../../decode-workers/encodings/list-rows.js';
import { compactVariable } from '../../../decode-workers/encodings/output.js';
import { nativeAddon } from '../../../io/native-addon.js';
import { createRandom } from '../../../samplers/random.js';
import { firstDifference, nativeAndJs, paddedTarget, tasksOf } from './list-tasks.js';

/** Item types, their bytes, and the bit widths their blocks are packed at, block after block. */
const TYPES = [
  { name: 'i8', type: new arrow.Int8(), bytes: 1, widths: [0, 1, 3, 4, 5, 7, 8] },
  { name: 'i16', type: new arrow.Int16(), bytes: 2, widths: [0, 1, 7, 8, 9, 15, 16] },
  { name: 'i32', type: new arrow.Int32(), bytes: 4, widths: [0, 1, 7, 15, 16, 31, 32] },
  { name: 'i64', type: new arrow.Int64(), bytes: 8, widths: [0, 1, 7, 31, 32, 63, 64] },
] as const;

/**
 * Row lengths: the first rows end at value 1023 and start at value 0 of a block, end at value 0 of the
 * next, hold one value, end and start mid-lane (32 values to a 32-bit row, 16 to a 64-bit one), and span
 * three chunks; then random lengths of 1–1,100 up to 24 blocks.
 */
function rowLengths(): number[] {
  const lengths = [1023, 1, 1024, 1, 1022, 1, 1, 17, 31, 33, 15, 2049, 5, 900, 3000];
  const random = createRandom('partial-lengths');
  let items = lengths.reduce((a, b) => a + b, 0);
  while (items < 24 * 1024) {
    const n = 1 + random.nextBelow(1100);
    lengths.push(n);
    items += n;
  }
  return lengths;
}

/** Item i's value as the low `bytes` bytes of a BigInt: random below 2^width of its block, the block's first item 2^width − 1. */
function itemValue(i: number, widths: readonly number[], random: ReturnType<typeof createRandom>): bigint {
  const width = widths[Math.floor(i / 1024) % widths.length] as number;
  if (width === 0) return 0n;
  const top = (1n << BigInt(width)) - 1n;
  if (i % 1024 === 0) return top;
  let v = 0n;
  for (let bits = 0; bits < width; bits += 24) v = (v << 24n) | BigInt(random.nextBelow(1 << 24));
  return v & top;
}

interface Written {
  dataset: Dataset;
  leaves: Map<string, LeafColumn>;
  /** Each column's rows' item bytes, little-endian, row after row. */
  bytes: Map<string, Uint8Array>;
  offsets: Int32Array;
}

let written: Written;
let dir: string;

beforeAll(async () => {
  const lengths = rowLengths();
  const offsets = new Int32Array(lengths.length + 1);
  lengths.forEach((n, i) => (offsets[i + 1] = (offsets[i] as number) + n));
  const numItems = offsets[lengths.length] as number;
  const columns: Record<string, arrow.Vector> = {};
  const bytes = new Map<string, Uint8Array>();
  for (const { name, type, bytes: width, widths } of TYPES) {
    const random = createRandom(`partial-values:${name}`);
    const data = new Uint8Array(numItems * width);
    const view = new DataView(data.buffer);
    for (let i = 0; i < numItems; i++) {
      const v = itemValue(i, widths, random);
      for (let b = 0; b < width; b++) view.setUint8(i * width + b, Number((v >> BigInt(8 * b)) & 0xffn));
    }
    bytes.set(name, data);
    const ArrayType = { 1: Int8Array, 2: Int16Array, 4: Int32Array, 8: BigInt64Array }[width];
    columns[name] = arrow.makeVector(
      arrow.makeData({
        type: new arrow.List(new arrow.Field('item', type, true)),
        length: lengths.length,
        nullCount: 0,
        valueOffsets: offsets,
        child: arrow.makeData({ type, length: numItems, data: new ArrayType(data.buffer) }),
      }),
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'list-rows-partial-'));
  const db = await lancedb.connect(dir);
  (await db.createTable('partial', new arrow.Table(columns))).close();
  db.close();
  const dataset = await openDataset(join(dir, 'partial.lance'));
  const leaves = new Map(leafColumns(dataset.selectFields(undefined)).map((l) => [l.name.split('.')[0] as string, l]));
  written = { dataset, leaves, bytes, offsets };
});

afterAll(async () => {
  await written?.dataset.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `rows`' values of column `name`, each cut to its first `length` items and padded with `pad` bytes. */
function expectedPadded(name: string, width: number, rows: Uint32Array, length: number, pad: number): Uint8Array {
  const { bytes, offsets } = written;
  const values = new Uint8Array(rows.length * length * width).fill(pad);
  const lengths = new Int32Array(rows.length);
  rows.forEach((row, slot) => {
    const start = offsets[row] as number;
    const n = Math.min((offsets[row + 1] as number) - start, length);
    values.set((bytes.get(name) as Uint8Array).subarray(start * width, (start + n) * width), slot * length * width);
    lengths[slot] = n;
  });
  const out = new Uint8Array(values.length + rows.length * 5);
  out.set(values);
  out.set(new Uint8Array(lengths.buffer), values.length);
  out.fill(1, values.length + rows.length * 4);
  return out;
}

/** Sorted row sets: every row, every third row, and 40 random rows. */
function rowSets(numRows: number): [string, Uint32Array][] {
  const random = createRandom('partial-rows');
  const some = new Set<number>();
  while (some.size < 40) some.add(random.nextBelow(numRows));
  return [
    ['every row', Uint32Array.from({ length: numRows }, (_, i) => i)],
    ['every third row', Uint32Array.from({ length: Math.ceil(numRows / 3) }, (_, i) => 3 * i)],
    ['40 random rows', Uint32Array.from([...some]).sort()],
  ];
}

describe.runIf(nativeAddon())('the native list-rows kernel at block, lane and chunk boundaries', () => {
  it.each(TYPES.map((t) => [t.name, t.bytes] as const))(
    'has LanceDB write %s lists as InlineBitpacking of the item width, without a dictionary',
    async (name, width) => {
      const path = written.dataset.fragments[0]?.files[0]?.path as string;
      const file = await openFile(join(dir, 'partial.lance', 'data', path));
      const column = file.metadata().columns.find((c) => c.field === `${name}.item`);
      await file.close();
      const layouts = column?.pages.map((p) => p.layout) ?? [];
      expect(layouts.length).toBeGreaterThan(0);
      for (const layout of layouts) {
        expect(layout).toContain(`values=InlineBitpacking(u${8 * width})`);
        expect(layout).not.toContain('dict=');
      }
    },
  );

  it.each(TYPES.map((t) => [t.name, t.bytes] as const))(
    'pads %s rows, whole or cut to 4, 36, 512 and 1100 items, with the values written',
    async (name, width) => {
      const { dataset, leaves } = written;
      const leaf = leaves.get(name) as LeafColumn;
      let taken = 0;
      for (const [label, rows] of rowSets(dataset.numRows)) {
        const tasks = await tasksOf(dataset, leaf, rows);
        for (const length of [4, 36, 512, 1100, 3000]) {
          const targets: ReturnType<typeof paddedTarget>[] = [];
          const run = nativeAndJs(tasks, () => {
            const target = paddedTarget(rows.length, width, length, 'end', 0xee);
            targets.push(target);
            return createPaddedListOutput(target, rows, leaf.layers ?? []);
          });
          taken += run.taken;
          const native = new Uint8Array((targets[0] as ReturnType<typeof paddedTarget>).buffer);
          const expected = expectedPadded(name, width, rows, length, 0xee);
          expect(firstDifference(native, expected), `${label}, pad ${length}`).toBe(-1);
        }
      }
      expect(taken).toBeGreaterThan(0);
    },
  );

  it.each(TYPES.map((t) => [t.name, t.bytes] as const))(
    'gives %s rows truncated at the start and at random as the JavaScript path does',
    async (name, width) => {
      const { dataset, leaves } = written;
      const leaf = leaves.get(name) as LeafColumn;
      for (const [label, rows] of rowSets(dataset.numRows)) {
        const tasks = await tasksOf(dataset, leaf, rows);
        for (const truncate of ['start', 'random'] as const) {
          const targets: ReturnType<typeof paddedTarget>[] = [];
          const run = nativeAndJs(tasks, () => {
            const target = paddedTarget(rows.length, width, 100, truncate, 0);
            targets.push(target);
            return createPaddedListOutput(target, rows, leaf.layers ?? []);
          });
          expect(run.taken).toBeGreaterThan(0);
          const [native, js] = targets.map((t) => new Uint8Array(t.buffer)) as [Uint8Array, Uint8Array];
          expect(firstDifference(native, js), `${label}, ${truncate}`).toBe(-1);
        }
      }
    },
  );

  it.each(TYPES.map((t) => [t.name, t.bytes] as const))(
    'gives ragged %s rows with the values written',
    async (name, width) => {
      const { dataset, leaves, bytes, offsets } = written;
      const leaf = leaves.get(name) as LeafColumn;
      for (const [label, rows] of rowSets(dataset.numRows)) {
        const run = nativeAndJs(await tasksOf(dataset, leaf, rows), () =>
          createRaggedListOutput(rows.length, width, true, leaf.layers ?? []),
        );
        expect(run.taken).toBeGreaterThan(0);
        const ragged = finishListOutput(run.native, name);
        if (!ragged) throw new Error('a ragged list output gave no rows');
        const data = bytes.get(name) as Uint8Array;
        const expected = Buffer.concat(
          Array.from(rows, (row) =>
            data.subarray((offsets[row] as number) * width, (offsets[row + 1] as number) * width),
          ),
        );
        expect(firstDifference(compactVariable(ragged).data, expected), label).toBe(-1);
      }
    },
  );
});

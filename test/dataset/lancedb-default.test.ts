/**
 * A table written the way a new user writes one: `createTable` with plain JS objects and LanceDB 0.39's
 * defaults (file version 2.2, types inferred: Float64 for numbers, Utf8, Bool, List<Utf8> for string
 * arrays, Struct for objects). Its flat columns read value for value as LanceDB reads them; reading all
 * columns reads the list and struct columns too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, openDataset } from '../../index.js';
import { expectTablesEqual } from '../fixtures/compare.js';
import { readDataFileVersions } from '../fixtures/datasets.js';
import { oracleScan, oracleTake } from '../fixtures/oracle.js';
import { Rng } from '../fixtures/random.js';

const ROWS = 5000;
const FLAT = ['id', 'label', 'score', 'ratio', 'name', 'kind', 'done'];
let dir: string;
let tablePath: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lldefault-'));
  const db = await lancedb.connect(dir);
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    id: i,
    label: i % 10,
    score: i / 8,
    ratio: (i % 50) / 7,
    name: `item ${i} ${'x'.repeat(i % 13)}`,
    kind: ['cat', 'dog', 'bird'][i % 3] as string,
    done: i % 4 === 0,
    tags: [`t${i % 5}`, 'all'],
    meta: { width: i % 640, source: 'camera' },
  }));
  const table = await db.createTable('plain', rows);
  table.close();
  db.close();
  tablePath = path.join(dir, 'plain.lance');
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a table LanceDB 0.39 writes from plain objects with its defaults', () => {
  it('is written as file version 2.2', () => {
    const versions = readDataFileVersions(tablePath).map((f) => `${f.major}.${f.minor}`);
    expect(new Set(versions)).toEqual(new Set(['2.2']));
  });

  it('scans its flat columns with the same values as LanceDB', async () => {
    const ds = await openDataset(tablePath);
    try {
      const batches: arrow.RecordBatch[] = [];
      for await (const batch of ds.scan({ columns: FLAT, batchSize: 1000 })) batches.push(batch);
      expectTablesEqual(new arrow.Table(batches), await oracleScan(tablePath, FLAT), { label: 'default scan' });
    } finally {
      await ds.close();
    }
  });

  it('takes shuffled rows of its flat columns with duplicates like LanceDB', async () => {
    const ds = await openDataset(tablePath);
    try {
      const rng = new Rng(11);
      const offsets = Array.from({ length: 400 }, () => rng.int(0, ROWS));
      offsets.push(offsets[0] as number, 0, ROWS - 1);
      expectTablesEqual(await ds.take(offsets, { columns: FLAT }), await oracleTake(tablePath, offsets, FLAT), {
        label: 'default take',
      });
    } finally {
      await ds.close();
    }
  });

  it('scans and takes all its columns, the list and the struct included, like LanceDB', async () => {
    const ds = await openDataset(tablePath);
    try {
      const batches: arrow.RecordBatch[] = [];
      for await (const batch of ds.scan({ batchSize: 1000 })) batches.push(batch);
      expectTablesEqual(new arrow.Table(batches), await oracleScan(tablePath), { label: 'scan of all columns' });
      const offsets = [17, 3, ROWS - 1, 17, 0];
      expectTablesEqual(await ds.take(offsets), await oracleTake(tablePath, offsets), { label: 'take of all columns' });
    } finally {
      await ds.close();
    }
  });

  it('is batched by createLoader: the list of strings ragged with item offsets, the struct by leaf path', async () => {
    const loader = await createLoader(tablePath, { batchSize: 64, workers: 1, shuffle: false });
    try {
      for await (const batch of loader.epoch(0)) {
        expect(Object.keys(batch.columns)).toContain('meta.width');
        const tags = batch.columns.tags;
        const decoder = new TextDecoder();
        const item = (k: number) =>
          decoder.decode((tags?.values as Uint8Array).subarray(tags?.itemOffsets?.[k], tags?.itemOffsets?.[k + 1]));
        expect([item(tags?.offsets?.[3] ?? -1), item((tags?.offsets?.[3] ?? -1) + 1)]).toEqual(['t3', 'all']);
        batch.release();
        break;
      }
    } finally {
      await loader.close();
    }
  });
});

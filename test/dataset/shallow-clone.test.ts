/**
 * Data files under another base path: LanceDB 0.39's shallow clone (`cloneTable`, isShallow) keeps the
 * source's data files where they are and names them with base 0, the source's root, in the clone's
 * manifest (base_paths, reader flag 16). lance-loader does not read data files outside the dataset and
 * refuses such a dataset with a typed error naming the base.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { afterAll, expect, it } from 'vitest';
import { rejection } from '../caught.js';
import { UnsupportedError, openDataset } from '../../index.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'shallow-clone-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it("refuses a shallow clone's data files, which live under the source's root (base 0), naming the base", async () => {
  const db = await lancedb.connect(root);
  (await db.createTable('source', [{ id: 1 }])).close();
  (await db.cloneTable('clone', join(root, 'source.lance'), { isShallow: true })).close();
  db.close();
  const error = await rejection(openDataset(join(root, 'clone.lance')));
  expect(error).toBeInstanceOf(UnsupportedError);
  expect(error).toMatchObject({ details: { base: 0 } });
  expect(error.message).toContain(
    `lives under base path 0 (${join(root, 'source.lance')}, another dataset's root, as in a shallow clone), which lance-loader does not read`,
  );
});

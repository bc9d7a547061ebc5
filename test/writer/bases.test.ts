/**
 * Comparing an append's new external bases with the ones a version committed meanwhile registers:
 * one directory is one base however it is spelled, and an id or a directory taken differently is a
 * conflict; a name taken meanwhile is not, the base is renamed.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tableFromArrays } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { CommitConflictError, writeDataset } from '../../index.js';
import type { BasePathProto } from '../../format/proto/messages.js';
import { commitBases, missingBases } from '../../writer/bases.js';
import { readLatestVersion } from '../../writer/commit.js';

const base = (id: number, path: string): BasePathProto => ({ id, is_dataset_root: false, path });
const mine = base(2, 'file:///data/media');

describe('missingBases', () => {
  it.each(['/data/media', '/data/media/', 'file:///data/media/', '/data/./media', '/data/other/../media'])(
    'counts a base registered under the same id as %s as registered',
    (spelled: string) => {
      expect(missingBases('/t.lance', [base(1, '/x'), base(2, spelled)], [mine])).toEqual([]);
    },
  );

  it('keeps a base the committed version does not register', () => {
    expect(missingBases('/t.lance', [base(1, '/x')], [mine])).toEqual([mine]);
  });

  it('refuses a committed base that took the id for another directory, naming both', () => {
    const refuse = () => missingBases('/t.lance', [base(2, '/data/other')], [mine]);
    expect(refuse).toThrow(CommitConflictError);
    expect(refuse).toThrow(
      '/t.lance: another writer registered external base 2 (/data/other) while this append stored blobs under base 2 (file:///data/media)',
    );
  });

  it('refuses a committed base that registered the directory under another id', () => {
    expect(() => missingBases('/t.lance', [base(3, '/data/media/')], [mine])).toThrow(CommitConflictError);
  });
});

describe('commitBases', () => {
  const root = fs.mkdtempSync(join(os.tmpdir(), 'writer-bases-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('renames a new base whose name a base registered meanwhile has, after its directory', async () => {
    const path = join(root, 'renamed.lance');
    await writeDataset(path, tableFromArrays({ id: Int32Array.of(1) }), { externalBases: [join(root, 'media')] });
    const committed = readLatestVersion(path);
    if (!committed) throw new Error(`no dataset at ${path}`);
    const taken = { ...base(2, pathToFileURL(join(root, 'clips')).href), name: 'media' };
    const { manifest } = commitBases(path, committed, [taken], { library: 'test', version: '0' });
    expect(manifest.base_paths.map((b) => [b.id, b.name])).toEqual([
      [1, 'media'],
      [2, 'clips'],
    ]);
  });
});

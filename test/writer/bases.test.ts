/**
 * Comparing an append's new external bases with the ones a version committed meanwhile registers:
 * one directory is one base however it is spelled, and an id or a directory taken differently is a
 * conflict.
 */
import { describe, expect, it } from 'vitest';
import { CommitConflictError } from '../../index.js';
import type { BasePathProto } from '../../format/proto/messages.js';
import { missingBases } from '../../writer/bases.js';

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

/**
 * The fuzz suite's quick mode: 500 seeded cases of damaged LanceDB-written files (data files, manifests and
 * deletion files of both file versions). `npm run fuzz` runs the full 10,000.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSources, mutationRng, planCase } from './cases.js';
import { formatSummary, runFuzz } from './fuzz.js';
import { mutate, mutationsFor } from './mutations.js';

const SEED = 20261205;
const QUICK_CASES = 500;
/** Mutations the quick run leaves out while the bug each finds is open (see the `it.fails` below). */
const KNOWN_BUG_MUTATIONS = ['schema-width'] as const;

describe('the quick fuzz run', () => {
  it('plans every mutation of every file role in its cases', async () => {
    const sources = await loadSources();
    const planned = new Set<string>();
    for (let i = 0; i < QUICK_CASES; i++) {
      const c = planCase(SEED, i, sources);
      planned.add(`${c.role} ${c.mutation}`);
    }
    const expected = (['data', 'manifest', 'deletion'] as const).flatMap((role) =>
      mutationsFor(role).map((kind) => `${role} ${kind}`),
    );
    expect([...planned].sort()).toEqual(expected.sort());
  });

  it('derives the same damaged bytes for a case every time it runs', async () => {
    const sources = await loadSources();
    const c = planCase(SEED, 7, sources);
    const root = sources.find((s) => s.name === c.source)?.root ?? '';
    const bytes = fs.readFileSync(path.join(root, c.file));
    const first = mutate(bytes, c.role, c.mutation, mutationRng(c));
    const again = mutate(bytes, c.role, c.mutation, mutationRng(c));
    expect(Buffer.from(again.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(Buffer.from(first.bytes).equals(bytes)).toBe(false);
  });

  it('returns data or a typed error for every one of its damaged datasets', async () => {
    const summary = await runFuzz({
      seed: SEED,
      cases: QUICK_CASES,
      skip: KNOWN_BUG_MUTATIONS,
      jobs: 2,
      timeoutMs: 30_000,
      rssCapBytes: 1 << 30,
    });
    expect(summary.cases).toBe(QUICK_CASES);
    expect(summary.failures, formatSummary(summary, SEED)).toEqual([]);
  }, 240_000);

  // Known bug, open: a fixed-size width past 2^31 in a schema's logical type (`fixed_size_list:float:4294967296`,
  // in a data file's schema or a manifest) escapes as a raw RangeError "Invalid typed array length" instead of
  // a CorruptFileError. Rerun: npm run fuzz -- --seed 5 --case 15. Drop this test and KNOWN_BUG_MUTATIONS once fixed.
  it.fails(
    'returns a typed error for schema widths past 2^31',
    async () => {
      const summary = await runFuzz({ seed: 5, cases: 100, jobs: 2, timeoutMs: 30_000, rssCapBytes: 1 << 30 });
      expect(summary.failures, formatSummary(summary, 5)).toEqual([]);
    },
    240_000,
  );
});

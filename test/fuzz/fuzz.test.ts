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
      jobs: 2,
      timeoutMs: 30_000,
      rssCapBytes: 1 << 30,
    });
    expect(summary.cases).toBe(QUICK_CASES);
    expect(summary.failures, formatSummary(summary, SEED)).toEqual([]);
  }, 240_000);
});

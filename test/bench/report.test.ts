import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateTargets, renderMarkdown, type SuiteReport } from '../../bench/report.js';
import type { Measurement, MethodName } from '../../bench/suite.js';

const committed = JSON.parse(
  readFileSync(new URL('../../bench/results/results.json', import.meta.url), 'utf8'),
) as SuiteReport;

/** The committed run cut down to emb-2.1, with `measurements` as its only results. */
function runWith(measurements: (Pick<Measurement, 'method' | 'variant' | 'rowsPerSecond'> & { createMs?: number })[]) {
  const report: SuiteReport = {
    ...committed,
    datasets: committed.datasets.filter((d) => d.key === 'emb-2.1'),
    results: (['lance-loader', 'lancedb', 'numpy-files', 'raw-pread'] as MethodName[]).map((method) => ({
      method,
      dataset: 'emb-2.1',
      skipped: [],
      errors: [],
      measurements: measurements
        .filter((m) => m.method === method)
        .map((m) => ({ cache: 'direct', rows: 1000, ms: 1000, complete: true, ...m })),
    })),
    targets: [],
  };
  report.targets = evaluateTargets(report);
  return report;
}

const targetOf = (report: SuiteReport, prefix: string) => report.targets.find((t) => t.target.startsWith(prefix));

describe('bench report', () => {
  it('compares LanceDB cold takes with the loader epoch that times createLoader', () => {
    const report = runWith([
      { method: 'lance-loader', variant: 'epoch cold O_DIRECT incl. creation', rowsPerSecond: 100, createMs: 500 },
      { method: 'lance-loader', variant: 'epoch cold O_DIRECT', rowsPerSecond: 300, createMs: 400 },
      { method: 'lancedb', variant: 'take ×1 cold', rowsPerSecond: 40 },
      { method: 'lancedb', variant: 'take ×4 cold', rowsPerSecond: 50 },
    ]);
    const target = targetOf(report, 'shuffled epoch, cold, O_DIRECT, createLoader timed');
    expect(target?.measured).toBe(2);
    expect(target?.detail).toContain('epoch after createLoader: 6.00×');
  });

  it('holds the epoch after createLoader against fio', () => {
    const report = runWith([
      { method: 'lance-loader', variant: 'epoch cold O_DIRECT incl. creation', rowsPerSecond: 100 },
      { method: 'lance-loader', variant: 'epoch cold O_DIRECT', rowsPerSecond: 300 },
      { method: 'raw-pread', variant: 'fio qd32', rowsPerSecond: 400 },
    ]);
    expect(targetOf(report, 'shuffled epoch, cold, O_DIRECT (epoch after createLoader)')?.measured).toBe(0.75);
  });

  it("compares LanceDB's Arrow scan with dataset.scan(), not with the loader's typed-array epoch", () => {
    const report = runWith([
      { method: 'lance-loader', variant: 'dataset.scan warm', rowsPerSecond: 200 },
      { method: 'lance-loader', variant: 'scan warm', rowsPerSecond: 2000 },
      { method: 'lancedb', variant: 'scan warm', rowsPerSecond: 100 },
    ]);
    expect(targetOf(report, 'full scan')?.measured).toBe(2);
  });

  it('renders a results file from before the creation-timed figures with — in their place', () => {
    const report = runWith([
      { method: 'lance-loader', variant: 'epoch cold O_DIRECT', rowsPerSecond: 300 },
      { method: 'lancedb', variant: 'take ×4 cold', rowsPerSecond: 50 },
    ]);
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('| emb-2.1 | — | 300 | — |');
    expect(targetOf(report, 'shuffled epoch, cold, O_DIRECT, createLoader timed')?.pass).toBeNull();
    expect(markdown).toContain('This run predates the current protocol');
  });
});

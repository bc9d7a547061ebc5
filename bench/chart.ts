/**
 * bench/results/throughput.svg: rows/s per method and dataset as horizontal bars on a log scale,
 * written by hand (no chart library). One group of bars per dataset, one colour per method variant;
 * a missing measurement leaves its slot empty.
 *
 *   legend ─────────────────────────────
 *   emb-2.1  ███████████████ 123,456
 *            ██████ 12,345
 *   mnist    …
 *            10      100     1K     10K    100K    1M   rows/s (log)
 */
import { find, type SuiteReport } from './report.js';
import type { DatasetKey, Measurement, MethodName } from './suite.js';

interface Series {
  label: string;
  color: string;
  pick(report: SuiteReport, key: DatasetKey): Measurement | undefined;
}

const one = (method: MethodName, variant: string) => (r: SuiteReport, k: DatasetKey) => find(r, k, method, variant);
const bestOf =
  (method: MethodName, ...variants: string[]) =>
  (r: SuiteReport, k: DatasetKey) =>
    variants
      .map((v) => find(r, k, method, v))
      .filter((m): m is Measurement => m !== undefined)
      .sort((a, b) => b.rowsPerSecond - a.rowsPerSecond)[0];

const SERIES: Series[] = [
  { label: 'lance-loader epoch, warm', color: '#1f4e9c', pick: one('lance-loader', 'epoch warm') },
  {
    label: 'lance-loader epoch, cold O_DIRECT, createLoader timed',
    color: '#4a78c4',
    pick: one('lance-loader', 'epoch cold O_DIRECT incl. creation'),
  },
  {
    label: 'lance-loader epoch, cold O_DIRECT, after createLoader',
    color: '#9dbde8',
    pick: one('lance-loader', 'epoch cold O_DIRECT'),
  },
  {
    label: 'LanceDB takeOffsets, warm (best of ×1, ×4)',
    color: '#d9731a',
    pick: bestOf('lancedb', 'take ×1 warm', 'take ×4 warm'),
  },
  {
    label: 'LanceDB takeOffsets, cold, open timed (best of ×1, ×4)',
    color: '#f2b27a',
    pick: bestOf('lancedb', 'take ×1 cold', 'take ×4 cold'),
  },
  { label: 'NumPy batch files, warm', color: '#3a8f3a', pick: one('numpy-files', 'epoch warm') },
  { label: 'pread buffered, warm (1 thread)', color: '#7a7a7a', pick: one('raw-pread', 'pread buffered warm ×1') },
  { label: 'fio randread qd32 O_DIRECT', color: '#333333', pick: one('raw-pread', 'fio qd32') },
  { label: 'lance-loader dataset.scan(), Arrow', color: '#7b4fa6', pick: one('lance-loader', 'dataset.scan warm') },
  { label: 'LanceDB scan, Arrow', color: '#c0a3dc', pick: one('lancedb', 'scan warm') },
  {
    label: 'lance-loader sequential epoch, typed arrays',
    color: '#a07cc4',
    pick: one('lance-loader', 'scan warm'),
  },
];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}K`;
  return n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

export function renderChart(report: SuiteReport): string {
  const keys = report.datasets.map((d) => d.key);
  const values = keys.flatMap((k) => SERIES.map((s) => s.pick(report, k)?.rowsPerSecond ?? 0)).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1e6))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 10))));
  const width = 980;
  const left = 120;
  const right = 70;
  const plotWidth = width - left - right;
  const legendRows = Math.ceil(SERIES.length / 2);
  const top = 48 + legendRows * 18 + 10;
  const bar = 11;
  const gap = 2;
  const groupGap = 18;
  const groupHeight = SERIES.length * (bar + gap);
  const plotHeight = keys.length * (groupHeight + groupGap);
  const height = top + plotHeight + 46;
  const x = (v: number) => left + (Math.log10(v / lo) / Math.log10(hi / lo)) * plotWidth;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const title = `Rows per second by method and dataset (log scale), ${report.mode} run, ${report.machine.cores} cores`;
  out.push(`<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(
    `<text x="${left}" y="38" fill="#555">${esc(`${report.generatedAt.slice(0, 10)} · lance-loader ${report.machine.gitCommit.slice(0, 10)} · @lancedb/lancedb ${report.machine.lancedb} · Node ${report.machine.node} · same shuffled batches for every method`)}</text>`,
  );
  SERIES.forEach((s, i) => {
    const lx = left + (i % 2) * (plotWidth / 2);
    const ly = 52 + Math.floor(i / 2) * 18;
    out.push(
      `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.color}"/><text x="${lx + 18}" y="${ly + 10}">${esc(s.label)}</text>`,
    );
  });
  // Decade grid lines and labels.
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    const gx = x(v).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + plotHeight}" stroke="#dddddd"/>`);
    out.push(`<text x="${gx}" y="${top + plotHeight + 16}" text-anchor="middle" fill="#444">${short(v)}</text>`);
  }
  out.push(
    `<text x="${left + plotWidth / 2}" y="${top + plotHeight + 34}" text-anchor="middle" fill="#444">rows/s (log scale)</text>`,
  );
  keys.forEach((key, g) => {
    const gy = top + g * (groupHeight + groupGap);
    const rows = report.datasets.find((d) => d.key === key)?.rows ?? 0;
    out.push(
      `<text x="${left - 8}" y="${gy + groupHeight / 2}" text-anchor="end" font-weight="bold">${esc(key)}</text>`,
    );
    out.push(
      `<text x="${left - 8}" y="${gy + groupHeight / 2 + 13}" text-anchor="end" fill="#666">${esc(`${rows.toLocaleString('en-US')} rows`)}</text>`,
    );
    SERIES.forEach((s, i) => {
      const m = s.pick(report, key);
      const by = gy + i * (bar + gap);
      if (!m || m.rowsPerSecond <= 0) return;
      const w = Math.max(1, x(m.rowsPerSecond) - left);
      const tip = `${key} · ${s.label}${m.variant ? ` (${m.variant})` : ''}: ${Math.round(m.rowsPerSecond).toLocaleString('en-US')} rows/s`;
      out.push(
        `<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${bar}" fill="${s.color}"><title>${esc(tip)}</title></rect>`,
      );
      out.push(
        `<text x="${(left + w + 4).toFixed(1)}" y="${by + bar - 2}" font-size="9" fill="#333">${short(m.rowsPerSecond)}${m.complete ? '' : '*'}</text>`,
      );
    });
  });
  out.push(`<line x1="${left}" y1="${top - 4}" x2="${left}" y2="${top + plotHeight}" stroke="#888"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

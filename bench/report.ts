/**
 * The suite's report: the suite's targets evaluated on one run's measurements (every ratio from
 * numbers of the same run), and the Markdown page bench/results/results.md.
 */
import type { MachineInfo } from './machine.js';
import {
  DATASET_SPECS,
  MIN_WARM_TIMED_SECONDS,
  WARM_UP_MAX_SECONDS,
  type DatasetKey,
  type Measurement,
  type MethodName,
  type MethodResult,
  type SuiteDataset,
} from './suite.js';

export interface SuiteReport {
  generatedAt: string;
  command: string;
  mode: 'quick' | 'full';
  durationMs: number;
  settings: {
    seed: number;
    epoch: number;
    rowsScale: number;
    maxSeconds: number;
    rssEpochs: number;
    memoryBytes: number;
    batchSizes: Record<string, number>;
  };
  machine: MachineInfo;
  datasets: (Omit<SuiteDataset, 'path'> & { path: string; describe: string; generatedMs: number })[];
  results: MethodResult[];
  targets: TargetResult[];
}

export interface TargetResult {
  target: string;
  dataset: DatasetKey | 'all';
  /** The measured ratio (or MiB for RSS), null when a number it needs is missing. */
  measured: number | null;
  threshold: number;
  unit: '×' | 'MiB';
  /** null: not measured in this run. */
  pass: boolean | null;
  detail: string;
}

const MiB = 2 ** 20;

/** lance-loader's cold O_DIRECT figures (suite.ts LOADER_COLD_VARIANTS): createLoader timed, and the epoch after it. */
const COLD_INCL_CREATION = 'epoch cold O_DIRECT incl. creation';
const COLD_AFTER_CREATION = 'epoch cold O_DIRECT';

export function find(
  report: Pick<SuiteReport, 'results'>,
  dataset: DatasetKey,
  method: MethodName,
  variant: string,
): Measurement | undefined {
  return report.results
    .find((r) => r.dataset === dataset && r.method === method)
    ?.measurements.find((m) => m.variant === variant);
}

function best(...ms: (Measurement | undefined)[]): Measurement | undefined {
  return ms.filter((m): m is Measurement => m !== undefined).sort((a, b) => b.rowsPerSecond - a.rowsPerSecond)[0];
}

function ratio(a: Measurement | undefined, b: Measurement | undefined): number | null {
  return a && b && b.rowsPerSecond > 0 ? a.rowsPerSecond / b.rowsPerSecond : null;
}

export function fmtRate(m: Measurement | undefined): string {
  if (!m) return '—';
  return `${Math.round(m.rowsPerSecond).toLocaleString('en-US')}${m.complete ? '' : '*'}`;
}

function fmtRatio(x: number | null): string {
  return x === null ? '—' : `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function fmtMs(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
}

/** Evaluates every target of the suite that the run measured. */
export function evaluateTargets(report: SuiteReport): TargetResult[] {
  const out: TargetResult[] = [];
  const keys = report.datasets.map((d) => d.key);
  const push = (
    target: string,
    dataset: DatasetKey | 'all',
    measured: number | null,
    threshold: number,
    detail: string,
    unit: '×' | 'MiB' = '×',
    lowerIsBetter = false,
  ) => {
    const pass = measured === null ? null : lowerIsBetter ? measured <= threshold : measured >= threshold;
    out.push({ target, dataset, measured, threshold, unit, pass, detail });
  };
  for (const key of keys) {
    const ll = find(report, key, 'lance-loader', 'epoch warm');
    const lanceBest = best(find(report, key, 'lancedb', 'take ×1 warm'), find(report, key, 'lancedb', 'take ×4 warm'));
    const threshold = key === 'seed000' || key === 'images' ? 5 : 10;
    push(
      `shuffled epoch, warm: ≥ ${threshold}× LanceDB takeOffsets (best of ×1, ×4)`,
      key,
      ratio(ll, lanceBest),
      threshold,
      `${fmtRate(ll)} vs ${fmtRate(lanceBest)} rows/s (${lanceBest?.variant ?? '—'})`,
    );
  }
  for (const key of keys) {
    // fio opens nothing, so the epoch after createLoader is the figure to hold against the disk's rate.
    const cold = find(report, key, 'lance-loader', COLD_AFTER_CREATION);
    const coldIncl = find(report, key, 'lance-loader', COLD_INCL_CREATION);
    const fio = find(report, key, 'raw-pread', 'fio qd32');
    const fio4k = find(report, key, 'raw-pread', 'fio qd32 4K-aligned');
    const against4k = fio4k
      ? `; against whole 4 KiB-aligned pages (${fio4k.note?.replace(/ on .*/, '') ?? 'fio'}): ${fmtRatio(ratio(cold, fio4k))}`
      : '';
    push(
      'shuffled epoch, cold, O_DIRECT (epoch after createLoader): ≥ 0.8× fio randread qd32 at the row read size',
      key,
      ratio(cold, fio),
      0.8,
      `${fmtRate(cold)} vs ${fmtRate(fio)} reads/s${fio?.note ? ` (${fio.note.replace(/ on .*/, '')})` : ' (fio not run)'}${against4k}; with createLoader timed: ${fmtRatio(ratio(coldIncl, fio))}`,
    );
  }
  for (const key of keys) {
    // LanceDB's cold takes time their open, so the like-for-like figure times createLoader too.
    const cold = find(report, key, 'lance-loader', COLD_INCL_CREATION);
    const after = find(report, key, 'lance-loader', COLD_AFTER_CREATION);
    const lanceBest = best(find(report, key, 'lancedb', 'take ×1 cold'), find(report, key, 'lancedb', 'take ×4 cold'));
    // Token lists aim higher than the flat datasets' 2×.
    const threshold = key === 'tokens' ? 3 : 2;
    push(
      `shuffled epoch, cold, O_DIRECT, createLoader timed: ≥ ${threshold}× LanceDB takeOffsets cold, open timed (best of ×1, ×4)`,
      key,
      ratio(cold, lanceBest),
      threshold,
      `${fmtRate(cold)} vs ${fmtRate(lanceBest)} rows/s (${lanceBest?.variant ?? '—'}); epoch after createLoader: ${fmtRatio(ratio(after, lanceBest))}${cold ? '' : ' (this run has no figure with createLoader timed)'}`,
    );
  }
  for (const key of keys) {
    // Arrow against Arrow: LanceDB's scan delivers record batches, as dataset.scan() does.
    const ll = find(report, key, 'lance-loader', 'dataset.scan warm');
    const seq = find(report, key, 'lance-loader', 'scan warm');
    const db = find(report, key, 'lancedb', 'scan warm');
    push(
      'full scan, Arrow record batches: dataset.scan() ≥ 1.5× LanceDB scan',
      key,
      ratio(ll, db),
      1.5,
      `${fmtRate(ll)} vs ${fmtRate(db)} rows/s; the loader's sequential epoch (typed arrays): ${fmtRate(seq)} rows/s, ${fmtRatio(ratio(seq, db))}`,
    );
  }
  if (keys.includes('seed000')) {
    const ll = find(report, 'seed000', 'lance-loader', 'epoch warm');
    const np = find(report, 'seed000', 'numpy-files', 'epoch warm');
    const llCold = find(report, 'seed000', 'lance-loader', COLD_INCL_CREATION);
    const npCold = find(report, 'seed000', 'numpy-files', 'epoch cold');
    push(
      'seed000 epoch: ≥ 20× the NumPy batch-file loader (warm vs warm)',
      'seed000',
      ratio(ll, np),
      20,
      `${fmtRate(ll)} vs ${fmtRate(np)} rows/s; cold (O_DIRECT, createLoader timed, vs evicted NPY files, index opened timed): ${fmtRatio(ratio(llCold, npCold))}`,
    );
  }
  const budgetMiB = report.settings.memoryBytes / MiB + 150;
  for (const key of keys) {
    const ms =
      report.results
        .find((r) => r.dataset === key && r.method === 'lance-loader')
        ?.measurements.filter((m) => m.variant.startsWith('epoch')) ?? [];
    const peaks = ms.flatMap((m) => [m.peakRssBytes ?? 0, ...(m.rssPerEpochBytes ?? [])]);
    const peak = peaks.length > 0 ? Math.max(...peaks) / MiB : null;
    const perEpoch = ms.find((m) => m.variant === 'epoch warm')?.rssPerEpochBytes ?? [];
    // Growth = the highest epoch peak of the later half minus that of the earlier half. A leak raises the
    // later peaks; the sawtooth of garbage collection (±20 MiB from one epoch to the next) does not, while
    // it decides a first→last difference by chance.
    const half = Math.floor(perEpoch.length / 2);
    const first = half > 0 ? Math.max(...perEpoch.slice(0, half)) : undefined;
    const last = half > 0 ? Math.max(...perEpoch.slice(half)) : undefined;
    const growth = first !== undefined && last !== undefined ? (last - first) / MiB : null;
    // Flat = no growth beyond noise (16 MiB or 5%); RSS falling back after a peak is fine.
    const flat = growth === null || first === undefined || growth <= Math.max(16, (0.05 * first) / MiB);
    const flatText =
      growth === null
        ? 'no extra epochs'
        : `${perEpoch.length} epochs: ${perEpoch.map((b) => Math.round(b / MiB)).join(', ')} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(0)} MiB from the peak of the first ${half} to the peak of the last ${perEpoch.length - half}, ${flat ? 'flat' : 'NOT flat'})`;
    push(
      `peak RSS (RssAnon + RssShmem; mapped file pages, RssFile, are page cache) ≤ memoryBytes (${report.settings.memoryBytes / MiB} MiB) + 150 MiB, flat over epochs`,
      key,
      peak,
      budgetMiB,
      `peak over lance-loader epochs; ${flatText}`,
      'MiB',
      true,
    );
    const added = out[out.length - 1];
    if (added && added.pass === true && !flat) added.pass = false;
  }
  push(
    'training example: consumer waits ≤ 5% of step time',
    'all',
    null,
    0.05,
    'not measured by the suite: `npm run demo` (examples/train.ts) prints the loader metrics of each epoch',
  );
  return out;
}

function table(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const sep = header.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : ':---'));
  return [`| ${header.join(' | ')} |`, `| ${sep.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function renderMarkdown(report: SuiteReport): string {
  const m = report.machine;
  const keys = report.datasets.map((d) => d.key);
  const f = (key: DatasetKey, method: MethodName, variant: string) => find(report, key, method, variant);
  const lines: string[] = [];
  lines.push(`# lance-loader benchmark results (${report.mode})`, '');
  lines.push(
    `Generated ${report.generatedAt} by \`${report.command}\` in ${(report.durationMs / 1000).toFixed(0)} s.`,
    '',
  );
  lines.push(
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB memory, kernel ${m.kernel}`,
  );
  lines.push(
    `- Disk under bench/.data: ${m.disk.source} (${m.disk.fsType}), ${m.disk.model}, ${(Number(m.disk.sizeBytes) / 2 ** 30).toFixed(0)} GiB, rotational: ${m.disk.rotational}`,
  );
  lines.push(
    `- Node ${m.node}, @lancedb/lancedb ${m.lancedb}, apache-arrow ${m.apacheArrow}, lance-loader ${m.lanceLoader} at ${m.gitCommit.slice(0, 12)}${m.gitDirty ? ' (working tree with uncommitted changes)' : ''}, ${m.fio ?? 'fio not installed'}, UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}, read engine ${m.readEngine}`,
  );
  const s = report.settings;
  lines.push(
    `- Settings: seed ${s.seed}, epoch ${s.epoch} of a global shuffle (BatchSampler) for every method, rows × ${s.rowsScale}, at most ${s.maxSeconds} s per measurement (\\* = stopped by that cap; the rate is over the rows read), loader memoryBytes ${s.memoryBytes / MiB} MiB, ${s.rssEpochs} extra epochs for RSS`,
    '',
  );
  lines.push('## Datasets', '');
  lines.push(
    table(
      ['dataset', 'rows', 'batch', 'stored', 'bytes/row', 'columns'],
      report.datasets.map((d) => [
        d.key,
        d.rows.toLocaleString('en-US'),
        String(d.batchSize),
        fmtBytes(d.dataBytes),
        Math.round(d.rowBytes).toLocaleString('en-US'),
        d.describe,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
  );

  lines.push('## Shuffled epoch, warm page cache (rows/s)', '');
  lines.push(
    table(
      [
        'dataset',
        'lance-loader',
        'LanceDB take ×1',
        'LanceDB take ×4',
        'NumPy files',
        'pread ×1',
        'pread ×4',
        'lance-loader ÷ best LanceDB',
        'lance-loader ÷ NumPy',
        'lance-loader ÷ pread ×1',
      ],
      keys.map((k) => {
        const ll = f(k, 'lance-loader', 'epoch warm');
        const b = best(f(k, 'lancedb', 'take ×1 warm'), f(k, 'lancedb', 'take ×4 warm'));
        const np = f(k, 'numpy-files', 'epoch warm');
        const p1 = f(k, 'raw-pread', 'pread buffered warm ×1');
        return [
          k,
          fmtRate(ll),
          fmtRate(f(k, 'lancedb', 'take ×1 warm')),
          fmtRate(f(k, 'lancedb', 'take ×4 warm')),
          fmtRate(np),
          fmtRate(p1),
          fmtRate(f(k, 'raw-pread', 'pread buffered warm ×4')),
          fmtRatio(ratio(ll, b)),
          fmtRatio(ratio(ll, np)),
          fmtRatio(ratio(ll, p1)),
        ];
      }),
    ),
    '',
  );
  lines.push('## Shuffled epoch, cold, against LanceDB (rows/s; every file of the dataset evicted first)', '');
  lines.push(
    "LanceDB's and NumPy's cold runs time their open (connect + openTable, the NPY index) with the epoch, so the like-for-like lance-loader figure is **createLoader timed**: files evicted, then createLoader (metadata, small-column decode, worker warm-up) and the epoch timed together. **Epoch after createLoader** evicts the files again after a createLoader and times the epoch alone; `createLoader` is its own time on evicted files. LanceDB reads through the page cache, whose read-ahead fills it as a shuffled epoch goes on; **buffered** is the same I/O mode for lance-loader (what `io.direct: 'auto'` picks for a dataset that fits in memory), O_DIRECT bypasses the page cache and gets no read-ahead.",
    '',
  );
  lines.push(
    table(
      [
        'dataset',
        'lance-loader O_DIRECT, createLoader timed',
        'lance-loader O_DIRECT, epoch after createLoader',
        'createLoader',
        'lance-loader buffered, createLoader timed',
        'lance-loader buffered, epoch after createLoader',
        'LanceDB take ×1',
        'LanceDB take ×4',
        'LanceDB open',
        'NumPy files',
        'createLoader timed ÷ best LanceDB',
        'epoch after createLoader ÷ best LanceDB',
        'buffered, createLoader timed ÷ best LanceDB',
      ],
      keys.map((k) => {
        const incl = f(k, 'lance-loader', COLD_INCL_CREATION);
        const after = f(k, 'lance-loader', COLD_AFTER_CREATION);
        const buffered = f(k, 'lance-loader', 'epoch cold buffered incl. creation');
        const t1 = f(k, 'lancedb', 'take ×1 cold');
        const t4 = f(k, 'lancedb', 'take ×4 cold');
        const b = best(t1, t4);
        return [
          k,
          fmtRate(incl),
          fmtRate(after),
          fmtMs(after?.createMs ?? incl?.createMs),
          fmtRate(buffered),
          fmtRate(f(k, 'lance-loader', 'epoch cold buffered')),
          fmtRate(t1),
          fmtRate(t4),
          fmtMs(b?.createMs),
          fmtRate(f(k, 'numpy-files', 'epoch cold')),
          fmtRatio(ratio(incl, b)),
          fmtRatio(ratio(after, b)),
          fmtRatio(ratio(buffered, b)),
        ];
      }),
    ),
    '',
  );
  lines.push('## Shuffled epoch, cold, against the disk (rows/s; O_DIRECT bypasses the page cache)', '');
  lines.push('fio and the preads open nothing, so the epoch after createLoader is the figure held against them.', '');
  lines.push(
    table(
      [
        'dataset',
        'lance-loader O_DIRECT, epoch after createLoader',
        'lance-loader O_DIRECT, createLoader timed',
        'pread O_DIRECT ×1',
        'pread O_DIRECT ×4',
        'fio qd32',
        'fio qd1',
        'fio qd32 4K-aligned',
        'epoch after createLoader ÷ fio qd32',
        'createLoader timed ÷ fio qd32',
        'epoch after createLoader ÷ fio qd32 4K-aligned',
      ],
      keys.map((k) => {
        const after = f(k, 'lance-loader', COLD_AFTER_CREATION);
        const incl = f(k, 'lance-loader', COLD_INCL_CREATION);
        const fio = f(k, 'raw-pread', 'fio qd32');
        const fio4k = f(k, 'raw-pread', 'fio qd32 4K-aligned');
        return [
          k,
          fmtRate(after),
          fmtRate(incl),
          fmtRate(f(k, 'raw-pread', 'pread O_DIRECT ×1')),
          fmtRate(f(k, 'raw-pread', 'pread O_DIRECT ×4')),
          fmtRate(fio),
          fmtRate(f(k, 'raw-pread', 'fio qd1')),
          fmtRate(fio4k),
          fmtRatio(ratio(after, fio)),
          fmtRatio(ratio(incl, fio)),
          fmtRatio(ratio(after, fio4k)),
        ];
      }),
    ),
    '',
  );
  lines.push('## Full scan, warm (rows/s)', '');
  lines.push(
    "LanceDB's scan delivers Arrow record batches, as `dataset.scan()` does: that pair is the like-for-like comparison (and the target's). The loader's sequential epoch delivers typed arrays decoded by its workers.",
    '',
  );
  lines.push(
    table(
      [
        'dataset',
        'lance-loader dataset.scan() (Arrow, calling thread)',
        'LanceDB scan (Arrow)',
        'dataset.scan() ÷ LanceDB',
        'lance-loader sequential epoch (typed arrays, workers)',
        'sequential epoch ÷ LanceDB',
      ],
      keys.map((k) => {
        const d = f(k, 'lance-loader', 'dataset.scan warm');
        const a = f(k, 'lance-loader', 'scan warm');
        const b = f(k, 'lancedb', 'scan warm');
        return [k, fmtRate(d), fmtRate(b), fmtRatio(ratio(d, b)), fmtRate(a), fmtRatio(ratio(a, b))];
      }),
    ),
    '',
  );
  lines.push('## lance-loader epochs in detail', '');
  lines.push(
    "createLoader is its time on evicted files (within rows/s in the \"incl. creation\" variants). Bytes read and reads issued are the loader's own counters (`metrics()`, without createLoader's reads); read ÷ delivered is the read amplification. The consumer only counts rows, so its wait share is the share of the epoch the loader was the bottleneck (≈100% means the consumer always waited), not a training loop's.",
    '',
  );
  lines.push(
    table(
      [
        'dataset',
        'variant',
        'rows/s',
        'createLoader',
        'first batch',
        'bytes read',
        'bytes delivered',
        'read ÷ delivered',
        'reads issued',
        'ranges/read',
        'consumer wait',
        'decode (all workers)',
        'peak RSS',
        'cached before',
      ],
      keys.flatMap((k) =>
        (report.results.find((r) => r.dataset === k && r.method === 'lance-loader')?.measurements ?? [])
          .filter((x) => x.variant.startsWith('epoch'))
          .map((x) => [
            k,
            x.variant,
            fmtRate(x),
            fmtMs(x.createMs),
            fmtMs(x.firstBatchMs),
            fmtBytes(x.bytesRead),
            fmtBytes(x.bytesDelivered),
            x.bytesRead !== undefined && x.bytesDelivered ? `${(x.bytesRead / x.bytesDelivered).toFixed(2)}` : '—',
            x.readsIssued?.toLocaleString('en-US') ?? '—',
            x.readsIssued ? ((x.rangesRequested ?? 0) / x.readsIssued).toFixed(1) : '—',
            x.consumerWaitShare !== undefined ? `${(x.consumerWaitShare * 100).toFixed(0)}%` : '—',
            fmtMs(x.decodeMs),
            fmtBytes(x.peakRssBytes),
            x.cachedBeforeBytes !== undefined ? fmtBytes(x.cachedBeforeBytes) : '—',
          ]),
      ),
      ['l', 'l'],
    ),
    '',
  );
  lines.push('## Every measurement', '');
  lines.push(
    "`syscall bytes`/`read syscalls`/`disk bytes` are the `/proc/self/io` deltas (rchar, syscr, read_bytes) of the method's process over the timed part: the same yardstick for every method, threads included.",
    '',
  );
  lines.push(
    table(
      [
        'dataset',
        'method',
        'variant',
        'rows/s',
        'rows',
        'time',
        'open',
        'first batch',
        'syscall bytes',
        'read syscalls',
        'disk bytes',
        'peak RSS',
      ],
      report.results.flatMap((r) =>
        r.measurements.map((x) => [
          r.dataset,
          r.method,
          x.variant,
          fmtRate(x),
          x.rows.toLocaleString('en-US'),
          fmtMs(x.ms),
          fmtMs(x.createMs),
          fmtMs(x.firstBatchMs),
          fmtBytes(x.proc?.rchar),
          x.proc?.syscr.toLocaleString('en-US') ?? '—',
          fmtBytes(x.proc?.readBytes),
          fmtBytes(x.peakRssBytes),
        ]),
      ),
      ['l', 'l', 'l'],
    ),
    '',
  );
  lines.push('## Targets, ratios within this run', '');
  if (report.mode === 'quick')
    lines.push(
      'Quick run: the datasets are ~1/20 of the target sizes, so these verdicts are a smoke check, not the measurement the targets are about.',
      '',
    );
  for (const t of report.targets) {
    const verdict = t.pass === null ? 'not measured' : t.pass ? '**pass**' : '**fail**';
    const value =
      t.measured === null
        ? '—'
        : t.unit === 'MiB'
          ? `${t.measured.toFixed(0)} MiB (limit ${t.threshold.toFixed(0)} MiB)`
          : fmtRatio(t.measured);
    lines.push(`- ${verdict} — ${t.target}${t.dataset === 'all' ? '' : ` — ${t.dataset}`}: ${value}; ${t.detail}`);
  }
  lines.push('');
  const problems = report.results.flatMap((r) => [
    ...r.errors.map((e) => `error: ${r.dataset} ${r.method}: ${e.split('\n')[0]}`),
    ...r.skipped.map((e) => `skipped: ${r.dataset} ${r.method}: ${e}`),
  ]);
  if (problems.length > 0) lines.push('## Errors and skipped runs', '', ...problems.map((p) => `- ${p}`), '');
  lines.push('## How it was measured', '');
  if (!report.results.some((r) => r.measurements.some((x) => x.createMs !== undefined)))
    lines.push(
      "This run predates the current protocol, which this page describes: its lance-loader cold epochs ran after a createLoader on cached files (only the data files evicted after it), LanceDB's cold takes opened the table before the eviction, and warm-ups differed per method. Figures the run did not take show as —.",
      '',
    );
  lines.push(
    '- Every method runs in its own Node process per dataset (bench/methods/*.ts), reads the same batches (BatchSampler, global shuffle, the seed and epoch above) and only counts the rows it gets.',
    '- **Warm, every method and scan alike**: files read into the page cache with `cat`, the method opened, then one whole pass over another epoch read untimed (stopped after at most ' +
      WARM_UP_MAX_SECONDS +
      " s, or the cap above), then whole passes timed, the suite's epoch and the ones after it, until at least " +
      MIN_WARM_TIMED_SECONDS +
      " s are timed (pread's later epochs repeat the suite's order).",
    '- **Cold**: every file of the dataset evicted (manifests and deletion files too), then the method opened and its epoch read, both timed ("open" / "createLoader" is the open\'s share); lance-loader\'s "epoch cold … " variants without "incl. creation" run createLoader on the evicted files, evict them again, and time the epoch alone.',
    '- **lance-loader**: `createLoader(path, { batchSize, shuffle: true, seed, memoryBytes, io: { direct } })`. Full scan: `dataset.scan({ batchSize: 8192 })` (Arrow batches decoded on the calling thread, "dataset.scan warm"), and the loader\'s sequential epoch (`shuffle: false`, up to 8192 rows per batch, typed arrays, "scan warm"); every column.',
    '- **LanceDB**: `table.takeOffsets(rows).toArrow()` per batch with 1 or 4 batches in flight; its scan is `for await (const b of table.query())` (Arrow batches). Each variant opens a fresh connection.',
    '- **NumPy files**: the layout of the published Lance-vs-NumPy investigation: the float32 vector column as NPY v1.0 files of 100 rows plus index.json (examples/npy.ts); per batch, each needed file is loaded whole, one after another, and its rows copied out. Only emb and seed000 have a float32 vector column.',
    "- **raw pread**: each row read with one `fs.readSync` of the row's stored size (data bytes ÷ rows, at row × that size) from 1 or 4 worker threads; O_DIRECT reads are widened to 4 KiB boundaries. **fio** (optional, `apt-get install -y fio`): `--rw=randread --ioengine=libaio --direct=1 --iodepth=32 --bs=<row size rounded up to the device's O_DIRECT block> --blockalign=<that block>` on the dataset's data file (the block is probed as the loader probes it: 512 on these disks), which is the read a row costs the loader and the target's reference; \"fio qd32 4K-aligned\" rounds up to 4 KiB at 4 KiB-aligned offsets, the disk's rate for whole aligned pages; rows/s = reads/s.",
    '- **Eviction**: the benchmark evicts only its own files with posix_fadvise(POSIX_FADV_DONTNEED) (python3 `os.posix_fadvise`, else `dd iflag=nocache count=0`) after `sync`; "cached before" is what `fincore` still saw.',
    '- **images** rows are random bytes between a JPEG SOI/APP0 marker (FF D8 FF E0) and an EOI marker (FF D9), 20–120 KB each: JPEG-like in size and incompressibility, not decodable pictures.',
    "- **Peak RSS** is the process's RssAnon + RssShmem (/proc/self/status), sampled every 50 ms over the timed part (decode worker threads included): the memory a method holds, without RssFile, the page cache of files it maps (lance-loader's warm buffered reads copy out of mappings, `io.mapped`; a method reading with pread holds that cache too, unseen in its RSS).",
    '',
  );
  return lines.join('\n');
}

/** The dataset keys in report order with their specs (for the chart). */
export function datasetOrder(report: SuiteReport): DatasetKey[] {
  return report.datasets.map((d) => d.key).filter((k) => k in DATASET_SPECS);
}

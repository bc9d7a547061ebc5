/**
 * The benchmark suite: lance-loader side by side with LanceDB, a NumPy batch-file loader and the disk's
 * own limit (plain preads, fio), on the same datasets and the same shuffled batches, in one run.
 *
 *   npm run bench [-- --quick] [--only emb,mnist,seed000,images,emb-2.2,mnist-2.2,…] [--methods lance-loader,lancedb,numpy-files,raw-pread]
 *                 [--rows-scale 0.05] [--max-seconds 60] [--seed 42] [--rss-epochs 10] [--memory-mb 512] [--out bench/results]
 *   npm run bench -- --from bench/results/results.json     (re-render results.md and the chart, no measuring)
 *   npm run bench -- --only images-transform [--quick]       (JPEG decode + augmentation vs torchvision: bench/images-transform.ts)
 *   npm run bench -- --only remote [--quick]                 (s3:// with a 20 ms round trip vs LanceDB: bench/remote.ts, only when asked for)
 *
 *   datasets (bench/datasets.ts, cached in bench/.data) ──► one process per dataset × method
 *   (bench/methods/*.ts, task and result as JSON files) ──► bench/results/results.json, results.md, throughput.svg
 *
 * --quick: rows ÷ 20 (at least a few batches; seed000 keeps its 500 rows, 211 MB), 10 s per measurement, 3 RSS epochs: a CI smoke run of a
 * few minutes. Ratios are always computed within the run; quick sizes fit in the page cache several
 * times over, so their cold numbers mostly say that the code paths work.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchTableName, dataFilesOf, ensureBenchDataset, ensureNpyStore } from './datasets.js';
import { describeMachine } from './machine.js';
import { renderMarkdown, evaluateTargets, type SuiteReport } from './report.js';
import { renderChart } from './chart.js';
import { runImagesTransform } from './images-transform.js';
import {
  DATASET_KEYS,
  DATASET_SPECS,
  LOADER_COLD_VARIANTS,
  type DatasetKey,
  type MethodName,
  type MethodResult,
  type MethodTask,
  type SuiteDataset,
} from './suite.js';

const METHODS: readonly MethodName[] = ['lance-loader', 'lancedb', 'numpy-files', 'raw-pread'];
const repoRoot = join(import.meta.dirname, '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    methods: { type: 'string' },
    'rows-scale': { type: 'string' },
    'max-seconds': { type: 'string' },
    seed: { type: 'string', default: '42' },
    'rss-epochs': { type: 'string' },
    'memory-mb': { type: 'string', default: '512' },
    out: { type: 'string' },
    from: { type: 'string' },
  },
});

// --from results.json: re-render results.md and throughput.svg (targets re-evaluated) without measuring.
if (args.from) {
  const saved = JSON.parse(readFileSync(args.from, 'utf8')) as SuiteReport;
  saved.targets = evaluateTargets(saved);
  const dir = args.out ?? dirname(args.from);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.md'), renderMarkdown(saved));
  writeFileSync(join(dir, 'throughput.svg'), renderChart(saved));
  if (resolve(dir) !== resolve(dirname(args.from)))
    writeFileSync(join(dir, 'results.json'), JSON.stringify(saved, null, 2) + '\n');
  process.stderr.write(`re-rendered ${dir}/results.md and throughput.svg from ${args.from}\n`);
  process.exit(0);
}

function numberFlag(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${text}`);
  return n;
}

const quick = args.quick ?? false;
const rowsScale = numberFlag('rows-scale', args['rows-scale'], quick ? 1 / 20 : 1, 1e-6);
const maxSeconds = numberFlag('max-seconds', args['max-seconds'], quick ? 10 : 60, 0.1);
const seed = numberFlag('seed', args.seed, 42, 0);
const rssEpochs = Math.floor(numberFlag('rss-epochs', args['rss-epochs'], quick ? 3 : 10, 0));
const memoryBytes = Math.floor(numberFlag('memory-mb', args['memory-mb'], 512, 16) * 2 ** 20);
const epoch = 1;

function selectDatasets(text: string | undefined): DatasetKey[] {
  if (!text) return [...DATASET_KEYS];
  const out = new Set<DatasetKey>();
  for (const word of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const matches = DATASET_KEYS.filter((k) => k === word || k.split('-')[0] === word);
    if (matches.length === 0)
      throw new Error(
        `--only: unknown dataset "${word}" (known: ${DATASET_KEYS.join(', ')}, or emb / mnist for all their file versions)`,
      );
    for (const m of matches) out.add(m);
  }
  return DATASET_KEYS.filter((k) => out.has(k));
}

function selectMethods(text: string | undefined): MethodName[] {
  if (!text) return [...METHODS];
  const words = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const w of words)
    if (!METHODS.includes(w as MethodName))
      throw new Error(`--methods: unknown method "${w}" (known: ${METHODS.join(', ')})`);
  return METHODS.filter((m) => words.includes(m));
}

/** The part that is no dataset of the suite: it runs on its own, before the datasets asked for with it. */
const IMAGES_TRANSFORM = 'images-transform';
/** Object storage, run only when asked for (it starts a store of its own): bench/remote.ts in its own process. */
const REMOTE = 'remote';
const onlyWords = (args.only ?? '').split(',').map((s) => s.trim());
const otherWords = onlyWords.filter((w) => w && w !== IMAGES_TRANSFORM && w !== REMOTE);
const started = performance.now();
const say = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
if (onlyWords.includes(REMOTE)) {
  const out = args.out ?? join(repoRoot, 'bench', 'results');
  say(`remote: bench/remote.ts${quick ? ' --batches 10' : ''} → ${join(out, 'remote.md')}`);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'remote.ts'), ...(quick ? ['--batches', '10'] : [])],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`bench/remote.ts exited with ${code}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'remote.md'), Buffer.concat(chunks));
  process.stdout.write(Buffer.concat(chunks));
  if (otherWords.length === 0 && !onlyWords.includes(IMAGES_TRANSFORM)) process.exit(0);
}
if (!args.only || onlyWords.includes(IMAGES_TRANSFORM)) {
  await runImagesTransform({ quick, maxSeconds, out: args.out ?? join(repoRoot, 'bench', 'results'), say });
  if (args.only && otherWords.length === 0) process.exit(0);
}
const datasetKeys = selectDatasets(args.only ? otherWords.join(',') : undefined);
const methods = selectMethods(args.methods);

say(
  `${quick ? 'quick' : 'full'} run: datasets ${datasetKeys.join(', ')}; methods ${methods.join(', ')}; rows × ${rowsScale}; ≤ ${maxSeconds} s per measurement`,
);

/** Generates (or reuses) every selected dataset and, for the NumPy method, its batch-file store. */
async function prepare(key: DatasetKey): Promise<{ dataset: SuiteDataset; generatedMs: number }> {
  const spec = DATASET_SPECS[key];
  const rows = Math.max(spec.minRows, Math.round(spec.fullRows * rowsScale));
  const t0 = performance.now();
  const path = await ensureBenchDataset(spec.kind, rows, spec.version, spec.writer);
  const dataFiles = dataFilesOf(path);
  const dataBytes = dataFiles.reduce((s, f) => s + f.sizeBytes, 0);
  const dataset: SuiteDataset = {
    key,
    rows,
    batchSize: spec.batchSize,
    path,
    tableName: benchTableName(spec.kind, rows, spec.version, spec.writer),
    dataFiles,
    dataBytes,
    rowBytes: dataBytes / rows,
    ...(spec.pad ? { pad: spec.pad } : {}),
  };
  if (spec.npyColumn && methods.includes('numpy-files')) {
    dataset.npyColumn = spec.npyColumn;
    dataset.npyDir = await ensureNpyStore(path, dataset.tableName, spec.npyColumn.name, spec.npyColumn.dim, rows);
  }
  return { dataset, generatedMs: performance.now() - t0 };
}

/**
 * Parts of a method that each run in a process of their own, so each part's peak RSS is its own: a
 * process that closed one loader keeps some of its freed memory (the allocator's), which would count
 * towards the next loader's peak.
 */
const METHOD_PARTS: Partial<Record<MethodName, string[]>> = {
  'lance-loader': ['warm', ...LOADER_COLD_VARIANTS.map((v) => v.part)],
};

/** Runs one method on one dataset, each part in its own process (METHOD_PARTS), and merges the results. */
async function runMethod(method: MethodName, dataset: SuiteDataset, workDir: string): Promise<MethodResult> {
  const parts: MethodResult[] = [];
  for (const part of METHOD_PARTS[method] ?? [undefined])
    parts.push(await runMethodPart(method, dataset, workDir, part));
  return {
    method,
    dataset: dataset.key,
    measurements: parts.flatMap((r) => r.measurements),
    skipped: parts.flatMap((r) => r.skipped),
    errors: parts.flatMap((r) => r.errors),
  };
}

/** Runs one method (or one part of it) on one dataset in its own process; a crash or timeout becomes an error entry. */
async function runMethodPart(
  method: MethodName,
  dataset: SuiteDataset,
  workDir: string,
  part: string | undefined,
): Promise<MethodResult> {
  const name = `${dataset.key}-${method}${part ? `-${part.replace(/\W+/g, '-')}` : ''}`;
  const resultFile = join(workDir, `${name}.result.json`);
  const taskFile = join(workDir, `${name}.task.json`);
  const task: MethodTask = {
    method,
    dataset,
    seed,
    epoch,
    maxSeconds,
    rssEpochs,
    memoryBytes,
    quick,
    resultFile,
    ...(part ? { part } : {}),
  };
  writeFileSync(taskFile, JSON.stringify(task));
  const script = join(repoRoot, 'bench', 'methods', `${method}.ts`);
  const timeoutMs = (maxSeconds * 30 + 180) * 1000;
  const code = await new Promise<number | string>((resolve) => {
    // --expose-gc: a method collects what one measurement left behind before the next (methods/lance-loader.ts).
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, taskFile], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (c, signal) => {
      clearTimeout(timer);
      resolve(c ?? String(signal));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
  });
  try {
    return JSON.parse(readFileSync(resultFile, 'utf8')) as MethodResult;
  } catch {
    return {
      method,
      dataset: dataset.key,
      measurements: [],
      skipped: [],
      errors: [`the ${method} process ended (${code}) without a result`],
    };
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'lance-bench-'));
const machine = describeMachine(repoRoot);
const datasets: SuiteReport['datasets'] = [];
const results: MethodResult[] = [];
try {
  for (const key of datasetKeys) {
    say(`dataset ${key}: preparing`);
    const { dataset, generatedMs } = await prepare(key);
    say(
      `dataset ${key}: ${dataset.rows} rows, ${(dataset.dataBytes / 2 ** 20).toFixed(1)} MiB in ${dataset.dataFiles.length} file(s), ${Math.round(dataset.rowBytes)} B/row (${(generatedMs / 1000).toFixed(1)} s)`,
    );
    datasets.push({
      ...dataset,
      describe: DATASET_SPECS[key].describe,
      generatedMs,
      path: relative(repoRoot, dataset.path),
    });
    for (const method of methods) {
      say(`dataset ${key}: ${method}`);
      results.push(await runMethod(method, dataset, workDir));
    }
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

const report: SuiteReport = {
  generatedAt: new Date().toISOString(),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  mode: quick ? 'quick' : 'full',
  durationMs: performance.now() - started,
  settings: {
    seed,
    epoch,
    rowsScale,
    maxSeconds,
    rssEpochs,
    memoryBytes,
    batchSizes: Object.fromEntries(datasetKeys.map((k) => [k, DATASET_SPECS[k].batchSize])),
  },
  machine,
  datasets,
  results,
  targets: [],
};
report.targets = evaluateTargets(report);
const out = args.out ?? join(repoRoot, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'results.json'), JSON.stringify(report, null, 2) + '\n');
writeFileSync(join(out, 'results.md'), renderMarkdown(report));
writeFileSync(join(out, 'throughput.svg'), renderChart(report));
const errors = results.flatMap((r) => r.errors.map((e) => `${r.dataset} ${r.method}: ${e.split('\n')[0]}`));
say(
  `wrote ${relative(process.cwd(), join(out, 'results.json'))}, results.md, throughput.svg in ${(report.durationMs / 1000).toFixed(0)} s`,
);
for (const e of errors) say(`error: ${e}`);
// A smoke check: timings never fail the run, errors do (a method that crashed or a variant that threw).
if (errors.length > 0) process.exitCode = 1;

/**
 * Runs fuzz cases in a small pool of child processes (`case-runner.child.ts` through tsx) and sums them up.
 *
 *   parent ── one case at a time over IPC ──► child 1 … child N (each: mutate, open/scan/take, restore)
 *      ▲                                          │
 *      └── outcome, peak RSS ◄───────────────────┘   timeout / exit / RSS over cap → failure, new child
 *
 * A case passes when the reads return data or reject with a LanceLoaderError. A raw error, a crash or
 * signal, a case that outlives its timeout, a child whose peak RSS passes the cap, or file descriptors left
 * open after the case closed every reader it opened, is a failure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSources, mutationRng, planCase, type FuzzCase, type Source } from './cases.js';
import { mutate, type MutationKind } from './mutations.js';
import type { CaseReply, CaseRequest } from './case-runner.child.js';

export interface FuzzOptions {
  seed: number;
  /** Cases 0 … cases−1 of the seed, unless `only` names one. */
  cases: number;
  only?: number;
  /** Mutations left out of the run. */
  skip?: readonly MutationKind[];
  jobs: number;
  timeoutMs: number;
  rssCapBytes: number;
  /** Called after every case with how many are done. */
  onProgress?: (done: number) => void;
}

export interface FuzzFailure {
  fuzzCase: FuzzCase;
  kind: 'raw' | 'crash' | 'hang' | 'rss' | 'fd-leak';
  message: string;
  description: string;
}

export interface FuzzSummary {
  cases: number;
  data: number;
  typed: number;
  typedByCode: Record<string, number>;
  failures: FuzzFailure[];
  seconds: number;
}

/** How long a disconnected child may take to exit before it is killed. */
const STOP_GRACE_MS = 5_000;
const CHILD = fileURLToPath(new URL('./case-runner.child.ts', import.meta.url));

interface Runner {
  child: ChildProcess;
  /** Resolves to the child's temp dir (its dataset copies) once it takes cases. */
  ready: Promise<string>;
}

function startRunner(): Runner {
  const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  child.stderr?.resume();
  const ready = new Promise<string>((resolve, reject) => {
    child.once('message', (message: { tempRoot: string }) => resolve(message.tempRoot));
    child.once('exit', (code, signal) =>
      reject(new Error(`fuzz child exited (${code ?? signal}) before it was ready`)),
    );
  });
  return { child, ready };
}

/**
 * Ends a child: `disconnect` lets it exit on its own (it removes its temp dir), `kill` is for a child that
 * hung or is spoiled, whose temp dir the parent removes.
 */
async function stopRunner(runner: Runner, how: 'disconnect' | 'kill'): Promise<void> {
  const { child } = runner;
  const tempRoot = await runner.ready.catch(() => undefined);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (how === 'disconnect' && child.connected) child.disconnect();
    else child.kill('SIGKILL');
    const stuck = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(stuck);
  }
  if (how === 'kill' && tempRoot) fs.rmSync(tempRoot, { recursive: true, force: true });
}

type Settled = { reply: CaseReply } | { failure: Omit<FuzzFailure, 'fuzzCase'> };

/** Sends one case and waits for its reply, the child's exit, or the timeout (which kills the child). */
function runOne(runner: Runner, request: CaseRequest, timeoutMs: number): Promise<Settled> {
  const { child } = runner;
  return new Promise((resolve) => {
    const done = (settled: Settled): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(settled);
    };
    const onMessage = (reply: CaseReply): void => done({ reply });
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      done({ failure: { kind: 'crash', message: `child exited with ${signal ?? `code ${code}`}`, description: '' } });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ failure: { kind: 'hang', message: `no outcome within ${timeoutMs} ms`, description: '' } });
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(request);
  });
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const started = performance.now();
  const sources = await loadSources();
  const rootOf = new Map(sources.map((s: Source) => [s.name, s.root]));
  const indexes = options.only === undefined ? Array.from({ length: options.cases }, (_, i) => i) : [options.only];
  const summary: FuzzSummary = { cases: 0, data: 0, typed: 0, typedByCode: {}, failures: [], seconds: 0 };
  let next = 0;

  const lane = async (): Promise<void> => {
    let runner = startRunner();
    try {
      await runner.ready;
      while (next < indexes.length) {
        const fuzzCase = planCase(options.seed, indexes[next++] as number, sources, options.skip);
        const request: CaseRequest = { fuzzCase, sourceRoot: rootOf.get(fuzzCase.source) as string };
        const settled = await runOne(runner, request, options.timeoutMs);
        summary.cases++;
        let fresh = 'failure' in settled;
        if ('failure' in settled) {
          const description = describeMutation(fuzzCase, request.sourceRoot);
          summary.failures.push({ fuzzCase, ...settled.failure, description });
        } else {
          const { reply } = settled;
          if (reply.outcome === 'raw') {
            const message = `${reply.code}: ${reply.message}`;
            summary.failures.push({ fuzzCase, kind: 'raw', message, description: reply.description });
          } else if (reply.maxRssBytes > options.rssCapBytes) {
            const message = `peak RSS ${Math.round(reply.maxRssBytes / 2 ** 20)} MiB over the cap of ${Math.round(options.rssCapBytes / 2 ** 20)} MiB`;
            summary.failures.push({ fuzzCase, kind: 'rss', message, description: reply.description });
            fresh = true; // the peak never comes down: only a new child can measure the next case
          } else if (reply.leakedFds > 0) {
            const message = `${reply.leakedFds} file descriptors left open after ${reply.outcome === 'typed' ? reply.code : 'data'}`;
            summary.failures.push({ fuzzCase, kind: 'fd-leak', message, description: reply.description });
          } else if (reply.outcome === 'typed') {
            summary.typed++;
            const code = reply.code ?? '?';
            summary.typedByCode[code] = (summary.typedByCode[code] ?? 0) + 1;
          } else summary.data++;
        }
        options.onProgress?.(summary.cases);
        if (fresh) {
          await stopRunner(runner, 'kill');
          runner = startRunner();
          await runner.ready;
        }
      }
    } finally {
      await stopRunner(runner, 'disconnect');
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, lane));
  summary.failures.sort((a, b) => a.fuzzCase.index - b.fuzzCase.index);
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** What a case's mutation does, re-derived here for a child that died before it could say. */
function describeMutation(c: FuzzCase, sourceRoot: string): string {
  const bytes = fs.readFileSync(path.join(sourceRoot, c.file));
  return mutate(bytes, c.role, c.mutation, mutationRng(c)).description;
}

/** A failure's message with numbers and paths blurred, so one bug's cases group together. */
function failureGroup(failure: FuzzFailure): string {
  const message = failure.message.replace(/\/[^\s:)]+/g, '<path>').replace(/\d+/g, 'N');
  return `${failure.kind}: ${message}`;
}

/** The summary line, then the failures grouped by message with the cases that show each and how to rerun one. */
export function formatSummary(summary: FuzzSummary, seed: number): string {
  const codes = Object.entries(summary.typedByCode)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const lines = [
    `fuzz: ${summary.cases} cases, ${summary.data} data, ${summary.typed} typed errors (${codes || 'none'}), ` +
      `${summary.failures.length} failures in ${Math.round(summary.seconds)} s (seed ${seed})`,
  ];
  const groups = new Map<string, FuzzFailure[]>();
  for (const failure of summary.failures) {
    const key = failureGroup(failure);
    groups.set(key, [...(groups.get(key) ?? []), failure]);
  }
  for (const [key, failures] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
    lines.push('', `${failures.length} × ${key}`);
    for (const f of failures.slice(0, 5)) {
      const c = f.fuzzCase;
      lines.push(
        `  case ${c.index}: ${c.source} ${c.file} ${c.mutation}${c.loader ? ' +loader' : ''}` +
          `${f.description ? ` (${f.description})` : ''} — rerun: npm run fuzz -- --seed ${c.seed} --case ${c.index}`,
      );
    }
  }
  return lines.join('\n');
}

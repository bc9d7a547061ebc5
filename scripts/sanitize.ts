/**
 * `npm run sanitize`: the C addon under AddressSanitizer and UndefinedBehaviorSanitizer (or valgrind).
 *
 *   npm run sanitize                          every storm, 20 rounds each (seed 1)
 *   npm run sanitize -- --rounds 200 --seed 7 longer, another seed
 *   npm run sanitize -- --storm detach        one storm (repeatable)
 *   npm run sanitize -- --valgrind            the storms under valgrind's memcheck instead (1 round each: Node
 *                                             under memcheck is far slower; AddressSanitizer is the main mode)
 *
 * It builds native/*.c with gcc into build/sanitize/ (never build/Release: the package keeps using its
 * own build), writes a data file beside it, and runs each storm of scripts/sanitize-storm.ts in a child
 * Node process that loads that build through LANCE_LOADER_NATIVE_ADDON (worker threads inherit it).
 * Node itself is not instrumented, so libasan is preloaded into it (LD_PRELOAD) and leak checking is off
 * (Node's own allocations at exit would drown the addon's). UBSan stops at its first report.
 *
 * Exits 1 when a storm fails or any sanitizer reports anything, with the report; else prints one line:
 * storms, rounds, reads and time. Not part of `npm test` (minutes, and a compiler): run it after a change
 * to native/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../test/fixtures/random.js';
import type { Counts } from './sanitize-storm.js';

const STORMS = ['concurrent', 'workers', 'close', 'detach', 'teardown', 'arguments', 'jpeg'] as const;
/** Patterns of a sanitizer or valgrind report in a child's stderr. */
const REPORT =
  /ERROR: AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer|ERROR SUMMARY: [1-9]|Invalid (read|write)/;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    seed: { type: 'string', default: '1' },
    storm: { type: 'string', multiple: true, default: [] },
    valgrind: { type: 'boolean', default: false },
  },
});

function usage(message: string): never {
  console.error(`sanitize: ${message}`);
  process.exit(2);
}

const rounds = Number(values.rounds ?? (values.valgrind ? 1 : 20));
const seed = Number(values.seed);
if (!Number.isSafeInteger(rounds) || rounds < 1) usage(`--rounds must be a whole number ≥ 1, got ${values.rounds}`);
if (!Number.isSafeInteger(seed) || seed < 0) usage(`--seed must be a whole number ≥ 0, got ${values.seed}`);
const unknown = values.storm.filter((s) => !(STORMS as readonly string[]).includes(s));
if (unknown.length > 0) usage(`--storm takes ${STORMS.join(', ')}; got ${unknown.join(', ')}`);
const storms = values.storm.length > 0 ? values.storm : [...STORMS];

const root = join(import.meta.dirname, '..');
const out = join(root, 'build', 'sanitize');
mkdirSync(out, { recursive: true });

/** Node's headers: beside the node binary for a system or nvm install, else where node-gyp put them. */
function nodeHeaders(): string {
  const candidates = [join(process.execPath, '..', '..', 'include', 'node')];
  try {
    const gypi = readFileSync(join(root, 'build', 'config.gypi'), 'utf8');
    const nodedir = /"nodedir": "([^"]+)"/.exec(gypi)?.[1];
    if (nodedir) candidates.push(join(nodedir, 'include', 'node'));
  } catch {
    // no node-gyp build yet: the install's headers only
  }
  const found = candidates.find((dir) => {
    try {
      return readFileSync(join(dir, 'node_api.h')).byteLength > 0;
    } catch {
      return false;
    }
  });
  return found ?? usage(`Node's headers (node_api.h) not found in ${candidates.join(' or ')}`);
}

interface GypTarget {
  sources: string[];
  defines?: string[];
  libraries?: string[];
}

/**
 * The addon's sources, defines and libraries as binding.gyp lists them, with its libjpeg-turbo block
 * (native/jpeg.c) where scripts/has-libjpeg.js finds the library, as node-gyp decides.
 */
function gypTarget(): Required<GypTarget> {
  const target = (
    JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as {
      targets: Array<GypTarget & { conditions?: [string, GypTarget][] }>;
    }
  ).targets[0];
  if (!target) return usage('binding.gyp has no target');
  const hasLibjpeg = execFileSync(process.execPath, [join(root, 'scripts', 'has-libjpeg.js')], { encoding: 'utf8' });
  const blocks = (target.conditions ?? [])
    .filter(([condition]) => condition === "has_libjpeg=='true'" && hasLibjpeg.trim() === 'true')
    .map(([, block]) => block);
  return [target, ...blocks].reduce<Required<GypTarget>>(
    (all, block) => ({
      sources: [...all.sources, ...block.sources],
      defines: [...all.defines, ...(block.defines ?? [])],
      libraries: [...all.libraries, ...(block.libraries ?? [])],
    }),
    { sources: [], defines: [], libraries: [] },
  );
}

const { sources, defines, libraries } = gypTarget();

/** The addon compiled for the sanitizers (or for valgrind: -O0 -g). */
function buildAddon(): string {
  const addon = join(out, values.valgrind ? 'valgrind.node' : 'asan.node');
  const sanitizers = values.valgrind
    ? ['-O0']
    : ['-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
  execFileSync(
    'gcc',
    [
      '-shared',
      '-fPIC',
      '-std=gnu11',
      '-g',
      '-Wall',
      '-Wextra',
      ...sanitizers,
      '-I',
      nodeHeaders(),
      ...defines.map((name) => `-D${name}`),
      ...sources,
      ...libraries,
      '-o',
      addon,
    ],
    { stdio: 'inherit', cwd: root },
  );
  return addon;
}

/** The command and environment a storm's Node runs under. */
function instrumented(addon: string): { command: string; prefix: string[]; env: NodeJS.ProcessEnv } {
  const env = { ...process.env, LANCE_LOADER_NATIVE_ADDON: addon };
  if (values.valgrind) {
    return {
      command: 'valgrind',
      // V8 writes code it then runs (--smc-check); its own heap tricks are not the addon's (errors
      // outside the addon are counted, but only reports naming native/ fail the run: see below).
      prefix: ['--tool=memcheck', '--smc-check=all', '--error-exitcode=0', '--trace-children=no', process.execPath],
      env,
    };
  }
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  return {
    command: process.execPath,
    prefix: [],
    env: {
      ...env,
      LD_PRELOAD: libasan,
      ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    },
  };
}

interface StormResult {
  storm: string;
  code: number | null;
  stderr: string;
  counts?: Counts;
}

function runStorm(storm: string, addon: string, dataPath: string): Promise<StormResult> {
  const { command, prefix, env } = instrumented(addon);
  const script = join(root, 'scripts', 'sanitize-storm.ts');
  const args = [...prefix, '--expose-gc', '--import', 'tsx', script, storm, String(rounds), String(seed), dataPath];
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let counts: Counts | undefined;
      try {
        counts = JSON.parse(last) as Counts;
      } catch {
        counts = undefined;
      }
      resolve({ storm, code, stderr, counts });
    });
  });
}

/**
 * Whether the child's stderr holds a report: any from ASan or UBSan; from valgrind, an error whose stack
 * names one of the addon's sources (memcheck also flags V8's own tricks, which are not the addon's).
 */
function reported(stderr: string): boolean {
  if (!values.valgrind) return REPORT.test(stderr);
  const ours = new RegExp(`\\((${sources.map((source) => basename(source, '.c')).join('|')})\\.c:\\d+\\)`);
  return stderr
    .split(/\n==\d+== \n/)
    .some(
      (block) => /Invalid (read|write)|uninitialised|Conditional jump|Invalid free/.test(block) && ours.test(block),
    );
}

const started = performance.now();
const addon = buildAddon();
const dataPath = join(out, 'data.bin');
writeFileSync(dataPath, new Rng(seed).bytes(8 * 1024 * 1024 + 777)); // ends inside a sector
const results: StormResult[] = [];
for (const storm of storms) {
  const result = await runStorm(storm, addon, dataPath);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const counts = Object.entries(result.counts ?? {})
    .filter(([unit]) => unit !== 'storm')
    .map(([unit, n]) => `${n} ${unit}`);
  console.error(`sanitize: ${storm}: ${result.counts ? counts.join(', ') : 'failed'} (${seconds} s in all)`);
  results.push(result);
}
const failed = results.filter((r) => r.code !== 0 || !r.counts || reported(r.stderr));
for (const r of failed) console.error(`\n--- ${r.storm}: exit ${r.code}\n${r.stderr.trim()}\n`);
const total = (unit: keyof Counts) => results.reduce((sum, r) => sum + (r.counts?.[unit] ?? 0), 0);
const tool = values.valgrind ? 'valgrind memcheck' : 'AddressSanitizer + UBSan';
console.log(
  `sanitize: ${results.length} storms, ${total('rounds')} rounds, ${total('reads')} reads checked, ${total('processes')} processes ended with batches pending, ${total('calls')} calls with bad arguments, ${total('decodes')} JPEG decodes (${total('corrupt')} refused as corrupt); ${failed.length} failed (${tool}, seed ${seed}) in ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exitCode = failed.length > 0 ? 1 : 0;

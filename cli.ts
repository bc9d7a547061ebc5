#!/usr/bin/env node
/**
 * The `lance-loader` command line:
 *
 *   lance-loader inspect <dataset-dir | file.lance | URL> [--version N] [--json]
 *   lance-loader doctor [dir | file] [--json]
 *   lance-loader convert <npy|jsonl|csv|images> <input...> <output.lance> [--mode M] [--on-error E] [--column C]
 *
 * Exit codes: 0 success, 1 a lance-loader error (printed as `lance-loader: <message>`), 2 bad usage
 * (the message and the usage text). The inspect report is built and formatted in dataset/inspect.ts;
 * the doctor's checks are below: each asks the module that decides the matter at run time (the addon
 * loader, the read engine, the O_DIRECT probes, the tfjs backend loader), so the report says what the
 * loader will do, not what the machine might allow.
 */
import { closeSync, constants, openSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { convertToLance, type ConvertFormat } from './convert/convert.js';
import { LanceLoaderError } from './errors.js';
import { formatInspectReport, inspect } from './dataset/inspect.js';
import {
  isOnTmpfs,
  probeDirectAlignment,
  probeDirectBlockBytes,
  PROBE_READ_BYTES,
  PROBE_SCAN_BYTES,
} from './io/align.js';
import { nativeAddon, nativeAddonReason } from './io/native-addon.js';
import { readEngine, type ReadEngine } from './io/native-read.js';

const usage = `Usage: lance-loader inspect <dataset-dir | file.lance> [--version N] [--json]
       lance-loader doctor [dir | file] [--json]
       lance-loader convert <npy|jsonl|csv|images> <input...> <output.lance> [--mode create|append|overwrite]
                            [--on-error fail|skip] [--column NAME]

inspect  prints what a Lance dataset or a single .lance data file holds: versions, schema, rows,
         fragments and deletions, and per data file and column the pages, rows, page layouts/encodings
         and bytes. Either may be an s3:// or http(s):// URL (a file: a .lance object under data/);
         S3 credentials, region and endpoint come from the AWS_* variables (AWS_ENDPOINT_URL,
         AWS_ALLOW_HTTP, AWS_REGION, ...), a private certificate authority from AWS_CA_BUNDLE.
doctor   prints how lance-loader reads on this machine: Node and platform, whether the native addon is
         loaded (and why not), the read engine, whether O_DIRECT reads work in dir (default: the current
         directory; a file is read, a directory gets a small test file that is removed again),
         transparent huge pages, and which TensorFlow.js backend loads.
convert  writes a Lance dataset (file version 2.2, readable by LanceDB) from .npy/.npz files or
         directories of them (arrays become fixed-size-list columns, one row per first axis), a JSON
         Lines or CSV file (schema inferred; bad records reported by line), or an image folder in the
         class/*.jpg layout ({ id, label, label_name, path, image }). Shows a progress bar on a terminal.

Options:
  --version N   inspect: open version N of the dataset (default: the latest)
  --json        print a JSON document instead of text
  --mode M      convert: create (default; fails if the dataset exists), append or overwrite
  --on-error E  convert jsonl/csv: fail (default) at the first bad record, or skip bad records (listed)
  --column NAME convert npy: the column name of plain .npy arrays (default: the first file's name)
  -h, --help    print this help
`;

/** Where the CLI writes; the script passes process.stdout/stderr, tests may pass collectors. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

class UsageError extends Error {}

/** Runs the CLI on `argv` (without node and script) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(argv);
    if (values.help) {
      io.stdout(usage);
      return 0;
    }
    const [command, path, ...extra] = positionals;
    if (command === undefined) throw new UsageError('missing command');
    if (command === 'convert') return await convert(positionals.slice(1), values, io);
    const convertOption = (['mode', 'on-error', 'column'] as const).find((o) => values[o] !== undefined);
    if (convertOption) throw new UsageError(`--${convertOption} is an option of convert, not of ${command}`);
    if (command !== 'inspect' && command !== 'doctor') throw new UsageError(`unknown command "${command}"`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (command === 'doctor') {
      if (values.version !== undefined) throw new UsageError('--version is an option of inspect, not of doctor');
      const report = await doctor(path ?? '.');
      io.stdout(values.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report));
      return 0;
    }
    if (path === undefined) throw new UsageError('inspect needs a dataset directory or .lance file path');
    let version: number | undefined;
    if (values.version !== undefined) {
      version = /^[1-9][0-9]*$/.test(values.version) ? Number(values.version) : NaN;
      if (!Number.isSafeInteger(version))
        throw new UsageError(`--version must be a positive integer, got "${values.version}"`);
    }
    const report = await inspect(path, version === undefined ? {} : { version });
    io.stdout(
      values.json
        ? JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value), 2) +
            '\n'
        : formatInspectReport(report),
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`lance-loader: ${error.message}\n\n${usage}`);
      return 2;
    }
    if (error instanceof LanceLoaderError) {
      io.stderr(`lance-loader: ${error.message}\n`);
      return 1;
    }
    io.stderr(
      `lance-loader: unexpected error (this is a bug in lance-loader, please report it)\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

type ParsedOptions = ReturnType<typeof parseCommandLine>['values'];

/** `lance-loader convert <format> <input...> <output>`: prints what was written and each skipped record. */
async function convert(args: string[], values: ParsedOptions, io: CliIo): Promise<number> {
  const [format, ...paths] = args;
  const output = paths.pop();
  if (format === undefined || output === undefined || paths.length === 0)
    throw new UsageError('convert needs a format, at least one input and an output dataset path');
  if (!['npy', 'jsonl', 'csv', 'images'].includes(format))
    throw new UsageError(`convert: unknown format "${format}" (npy, jsonl, csv or images)`);
  if (values.mode !== undefined && !['create', 'append', 'overwrite'].includes(values.mode))
    throw new UsageError(`--mode must be create, append or overwrite, got "${values.mode}"`);
  const onError = values['on-error'];
  if (onError !== undefined && onError !== 'fail' && onError !== 'skip')
    throw new UsageError(`--on-error must be fail or skip, got "${onError}"`);
  const result = await convertToLance(format as ConvertFormat, paths, output, {
    mode: values.mode as 'create' | 'append' | 'overwrite' | undefined,
    onError,
    column: values.column,
  });
  for (const { line, reason } of result.skipped) io.stderr(`lance-loader: skipped line ${line}: ${reason}\n`);
  io.stdout(
    `${output}: version ${result.version}, ${result.rows} rows in ${result.files} data file(s)` +
      (result.skipped.length > 0 ? `, ${result.skipped.length} record(s) skipped` : '') +
      '\n',
  );
  return 0;
}

/** What `lance-loader doctor` found (its --json document). */
interface DoctorReport {
  node: string;
  platform: string;
  arch: string;
  /** The kernel release (os.release()). */
  kernel: string;
  cores: number;
  memoryBytes: number;
  /** Whether the native addon loaded on this thread, and why (or why not: not built, turned off, load error). */
  nativeAddon: { loaded: boolean; reason: string };
  /** How a batch of reads is issued on this thread; every loader worker loads the addon the same way. */
  readEngine: ReadEngine;
  /** Reads libuv runs at once without the addon (UV_THREADPOOL_SIZE, default 4). */
  threadpoolSize: number;
  /** Whether O_DIRECT reads work on `path`'s file system, and the file-offset granularity they need. */
  directIo:
    | { path: string; works: true; blockBytes: 512 | 4096; tmpfs: boolean }
    | { path: string; works: false; reason: string; tmpfs: boolean };
  /**
   * The transparent huge pages mode (null: not Linux or not readable), whether the addon gives read memory
   * advised for huge pages, and so whether reads land in huge pages.
   */
  hugePages: { transparentHugePages: string | null; addonMemory: boolean; used: boolean };
  /** The TensorFlow.js backend `loadTf()` activates (null: tfjs is not installed) and those it skipped. */
  tfjs: { backend: string | null; skipped: { backend: string; reason: string }[] };
}

/** Runs the doctor's checks; `path` is where O_DIRECT is tried. */
async function doctor(path: string): Promise<DoctorReport> {
  const addon = nativeAddon();
  const { engine } = readEngine();
  const thp = transparentHugePagesMode();
  const addonMemory = addon?.hugePageBuffer(1) !== undefined;
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    nativeAddon: { loaded: addon !== null, reason: nativeAddonReason() },
    readEngine: engine,
    threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    directIo: checkDirectIo(resolve(path)),
    hugePages: {
      transparentHugePages: thp,
      addonMemory,
      used: addonMemory && (thp === 'always' || thp === 'madvise'),
    },
    tfjs: await checkTfjs(),
  };
}

function transparentHugePagesMode(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * Tries O_DIRECT reads as the loader's workers do (io/align.ts): on `path` itself when it is a file, else
 * on a small file written into the directory and removed again.
 */
function checkDirectIo(path: string): DoctorReport['directIo'] {
  const tmpfs = isOnTmpfs(path);
  const fail = (reason: string) => ({ path, works: false as const, reason, tmpfs });
  if (constants.O_DIRECT === undefined) return fail(`${process.platform} has no O_DIRECT`);
  let file = path;
  let created = false;
  try {
    if (statSync(path).isDirectory()) {
      file = join(path, `.lance-loader-doctor-${process.pid}`);
      // Two full probe reads' worth, so the block-size probe at offset 512 does not end at EOF.
      writeFileSync(file, new Uint8Array(2 * PROBE_READ_BYTES), { flag: 'wx' });
      created = true;
    }
    const fd = openSync(file, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const memory = new ArrayBuffer(PROBE_SCAN_BYTES + PROBE_READ_BYTES);
      if (probeDirectAlignment(fd, memory) === null)
        return fail(statSync(file).size === 0 ? `${file} is empty` : 'every aligned read failed with EINVAL');
      return { path, works: true, blockBytes: probeDirectBlockBytes(fd, memory), tmpfs };
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    return fail((error as Error).message);
  } finally {
    if (created) rmSync(file, { force: true });
  }
}

/** Loads tfjs the way `loadTf()` does; imported here only, so other commands never load it. */
async function checkTfjs(): Promise<DoctorReport['tfjs']> {
  const { loadTfBackend } = await import('./loader/tfjs/adapter.js');
  try {
    const { backend, skipped } = await loadTfBackend();
    return { backend, skipped };
  } catch (error) {
    return { backend: null, skipped: [{ backend: 'tfjs', reason: (error as Error).message }] };
  }
}

/** The doctor's report as aligned text lines. */
function formatDoctorReport(report: DoctorReport): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const { directIo: direct, hugePages: huge, tfjs } = report;
  const engine: Record<ReadEngine, string> = {
    io_uring: 'io_uring: each worker keeps up to io.queueDepth reads in flight',
    pread: 'pread: a read at a time per worker (io_uring is unavailable)',
    'fs.readSync': `fs.readSync and libuv's threadpool (UV_THREADPOOL_SIZE ${report.threadpoolSize} reads in flight)`,
  };
  const lines: [string, string][] = [
    ['node', `${report.node} on ${report.platform} ${report.arch}, kernel ${report.kernel}`],
    ['machine', `${report.cores} cores, ${gib(report.memoryBytes)} memory`],
    ['native addon', `${report.nativeAddon.loaded ? 'loaded' : 'not loaded'}: ${report.nativeAddon.reason}`],
    ['read engine', engine[report.readEngine]],
    [
      'O_DIRECT',
      (direct.works
        ? `works in ${direct.path} (${direct.blockBytes}-byte blocks)`
        : `does not work in ${direct.path}: ${direct.reason}`) +
        (direct.tmpfs ? "; tmpfs, which io.direct 'auto' reads buffered" : ''),
    ],
    [
      'huge pages',
      `transparent huge pages ${huge.transparentHugePages ?? 'unknown'}; read memory ` +
        (huge.used
          ? 'advised for huge pages (native addon)'
          : huge.addonMemory
            ? 'advised for huge pages, which the kernel does not give'
            : 'in plain pages (needs the native addon)'),
    ],
    [
      'tfjs',
      (tfjs.backend === null ? 'not available' : `${tfjs.backend} backend`) +
        tfjs.skipped.map((s) => `\n${s.backend} skipped: ${s.reason}`).join(''),
    ],
  ];
  const width = Math.max(...lines.map(([label]) => label.length)) + 2;
  return lines
    .map(([label, text]) => `${label.padEnd(width)}${text.replaceAll('\n', `\n${' '.repeat(width)}`)}\n`)
    .join('');
}

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        version: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        mode: { type: 'string' },
        'on-error': { type: 'string' },
        column: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // node:util throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown options and missing values.
    throw new UsageError((error as Error).message);
  }
}

/** True when this module is the program node started (also through npm's bin symlink). */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMainModule()) {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}

#!/usr/bin/env node
/**
 * The `lance-loader` command line. One command for now:
 *
 *   lance-loader inspect <dataset-dir | file.lance> [--version N] [--json]
 *
 * Exit codes: 0 success, 1 a lance-loader error (printed as `lance-loader: <message>`), 2 bad usage
 * (the message and the usage text). The report itself is built and formatted in dataset/inspect.ts.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LanceLoaderError } from './errors.js';
import { formatInspectReport, inspect } from './dataset/inspect.js';

const usage = `Usage: lance-loader inspect <dataset-dir | file.lance> [--version N] [--json]

Prints what a Lance dataset or a single .lance data file holds: versions, schema, rows, fragments and
deletions, and per data file and column the pages, rows, page layouts/encodings and bytes. The path may
also be a file:// URL; remote URLs (s3://, gs://, az://, https://) are not readable yet.

Options:
  --version N   open version N of the dataset (default: the latest)
  --json        print a JSON document instead of text
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
    if (command !== 'inspect') throw new UsageError(`unknown command "${command}"`);
    if (path === undefined) throw new UsageError('inspect needs a dataset directory or .lance file path');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
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

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: { version: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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

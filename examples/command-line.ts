/**
 * The command line of a runnable example: options parsed with node:util `parseArgs` and a usage text made
 * from the same table, so the two cannot drift apart. What a user sees instead of a stack trace:
 *
 *   --help / -h                      the usage on stdout, exit 0
 *   unknown option, bad value        `<example>: <what is wrong>` and the usage on stderr, exit 2
 *   a LanceLoaderError while running `<example>: <its message>` on stderr, exit 1
 *
 * Any other error ends the run with its stack (exit 1).
 */
import { parseArgs } from 'node:util';
import { LanceLoaderError } from '../index.js';

export interface ExampleOption {
  /** What the value is called in the usage (`N`, `DIR`). */
  value: string;
  /** The value used when the option is not given, shown in the usage. */
  default?: string;
  description: string;
}

export interface ExampleSpec {
  /** The example's name in error messages (`quickstart`). */
  name: string;
  /** How it is started (`npm run quickstart --`). */
  command: string;
  /** Positional arguments, as in the synopsis (`[dataset-dir]`), and how many are allowed; none when absent. */
  positionals?: { synopsis: string; max: number };
  /** What the example does: a few lines of prose. */
  about: string;
  options: Record<string, ExampleOption>;
}

export interface ExampleArgs {
  positionals: string[];
  /** Whether the option was on the command line. */
  given(name: string): boolean;
  /** The option's value, or its default. */
  string(name: string): string | undefined;
  /** The option's value as an integer in [min, max]; anything else ends the run with exit code 2. */
  integer(name: string, min: number, max?: number): number;
  /** Prints `message` and the usage on stderr and exits with code 2. */
  fail(message: string): never;
}

/** The usage text of `spec`. */
function formatUsage(spec: ExampleSpec): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, option]) => [
    `--${name} ${option.value}`,
    option.description + (option.default !== undefined ? ` (default ${option.default})` : ''),
  ]);
  rows.push(['-h, --help', 'print this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `Usage: ${spec.command} [options]${spec.positionals ? ` ${spec.positionals.synopsis}` : ''}`,
    '',
    spec.about,
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    '',
  ].join('\n');
}

/**
 * Parses `argv` (default: this process's arguments) against `spec`, handling `--help` and bad usage, and
 * from then on ends the run with a one-line message for any LanceLoaderError the example lets escape.
 */
export function parseExampleArgs(spec: ExampleSpec, argv: string[] = process.argv.slice(2)): ExampleArgs {
  const usage = formatUsage(spec);
  const fail = (message: string): never => {
    process.stderr.write(`${spec.name}: ${message}\n\n${usage}`);
    process.exit(2);
  };
  const options = Object.fromEntries(Object.keys(spec.options).map((name) => [name, { type: 'string' as const }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // node:util throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown options and missing values.
    return fail((error as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const max = spec.positionals?.max ?? 0;
  if (parsed.positionals.length > max) fail(`unexpected argument "${parsed.positionals[max]}"`);
  process.on('uncaughtException', (error) => {
    process.stderr.write(
      error instanceof LanceLoaderError
        ? `${spec.name}: ${error.message}\n`
        : `${spec.name}: unexpected error\n${error.stack ?? String(error)}\n`,
    );
    process.exit(1);
  });

  const string = (name: string): string | undefined => {
    const value = parsed.values[name];
    return typeof value === 'string' ? value : spec.options[name]?.default;
  };
  return {
    positionals: parsed.positionals,
    given: (name) => parsed.values[name] !== undefined,
    string,
    integer(name, min, max = Number.MAX_SAFE_INTEGER) {
      const text = string(name);
      const n = text !== undefined && /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
      if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
      return fail(`--${name} must be ${range}, got "${text}"`);
    },
    fail,
  };
}

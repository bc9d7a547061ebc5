/**
 * The runnable examples' command lines, run as a user runs them (`node --import tsx examples/<name>.ts`):
 * `--help` prints the usage and exits 0, a bad option or value prints one line and the usage and exits 2,
 * never a stack trace. None of these runs gets as far as writing or reading data.
 */
import { describe, expect, it } from 'vitest';
import { runScript } from '../fixtures/run-script.js';

const EXAMPLES = [
  {
    script: 'examples/quickstart.ts',
    name: 'quickstart',
    usage: 'Usage: npm run quickstart -- [options] [dataset-dir]',
    options: ['--rows N', '--batch-size N'],
    badValue: [['--batch-size', '0'], '--batch-size must be an integer ≥ 1, got "0"'],
  },
  {
    script: 'examples/train.ts',
    name: 'demo',
    usage: 'Usage: npm run demo -- [options]',
    options: ['--epochs N', '--rows N', '--data DIR'],
    badValue: [['--epochs', '2.5'], '--epochs must be an integer ≥ 1, got "2.5"'],
  },
  {
    script: 'examples/images.ts',
    name: 'example:images',
    usage: 'Usage: npm run example:images -- [options]',
    options: ['--epochs N', '--rows N', '--size PX', '--workers N', '--data DIR'],
    badValue: [['--size', '8'], '--size must be an integer from 16 to 512, got "8"'],
  },
  {
    script: 'examples/random-access.ts',
    name: 'random-access',
    usage: 'Usage: npm run example:random-access -- [options]',
    options: ['--repeat K', '--seed S'],
    badValue: [['--seed', '4294967296'], '--seed must be an integer from 0 to 4294967295, got "4294967296"'],
  },
] as const;

describe.each(EXAMPLES)('$script', ({ script, name, usage, options, badValue }) => {
  it('prints its usage, options and defaults on stdout and exits 0 with --help or -h', async () => {
    const [long, short] = await Promise.all([runScript(script, ['--help']), runScript(script, ['-h'])]);
    expect(long.code).toBe(0);
    expect(long.stderr).toBe('');
    expect(long.stdout.startsWith(`${usage}\n\n`)).toBe(true);
    for (const option of options) expect(long.stdout).toMatch(new RegExp(`^  ${option} .*\\w`, 'm'));
    expect(long.stdout).toMatch(/\(default \d+\)$/m);
    expect(long.stdout).toMatch(/^ {2}-h, --help +print this help$/m);
    expect(short).toEqual(long);
  });

  it('names an unknown option in one line, prints the usage and exits 2', async () => {
    const { code, stdout, stderr } = await runScript(script, ['--bogus']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      new RegExp(`^${name}: Unknown option '--bogus'.*\\n\\n${usage.replace(/[[\]]/g, '\\$&')}\\n`),
    );
    expect(stderr).not.toMatch(/^ +at /m);
  });

  it('names a bad value in one line, prints the usage and exits 2', async () => {
    const [args, message] = badValue;
    const { code, stdout, stderr } = await runScript(script, [...args]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.startsWith(`${name}: ${message}\n\n${usage}\n`)).toBe(true);
  });
});

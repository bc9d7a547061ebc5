/**
 * The package's install script: builds the optional native addon (native/*.c) with node-gyp. When the
 * build fails (no C compiler, make, python3 or Node headers), lance-loader still works through
 * fs.readSync, only slower, so the install must succeed: this prints a boxed warning and exits 0.
 *
 * npm 7 and newer run install scripts in the background and show their output only when they fail, so a
 * warning on stderr alone is seen only with `npm install --foreground-scripts` (or by yarn and pnpm users).
 * When npm hides it like that, the warning also goes straight to the terminal (/dev/tty) if the install
 * has one; in CI there is none, and the warning stays in the script's output.
 */
/* global console, process -- Node's globals: the lint config declares none for plain .js files */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** npm names its bundled node-gyp in npm_config_node_gyp; elsewhere node-gyp is looked up on PATH. */
function runNodeGyp() {
  const bundled = process.env.npm_config_node_gyp;
  const [command, args] = bundled ? [process.execPath, [bundled, 'rebuild']] : ['node-gyp', ['rebuild']];
  return spawnSync(command, args, { stdio: 'inherit', shell: !bundled && process.platform === 'win32' });
}

function box(lines) {
  const width = Math.max(...lines.map((line) => line.length));
  const rule = '─'.repeat(width + 2);
  return [`┌${rule}┐`, ...lines.map((line) => `│ ${line.padEnd(width)} │`), `└${rule}┘`].join('\n') + '\n';
}

/** npm 7+ shows a background install script's output only when it fails; --foreground-scripts shows it always. */
function npmHidesOutput() {
  return process.env.npm_lifecycle_event !== undefined && process.env.npm_config_foreground_scripts !== 'true';
}

function warnOnTerminal(text) {
  if (process.stderr.isTTY || !npmHidesOutput()) return;
  try {
    fs.writeFileSync('/dev/tty', `\n${text}`); // npm's spinner leaves the cursor mid-line
  } catch {
    // No terminal (CI, Windows): the warning is in the install script's output only.
  }
}

const result = runNodeGyp();
if (result.status !== 0) {
  const why = result.error
    ? `could not run node-gyp: ${result.error.message}`
    : `node-gyp exited with ${result.status ?? result.signal}`;
  const warning = box([
    'lance-loader: the native read addon did not build',
    `(${why}).`,
    'lance-loader works without it: reads fall back to fs.readSync, slower.',
    'To build it, install a C compiler, make and python3, then run',
    '`npm rebuild lance-loader --foreground-scripts`.',
    'README.md, "Native reads", says what the addon does.',
  ]);
  console.warn(warning);
  warnOnTerminal(warning);
}

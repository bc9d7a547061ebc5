/**
 * The install script (scripts/install-native.js) when the addon does not build: npm installs a small
 * package made of the real script, binding.gyp and native/ as a dependency, with a C compiler that
 * always fails (CC=/bin/false), the way npm runs it for a user. The successful build is covered by
 * tarball.test.ts, whose install builds the addon that the package then loads.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const WARNING = 'lance-loader: the native read addon did not build';

/** util-linux `script` gives a command a pseudo-terminal, as a user's shell has. */
function hasScriptCommand(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let work = '';
let tarball = '';

/** A fresh project that installs the package with the failing compiler; npm's exit code and output. */
async function installFailing(command: string, args: string[]) {
  const app = fs.mkdtempSync(path.join(work, 'app-'));
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, CC: '/bin/false' },
    });
    return {
      code: 0,
      output: stdout + stderr,
      built: fs.existsSync(
        path.join(app, 'node_modules', 'native-check', 'build', 'Release', 'lance_loader_native.node'),
      ),
    };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, output: stdout + stderr, built: false };
  }
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lance-loader-install-'));
  const pkg = path.join(work, 'native-check');
  fs.mkdirSync(path.join(pkg, 'scripts'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'native'), path.join(pkg, 'native'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'binding.gyp'), path.join(pkg, 'binding.gyp'));
  for (const script of ['install-native.js', 'has-libjpeg.js'])
    fs.copyFileSync(path.join(repoRoot, 'scripts', script), path.join(pkg, 'scripts', script));
  const { scripts } = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: { install: string };
  };
  const manifest = { name: 'native-check', version: '1.0.0', type: 'module', scripts: { install: scripts.install } };
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify(manifest));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: pkg, encoding: 'utf8' });
  tarball = path.join(work, (JSON.parse(stdout) as { filename: string }[])[0]?.filename ?? '');
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the install script when the addon does not build', () => {
  it('prints a boxed warning and lets the install succeed (npm install --foreground-scripts)', async () => {
    const result = await installFailing('npm', [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--foreground-scripts',
      tarball,
    ]);
    expect(result.code).toBe(0);
    expect(result.built).toBe(false);
    expect(result.output).toContain(`│ ${WARNING}`);
    expect(result.output).toContain('npm rebuild lance-loader --foreground-scripts');
  });

  it.skipIf(!hasScriptCommand())(
    'shows the warning on the terminal when npm hides script output (plain npm install)',
    async () => {
      const npm = `npm install --offline --no-audit --no-fund ${tarball}`;
      const result = await installFailing('script', ['-qec', npm, '/dev/null']);
      expect(result.code).toBe(0);
      expect(result.output).toContain(`│ ${WARNING}`);
    },
  );
});

/**
 * The published package as a new user gets it: `npm pack` of the built package (npm run build first;
 * `npm test` does), installed into a fresh project, then used from ES modules, from CommonJS and from
 * TypeScript. The install runs the package's install script for real (node-gyp builds the addon).
 *
 * It needs no network: the fresh project gets a lockfile listing lance-loader's dependencies at the
 * versions and integrity hashes of this repository's package-lock.json, so npm takes their tarballs from
 * its cache, where installing this repository put them, and never asks the registry for metadata.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ensureDataset, oracleScan, specByName } from '../fixtures/index.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * The entries of the repository's lockfile that lance-loader's dependencies pull in, at the same
 * locations (`node_modules/a/node_modules/b` where the repository nests b), found the way Node resolves:
 * nearest node_modules first. `optionalRoots` (optional dependencies) and what they pull in are marked optional.
 */
function dependencyClosure(
  packages: Record<string, LockEntry>,
  roots: string[],
  optionalRoots: string[] = [],
): Record<string, LockEntry> {
  const found: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optional: boolean): void => {
    let dir = from;
    for (;;) {
      const location = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      const entry = packages[location];
      if (entry) {
        if (found[location]) return;
        const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = entry;
        found[location] = optional ? { ...rest, optional: true } : rest;
        for (const dep of Object.keys(entry.dependencies ?? {})) visit(location, dep, optional);
        for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(location, dep, true);
        return;
      }
      if (!dir) {
        if (!optional) throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}`);
        return;
      }
      const up = dir.lastIndexOf('/node_modules/');
      dir = up < 0 ? '' : dir.slice(0, up);
    }
  };
  for (const name of roots) visit('', name, false);
  for (const name of optionalRoots) visit('', name, true);
  return found;
}

let work = '';
let app = '';
let datasetDir = '';
let skipReason = '';

/** Runs `node` in the fresh project; returns stdout parsed as JSON. */
async function node(args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, args, { cwd: app, encoding: 'utf8' });
  return JSON.parse(stdout) as unknown;
}

/**
 * Ways a TypeScript user compiles: `module: commonjs` (its default resolution, node10, reads `types`,
 * `main` and `typesVersions`), and node16, where a .cts file resolves the `require` condition of
 * `exports` and a .mts file the `import` condition.
 */
const TS_PROJECTS = [
  { name: 'commonjs', module: 'commonjs', moduleResolution: 'node10', extensions: ['.ts'] },
  { name: 'node16', module: 'node16', moduleResolution: 'node16', extensions: ['.cts', '.mts'] },
] as const;

/** Compiles `source` in one new project per {@link TS_PROJECTS} entry inside the fresh project; tsc's exit code and output for each. */
async function compileEach(prefix: string, source: string, skipLibCheck: boolean) {
  const results: { name: string; code: number; output: string }[] = [];
  for (const { name, module, moduleResolution, extensions } of TS_PROJECTS) {
    const dir = path.join(app, `${prefix}-${name}`);
    const files = extensions.map((extension) => `main${extension}`);
    const compilerOptions = { module, moduleResolution, target: 'es2022', strict: true, skipLibCheck, noEmit: true };
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
    for (const file of files) fs.writeFileSync(path.join(dir, file), source);
    try {
      await run(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
      results.push({ name, code: 0, output: '' });
    } catch (error) {
      const { code, stdout } = error as { code: number; stdout: string };
      results.push({ name, code, output: stdout });
    }
  }
  return results;
}

const compiledCleanly = TS_PROJECTS.map(({ name }) => ({ name, code: 0, output: '' }));

/** tfjs as a user would have it beside lance-loader, for one test: the repository's copies, linked in. */
function linkTfjs(): void {
  const scope = path.join(app, 'node_modules', '@tensorflow');
  fs.mkdirSync(scope);
  onTestFinished(() => fs.rmSync(scope, { recursive: true }));
  for (const name of ['tfjs', 'tfjs-backend-wasm']) {
    fs.symlinkSync(path.join(repoRoot, 'node_modules', '@tensorflow', name), path.join(scope, name));
  }
}

beforeAll(async () => {
  for (const built of ['dist/index.js', 'dist/tfjs.d.ts', 'dist/cjs/index.js', 'dist/cjs/package.json']) {
    if (!fs.existsSync(path.join(repoRoot, built))) throw new Error(`${built} is missing: run npm run build first`);
  }
  datasetDir = await ensureDataset(specByName('ints'), '2.1');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lance-loader-pack-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  const [packed] = JSON.parse(stdout) as { filename: string; integrity: string }[];
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  const tarball = path.join(work, packed.filename);

  const repo = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as LockEntry;
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  const manifest = {
    name: 'fresh-app',
    version: '1.0.0',
    private: true,
    dependencies: { 'lance-loader': `file:${tarball}` },
  };
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  const { name: _name, devDependencies: _dev, ...published } = lock.packages[''] as LockEntry;
  const appLock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies },
      'node_modules/lance-loader': {
        ...published,
        version: repo.version,
        resolved: `file:${tarball}`,
        integrity: packed.integrity,
      },
      ...dependencyClosure(
        lock.packages,
        Object.keys(repo.dependencies ?? {}),
        Object.keys(repo.optionalDependencies ?? {}),
      ),
    },
  };
  fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify(appLock, null, 2));
  try {
    await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8' });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    if (!stderr?.includes('ENOTCACHED')) throw error;
    const missing = /request to (\S+) failed/.exec(stderr)?.[1] ?? 'a dependency';
    skipReason = `the npm cache lacks ${missing} (install the repository's dependencies first); not installed`;
  }
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A test of the installed package: skipped, with the reason, when the npm cache could not provide it. */
function itInstalled(name: string, body: () => Promise<void>): void {
  it(name, async ({ skip }) => {
    if (skipReason) skip(skipReason);
    await body();
  });
}

describe('the packed package in a fresh project', () => {
  itInstalled('reads a dataset through an ES module import', async () => {
    const script = `
      import { openDataset } from 'lance-loader';
      const dataset = await openDataset(${JSON.stringify(datasetDir)});
      const table = await dataset.take([0, 4321, 5999], { columns: ['idx'] });
      console.log(JSON.stringify({ numRows: dataset.numRows, idx: [...table.getChild('idx')].map(String) }));
      await dataset.close();`;
    const oracle = await oracleScan(datasetDir, ['idx']);
    const idx = oracle.getChild('idx');
    expect(await node(['--input-type=module', '-e', script])).toEqual({
      numRows: oracle.numRows,
      idx: [0, 4321, 5999].map((i) => String(idx?.get(i))),
    });
  });

  itInstalled('reads a dataset and loads a batch in a worker thread through require()', async () => {
    const script = `
      const { openDataset, createLoader } = require('lance-loader');
      (async () => {
        const dataset = await openDataset(${JSON.stringify(datasetDir)});
        const table = await dataset.take([0, 4321, 5999], { columns: ['idx'] });
        const taken = [...table.getChild('idx')].map(String);
        await dataset.close();
        const loader = await createLoader(${JSON.stringify(datasetDir)}, { columns: ['idx'], batchSize: 8, shuffle: false, workers: 1 });
        for await (const batch of loader.epoch(0)) {
          console.log(JSON.stringify({ taken, batch: [...batch.columns.idx.values].map(String) }));
          batch.release();
          break;
        }
        await loader.close();
      })();`;
    const idx = (await oracleScan(datasetDir, ['idx'])).getChild('idx');
    expect(await node(['--input-type=commonjs', '-e', script])).toEqual({
      taken: [0, 4321, 5999].map((i) => String(idx?.get(i))),
      batch: Array.from({ length: 8 }, (_, i) => String(idx?.get(i))),
    });
  });

  itInstalled('finds the native addon that its install script built, from both builds', async () => {
    const dist = path.join(app, 'node_modules', 'lance-loader', 'dist');
    const esm = `
      const { nativeAddonReason } = await import(${JSON.stringify(path.join(dist, 'io', 'native-addon.js'))});
      console.log(JSON.stringify(nativeAddonReason()));`;
    const cjs = `
      const { nativeAddonReason } = require(${JSON.stringify(path.join(dist, 'cjs', 'io', 'native-addon.js'))});
      console.log(JSON.stringify(nativeAddonReason()));`;
    expect(await node(['--input-type=module', '-e', esm])).toMatch(/^native addon \((io_uring|pread)\)$/);
    expect(await node(['--input-type=commonjs', '-e', cjs])).toMatch(/^native addon \((io_uring|pread)\)$/);
  });

  itInstalled(
    'compiles TypeScript projects using the reader and loader types without tfjs and with skipLibCheck off',
    async () => {
      expect(fs.existsSync(path.join(app, 'node_modules', '@tensorflow'))).toBe(false);
      const source = `
      import { createLoader, openDataset, type Batch, type LoaderOptions } from 'lance-loader';
      async function main(): Promise<number> {
        const dataset = await openDataset('data.lance');
        const options: LoaderOptions = { columns: ['idx'], batchSize: 8 };
        const loader = await createLoader('data.lance', options);
        for await (const batch of loader.epoch(0)) {
          const first: Batch = batch;
          first.release();
        }
        return dataset.numRows;
      }
      void main();`;
      expect(await compileEach('reader', source, false)).toEqual(compiledCleanly);
    },
  );

  itInstalled(
    'resolves the lance-loader/tfjs types when tfjs is installed, from CommonJS and ES module projects',
    async () => {
      linkTfjs();
      // tfjs's own declarations do not compile with skipLibCheck off (TS2304 'Long', TS2411 in tfjs-layers),
      // so this project skips them; the expected error proves the types resolved (unresolved, they are any).
      const source = `
      import { createLoader } from 'lance-loader';
      import { loadTf, toTfDataset, type Tf } from 'lance-loader/tfjs';
      async function main(): Promise<void> {
        const tf: Tf = await loadTf('cpu');
        const loader = await createLoader('data.lance', { columns: ['x', 'y'], batchSize: 8 });
        const ds = toTfDataset(tf, loader, { xs: { column: 'x' }, ys: { column: 'y', oneHot: 2 } });
        // @ts-expect-error tf.data.Dataset's size is a number
        const size: string = ds.size;
        void size;
      }
      void main();`;
      expect(await compileEach('tfjs', source, true)).toEqual(compiledCleanly);
    },
  );

  itInstalled(
    'loads tfjs with the wasm backend and makes tensors through lance-loader/tfjs from both builds',
    async () => {
      linkTfjs();
      const body = `
      const report = await loadTfBackend('wasm');
      const x = { dtype: 'float32', shape: [2, 2], values: new Float32Array([1, 2, 3, 4]) };
      const batch = { epoch: 0, index: 0, rowOffsets: new Uint32Array([0, 1]), numRows: 2, columns: { x }, release() {} };
      const tensor = batchToTensors(report.tf, batch, { column: 'x' });
      console.log(JSON.stringify({ backend: report.backend, shape: tensor.shape, values: [...tensor.dataSync()] }));`;
      const esm = `import { batchToTensors, loadTfBackend } from 'lance-loader/tfjs';\n${body}`;
      const cjs = `const { batchToTensors, loadTfBackend } = require('lance-loader/tfjs');\n(async () => {${body}})();`;
      const expected = { backend: 'wasm', shape: [2, 2], values: [1, 2, 3, 4] };
      expect(await node(['--input-type=module', '-e', esm])).toEqual(expected);
      expect(await node(['--input-type=commonjs', '-e', cjs])).toEqual(expected);
    },
  );
});

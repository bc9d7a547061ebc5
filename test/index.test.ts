/**
 * The package entry: what it exports, and that importing it leaves tfjs unloaded (tfjs is an optional
 * peer, loaded only by `loadTf()`). Each import runs in a fresh Node process, since this test process
 * may already have loaded tfjs; tfjs-core announces itself by setting `globalThis._tfengine`.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Imports `specifier` in a fresh process; returns its export names and whether tfjs got loaded. */
function importInChild(specifier: string): { exports: string[]; tfjsLoaded: boolean } {
  const script =
    `const m = await import(${JSON.stringify(specifier)});` +
    'console.log(JSON.stringify({ exports: Object.keys(m).sort(), tfjsLoaded: globalThis._tfengine !== undefined }));';
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return JSON.parse(out) as { exports: string[]; tfjsLoaded: boolean };
}

describe('the package entry', () => {
  it('exports the reader, the DataLoader, the tfjs adapter and the errors without loading tfjs', () => {
    const { exports, tfjsLoaded } = importInChild(fileURLToPath(new URL('../index.ts', import.meta.url)));
    expect(exports).toEqual(
      [
        'AbortError',
        'CorruptFileError',
        'DataLoader',
        'Dataset',
        'InternalError',
        'InvalidArgumentError',
        'InvalidStateError',
        'IoError',
        'LanceFile',
        'LanceLoaderError',
        'UnsupportedError',
        'WorkerError',
        'batchToTensors',
        'createLoader',
        'loadTf',
        'loadTfBackend',
        'openDataset',
        'openFile',
        'toTfDataset',
      ].sort(),
    );
    expect(tfjsLoaded).toBe(false);
  });

  it("resolves 'lance-loader' to the build, which does not load tfjs either (npm run build first)", () => {
    const { exports, tfjsLoaded } = importInChild('lance-loader');
    expect(exports).toContain('createLoader');
    expect(exports).toContain('toTfDataset');
    expect(tfjsLoaded).toBe(false);
  });
});

/**
 * The package entries, `lance-loader` and `lance-loader/tfjs`: what they export, and that importing them
 * leaves tfjs unloaded (tfjs is an optional peer, loaded only by `loadTf()`). Each import runs in a fresh
 * Node process, since this test process may already have loaded tfjs; tfjs-core announces itself by
 * setting `globalThis._tfengine`.
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

describe('the package entries', () => {
  it('exports the reader, the DataLoader, the writer and the errors from lance-loader without loading tfjs', () => {
    const { exports, tfjsLoaded } = importInChild(fileURLToPath(new URL('../index.ts', import.meta.url)));
    expect(exports).toEqual(
      [
        'AbortError',
        'CommitConflictError',
        'CorruptFileError',
        'DataLoader',
        'Dataset',
        'InternalError',
        'InvalidArgumentError',
        'InvalidStateError',
        'IoError',
        'LanceFile',
        'LanceLoaderError',
        'ResourceError',
        'TransformError',
        'UnsupportedError',
        'WorkerError',
        'centerCrop',
        'channelsFirst',
        'convertToLance',
        'createLoader',
        'decodeImage',
        'flipHorizontal',
        'normalize',
        'openDataset',
        'openFile',
        'randomCrop',
        'randomResizedCrop',
        'resize',
        'toFloat',
        'writeDataset',
      ].sort(),
    );
    expect(tfjsLoaded).toBe(false);
  });

  it('exports the tfjs adapter from lance-loader/tfjs without loading tfjs', () => {
    const { exports, tfjsLoaded } = importInChild(fileURLToPath(new URL('../tfjs.ts', import.meta.url)));
    expect(exports).toEqual(['batchToTensors', 'loadTf', 'loadTfBackend', 'toTfDataset']);
    expect(tfjsLoaded).toBe(false);
  });

  it("resolves 'lance-loader' and 'lance-loader/tfjs' to the build, which does not load tfjs either (npm run build first)", () => {
    const reader = importInChild('lance-loader');
    const adapter = importInChild('lance-loader/tfjs');
    expect(reader.exports).toContain('createLoader');
    expect(adapter.exports).toContain('toTfDataset');
    expect([reader.tfjsLoaded, adapter.tfjsLoaded]).toEqual([false, false]);
  });
});

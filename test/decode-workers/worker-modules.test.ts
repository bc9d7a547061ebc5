/**
 * What a decode worker loads at start, before its first task: every worker of every loader pays for it
 * in createLoader, so modules only some datasets need are loaded when they are needed.
 */
import { describe, expect, it } from 'vitest';
import { runScript } from '../fixtures/run-script.js';

describe('the decode worker script', () => {
  it('loads no HTTP client at start: only a remote dataset sends requests', async () => {
    const result = await runScript('test/decode-workers/worker-modules.child.ts', []);
    expect(result.stderr).toBe('');
    const loaded = JSON.parse(result.stdout) as string[];
    expect(loaded.some((file) => file.includes('worker-dataset'))).toBe(true);
    expect(loaded.filter((file) => file.includes('/node_modules/undici/'))).toEqual([]);
  });
});

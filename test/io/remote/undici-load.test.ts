/**
 * undici (a quarter of the modules a decode worker would load at start) is loaded by the first remote
 * request, not by importing the library: a process reading only local datasets never loads it.
 */
import { expect, it } from 'vitest';
import { runScript } from '../../fixtures/run-script.js';

it('loads undici with the first remote request, not with the library', async () => {
  const { code, stdout, stderr } = await runScript('test/io/remote/undici-load.child.ts', []);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual([false, true]);
});

/**
 * undici (a quarter of the modules a decode worker would load at start) is never loaded by the library:
 * remote GETs go through io/remote/http1-client.ts, over node:net and node:tls.
 */
import { expect, it } from 'vitest';
import { runScript } from '../../fixtures/run-script.js';

it('loads undici neither with the library nor with a remote request', async () => {
  const { code, stdout, stderr } = await runScript('test/io/remote/undici-load.child.ts', []);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual([false, false]);
});

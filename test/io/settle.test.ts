/**
 * allSettledOrFirstError: parallel work whose failure is reported only once every sibling has settled.
 */
import { describe, expect, it } from 'vitest';
import { allSettledOrFirstError } from '../../io/settle.js';

describe('allSettledOrFirstError', () => {
  it('resolves to the values in order', async () => {
    expect(await allSettledOrFirstError([Promise.resolve(1), Promise.resolve(2)])).toEqual([1, 2]);
  });

  it('rejects with a failure only after the work still running beside it has settled', async () => {
    let release = () => {};
    let siblingDone = false;
    const sibling = new Promise<void>((resolve) => (release = resolve)).then(() => {
      siblingDone = true;
    });
    const waiting = allSettledOrFirstError<void>([Promise.reject(new Error('first')), sibling]);
    const seen = waiting.then(
      () => 'resolved',
      () => (siblingDone ? 'rejected after the sibling' : 'rejected before the sibling'),
    );
    setImmediate(release);
    expect(await seen).toBe('rejected after the sibling');
  });

  it('rejects with the first failure in order when several fail', async () => {
    const later = new Promise<void>((_, reject) => setImmediate(() => reject(new Error('second'))));
    await expect(allSettledOrFirstError<void>([later, Promise.reject(new Error('third'))])).rejects.toThrow('second');
  });
});

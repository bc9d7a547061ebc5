/**
 * Request permits in shared memory (io/remote/shared-permits.ts): the count and byte bounds, a request
 * larger than the byte budget going alone, and permits of threads no longer running given back, waking
 * whoever waits for them.
 */
import { describe, expect, it } from 'vitest';
import {
  bytesInFlight,
  createRequestPermits,
  releaseHolders,
  SharedPermits,
} from '../../../io/remote/shared-permits.js';

describe('shared request permits', () => {
  it('grant requests while both the count and the bytes have room', () => {
    const permits = createRequestPermits(2, 1000, 4);
    const a = new SharedPermits(permits);
    const b = new SharedPermits(permits);
    expect(a.tryTake(600)).toBe(true);
    expect(b.tryTake(500)).toBe(false);
    expect(b.tryTake(400)).toBe(true);
    expect(a.tryTake(1)).toBe(false);
    a.give(600);
    expect(bytesInFlight(permits)).toBe(400);
  });

  it('let a request larger than the byte budget go alone when nothing is in flight', () => {
    const permits = createRequestPermits(4, 1000, 2);
    const one = new SharedPermits(permits);
    expect(one.tryTake(5000)).toBe(true);
    expect(one.tryTake(1)).toBe(false);
    one.give(5000);
    expect(one.tryTake(1)).toBe(true);
  });

  it('give back what threads no longer running hold, and wake a thread waiting for room', async () => {
    const permits = createRequestPermits(1, 1000, 2);
    const dead = new SharedPermits(permits);
    const waiting = new SharedPermits(permits);
    expect(dead.tryTake(100)).toBe(true);
    expect(waiting.tryTake(100)).toBe(false);
    const woken = waiting.released();
    releaseHolders(permits, []);
    await woken;
    expect(bytesInFlight(permits)).toBe(0);
    expect(waiting.tryTake(100)).toBe(true);
  });

  it('refuse a thread when every holder slot is taken, asking for a report', () => {
    const permits = createRequestPermits(1, 1000, 1);
    new SharedPermits(permits);
    expect(() => new SharedPermits(permits)).toThrow(
      /all 1 holder slots of the loader's shared request permits are taken/,
    );
  });
});

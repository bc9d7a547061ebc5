/**
 * The DataLoader over an s3:// dataset on a loopback s3rver (written by LanceDB): epochs equal LanceDB's
 * takes of the same rows, the same for any worker count; a fault-injecting proxy (latency, 503s, resets
 * mid-body, truncated bodies, stalls) gives exact epochs or a typed error, never a hang or a wrong
 * value; close() ends requests in flight; four processes as four ranks read every row exactly once.
 * io.remote.concurrency bounds all workers' requests together, workers killed holding permits do not
 * take them with them, and the remote part of memoryBytes is planned and reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, IoError, ResourceError, type DataLoader, type LoaderOptions } from '../../index.js';
import { rejection } from '../caught.js';
import type { Batch } from '../../loader/batch.js';
import { oracleTake, Rng, toComparableRows, type Comparable } from '../fixtures/index.js';
import { runScript } from '../fixtures/run-script.js';
import { writeRemote22Table, writeRemoteFixture, type RemoteFixture } from '../io/remote/remote-fixture.js';
import { startFaultProxy, temporaryDirectory, type Fault, type FaultProxy } from '../io/remote/servers.js';

let fixture: RemoteFixture;
let proxy: FaultProxy;

beforeAll(async () => {
  fixture = await writeRemoteFixture();
  proxy = await startFaultProxy(fixture.s3.endpoint);
});

afterAll(async () => {
  await proxy?.close();
  await fixture?.close();
});

/** Options reading through the proxy, with no pages kept, so every batch goes to the network. */
function throughProxy(options: Partial<LoaderOptions> = {}): LoaderOptions {
  return {
    batchSize: 128,
    seed: 3,
    workers: 2,
    storage: { ...fixture.s3.storage, endpoint: proxy.url },
    ...options,
    io: { cacheBytes: 0, ...options.io, remote: { timeoutMs: 2_000, retries: 8, ...options.io?.remote } },
  };
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** A batch's rows as the comparable values compare.ts makes of LanceDB's tables. */
function batchRows(batch: Batch): Record<string, Comparable>[] {
  const { id, label, vec, text, blob } = batch.columns;
  const variable = (column: typeof text, i: number) =>
    (column?.values as Uint8Array).subarray(column?.offsets?.[i], column?.offsets?.[i + 1]);
  return Array.from({ length: batch.numRows }, (_, i) => ({
    id: (id?.values as BigInt64Array)[i] as bigint,
    label: (label?.values as Int32Array)[i] as number,
    vec: Array.from((vec?.values as Float32Array).subarray(i * 16, i * 16 + 16)),
    text: new TextDecoder().decode(variable(text, i)),
    blob: hex(variable(blob, i)),
  }));
}

/** Every batch of `epoch`: row offsets and rows. */
async function collect(loader: DataLoader, epoch: number) {
  const offsets: number[] = [];
  const rows: Record<string, Comparable>[] = [];
  for await (const batch of loader.epoch(epoch)) {
    offsets.push(...batch.rowOffsets);
    rows.push(...batchRows(batch));
    batch.release();
  }
  return { offsets, rows };
}

async function withLoader<T>(options: LoaderOptions, use: (loader: DataLoader) => Promise<T>): Promise<T> {
  const loader = await createLoader(fixture.url, options);
  try {
    return await use(loader);
  } finally {
    await loader.close();
  }
}

describe('a loader over an s3:// dataset', () => {
  it('delivers a shuffled epoch as LanceDB takes the same rows, the same for any worker count', async () => {
    const one = await withLoader(throughProxy({ workers: 1 }), (loader) => collect(loader, 0));
    expect([...one.offsets].sort((a, b) => a - b)).toEqual(Array.from({ length: fixture.numRows }, (_, i) => i));
    expect(one.rows).toEqual(toComparableRows(await oracleTake(fixture.url, one.offsets)));
    const [three, metrics] = await withLoader(throughProxy({ workers: 3 }), async (loader) => [
      await collect(loader, 0),
      loader.metrics(),
    ]);
    expect(three.offsets).toEqual(one.offsets);
    expect(three.rows).toEqual(one.rows);
    expect(metrics.readsIssued).toBeGreaterThan(0);
    expect(metrics.bytesRead).toBeGreaterThan(0);
  });

  it('delivers a shuffled epoch of a 2.2 dataset (LanceDB 0.39 default) as LanceDB takes the same rows', async () => {
    const url = await writeRemote22Table(fixture, 't22');
    const loader = await createLoader(url, throughProxy());
    try {
      const { offsets, rows } = await collect(loader, 0);
      expect(offsets.length).toBe(fixture.numRows);
      expect(rows).toEqual(toComparableRows(await oracleTake(url, offsets)));
    } finally {
      await loader.close();
    }
  });

  it('delivers exact epochs over a link with latency, 503s, resets, truncated bodies and stalls', async () => {
    const rng = new Rng(21);
    const faults: Fault[] = [
      { kind: 'status', status: 503 },
      { kind: 'status', status: 500 },
      { kind: 'reset' },
      { kind: 'truncate' },
      { kind: 'stall' },
    ];
    let injected = 0;
    proxy.delayMs = 5;
    proxy.fault = () => {
      if (!rng.bool(0.25)) return { kind: 'pass' };
      injected++;
      return faults[rng.int(0, faults.length)] as Fault;
    };
    try {
      const options = throughProxy({ io: { remote: { timeoutMs: 300, retries: 12 } } });
      await withLoader(options, async (loader) => {
        for (const epoch of [0, 1]) {
          const { offsets, rows } = await collect(loader, epoch);
          expect(rows).toEqual(toComparableRows(await oracleTake(fixture.url, offsets)));
        }
      });
      expect(injected).toBeGreaterThan(10);
    } finally {
      proxy.delayMs = 0;
      proxy.fault = () => ({ kind: 'pass' });
    }
  });

  it('whose requests keep failing ends the epoch with an IoError naming URL, range, status and attempts', async () => {
    const loader = await createLoader(fixture.url, throughProxy({ io: { remote: { retries: 2 } } }));
    proxy.fault = () => ({ kind: 'status', status: 503 });
    try {
      const error = await collect(loader, 0).then(
        () => undefined,
        (e: unknown) => e as IoError,
      );
      expect(error).toBeInstanceOf(IoError);
      expect(error?.message).toMatch(
        /s3:\/\/lance\/db\/t\.lance\/data\/\w+\.lance: GET of bytes \d+\.\.\d+ failed after 3 attempts \(retry budget: 2 retries within 60000 ms\): HTTP 503 SlowDown/,
      );
    } finally {
      proxy.fault = () => ({ kind: 'pass' });
      await loader.close();
    }
  });

  it('closed while its requests stall ends the epoch without waiting for them', async () => {
    const loader = await createLoader(fixture.url, throughProxy({ io: { remote: { timeoutMs: 600_000 } } }));
    const before = proxy.requests;
    proxy.fault = () => ({ kind: 'stall' });
    try {
      const epoch = collect(loader, 0).catch((e: unknown) => e);
      while (proxy.requests === before) await new Promise((resolve) => setTimeout(resolve, 5));
      await loader.close();
      await epoch;
      expect(loader.closed).toBe(true);
    } finally {
      proxy.fault = () => ({ kind: 'pass' });
    }
  });

  it('with a range cache reads its second epoch from local disk, exactly', async () => {
    const cache = temporaryDirectory('lance-loader-range-cache-');
    try {
      await withLoader(throughProxy({ io: { remote: { cacheDir: cache.dir } } }), async (loader) => {
        await collect(loader, 0);
        const before = proxy.requests;
        const { offsets, rows } = await collect(loader, 1);
        expect(proxy.requests - before).toBe(0);
        expect(rows).toEqual(toComparableRows(await oracleTake(fixture.url, offsets)));
      });
    } finally {
      cache.remove();
    }
  });

  it('run by four processes as four ranks reads every row exactly once', async () => {
    const ranks = await Promise.all(
      [0, 1, 2, 3].map((rank) =>
        runScript('test/loader/remote-rank.child.ts', [fixture.url, fixture.s3.endpoint, String(rank), '4']),
      ),
    );
    const rows = ranks.flatMap((r) => {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as number[];
    });
    expect(rows.sort((a, b) => a - b)).toEqual(Array.from({ length: fixture.numRows }, (_, i) => i));
  });
});

describe("a remote loader's request limits", () => {
  async function expectExact({ offsets, rows }: Awaited<ReturnType<typeof collect>>): Promise<void> {
    expect(rows).toEqual(toComparableRows(await oracleTake(fixture.url, offsets)));
  }

  it('bound the requests of all its workers together, which use all of them', async () => {
    const loader = await createLoader(fixture.url, throughProxy({ workers: 3, io: { remote: { concurrency: 2 } } }));
    proxy.delayMs = 10;
    proxy.peakInFlight = 0;
    try {
      await expectExact(await collect(loader, 0));
      expect(proxy.peakInFlight).toBe(2);
    } finally {
      proxy.delayMs = 0;
      await loader.close();
    }
  });

  it('are given back for workers killed while their requests were in flight, so the epoch ends exactly', async () => {
    const loader = await createLoader(
      fixture.url,
      throughProxy({ workers: 2, io: { remote: { concurrency: 1, timeoutMs: 600_000 } } }),
    );
    const before = proxy.requests;
    // The one permit is held by a request that never ends, until its worker is killed.
    proxy.fault = () => ({ kind: 'stall' });
    try {
      const epoch = collect(loader, 0);
      while (proxy.requests === before) await new Promise((resolve) => setTimeout(resolve, 5));
      proxy.fault = () => ({ kind: 'pass' });
      await Promise.all(loader.decodePool.threads.map((thread) => thread.terminate()));
      await expectExact(await epoch);
    } finally {
      proxy.fault = () => ({ kind: 'pass' });
      await loader.close();
    }
  });

  it('count in memoryBytes as its remote part, planned and reported', async () => {
    const loader = await createLoader(fixture.url, throughProxy({ io: { remote: { bytesInFlight: 8 << 20 } } }));
    try {
      await collect(loader, 0);
      const { remote } = loader.metrics().memory.parts;
      expect(remote.plannedBytes).toBeGreaterThan(8 << 20);
      expect(remote.peakBytes).toBeGreaterThan(0);
      expect(remote.peakBytes).toBeLessThanOrEqual(8 << 20);
    } finally {
      await loader.close();
    }
  });

  it('keep 16 batches of fixed-width columns in flight by default (4 for a local dataset), in slots planned in memoryBytes', async () => {
    const columns = ['id', 'label', 'vec'];
    const planned = async (options: Partial<LoaderOptions>) =>
      withLoader(
        throughProxy({ columns, ...options }),
        async (loader) => loader.metrics().memory.parts.slots.plannedBytes,
      );
    expect(await planned({})).toBe(((16 + 2) / (4 + 2)) * (await planned({ prefetch: 4 })));
  });

  it('keep as many batches in flight by default as memoryBytes holds below the slots of 16', async () => {
    const columns = ['id', 'label', 'vec'];
    const remote = { bytesInFlight: 4 << 20 };
    const refused = await rejection(
      createLoader(fixture.url, throughProxy({ columns, prefetch: 16, memoryBytes: 1 << 20, io: { remote } })),
    );
    expect(refused).toBeInstanceOf(ResourceError);
    const memoryBytes = (refused.details as { neededBytes: number }).neededBytes - 1;
    const planned = async (options: Partial<LoaderOptions>) =>
      withLoader(
        throughProxy({ columns, memoryBytes, io: { remote }, ...options }),
        async (loader) => loader.metrics().memory.parts.slots.plannedBytes,
      );
    expect(await planned({})).toBe(await planned({ prefetch: 15 }));
  });

  it('keep 4 batches in flight by default where 16 would shrink the variable-width memory of each slot', async () => {
    const variable = async (options: Partial<LoaderOptions>) =>
      withLoader(throughProxy(options), async (loader) => loader.metrics().memory.parts.variable.plannedBytes);
    expect(await variable({})).toBe(await variable({ prefetch: 4 }));
  });

  it('refuse requests in flight that memoryBytes cannot hold', async () => {
    const error = await rejection(
      createLoader(fixture.url, throughProxy({ memoryBytes: 64 << 20, io: { remote: { bytesInFlight: 64 << 20 } } })),
    );
    expect(error).toBeInstanceOf(ResourceError);
    expect(error.message).toContain(`io.remote.bytesInFlight ${64 << 20}`);
  });
});

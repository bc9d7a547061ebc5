/**
 * The decode worker pool: a thin wrapper over Piscina. One job per batch; a job whose worker died (killed,
 * out of memory) is retried on another worker up to {@link MAX_RETRIES} times (a retry can land on a worker
 * that is dying too), then reported as a {@link WorkerError}. Never loses a batch silently.
 *
 * When lance-loader runs from its TypeScript sources (tests, tsx), workers load worker.ts through tsx;
 * from the built package they load worker.js.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { AbortError, WorkerError, fromErrorRecord } from '../errors.js';
import { fromSource, ioDir } from '../io/module-dir.cjs';
import type { DatasetRef, LoadJob, LoadJobResult, PrepareJob } from './messages.js';

/** Retries of a job whose worker died. */
const MAX_RETRIES = 2;

export interface DecodePoolOptions {
  /** Worker threads (default: the number of cores). */
  workers?: number;
  /** Jobs a worker runs at once (default 1): with more, a worker's next job waits in the worker, not in the pool. */
  tasksPerWorker?: number;
}

/** Young-generation cap per worker (V8 splits it into two semi-spaces and a large-object space). */
const WORKER_YOUNG_GENERATION_MB = 8;

export type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;

/**
 * Piscina's default balancing (an idle worker, else the least busy one below `maximumUsage` tasks),
 * except that a `prepare` task only goes to an idle worker: with several tasks per worker, one worker
 * could otherwise take every worker's `prepare`.
 */
export function prepareOnIdleWorkers(maximumUsage: number): LoadBalancer {
  return (task, workers) => {
    const idle = workers.find((w) => w.currentUsage === 0 && !w.terminating);
    if (idle || task.name === 'prepare') return idle ?? null;
    let best: (typeof workers)[number] | null = null;
    for (const w of workers)
      if (!w.terminating && w.currentUsage < maximumUsage && (!best || w.currentUsage < best.currentUsage)) best = w;
    return best;
  };
}

export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

export class DecodePool {
  private readonly piscina: Piscina;
  private readonly workers: number;
  /** Jobs retried after a worker died. */
  retries = 0;

  constructor(options: DecodePoolOptions = {}) {
    const workers = (this.workers = options.workers ?? defaultWorkerCount());
    this.piscina = new Piscina({
      // The worker of the same build (ES modules or CommonJS) as this file.
      filename: join(ioDir, '..', 'decode-workers', fromSource ? 'worker.ts' : 'worker.js'),
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: options.tasksPerWorker ?? 1,
      loadBalancer: prepareOnIdleWorkers(options.tasksPerWorker ?? 1),
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      // Workers open the dataset's files themselves; Node closes those descriptors when a worker stops.
      trackUnmanagedFds: true,
      // A worker's garbage lives for one batch: a small young generation is enough, and it keeps V8 from
      // growing each worker's semi-spaces over the first epochs, which shows as RSS creeping up.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      // No maxQueue: the loader's slot ring bounds the jobs in flight (prefetch), so the queue cannot grow.
    });
  }

  /** The live worker threads (tests use this to kill one). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.piscina.threads;
  }

  /** Runs a job; decode errors come back as typed errors, a dead worker's job is retried up to MAX_RETRIES times. */
  async run(job: LoadJob): Promise<Extract<LoadJobResult, { ok: true }>> {
    for (let attempt = 0; ; attempt++) {
      let result: LoadJobResult;
      try {
        result = (await this.piscina.run(job)) as LoadJobResult;
      } catch (cause) {
        if (this.destroyed) throw new AbortError('decode cancelled: the loader was closed');
        if (attempt < MAX_RETRIES) {
          this.retries++;
          continue;
        }
        throw new WorkerError(
          `decode workers died ${attempt + 1} times on the same batch: ${(cause as Error).message}`,
          { attempts: attempt + 1 },
          { cause },
        );
      }
      if (!result.ok) throw fromErrorRecord(result.error);
      return result;
    }
  }

  /**
   * Has every worker open the dataset and keep its small columns decoded before the first batch: one
   * `prepare` task per worker, each holding its worker until all are taken (worker.ts), and given only to
   * idle workers. Resolves to how many workers succeeded; it never rejects: a failure is reported by the
   * first batch.
   */
  async prepare(ref: DatasetRef): Promise<number> {
    const job: PrepareJob = { dataset: ref, arrived: new SharedArrayBuffer(4), workers: this.workers };
    const threads = await Promise.all(
      Array.from({ length: this.workers }, () =>
        this.piscina.run(job, { name: 'prepare' }).then(
          (id: number | null) => id,
          () => null,
        ),
      ),
    );
    return new Set(threads.filter((id) => id !== null)).size;
  }

  private destroyed = false;

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.piscina.destroy();
  }
}

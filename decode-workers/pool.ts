/**
 * The decode worker pool: a thin wrapper over Piscina. One job per batch; a job whose worker died (killed,
 * out of memory) is retried on another worker up to {@link MAX_RETRIES} times (a retry can land on a worker
 * that is dying too), then reported as a {@link WorkerError}. Never loses a batch silently, and never waits
 * on a pool with no thread left: Piscina stops replacing workers once one dies while starting, so the pool
 * then restarts Piscina, and gives up with a WorkerError after a bounded storm of deaths.
 *
 * When lance-loader runs from its TypeScript sources (tests, tsx), workers load worker.ts through tsx;
 * from either build of the package they load the CommonJS build's worker.js (see WORKER_FILENAME).
 */
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Piscina } from 'piscina';
import { AbortError, WorkerError, fromErrorRecord } from '../errors.js';
import { fromSource, ioDir } from '../io/module-dir.cjs';
import type { DatasetRef, LoadJob, LoadJobResult, PrepareJob } from './messages.js';

/** Retries of a job whose worker died. */
const MAX_RETRIES = 2;

/**
 * Worker deaths in a row (no job finished in between), per worker, after which the pool stops replacing
 * them and rejects every job with a WorkerError: workers that keep dying would otherwise be restarted forever.
 */
const DEATHS_PER_WORKER_WITHOUT_PROGRESS = 4;

/**
 * The worker script. Built, it is the CommonJS build's worker.js (dist/cjs/), also for the ES build
 * (dist/): a worker terminated while it loads ES modules leaks descriptors, because Node reads each
 * module file through an asynchronous open, and an open that completes after the thread stopped is
 * never closed. require() reads with synchronous opens, which Node tracks and closes when a thread
 * stops (trackUnmanagedFds).
 */
const WORKER_FILENAME = workerFilename('decode-workers', 'worker');

/** A worker script `folder/name` of lance-loader: the source through tsx, or the CommonJS build's (see WORKER_FILENAME). */
export function workerFilename(folder: string, name: string): string {
  return fromSource
    ? join(ioDir, '..', folder, `${name}.ts`)
    : join(ioDir, '..', ...(basename(join(ioDir, '..')) === 'cjs' ? [] : ['cjs']), folder, `${name}.js`);
}

/**
 * Piscina require()s its worker file first and import()s it only if that throws. A require() of an ES
 * module (Node 20.19 and newer load one) can abort the whole process, in V8's `Module::IsGraphAsync`
 * check, when the thread is terminated while the module graph loads. The worker and everything it loads
 * are CommonJS (the CommonJS build, or the sources compiled by tsx); with require(esm) off, a dependency
 * that is an ES module only would fail to load instead of risking that abort. Node versions without the
 * flag have no require(esm) either.
 */
const WORKER_EXEC_ARGV = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];

/** Node flags of lance-loader's worker threads (see WORKER_EXEC_ARGV; tsx when the sources run). */
export const workerExecArgv: readonly string[] = [...WORKER_EXEC_ARGV, ...(fromSource ? ['--import', 'tsx'] : [])];

/** What Piscina rejects a queued task with when its instance is destroyed. */
const PISCINA_DESTROYED = 'Terminating worker thread';

export interface DecodePoolOptions {
  /** Worker threads (default: the number of cores). */
  workers?: number;
  /** Jobs a worker runs at once (default 1): with more, a worker's next job waits in the worker, not in the pool. */
  tasksPerWorker?: number;
  /**
   * Called when a worker has exited (died, or the pool was destroyed), with the threadIds of the workers
   * still running (an exited worker's threadId is no longer known: Node sets it to -1).
   */
  onWorkerExit?: (liveThreadIds: number[]) => void;
  /**
   * Young-generation cap per worker in MiB (default 8; V8 splits it into two semi-spaces and a
   * large-object space): larger where a worker's garbage outlives a few milliseconds (remote requests).
   */
  youngGenerationMb?: number;
}

/** Young-generation cap per worker by default. */
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
  private piscina: Piscina;
  private readonly workers: number;
  private readonly tasksPerWorker: number;
  /** Piscina instances torn down after a restart or a failure (destroy() waits for them, once each). */
  private readonly retiring = new Map<Piscina, Promise<void>>();
  /** Jobs retried after a worker died. */
  retries = 0;
  /** Worker threads that died (killed, crashed, out of memory) over the pool's life. */
  deaths = 0;
  /** Deaths since a worker last finished a job: the storm that {@link maxDeathsWithoutProgress} bounds. */
  private deathsWithoutProgress = 0;
  private lastCause: unknown;
  /** Set once workers died {@link maxDeathsWithoutProgress} times in a row: every job rejects with it. */
  private failure: WorkerError | undefined;
  private destroyed = false;
  private readonly onWorkerExit: ((liveThreadIds: number[]) => void) | undefined;
  private readonly youngGenerationMb: number;

  constructor(options: DecodePoolOptions = {}) {
    this.workers = options.workers ?? defaultWorkerCount();
    this.tasksPerWorker = options.tasksPerWorker ?? 1;
    this.youngGenerationMb = options.youngGenerationMb ?? WORKER_YOUNG_GENERATION_MB;
    this.onWorkerExit = options.onWorkerExit;
    this.piscina = this.start();
  }

  /** Worker deaths in a row, with no job finished in between, after which the pool gives up. */
  get maxDeathsWithoutProgress(): number {
    return DEATHS_PER_WORKER_WITHOUT_PROGRESS * this.workers;
  }

  private start(): Piscina {
    const piscina = new Piscina({
      filename: WORKER_FILENAME,
      minThreads: this.workers,
      maxThreads: this.workers,
      concurrentTasksPerWorker: this.tasksPerWorker,
      loadBalancer: prepareOnIdleWorkers(this.tasksPerWorker),
      execArgv: [...workerExecArgv],
      // Workers open the dataset's files themselves; Node closes those descriptors when a worker stops.
      trackUnmanagedFds: true,
      // A worker's garbage lives for one batch: a small young generation is enough, and it keeps V8 from
      // growing each worker's semi-spaces over the first epochs, which shows as RSS creeping up.
      resourceLimits: { maxYoungGenerationSizeMb: this.youngGenerationMb },
      // No maxQueue: the loader's slot ring bounds the jobs in flight (prefetch), so the queue cannot grow.
    });
    // A worker that fails while it has no task is reported as an 'error' event, which would otherwise throw.
    piscina.on('error', (error: unknown) => {
      if (piscina === this.piscina) this.lastCause = error;
    });
    // With minThreads = maxThreads Piscina removes a worker only when it died (or on destroy).
    piscina.on('workerDestroy', () => {
      this.onWorkerExit?.(piscina.threads.map((thread) => thread.threadId).filter((id) => id > 0));
      if (piscina !== this.piscina || this.destroyed || this.failure) return;
      this.deaths++;
      this.deathsWithoutProgress++;
      // After Piscina is done with the dead worker: it emits this event before it forgets the worker, and
      // a destroy() then would wait for that worker's exit, which has passed. Piscina starts a replacement
      // right after this event, unless the dead worker had not finished starting: then it never starts
      // another, and jobs queued with no thread left would wait forever.
      queueMicrotask(() =>
        this.deathsWithoutProgress >= this.maxDeathsWithoutProgress ? this.fail() : this.restartIfEmpty(piscina),
      );
    });
    return piscina;
  }

  private restartIfEmpty(piscina: Piscina): void {
    if (piscina !== this.piscina || this.destroyed || this.failure || piscina.threads.length > 0) return;
    this.piscina = this.start();
    // Rejects the queued jobs (no thread ran them), which run() then queues on the new instance.
    this.retire(piscina);
  }

  private fail(): void {
    if (this.failure || this.destroyed) return;
    const cause = this.lastCause instanceof Error ? this.lastCause.message : 'a worker exited while starting';
    this.failure = new WorkerError(
      `decode workers died ${this.deathsWithoutProgress} times in a row with no batch finished ` +
        `(at most ${this.maxDeathsWithoutProgress} for ${this.workers} workers); last cause: ${cause}`,
      { deaths: this.deathsWithoutProgress, workers: this.workers },
      { cause: this.lastCause },
    );
    this.retire(this.piscina);
  }

  private retire(piscina: Piscina): void {
    if (!this.retiring.has(piscina)) this.retiring.set(piscina, piscina.destroy());
  }

  /** The live worker threads (tests use this to kill one). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.piscina.threads;
  }

  /**
   * Runs a job; decode errors come back as typed errors, a dead worker's job is retried up to MAX_RETRIES
   * times, and a storm of deaths rejects every job with a WorkerError (see maxDeathsWithoutProgress).
   */
  async run(job: LoadJob): Promise<Extract<LoadJobResult, { ok: true }>> {
    for (let attempt = 0; ;) {
      if (this.failure) throw this.failure;
      const piscina = this.piscina;
      let result: LoadJobResult;
      try {
        result = (await piscina.run(job)) as LoadJobResult;
      } catch (cause) {
        if (this.destroyed) throw new AbortError('decode cancelled: the loader was closed');
        if (this.failure) throw this.failure;
        // Queued on an instance restarted with no thread left: the job never reached a worker.
        if (piscina !== this.piscina && (cause as Error).message === PISCINA_DESTROYED) continue;
        this.lastCause = cause;
        if (attempt++ < MAX_RETRIES) {
          this.retries++;
          continue;
        }
        throw new WorkerError(
          `decode workers died ${attempt} times on the same batch (${this.deaths} deaths in all); ` +
            `last cause: ${(cause as Error).message}`,
          { attempts: attempt, deaths: this.deaths },
          { cause },
        );
      }
      this.deathsWithoutProgress = 0;
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

  async destroy(): Promise<void> {
    this.destroyed = true;
    this.retire(this.piscina);
    await Promise.all(this.retiring.values());
  }
}

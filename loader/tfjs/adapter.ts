/**
 * The TensorFlow.js adapter: the only module of lance-loader that touches tfjs, and only through dynamic
 * `import()` inside {@link loadTf}, so the rest of the package never loads tfjs (its types are `import type`).
 *
 * ```
 *  BatchSource.epoch(n) ──Batch (views of a shared slot)──► batchToTensors ──► { xs, ys } ──► fitDataset
 *                               │                              │ toTensorData: the ONE copy, slot → fresh array
 *                               └──────── release() ◄──────────┘ (right after the tensors exist)
 * ```
 *
 * What becomes a tensor is validated by tensor-spec.ts; how column values become tensor data (dtypes,
 * normalization, one-hot, and why every tensor owns a fresh copy) is tensor-data.ts; the conv2d filter
 * gradient that the wasm backend lacks, added when wasm starts, is wasm-conv2d-gradient.ts.
 */
import { dirname, sep } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import { isOptionsObject } from '../../dataset/file.js';
import { InternalError, InvalidArgumentError, UnsupportedError } from '../../errors.js';
import { packageRequire } from '../../io/module-dir.cjs';
import type { Batch } from '../batch.js';
import { toTensorData } from './tensor-data.js';
import { registerWasmConv2DFilterGradient } from './wasm-conv2d-gradient.js';
import {
  describeOption,
  resolveTensorsSpec,
  type ColumnSpecInput,
  type ResolvedColumnSpec,
  type ResolvedTree,
  type TensorsSpec,
} from './tensor-spec.js';

export type { ColumnSpecInput, ColumnTensorSpec, TensorDType, TensorsSpec } from './tensor-spec.js';

import type { Tf } from './tf.js';

export type { Tf };
export type TfBackendPreference = 'node' | 'wasm' | 'cpu';
/** Backend names as tfjs reports them (`tf.getBackend()`): tfjs-node registers `tensorflow`. */
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What the adapter needs from the DataLoader (structural, so it does not depend on the loader). */
export interface BatchSource {
  epoch(n: number): AsyncIterable<Batch>;
  /** Batches per epoch. */
  readonly numBatches: number;
}

export type TensorTree = tfjs.Tensor | tfjs.Tensor[] | { [input: string]: tfjs.Tensor };

export interface TfDatasetOptions {
  xs: TensorsSpec;
  ys: TensorsSpec;
  /** Loader epoch served by the first iteration; default 0 (match fitDataset's `initialEpoch` on resume). */
  startEpoch?: number;
  /** Epochs the dataset may serve; iterating once more rejects. Default unbounded. */
  epochs?: number;
}

export interface TfBackendReport {
  tf: Tf;
  backend: TfBackendName;
  /** Backends tried before the active one, with why each was skipped. */
  skipped: { backend: TfBackendName; reason: string }[];
}

// ── backend selection ───────────────────────────────────────────────────────────────────────────────────

const PREFERENCES: readonly TfBackendPreference[] = ['node', 'wasm', 'cpu'];
let wasmPathsSet = false;

/**
 * Loads tfjs and activates the best backend, starting from `preference` (default `'node'`) and falling
 * back in the order node (`@tensorflow/tfjs-node`, native) → wasm (`@tensorflow/tfjs-backend-wasm`, its
 * `.wasm` files loaded from the installed package, offline; lance-loader adds the conv2d filter gradient
 * it lacks, so conv2d layers train there) → cpu (pure JS). Returns the tf namespace;
 * `tf.getBackend()` names the active backend ({@link loadTfBackend} also says why others were skipped).
 * Call it once, before creating tensors: switching backends later moves every tensor.
 */
export async function loadTf(preference: TfBackendPreference = 'node'): Promise<Tf> {
  return (await loadTfBackend(preference)).tf;
}

/** {@link loadTf}, also reporting the active backend and the ones skipped on the way. */
export async function loadTfBackend(preference: TfBackendPreference = 'node'): Promise<TfBackendReport> {
  if (!PREFERENCES.includes(preference)) {
    throw new InvalidArgumentError(
      `loadTf: preference must be one of ${PREFERENCES.map((p) => `'${p}'`).join(', ')}, got ${describeOption(preference)}`,
      { option: 'preference', value: preference },
    );
  }
  const skipped: TfBackendReport['skipped'] = [];
  if (preference === 'node') {
    // A variable specifier: TypeScript must not resolve the optional peer, bundlers must not inline it.
    const nodeSpecifier: string = '@tensorflow/tfjs-node';
    const loaded = await importOptional(nodeSpecifier);
    if (loaded.ok) {
      const tf = namespaceOf(loaded.module);
      const reason = await activate(tf, 'tensorflow');
      if (reason === null) return { tf, backend: 'tensorflow', skipped };
      skipped.push({ backend: 'tensorflow', reason });
    } else {
      skipped.push({ backend: 'tensorflow', reason: loaded.reason });
    }
  }
  const core = await importOptional('@tensorflow/tfjs');
  if (!core.ok) {
    throw new UnsupportedError(
      'loadTf needs @tensorflow/tfjs: npm install @tensorflow/tfjs @tensorflow/tfjs-backend-wasm ' +
        `(or @tensorflow/tfjs-node); ${core.reason}`,
      { module: '@tensorflow/tfjs' },
    );
  }
  const tf = namespaceOf(core.module);
  if (preference !== 'cpu') {
    const wasm = await importOptional('@tensorflow/tfjs-backend-wasm');
    let reason = wasm.ok ? setWasmPaths(wasm.module) : wasm.reason;
    if (reason === null) reason = await withoutNewProcessHandlers(() => activate(tf, 'wasm'));
    if (reason === null) {
      registerWasmConv2DFilterGradient(tf);
      return { tf, backend: 'wasm', skipped };
    }
    skipped.push({ backend: 'wasm', reason });
  }
  const reason = await activate(tf, 'cpu');
  if (reason !== null) throw new InternalError(`loadTf: the tfjs cpu backend did not start: ${reason}`);
  return { tf, backend: 'cpu', skipped };
}

type Imported = { ok: true; module: unknown } | { ok: false; reason: string };

async function importOptional(specifier: string): Promise<Imported> {
  try {
    return { ok: true, module: (await import(specifier)) as unknown };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // The CommonJS build compiles import() to require(), which reports a missing package as MODULE_NOT_FOUND.
    const why = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? 'not installed' : 'failed to load';
    return { ok: false, reason: `${specifier} ${why}: ${(error as Error).message ?? String(error)}` };
  }
}

/** tfjs packages are CommonJS: the full namespace is `default` when imported from ESM. */
function namespaceOf(module: unknown): Tf {
  const m = module as { default?: { tensor?: unknown } };
  return (m.default !== undefined && typeof m.default.tensor === 'function' ? m.default : m) as Tf;
}

/** Points the wasm backend at the `.wasm` files next to its installed entry (no network). */
function setWasmPaths(module: unknown): string | null {
  if (wasmPathsSet) return null;
  try {
    const wasm = namespaceOf(module) as unknown as { setWasmPaths(prefix: string): void };
    const entry = packageRequire.resolve('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(dirname(entry) + sep);
    wasmPathsSet = true;
    return null;
  } catch (error) {
    return `setWasmPaths failed: ${(error as Error).message ?? String(error)}`;
  }
}

/**
 * Runs `start` and removes the `uncaughtException` / `unhandledRejection` listeners it added. The wasm
 * backend's Emscripten runtime adds two that rethrow, so that any later uncaught error in the program
 * exits with code 7 and prints the backend's whole minified source line (~30 KB) instead of the error;
 * without them Node reports errors itself, as before tfjs was loaded.
 */
async function withoutNewProcessHandlers<T>(start: () => Promise<T>): Promise<T> {
  const emitter: NodeJS.EventEmitter = process;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  try {
    return await start();
  } finally {
    for (const event of events) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}

/** Switches to `backend` and waits until it is ready; returns why not, or null. */
async function activate(tf: Tf, backend: TfBackendName): Promise<string | null> {
  try {
    if (!(await tf.setBackend(backend))) return `tf.setBackend('${backend}') returned false`;
    await tf.ready();
    return tf.getBackend() === backend
      ? null
      : `tf.getBackend() is '${tf.getBackend()}' after setBackend('${backend}')`;
  } catch (error) {
    return `tf.setBackend('${backend}') threw: ${(error as Error).message ?? String(error)}`;
  }
}

// ── batch → tensors ─────────────────────────────────────────────────────────────────────────────────────

export function batchToTensors(tf: Tf, batch: Batch, spec: ColumnSpecInput): tfjs.Tensor;
export function batchToTensors(tf: Tf, batch: Batch, spec: ColumnSpecInput[]): tfjs.Tensor[];
export function batchToTensors(
  tf: Tf,
  batch: Batch,
  spec: { [input: string]: ColumnSpecInput },
): { [input: string]: tfjs.Tensor };
export function batchToTensors(tf: Tf, batch: Batch, spec: TensorsSpec): TensorTree;
/**
 * Builds tensors from a batch's columns: each tensor holds its own copy of the values (see tensor-data.ts),
 * so the caller may `release()` the batch as soon as this returns. Does not release the batch.
 * On error, no tensor is left behind.
 */
export function batchToTensors(tf: Tf, batch: Batch, spec: TensorsSpec): TensorTree {
  return treeToTensors(tf, batch, resolveTensorsSpec(spec, 'spec'));
}

function treeToTensors(tf: Tf, batch: Batch, tree: ResolvedTree): TensorTree {
  if (tree.kind === 'one') return columnToTensor(tf, batch, tree.spec);
  const made: tfjs.Tensor[] = [];
  try {
    if (tree.kind === 'list') {
      for (const spec of tree.specs) made.push(columnToTensor(tf, batch, spec));
      return made;
    }
    const out: { [input: string]: tfjs.Tensor } = {};
    for (const [name, spec] of tree.specs) {
      const tensor = columnToTensor(tf, batch, spec);
      made.push(tensor);
      out[name] = tensor;
    }
    return out;
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
}

function columnToTensor(tf: Tf, batch: Batch, spec: ResolvedColumnSpec): tfjs.Tensor {
  const { data, shape, dtype } = toTensorData(batch, spec);
  // `data` is fresh and unshared: tf.tensor keeps it (cpu) or copies it (wasm); nobody writes it again.
  return tf.tensor(data, shape, dtype);
}

// ── tf.data.Dataset ─────────────────────────────────────────────────────────────────────────────────────

/**
 * A `tf.data.Dataset` of `{ xs, ys }` over a loader, for `model.fitDataset(ds, { epochs })`.
 *
 * Each iteration of the dataset is the next loader epoch (`startEpoch`, then +1 ...). The epoch number
 * is taken on the first `next()`, not when tfjs calls `iterator()`: fitDataset creates one iterator before
 * its epoch loop that it never reads, and that must not use up an epoch. Do not pass `batchesPerEpoch`
 * to fitDataset (it then reads one iterator across epochs, which here ends after one loader epoch).
 *
 * Each batch is released as soon as its tensors exist; the tensors are handed to tfjs and never touched
 * again. fitDataset disposes every element after its training step, so memory stays flat across epochs;
 * a caller iterating the dataset itself must dispose the elements. When an epoch is abandoned (training
 * stopped early), its loader iterator is closed when the next epoch starts.
 */
export function toTfDataset(
  tf: Tf,
  source: BatchSource,
  options: TfDatasetOptions,
): tfjs.data.Dataset<{ xs: TensorTree; ys: TensorTree }> {
  if (!isOptionsObject(options))
    throw new InvalidArgumentError(
      `toTfDataset: options must be { xs, ys, startEpoch?, epochs? }, got ${describeOption(options)}`,
    );
  for (const key of Object.keys(options)) {
    if (!['xs', 'ys', 'startEpoch', 'epochs'].includes(key)) {
      throw new InvalidArgumentError(`toTfDataset: unknown option ${key} (accepted: xs, ys, startEpoch, epochs)`, {
        option: key,
      });
    }
  }
  const xs = resolveTensorsSpec(options.xs, 'xs');
  const ys = resolveTensorsSpec(options.ys, 'ys');
  const startEpoch = options.startEpoch ?? 0;
  if (!Number.isInteger(startEpoch) || startEpoch < 0) {
    throw new InvalidArgumentError(`startEpoch: expected an integer ≥ 0, got ${describeOption(options.startEpoch)}`, {
      option: 'startEpoch',
    });
  }
  const epochs = options.epochs ?? Infinity;
  if (options.epochs !== undefined && (!Number.isInteger(epochs) || epochs < 1)) {
    throw new InvalidArgumentError(`epochs: expected an integer ≥ 1, got ${describeOption(options.epochs)}`, {
      option: 'epochs',
    });
  }

  let nextEpoch = startEpoch;
  let open: AsyncIterator<Batch> | null = null;

  async function* serveEpoch(): AsyncGenerator<{ xs: TensorTree; ys: TensorTree }, void, undefined> {
    if (nextEpoch - startEpoch >= epochs) {
      throw new InvalidArgumentError(
        `toTfDataset: all ${epochs} epochs (options.epochs) were served (${startEpoch}..${nextEpoch - 1}); ` +
          'fitDataset asked for more',
        { option: 'epochs', epochs },
      );
    }
    const epoch = nextEpoch++;
    if (open !== null) {
      const abandoned = open;
      open = null;
      await abandoned.return?.();
    }
    const it = source.epoch(epoch)[Symbol.asyncIterator]();
    open = it;
    let done = false;
    try {
      for (;;) {
        const step = await it.next();
        if (step.done === true) {
          done = true;
          return;
        }
        const batch = step.value;
        let element: { xs: TensorTree; ys: TensorTree };
        try {
          const x = treeToTensors(tf, batch, xs);
          try {
            element = { xs: x, ys: treeToTensors(tf, batch, ys) };
          } catch (error) {
            tf.dispose(x);
            throw error;
          }
        } finally {
          batch.release();
        }
        yield element;
      }
    } finally {
      if (open === it) open = null;
      if (!done) await it.return?.();
    }
  }

  const dataset = tf.data.generator(serveEpoch);
  if (Number.isInteger(source.numBatches) && source.numBatches >= 0) {
    // Lets fitDataset report steps per epoch; tfjs declares `size` readonly but sets it per instance.
    Object.defineProperty(dataset, 'size', { value: source.numBatches, configurable: true });
  }
  return dataset;
}

/**
 * The messages between the loader and its decode workers, typed in one place. Everything here is plain
 * structured-clone data: SharedArrayBuffers and views over them travel by reference (never in a
 * transfer list), other typed arrays are copied.
 *
 *   main ── DecodeJob { tasks (pages of one batch), outputs (where each column lives) } ──► worker
 *   main ◄── DecodeJobResult { ok, variable columns (fresh buffers, transferred), decodeMs } ── worker
 */
import type { ErrorRecord } from '../errors.js';
import type { DecodeTask } from './decode-task.js';

/** Where one output column of a batch lives. */
export type OutputDescriptor =
  | {
      kind: 'fixed';
      /** The batch slot's shared memory. */
      buffer: SharedArrayBuffer;
      byteOffset: number;
      byteWidth: number;
      numSlots: number;
      /** Byte offset of one validity byte per slot, or -1 when the column is not nullable. */
      validityOffset: number;
    }
  | { kind: 'variable'; numSlots: number; nullable: boolean };

export interface DecodeJob {
  tasks: { task: DecodeTask; output: number }[];
  outputs: OutputDescriptor[];
}

/** A variable-width column decoded by a worker, in slot order. */
export interface VariableColumn {
  /** numSlots + 1 byte offsets. */
  offsets: Float64Array;
  data: Uint8Array;
  validity: Uint8Array | null;
}

export type DecodeJobResult =
  | { ok: true; decodeMs: number; variable: (VariableColumn | null)[] }
  | { ok: false; error: ErrorRecord };

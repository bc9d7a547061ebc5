/**
 * The decode worker (a Piscina task function): runs the decode tasks of one batch, writing fixed-width
 * columns straight into the batch slot's shared memory and returning variable-width columns as fresh
 * buffers. Errors come back as records (structured clone would drop their class and code).
 */
import { toErrorRecord } from '../errors.js';
import { runDecodeTask } from './decode-task.js';
import type { DecodeJob, DecodeJobResult, OutputDescriptor, VariableColumn } from './messages.js';
import { compactVariable, createVariableOutput, type ColumnOutput } from './output.js';

function openOutput(d: OutputDescriptor): ColumnOutput {
  if (d.kind === 'variable') return createVariableOutput(d.numSlots, d.nullable);
  const validity = d.validityOffset >= 0 ? new Uint8Array(d.buffer, d.validityOffset, d.numSlots) : null;
  validity?.fill(1);
  return { kind: 'fixed', byteWidth: d.byteWidth, values: new Uint8Array(d.buffer, d.byteOffset, d.numSlots * d.byteWidth), validity };
}

/** Runs one batch's decode tasks. */
export function decodeJob(job: DecodeJob): DecodeJobResult {
  const started = performance.now();
  try {
    const outputs = job.outputs.map(openOutput);
    for (const { task, output } of job.tasks) runDecodeTask(task, outputs[output] as ColumnOutput);
    const variable = outputs.map((out): VariableColumn | null => {
      if (out.kind !== 'variable') return null;
      const { offsets, data } = compactVariable(out);
      return { offsets, data: data.slice(), validity: out.validity };
    });
    return { ok: true, decodeMs: performance.now() - started, variable };
  } catch (error) {
    return { ok: false, error: toErrorRecord(error) };
  }
}

export default decodeJob;

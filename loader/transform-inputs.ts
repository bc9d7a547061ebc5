/**
 * Where in the batch the columns are that user transform steps take beside their own (`inputs`).
 */
import { InvalidArgumentError } from '../errors.js';
import type { ColumnTransformPlan, TypedArrayName } from '../decode-workers/transforms/steps.js';
import type { BatchLayout } from './batch-layout.js';

/**
 * Tells each plan where the columns its user steps name in `inputs` are in the batch (plan.inputs): an
 * InvalidArgumentError for a column that is not loaded or is transformed itself (its output is not
 * there yet while the row's transforms run), or a list.
 */
export function resolveTransformInputs(plans: Record<string, ColumnTransformPlan>, layout: BatchLayout): void {
  for (const plan of Object.values(plans))
    plan.steps.forEach((step, i) => {
      if (step.op !== 'user') return;
      const option = `transforms.${plan.column}.steps[${i}].inputs`;
      for (const name of step.inputs ?? []) {
        if (plan.inputs.some((input) => input.name === name)) continue;
        const column = layout.columns.findIndex((c) => c.name === name);
        const c = layout.columns[column];
        const refuse = (why: string): never => {
          throw new InvalidArgumentError(`options.${option}: column "${name}" ${why}`, { option });
        };
        if (!c) return refuse('is not loaded (add it to options.columns)');
        if (c.transformed) refuse('is transformed itself; take its bytes in a step of its own column');
        if (c.list) refuse('is a list; user steps take fixed-width, string and binary columns');
        const array = c.ArrayType as unknown as { name: TypedArrayName; BYTES_PER_ELEMENT: number };
        plan.inputs.push({
          name,
          column,
          layout: c.variable
            ? { kind: 'bytes' }
            : { kind: 'fixed', array: array.name, valuesPerRow: c.bytesPerRow / array.BYTES_PER_ELEMENT },
        });
      }
    });
}

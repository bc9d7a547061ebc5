/** User transforms the tests load by module path, in the test thread and in loader workers. */
import type { UserTransformInput } from '../../../decode-workers/transforms/run.js';

/** The mean of each channel of the pixels so far, plus the row's first random draw: float32 [4]. */
export function meanColour(input: UserTransformInput, output: Float32Array): void {
  const pixels = input.pixels;
  if (!pixels) throw new Error('meanColour needs pixels');
  const c = pixels.shape[2] ?? 1;
  for (let i = 0; i < pixels.data.length; i++)
    (output[i % c] as number) += (pixels.data[i] as number) / (pixels.data.length / c);
  output[3] = input.random();
}

/** The value's first two bytes and its length mod 256: uint8 [3] (a step on the column's bytes). */
export default function header(input: UserTransformInput, output: Uint8Array): void {
  const bytes = input.bytes as Uint8Array;
  output.set([bytes[0] as number, bytes[1] as number, bytes.length % 256]);
}

/** Throws for odd rows. */
export function failOddRows(input: UserTransformInput, output: Uint8Array): void {
  if (input.row % 2 === 1) throw new Error(`odd row ${input.row} (options ${JSON.stringify(input.options)})`);
  output.fill(input.row % 256);
}

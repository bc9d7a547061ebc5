/**
 * Batch-level user transforms the tests load by module path, in the test thread and in loader workers
 * (plain JavaScript: workers import user modules with Node's own loader).
 */

/**
 * After row steps: per row float32 [its mean, the batch's mean, the batch's first random draw] (only a
 * function that sees every row at once can write the second).
 * @param {import('../../../index.js').UserBatchTransformInput} input
 * @param {Float32Array} output
 */
export function batchMeans(input, output) {
  const pixels = input.pixels;
  if (!pixels) throw new Error('batchMeans needs pixels');
  const rows = pixels.shape[0];
  const per = pixels.data.length / rows;
  const draw = input.random();
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0; k < per; k++) sum += pixels.data[r * per + k];
    output[r * 3] = sum / per;
    total += sum;
  }
  for (let r = 0; r < rows; r++) output.set([total / (rows * per), draw], r * 3 + 1);
}

/**
 * The only step: per row uint8 [value length mod 256, first byte, valid].
 * @param {import('../../../index.js').UserBatchTransformInput} input
 * @param {Uint8Array} output
 */
export function batchHeaders(input, output) {
  const values = input.values;
  if (!values) throw new Error('batchHeaders needs the values');
  for (let r = 0; r < input.rows.length; r++) {
    const start = values.offsets[r];
    const length = values.offsets[r + 1] - start;
    output.set([length % 256, length > 0 ? values.data[start] : 0, values.validity ? values.validity[r] : 1], r * 3);
  }
}

/**
 * Throws, naming how many rows it got.
 * @param {import('../../../index.js').UserBatchTransformInput} input
 */
export function batchThrows(input) {
  throw new Error(`no batch of ${input.rows.length} rows (options ${JSON.stringify(input.options)})`);
}

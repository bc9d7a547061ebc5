/**
 * User transforms that take other columns (`inputs`), loaded by module path in loader workers (plain
 * JavaScript: workers import user modules with Node's own loader).
 */

/**
 * On the image's bytes, with inputs id, label and name: float32 [id, label, the name's first and last
 * byte, the image's length].
 * @param {import('../../../index.js').UserTransformInput} input
 * @param {Float32Array} output
 */
export function withColumns(input, output) {
  const { id, label, name } = input.columns;
  if (!id || !label || !name || !input.bytes) throw new Error('withColumns needs id, label, name and the bytes');
  output.set([id[0], label[0], name[0], name[name.length - 1], input.bytes.length]);
}

/**
 * Batch-level after row steps, with input label: per row float32 [its label, the batch's label sum, how
 * many rows the label column has].
 * @param {import('../../../index.js').UserBatchTransformInput} input
 * @param {Float32Array} output
 */
export function batchLabels(input, output) {
  const label = input.columns.label;
  if (!label) throw new Error('batchLabels needs the label column');
  const sum = label.data.reduce((a, b) => a + b, 0);
  for (let r = 0; r < input.rows.length; r++) output.set([label.data[r], sum, label.data.length], r * 3);
}

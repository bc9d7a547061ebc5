/**
 * A writer in its own process, for the crash, race and disk-full tests:
 *
 *   node --import tsx test/writer/writer.child.ts <dataset> <create|append> <rows per write> <writes> [vectors|ints]
 *
 * Writes `writes` times `rows` rows (the first one creates the dataset in mode create) (an int64 id and a 128-float vector per row, so each append is
 * a full-zip page of rows × 512 bytes; with `ints`, an int64 id and an int32 label, whose pages of 1 MiB and
 * more are encoded in worker threads, loaded before the first write) and prints `committed <version>` after each commit. A write that
 * fails prints `error <code> <message>` and exits 3. SIGXFSZ is ignored, so a file size limit
 * (`ulimit -f`) makes writes fail with EFBIG instead of killing the process.
 */
import * as arrow from 'apache-arrow';
import { writeDataset } from '../../index.js';
import { encodeWorkersLoaded } from '../../writer/encode-pool.js';

process.on('SIGXFSZ', () => undefined);

const [path, mode, rowsArg, writesArg, shape] = process.argv.slice(2);
const rows = Number(rowsArg);
const writes = Number(writesArg);

/** The rows of write `n` with `ints`: the id and a label derived from it. */
function intsTable(n: number, count: number): arrow.Table {
  const ids = BigInt64Array.from({ length: count }, (_, i) => BigInt(n * count + i));
  const labels = Int32Array.from({ length: count }, (_, i) => (n * count + i) % 1000);
  return new arrow.Table({ id: arrow.makeVector(ids), label: arrow.makeVector(labels) });
}

/** The rows of write `n`: ids continue from earlier writes, vectors are derived from the id. */
function writeTable(n: number, count: number): arrow.Table {
  const ids = BigInt64Array.from({ length: count }, (_, i) => BigInt(n * count + i));
  const values = new Float32Array(count * 128);
  for (let i = 0; i < values.length; i++) values[i] = n * count + Math.floor(i / 128) + (i % 128) / 128;
  const type = new arrow.FixedSizeList(128, new arrow.Field('item', new arrow.Float32(), true));
  const vec = arrow.makeVector(
    arrow.makeData({
      type,
      length: count,
      nullCount: 0,
      child: arrow.makeData({ type: new arrow.Float32(), length: values.length, data: values }),
    }),
  );
  return new arrow.Table({ id: arrow.makeVector(ids), vec });
}

// With ints, the encode workers are loaded first, so that the pages go to them rather than inline.
if (shape === 'ints' && !(await encodeWorkersLoaded())) process.exit(4);

for (let n = 0; n < writes; n++) {
  try {
    const writeMode = mode === 'create' && n === 0 ? 'create' : 'append';
    const { version } = await writeDataset(
      path as string,
      shape === 'ints' ? intsTable(n, rows) : writeTable(n, rows),
      { mode: writeMode, encodeInWorkers: shape === 'ints' },
    );
    process.stdout.write(`committed ${version}\n`);
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    process.stdout.write(`error ${code ?? 'none'} ${message}\n`);
    process.exit(3);
  }
}

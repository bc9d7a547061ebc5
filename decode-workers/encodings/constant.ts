/**
 * Constant and all-null pages (lance.encodings21.ConstantLayout): one value for every row of the page,
 * or none (all null). In file version 2.2 the value of a string or binary constant sits in a value
 * buffer instead of inline, and a constant with nulls carries the page's definition levels:
 *
 *   value buffer:  u32 buffer count (2) | u32 offsets bytes (8 or 16) | u32 data bytes |
 *                  offsets: 2 × u32 or 2 × u64 (start, end of the value in data) | data
 *   levels:        one u16 per row (0 = valid), raw or compressed as one block (`def_compression`)
 *
 * Writes straight into the caller's output; the value is copied once per row.
 */
import { CorruptFileError } from '../../errors.js';
import type { DecodeTask } from '../../io/plan-steps.js';
import { appendVariable, setNull, type ColumnOutput } from './output.js';
import { decodeLevels } from './values.js';

const RAW_LEVELS = { compression: 'flat', flat: { bits_per_value: 16 } } as const;
const VALUE_HEADER_BYTES = 12;

/** Writes a constant page's value (or null) into every slot of `task`. */
export function decodeConstant(task: DecodeTask & { kind: 'constant' }, out: ColumnOutput): void {
  const { slots, where } = task;
  const value = task.valueBuffer ? constantValue(task.valueBuffer, where) : task.inlineValue;
  let def: Uint16Array | null = null;
  if (task.levels) {
    const { bytes, compression, numLevels } = task.levels;
    def = decodeLevels(compression ?? RAW_LEVELS, bytes, numLevels, `${where} definition levels`);
  }
  if (value && out.kind === 'fixed' && value.length < out.byteWidth) {
    throw new CorruptFileError(
      `${where}: constant value is ${value.length} bytes, the column's type needs ${out.byteWidth}`,
    );
  }
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as number;
    if (!value || (def && def[task.levels?.rows[i] as number] !== 0)) {
      setNull(out, slot);
    } else if (out.kind === 'fixed') {
      // Bools are stored as one byte; other values are raw little-endian bytes of the column's width.
      out.values.set(value.subarray(0, out.byteWidth), slot * out.byteWidth);
    } else {
      appendVariable(out, slot, value, 0, value.length);
    }
  }
}

/** The bytes of the value a 2.2 value buffer holds (see the module comment). */
export function constantValue(buffer: Uint8Array, where: string): Uint8Array {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const fail = (what: string): never => {
    throw new CorruptFileError(`${where}: constant value buffer of ${buffer.length} bytes ${what}`);
  };
  if (buffer.length < VALUE_HEADER_BYTES) fail(`is shorter than its ${VALUE_HEADER_BYTES}-byte header`);
  const count = view.getUint32(0, true);
  const offsetBytes = view.getUint32(4, true);
  const dataBytes = view.getUint32(8, true);
  if (count !== 2 || (offsetBytes !== 8 && offsetBytes !== 16))
    fail(`holds ${count} buffers with ${offsetBytes} bytes of offsets (expected 2 buffers, 8 or 16 bytes)`);
  const dataStart = VALUE_HEADER_BYTES + offsetBytes;
  if (dataStart + dataBytes > buffer.length) fail(`is too short for ${dataBytes} bytes of data at ${dataStart}`);
  const width = offsetBytes / 2;
  const read = (at: number) => (width === 4 ? view.getUint32(at, true) : Number(view.getBigUint64(at, true)));
  const start = read(VALUE_HEADER_BYTES);
  const end = read(VALUE_HEADER_BYTES + width);
  if (start > end || end > dataBytes) fail(`has value offsets ${start}..${end} outside its ${dataBytes} data bytes`);
  return buffer.subarray(dataStart + start, dataStart + end);
}

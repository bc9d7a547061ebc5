/**
 * Decoding file version 2.0 pages: the shapes of format/v20-shape.ts, read as io/v20-plan.ts planned.
 */
import { CorruptFileError } from '../../errors.js';
import type { V20Binary, V20Shape } from '../../format/v20-shape.js';
import type { RowRun, V20Buffers } from '../../io/plan-steps.js';
import { decompressBuffer } from './compression.js';
import { fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { expandBitmap, outputItemValidity } from './item-validity.js';
import { appendFsst, appendVariable, setNull, type ColumnOutput } from './output.js';

/** The largest decompressed 2.0 bytes buffer accepted. */
const MAX_BINARY_BYTES = 2 * 1024 * 1024 * 1024 - 1;

/** Reads u64 end offsets from a view as numbers. */
function endOffsets(view: Uint8Array, where: string): Float64Array {
  if (view.length % 8 !== 0) throw new CorruptFileError(`${where}: binary offsets of ${view.length} bytes`);
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const out = new Float64Array(view.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
  return out;
}

/** Decodes the bytes of whole binary/items buffers (decompressing when needed). */
function binaryBytes(binary: V20Binary, whole: Uint8Array): Uint8Array {
  return binary.compression ? decompressBuffer(binary.compression, whole, MAX_BINARY_BYTES) : whole;
}

function appendBinaryValue(
  out: ColumnOutput,
  slot: number,
  src: Uint8Array,
  start: number,
  end: number,
  fsst: FsstSymbolTable | null,
  where: string,
): void {
  if (out.kind !== 'variable') throw new CorruptFileError(`${where}: binary values for a fixed-width column`);
  if (start > end || end > src.length)
    throw new CorruptFileError(`${where}: binary value bytes ${start}..${end} are outside ${src.length} bytes`);
  if (fsst) appendFsst(out, slot, fsst, src, start, end);
  else appendVariable(out, slot, src, start, end);
}

/** Decodes 2.0 rows read per io/v20-plan.ts into `out`. */
export function runV20Task(
  shape: V20Shape,
  buffers: V20Buffers,
  rows: Uint32Array,
  slots: Uint32Array,
  out: ColumnOutput,
  where: string,
): void {
  switch (shape.kind) {
    case 'allnull':
      for (let i = 0; i < slots.length; i++) setNull(out, slots[i] as number);
      return;
    case 'fixed': {
      if (out.kind !== 'fixed') throw new CorruptFileError(`${where}: fixed-width values for a variable-width column`);
      const valueBytes = shape.bitWidth === 1 ? 1 : shape.bitWidth / 8;
      if (valueBytes !== out.byteWidth) {
        throw new CorruptFileError(
          `${where}: page values are ${shape.bitWidth} bits wide, the column's type needs ${out.byteWidth * 8}`,
        );
      }
      const perValue = shape.itemValidity?.perValue ?? 0;
      const itemValidity = shape.itemValidity ? outputItemValidity(out, perValue, where) : null;
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const values = buffers.values?.[k];
        const validity = buffers.validity?.[k];
        const items = buffers.itemValidity?.[k];
        if (!values || (itemValidity && !items)) throw new CorruptFileError(`${where}: missing values for run ${k}`);
        // The run's item bitmap starts at the byte holding bit first × perValue.
        const itemBase = Math.floor((first * perValue) / 8) * 8;
        for (let i = from; i < to; i++) {
          const row = rows[i] as number;
          const slot = slots[i] as number;
          if (validity) {
            const bit = row - (first & ~7);
            if ((((validity[bit >>> 3] as number) >>> (bit & 7)) & 1) === 0) {
              setNull(out, slot);
              continue;
            }
          }
          if (shape.bitWidth === 1) {
            const bit = row - (first & ~7);
            out.values[slot] = ((values[bit >>> 3] as number) >>> (bit & 7)) & 1;
          } else {
            const w = shape.bitWidth / 8;
            const at = (row - first) * w;
            if (at + w > values.length) throw new CorruptFileError(`${where}: row ${row} is past the values read`);
            out.values.set(values.subarray(at, at + w), slot * w);
            if (itemValidity && items) {
              const bit = row * perValue - itemBase;
              if (bit + perValue > items.length * 8)
                throw new CorruptFileError(`${where}: row ${row} is past the item validity read`);
              expandBitmap(items, bit, perValue, itemValidity, slot * perValue);
            }
          }
        }
      }
      return;
    }
    case 'binary': {
      const b = shape.binary;
      const fsst = b.fsstSymbols ? fsstSymbolTable(b.fsstSymbols) : null;
      const whole = buffers.wholeBytes ? binaryBytes(b, buffers.wholeBytes) : null;
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const ends = endOffsets(buffers.indices?.[k] ?? new Uint8Array(0), where);
        const lead = first > 0 ? 1 : 0;
        const adjust = (v: number) => (v >= b.nullAdjustment ? v - b.nullAdjustment : v);
        const runStart = first > 0 ? adjust(ends[0] as number) : 0;
        const src = whole ?? buffers.bytes?.[k];
        if (!src) throw new CorruptFileError(`${where}: missing binary bytes for run ${k}`);
        const base = whole ? 0 : runStart;
        for (let i = from; i < to; i++) {
          const r = (rows[i] as number) - first + lead;
          const raw = ends[r];
          if (raw === undefined) throw new CorruptFileError(`${where}: binary offsets do not cover row ${rows[i]}`);
          const slot = slots[i] as number;
          if (raw >= b.nullAdjustment) {
            setNull(out, slot);
            continue;
          }
          const start = r === 0 ? 0 : adjust(ends[r - 1] as number);
          appendBinaryValue(out, slot, src, start - base, raw - base, fsst, where);
        }
      }
      return;
    }
    case 'dictionary': {
      const items = shape.items;
      const itemEnds = endOffsets(buffers.wholeItemIndices ?? new Uint8Array(0), where);
      const itemBytes = binaryBytes(items, buffers.wholeBytes ?? new Uint8Array(0));
      const fsst = items.fsstSymbols ? fsstSymbolTable(items.fsstSymbols) : null;
      const w = shape.indexBits / 8;
      for (let k = 0; k < buffers.runs.length; k++) {
        const { from, to, first } = buffers.runs[k] as RowRun;
        const view = buffers.indices?.[k] ?? new Uint8Array(0);
        const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
        for (let i = from; i < to; i++) {
          const at = ((rows[i] as number) - first) * w;
          if (at + w > view.length)
            throw new CorruptFileError(`${where}: dictionary indices do not cover row ${rows[i]}`);
          const raw = w === 1 ? dv.getUint8(at) : w === 2 ? dv.getUint16(at, true) : dv.getUint32(at, true);
          const slot = slots[i] as number;
          if (!shape.nullsInItems && raw === 0) {
            setNull(out, slot);
            continue;
          }
          const index = shape.nullsInItems ? raw : raw - 1;
          const rawEnd = itemEnds[index];
          if (rawEnd === undefined)
            throw new CorruptFileError(`${where}: dictionary index ${raw} is beyond ${itemEnds.length} items`);
          if (rawEnd >= items.nullAdjustment) {
            setNull(out, slot);
            continue;
          }
          const adjust = (v: number) => (v >= items.nullAdjustment ? v - items.nullAdjustment : v);
          const end = rawEnd;
          const start = index === 0 ? 0 : adjust(itemEnds[index - 1] as number);
          appendBinaryValue(out, slot, itemBytes, start, end, fsst, where);
        }
      }
      return;
    }
  }
}

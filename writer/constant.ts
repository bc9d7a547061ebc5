/**
 * File version 2.2 constant pages (lance.encodings21.ConstantLayout), which LanceDB 0.39 writes for every
 * page whose valid values are all equal (every 1-row page among them), fixed-size lists excepted:
 *
 *   value:   inline_value (fixed-width values of at most 32 bytes; bools as one byte), or a value
 *            buffer for strings and binaries:
 *            u32 2 | u32 offsets bytes (8 or 16) | u32 data bytes | offsets (0, length) | data
 *   buffers: [value buffer]? then, when some entry is null or the column has lists, [rep, def]: raw
 *            u16 levels (an empty buffer for a page without that kind of level)
 *
 * Fixed-width values wider than 32 bytes go into a one-buffer value buffer in LanceDB's files; the
 * writer leaves such pages to the other layouts, which LanceDB reads the same.
 */
import type { ConstantLayoutProto } from '../format/proto/messages.js';
import type { ColumnKind } from './schema.js';
import { levelBytes, rowBytes, type PageBuffer, type PageValues } from './values.js';

const MAX_INLINE_BYTES = 32;
const VALUE_HEADER_BYTES = 12;

/** Byte range of value `i` of `values` (a bit index for bools). */
function valueRange(kind: ColumnKind, values: PageValues, i: number): [number, number] {
  if (kind.kind === 'variable') {
    const offsets = values.offsets as Float64Array;
    return [offsets[i] as number, offsets[i + 1] as number];
  }
  const width = rowBytes(kind);
  return [i * width, (i + 1) * width];
}

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

function equalBytes(bytes: Uint8Array, a: [number, number], b: [number, number]): boolean {
  const length = a[1] - a[0];
  if (b[1] - b[0] !== length) return false;
  for (let k = 0; k < length; k++) if (bytes[a[0] + k] !== bytes[b[0] + k]) return false;
  return true;
}

/** The one value all valid entries hold, or undefined when they differ (or the kind has no constant pages). */
function commonValue(kind: ColumnKind, values: PageValues): Uint8Array | undefined {
  if (kind.kind === 'fsl' || values.pieces || values.nullCount === values.rows) return undefined;
  if (kind.kind === 'fixed' && kind.byteWidth > MAX_INLINE_BYTES) return undefined;
  const { validity, bytes } = values;
  let first = -1;
  for (let i = 0; i < values.rows; i++) {
    if (validity && !validity[i]) continue;
    if (first < 0) first = i;
    else if (kind.kind === 'bool') {
      if (bitAt(bytes, i) !== bitAt(bytes, first)) return undefined;
    } else if (!equalBytes(bytes, valueRange(kind, values, first), valueRange(kind, values, i))) return undefined;
  }
  if (kind.kind === 'bool') return Uint8Array.of(bitAt(bytes, first));
  const [start, end] = valueRange(kind, values, first);
  return bytes.subarray(start, end);
}

function valueBuffer(value: Uint8Array, offsetBytes: 4 | 8): Uint8Array {
  const out = new Uint8Array(VALUE_HEADER_BYTES + 2 * offsetBytes + value.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 2, true);
  view.setUint32(4, 2 * offsetBytes, true);
  view.setUint32(8, value.length, true);
  const end = VALUE_HEADER_BYTES + offsetBytes;
  if (offsetBytes === 4) view.setUint32(end, value.length, true);
  else view.setBigUint64(end, BigInt(value.length), true);
  out.set(value, VALUE_HEADER_BYTES + 2 * offsetBytes);
  return out;
}

/**
 * The page as a 2.2 constant page, or undefined when its values differ. `levelsOf` gives the page's
 * layers and levels (one per entry), when it has any.
 */
export function encodeConstantPage(
  kind: ColumnKind,
  values: PageValues,
  levelsOf: () => { rep?: Uint16Array; def?: Uint16Array; layers: ConstantLayoutProto['layers'] },
): { buffers: PageBuffer[]; layout: ConstantLayoutProto } | undefined {
  const value = commonValue(kind, values);
  if (!value) return undefined;
  const levels = levelsOf();
  const layout: ConstantLayoutProto = { layers: levels.layers, num_rep_values: 0, num_def_values: 0 };
  const buffers: PageBuffer[] = [];
  if (kind.kind === 'variable') buffers.push(valueBuffer(value, kind.offsetBytes));
  else layout.inline_value = value;
  // The level counts stay 0, as LanceDB writes them: readers size the levels by the buffers.
  if (levels.rep || levels.def) buffers.push(levelBytes(levels.rep), levelBytes(levels.def));
  return { buffers, layout };
}

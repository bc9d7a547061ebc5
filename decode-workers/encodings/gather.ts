/**
 * Scatter-gather of fixed-width values: copies value `rows[i] - base` of a decoded source into output
 * slot `slots[i]`. Widths 1, 2, 4 and 8 use typed views when both sides are aligned (one element move
 * per value, no per-value objects); wide values (vectors) copy with `set` per value.
 */
import type { ItemValidity } from '../../io/plan-steps.js';
import { itemValidityOutput } from './item-validity.js';
import type { FixedOutput } from './output.js';

/** `items`: the values' item validity (fixed-size lists with null items), gathered the same way; `where` names the page. */
export function gatherFixed(
  src: Uint8Array,
  byteWidth: number,
  rows: Uint32Array,
  slots: Uint32Array,
  from: number,
  to: number,
  base: number,
  out: FixedOutput,
  items?: ItemValidity,
  where = '',
): void {
  if (items) {
    const { bytes, perValue } = items;
    gatherFixed(bytes, perValue, rows, slots, from, to, base, itemValidityOutput(out, perValue, where));
  }
  const dst = out.values;
  const aligned = src.byteOffset % byteWidth === 0 && dst.byteOffset % byteWidth === 0;
  if (aligned && (byteWidth === 4 || byteWidth === 8)) {
    const s = new Uint32Array(src.buffer, src.byteOffset, src.byteLength >>> 2);
    const d = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2);
    if (byteWidth === 4) {
      for (let i = from; i < to; i++) d[slots[i] as number] = s[(rows[i] as number) - base] as number;
    } else {
      for (let i = from; i < to; i++) {
        const si = ((rows[i] as number) - base) * 2;
        const di = (slots[i] as number) * 2;
        d[di] = s[si] as number;
        d[di + 1] = s[si + 1] as number;
      }
    }
    return;
  }
  if (aligned && byteWidth === 2) {
    const s = new Uint16Array(src.buffer, src.byteOffset, src.byteLength >>> 1);
    const d = new Uint16Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 1);
    for (let i = from; i < to; i++) d[slots[i] as number] = s[(rows[i] as number) - base] as number;
    return;
  }
  if (byteWidth === 1) {
    for (let i = from; i < to; i++) dst[slots[i] as number] = src[(rows[i] as number) - base] as number;
    return;
  }
  if (byteWidth >= 32) {
    for (let i = from; i < to; i++) {
      const s = ((rows[i] as number) - base) * byteWidth;
      dst.set(src.subarray(s, s + byteWidth), (slots[i] as number) * byteWidth);
    }
    return;
  }
  for (let i = from; i < to; i++) {
    const s = ((rows[i] as number) - base) * byteWidth;
    const d = (slots[i] as number) * byteWidth;
    for (let b = 0; b < byteWidth; b++) dst[d + b] = src[s + b] as number;
  }
}

/**
 * Validity of the items of fixed_size_list values with null items (`FixedSizeList<Float32>` whose floats
 * may be null). Lance keeps it beside the values, not in the rep/def levels (lance-encoding
 * physical/value.rs), as an LSB-first bitmap:
 *
 *   mini-block  one buffer per FSL layer with validity, before the values buffer: count × dim bits per chunk
 *   full-zip    ceil(dim / 8) bitmap bytes before each value's bytes (in the value's stride)
 *   2.0         FixedSizeList(dim, Nullable(SomeNull(bitmap), Flat)): rows × dim bits in a page buffer
 *
 * Decoders expand it to one byte per item (1 = valid), `perValue` items per value, like row validity. An
 * output gets item validity only once a page has some: columns without null items pay nothing.
 */
import { CorruptFileError } from '../../errors.js';
import type { FixedOutput } from './output.js';

/** Expands `count` bits of an LSB-first bitmap, from bit `bitStart`, into one byte (0/1) each. */
export function expandBitmap(
  bits: Uint8Array,
  bitStart: number,
  count: number,
  out: Uint8Array,
  outOffset: number,
): void {
  for (let i = 0; i < count; i++) {
    const bit = bitStart + i;
    out[outOffset + i] = ((bits[bit >>> 3] as number) >>> (bit & 7)) & 1;
  }
}

/** The item validity of `out`, created (every item valid) on first use. */
export function outputItemValidity(out: FixedOutput, perValue: number, where: string): Uint8Array {
  if (out.itemValidity) {
    if (out.itemValidity.perValue !== perValue)
      throw new CorruptFileError(
        `${where}: item validity of ${perValue} items per value, where another page had ${out.itemValidity.perValue}`,
      );
    return out.itemValidity.bytes;
  }
  if (perValue <= 0 || out.byteWidth % perValue !== 0)
    throw new CorruptFileError(`${where}: ${perValue} items per value do not divide ${out.byteWidth}-byte values`);
  const bytes = new Uint8Array((out.values.length / out.byteWidth) * perValue).fill(1);
  out.itemValidity = { perValue, bytes };
  return bytes;
}

/** The item validity of `out` as a fixed-width output of `perValue` bytes per slot, for gatherFixed. */
export function itemValidityOutput(out: FixedOutput, perValue: number, where: string): FixedOutput {
  const values = outputItemValidity(out, perValue, where);
  return { kind: 'fixed', byteWidth: perValue, values, validity: null };
}

/**
 * How a page's u16 repetition or definition levels are compressed, chunk by chunk (each mini-block
 * chunk's levels are one block), per file version:
 *
 *   2.1: bit-packed or raw, as writer/bitpack.ts's `levelCodec` picks
 *   2.2: Rle when its bytes beat both the raw levels and the bit-packed estimate, else as 2.1
 *
 * Both are LanceDB 0.39's choices (checked page by page against its files).
 *
 * The Rle block form (decode-workers/encodings/rle.ts reads it):
 *
 *   u64 LE byte length of the run values | run values (u16 each) | run lengths (u8 each)
 *
 * Runs longer than 255 levels are split into runs of 255 and the rest.
 */
import type { CompressiveEncodingProto } from '../format/proto/messages.js';
import { levelCodec as bitpackLevelCodec, packedLevelBytes, type LevelCodec } from './bitpack.js';

/** The Lance file versions the writer writes. */
export type WriteFileVersion = '2.1' | '2.2';

const RLE_HEADER_BYTES = 8;
const MAX_RUN = 255;

/** Runs of `levels`, each at most 255 long. */
function runCount(levels: Uint16Array): number {
  let runs = 0;
  let i = 0;
  while (i < levels.length) {
    const value = levels[i];
    let end = i + 1;
    while (end < levels.length && end - i < MAX_RUN && levels[end] === value) end++;
    runs++;
    i = end;
  }
  return runs;
}

/** One chunk of levels in the Rle block form. */
function rleBlock(levels: Uint16Array): Uint8Array {
  const runs = runCount(levels);
  const out = new Uint8Array(RLE_HEADER_BYTES + runs * 3);
  const view = new DataView(out.buffer);
  view.setUint32(0, runs * 2, true);
  const lengthsAt = RLE_HEADER_BYTES + runs * 2;
  let run = 0;
  let i = 0;
  while (i < levels.length) {
    const value = levels[i] as number;
    let end = i + 1;
    while (end < levels.length && end - i < MAX_RUN && levels[end] === value) end++;
    view.setUint16(RLE_HEADER_BYTES + run * 2, value, true);
    out[lengthsAt + run] = end - i;
    run++;
    i = end;
  }
  return out;
}

const RLE_LEVELS: CompressiveEncodingProto = {
  rle: { values: { flat: { bits_per_value: 16 } }, run_lengths: { flat: { bits_per_value: 8 } } },
};

/** The codec LanceDB 0.39 picks for a page's levels (all of them, before the page is cut into chunks). */
export function levelCodec(levels: Uint16Array, version: WriteFileVersion): LevelCodec {
  if (version === '2.1') return bitpackLevelCodec(levels);
  const rleBytes = RLE_HEADER_BYTES + runCount(levels) * 3;
  const packed = packedLevelBytes(levels);
  if (rleBytes < levels.length * 2 && !(packed !== undefined && packed < rleBytes)) {
    return { encoding: RLE_LEVELS, compress: rleBlock };
  }
  return bitpackLevelCodec(levels);
}

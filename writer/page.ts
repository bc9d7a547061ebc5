/**
 * One page of one column: the structural layout chosen as LanceDB chooses it, then encoded.
 *
 *   no value slot holds a valid value   → all null: ConstantLayout without a value; no buffers for a
 *                                          flat column, [rep, def] buffers for a nested leaf
 *   (2.2) every valid value is the same → ConstantLayout with that value (writer/constant.ts)
 *   widest value under 256 bytes        → mini-block (unless a nested leaf's levels overflow a chunk)
 *   otherwise                           → full-zip
 *
 * Values are written uncompressed (Flat, FixedSizeList(Flat), Variable) or bit-packed; levels as
 * writer/levels.ts picks. A nested leaf's page counts its top-level rows, not its values.
 */
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { CompressiveEncodingProto, ConstantLayoutProto, PageLayoutProto } from '../format/proto/messages.js';
import { encodeConstantPage } from './constant.js';
import { encodeFullZipPage } from './fullzip.js';
import { levelCodec, type WriteFileVersion } from './levels.js';
import { encodeMiniBlockPage } from './miniblock.js';
import type { ColumnKind } from './schema.js';
import {
  levelBytes,
  levelsOf,
  rowBytes,
  WIDE_ROW_BYTES,
  type PageBuffer,
  type PageLevels,
  type PageValues,
} from './values.js';

/** An encoded page: its buffers in order and its `Page.encoding` bytes (an Any of a PageLayout). */
export interface EncodedPage {
  rows: number;
  buffers: PageBuffer[];
  encoding: Uint8Array;
}

function widestValue(kind: ColumnKind, values: PageValues): number {
  if (kind.kind === 'bool') return 1;
  if (kind.kind !== 'variable') return rowBytes(kind);
  const offsets = values.offsets as Float64Array;
  let widest = 0;
  for (let r = 0; r < values.rows; r++) {
    if (values.validity && !values.validity[r]) continue;
    const length = (offsets[r + 1] as number) - (offsets[r] as number);
    if (length > widest) widest = length;
  }
  return widest;
}

/**
 * An all-null page of a nested leaf: its levels as [rep, def] buffers, raw u16 in 2.1, each compressed
 * as one block (and the codec named in the layout) in 2.2, as LanceDB writes them.
 */
function allNullLevels(
  levels: PageLevels,
  version: WriteFileVersion,
): { buffers: PageBuffer[]; layout: ConstantLayoutProto } {
  const layout: ConstantLayoutProto = { layers: levels.layers, num_rep_values: 0, num_def_values: 0 };
  if (version === '2.1') return { buffers: [levelBytes(levels.rep), levelBytes(levels.def)], layout };
  const compress = (all: Uint16Array | undefined): { bytes: Uint8Array; encoding?: CompressiveEncodingProto } => {
    if (!all) return { bytes: new Uint8Array(0) };
    const codec = levelCodec(all, version);
    return { bytes: codec.compress(all), encoding: codec.encoding };
  };
  const [rep, def] = [compress(levels.rep), compress(levels.def)];
  // Compressed levels need their counts, which LanceDB records only here.
  layout.num_rep_values = levels.rep?.length ?? 0;
  layout.num_def_values = levels.def?.length ?? 0;
  if (rep.encoding) layout.rep_compression = rep.encoding;
  if (def.encoding) layout.def_compression = def.encoding;
  return { buffers: [rep.bytes, def.bytes], layout };
}

/** Encodes one page of a column in file version `version`. */
export function encodePage(kind: ColumnKind, values: PageValues, version: WriteFileVersion): EncodedPage {
  let layout: PageLayoutProto;
  let buffers: PageBuffer[];
  const levels = values.levels;
  let constant: ReturnType<typeof encodeConstantPage>;
  let miniBlock: ReturnType<typeof encodeMiniBlockPage>;
  if (values.nullCount === values.rows && levels) {
    const page = allNullLevels(levels, version);
    layout = { constant_layout: page.layout };
    buffers = page.buffers;
  } else if (values.nullCount === values.rows) {
    layout = { constant_layout: { layers: ['REPDEF_NULLABLE_ITEM'], num_rep_values: 0, num_def_values: 0 } };
    buffers = [];
  } else if (version === '2.2' && (constant = encodeConstantPage(kind, values, () => levelsOf(values)))) {
    layout = { constant_layout: constant.layout };
    buffers = constant.buffers;
  } else if (widestValue(kind, values) < WIDE_ROW_BYTES && (miniBlock = encodeMiniBlockPage(kind, values, version))) {
    layout = { mini_block_layout: miniBlock.layout };
    buffers = miniBlock.buffers;
  } else {
    const page = encodeFullZipPage(kind, values);
    layout = { full_zip_layout: page.layout };
    buffers = page.buffers;
  }
  return {
    rows: levels?.rows ?? values.rows,
    buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout(layout)),
  };
}

/**
 * One page of one column: the structural layout chosen as LanceDB chooses it, then encoded.
 *
 *   every row null                      → AllNull (ConstantLayout without a value; no buffers)
 *   widest value under 256 bytes        → mini-block
 *   otherwise                           → full-zip
 *
 * Values are written uncompressed (Flat, FixedSizeList(Flat), Variable); definition levels, when a row
 * is null, as Flat(16b).
 */
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { PageLayoutProto } from '../format/proto/messages.js';
import { encodeFullZipPage } from './fullzip.js';
import { encodeMiniBlockPage } from './miniblock.js';
import type { ColumnKind } from './schema.js';
import { rowBytes, WIDE_ROW_BYTES, type PageBuffer, type PageValues } from './values.js';

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

/** Encodes one page of a column. */
export function encodePage(kind: ColumnKind, values: PageValues): EncodedPage {
  let layout: PageLayoutProto;
  let buffers: PageBuffer[];
  if (values.nullCount === values.rows) {
    layout = { constant_layout: { layers: ['REPDEF_NULLABLE_ITEM'], num_rep_values: 0, num_def_values: 0 } };
    buffers = [];
  } else if (widestValue(kind, values) < WIDE_ROW_BYTES) {
    const page = encodeMiniBlockPage(kind, values);
    layout = { mini_block_layout: page.layout };
    buffers = page.buffers;
  } else {
    const page = encodeFullZipPage(kind, values);
    layout = { full_zip_layout: page.layout };
    buffers = page.buffers;
  }
  return {
    rows: values.rows,
    buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout(layout)),
  };
}

/**
 * Blob columns (`lance-encoding:blob` on large_binary, file version 2.1), as LanceDB's
 * BlobStructuralEncoder writes them: each value's bytes go into the data file out of line, ahead of the
 * page, 64-byte aligned, and the page holds one descriptor per row, a packed struct of two u64:
 *
 *   valid, non-empty value   (position, size)   position: the file offset of its bytes
 *   empty value              (0, 0)
 *   null                     (def << 16, 0)     the row's definition level, smuggled into the position
 *
 *   page: BlobLayout { layers: [NULLABLE_ITEM | ALL_VALID_ITEM],
 *                      inner_layout: MiniBlock { PackedStruct([64, 64], Flat(128)) } }
 *
 * Descriptors are never null themselves, so the inner page has no levels. dataset/blobs.ts reads them
 * back. LanceDB refuses these columns in file version 2.2 (blob v2 replaces them); so does the writer.
 */
import { InternalError, UnsupportedError } from '../errors.js';
import { encodeAny, encodePageLayout } from '../format/proto/encode.js';
import type { PageLayoutProto } from '../format/proto/messages.js';
import type { WriteFileVersion } from './levels.js';
import { encodeMiniBlockPage } from './miniblock.js';
import type { EncodedPage } from './page.js';
import type { PageValues } from './values.js';

/** The definition level of a null row of a flat nullable column. */
const NULL_DEF = 1;

/**
 * Encodes a page of a blob column: `appendBlob` writes a value's bytes into the data file (aligned as
 * page buffers are) and returns their file offset, before the page's own buffers are appended.
 */
export function encodeBlobPage(
  column: string,
  values: PageValues,
  version: WriteFileVersion,
  appendBlob: (bytes: Uint8Array) => number,
): EncodedPage {
  if (version !== '2.1') {
    throw new UnsupportedError(
      `column "${column}" is a blob column (lance-encoding:blob), which file version ${version} does not have (LanceDB refuses it too); write it with fileVersion '2.1'`,
      { column, fileVersion: version },
    );
  }
  const offsets = values.offsets as Float64Array;
  const descriptors = new BigUint64Array(values.rows * 2);
  for (let r = 0; r < values.rows; r++) {
    if (values.validity && !values.validity[r]) {
      descriptors[2 * r] = BigInt(NULL_DEF << 16);
      continue;
    }
    const [start, end] = [offsets[r] as number, offsets[r + 1] as number];
    if (end === start) continue;
    descriptors[2 * r] = BigInt(appendBlob(values.bytes.subarray(start, end)));
    descriptors[2 * r + 1] = BigInt(end - start);
  }
  const page = encodeMiniBlockPage(
    { kind: 'fixed', byteWidth: 16 },
    { rows: values.rows, nullCount: 0, bytes: new Uint8Array(descriptors.buffer) },
    version,
    { plain: true, wrapEncoding: (inner) => ({ packed_struct: { bits_per_value: [64, 64], values: inner } }) },
  );
  if (!page) throw new InternalError(`column "${column}": blob descriptors did not fit mini-block chunks`);
  const layout: PageLayoutProto = {
    blob_layout: {
      inner_layout: { mini_block_layout: page.layout },
      layers: [values.validity ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM'],
    },
  };
  return {
    rows: values.rows,
    buffers: page.buffers,
    encoding: encodeAny('lance.encodings21.PageLayout', encodePageLayout(layout)),
  };
}

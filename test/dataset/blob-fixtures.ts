/**
 * The blob fixtures the takeBlobs tests share: which LanceDB-written blob datasets there are, the bytes
 * written for their values, and a hand-built external (blob v2 kind 3) descriptor.
 */
import * as arrow from 'apache-arrow';
import type { Comparable } from '../fixtures/compare.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';
import { expectedComparable } from '../fixtures/plan.js';

export const BLOB_CASES: { spec: string; version: StorageVersion }[] = [
  { spec: 'blob', version: '2.0' },
  { spec: 'blob', version: '2.1' },
  { spec: 'blob_v2', version: '2.2' },
];

/** The bytes written for column `image` of each visible row, as hex (null for a null blob). */
export function writtenBlobs(spec: string): (string | null)[] {
  const expected = expectedComparable(specByName(spec));
  const column = expected.columns[expected.fields.findIndex((f) => f.name === 'image')] as Comparable[];
  // blob_v2 was written as struct<data, uri>: the bytes are its data field.
  return column.map((value) =>
    value !== null && typeof value === 'object'
      ? ((value as Record<string, Comparable>)['data'] as string)
      : (value as string | null),
  );
}

/** A blob v2 descriptor struct of one external (kind 3) value of `size` bytes at `position` of `uri`. */
export function externalDescriptor(uri: string, position: bigint, size: bigint, base = 0): arrow.Data<arrow.Struct> {
  const uriBytes = new TextEncoder().encode(uri);
  const type = new arrow.Struct([
    new arrow.Field('kind', new arrow.Uint8(), false),
    new arrow.Field('position', new arrow.Uint64(), true),
    new arrow.Field('size', new arrow.Uint64(), true),
    new arrow.Field('blob_id', new arrow.Uint32(), true),
    new arrow.Field('blob_uri', new arrow.Utf8(), true),
  ]);
  return arrow.makeData({
    type,
    length: 1,
    nullCount: 0,
    children: [
      arrow.makeData({ type: new arrow.Uint8(), length: 1, data: Uint8Array.of(3) }),
      arrow.makeData({ type: new arrow.Uint64(), length: 1, data: BigUint64Array.of(position) }),
      arrow.makeData({ type: new arrow.Uint64(), length: 1, data: BigUint64Array.of(size) }),
      arrow.makeData({ type: new arrow.Uint32(), length: 1, data: Uint32Array.of(base) }),
      arrow.makeData({
        type: new arrow.Utf8(),
        length: 1,
        valueOffsets: Int32Array.of(0, uriBytes.length),
        data: uriBytes,
      }),
    ],
  });
}

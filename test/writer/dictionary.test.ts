/**
 * When a page of strings or binary values becomes a dictionary page, and what the indices and items hold.
 */
import { describe, expect, it } from 'vitest';
import { decodeBlockValues } from '../../decode-workers/encodings/values.js';
import { encodePageLayout } from '../../format/proto/encode.js';
import { decodePageLayout } from '../../format/proto/messages.js';
import { compressDictionary, encodeDictionary, type DictionaryPage } from '../../writer/dictionary.js';
import type { PageValues } from '../../writer/values.js';

function pageOf(strings: (string | null)[]): PageValues {
  const encoded = strings.map((s) => new TextEncoder().encode(s ?? ''));
  const offsets = new Float64Array(strings.length + 1);
  encoded.forEach((s, i) => (offsets[i + 1] = (offsets[i] as number) + s.length));
  const bytes = new Uint8Array(offsets[strings.length] as number);
  encoded.forEach((s, i) => bytes.set(s, offsets[i] as number));
  const nullCount = strings.filter((s) => s === null).length;
  const validity = nullCount > 0 ? Uint8Array.from(strings, (s) => (s === null ? 0 : 1)) : undefined;
  return { rows: strings.length, nullCount, bytes, offsets, validity };
}

/** The page's strings as the dictionary resolves them (null rows as null). */
function resolve(page: PageValues, strings: (string | null)[]): (string | null)[] {
  const dictionary = encodeDictionary(page, 4);
  if (!dictionary) throw new Error('no dictionary');
  // Decoded protos name their oneof member; the writer's objects set the member alone.
  const encoding = { compression: 'variable' as const, ...dictionary.encoding };
  const items = decodeBlockValues(encoding, dictionary.items, dictionary.itemCount, 'test');
  if (items.kind !== 'variable') throw new Error('variable items expected');
  const indices = new Uint32Array(dictionary.indices.buffer, dictionary.indices.byteOffset, page.rows);
  const decoder = new TextDecoder();
  return strings.map((s, r) => {
    if (s === null) return null;
    const i = indices[r] as number;
    return decoder.decode(items.data.subarray(items.offsets[i], items.offsets[i + 1]));
  });
}

const colors = Array.from({ length: 1000 }, (_, i) => ['red', 'green', 'blue'][i % 3] as string);

describe('encodeDictionary', () => {
  it('keeps three distinct values once each, in the order of their first row', () => {
    const dictionary = encodeDictionary(pageOf(colors), 4);
    expect(dictionary?.itemCount).toBe(3);
    expect(resolve(pageOf(colors), colors)).toEqual(colors);
  });

  it('tells apart long values that differ only in the middle', () => {
    const long = (k: number): string => `${'a'.repeat(300)}${k}${'z'.repeat(300)}`;
    const strings = Array.from({ length: 600 }, (_, i) => long(i % 4));
    expect(encodeDictionary(pageOf(strings), 4)?.itemCount).toBe(4);
    expect(resolve(pageOf(strings), strings)).toEqual(strings);
  });

  it("keeps null rows' empty slots as an item, as LanceDB does", () => {
    const strings = colors.map((c, i) => (i % 5 === 0 ? null : c));
    expect(encodeDictionary(pageOf(strings), 4)?.itemCount).toBe(4);
    expect(resolve(pageOf(strings), strings)).toEqual(strings);
  });

  it('declines fewer than 100 values', () => {
    expect(encodeDictionary(pageOf(colors.slice(0, 99)), 4)).toBeUndefined();
  });

  it('counts null rows among the 100 values', () => {
    const strings = colors.slice(0, 100).map((c, i) => (i < 10 ? null : c));
    expect(encodeDictionary(pageOf(strings), 4)?.itemCount).toBe(4);
  });

  it('declines a dictionary of more items than half the values', () => {
    const strings = (distinct: number): string[] =>
      Array.from({ length: 1000 }, (_, i) => `${'x'.repeat(40)}${i % distinct}`);
    expect(encodeDictionary(pageOf(strings(501)), 4)).toBeUndefined();
    expect(encodeDictionary(pageOf(strings(500)), 4)?.itemCount).toBe(500);
  });

  it('declines values that are mostly distinct', () => {
    expect(encodeDictionary(pageOf(Array.from({ length: 1000 }, (_, i) => `id-${i}`)), 4)).toBeUndefined();
  });
});

/** A dictionary of 64-bit items, as encodeFixedDictionary makes one (indices are not compressed). */
function fixedDictionary(items: bigint[]): DictionaryPage {
  const bytes = new Uint8Array(BigUint64Array.from(items, (v) => BigInt.asUintN(64, v)).buffer);
  return {
    indices: new Uint8Array(0),
    items: bytes,
    itemCount: items.length,
    encoding: { flat: { bits_per_value: 64 } },
  };
}

/** The items a compressed dictionary decodes to, its encoding read back through the page layout's protobuf. */
function decodedItems(dictionary: DictionaryPage): bigint[] {
  const bytes = encodePageLayout({ mini_block_layout: { dictionary: dictionary.encoding } });
  const layout = decodePageLayout(bytes, 'test');
  const encoding = layout.mini_block_layout?.dictionary;
  const items = decodeBlockValues(encoding, dictionary.items, dictionary.itemCount, 'test');
  if (items.kind !== 'fixed') throw new Error('fixed items expected');
  return Array.from(new BigInt64Array(items.bytes.slice().buffer, 0, dictionary.itemCount));
}

describe('compressDictionary', () => {
  const spread = (count: number, top: bigint): bigint[] =>
    Array.from({ length: count }, (_, k) => (BigInt(k) * top) / BigInt(count - 1));

  it.each([
    { name: '500 items of 12 bits', items: spread(500, 4095n), kind: 'InlineBitpacking(u64)', bytes: 8 + 128 * 12 },
    {
      name: '1025 items of 12 bits, the tail raw',
      items: spread(1025, 4095n),
      kind: 'OutOfLineBitpacking(u64,12)',
      bytes: 128 * 12 + 8,
    },
    {
      name: '1500 items of 12 bits, the tail padded',
      items: spread(1500, 4095n),
      kind: 'OutOfLineBitpacking(u64,12)',
      bytes: 2 * 128 * 12,
    },
    {
      name: '1100 negative items at 64 bits',
      items: spread(1100, -1100n),
      kind: 'OutOfLineBitpacking(u64,64)',
      bytes: 128 * 64 + 76 * 8,
    },
  ])('bit-packs $name as $kind in $bytes bytes, read back item for item', ({ items, kind, bytes }) => {
    const packed = compressDictionary(fixedDictionary(items));
    const { inline_bitpacking: inline, out_of_line_bitpacking: outOfLine } = packed.encoding;
    const described = inline
      ? `InlineBitpacking(u${inline.uncompressed_bits_per_value})`
      : `OutOfLineBitpacking(u${outOfLine?.uncompressed_bits_per_value},${outOfLine?.values?.flat?.bits_per_value})`;
    expect(described).toBe(kind);
    expect(packed.items.length).toBe(bytes);
    expect(decodedItems(packed)).toEqual(items);
  });

  it('compresses with lz4 the items that one bit-packed block would not shrink', () => {
    const packed = compressDictionary(fixedDictionary(spread(816, 2n ** 51n - 1n)));
    expect(packed.encoding.general?.compression?.scheme).toBe('COMPRESSION_ALGORITHM_LZ4');
    expect(compressDictionary(fixedDictionary(spread(817, 2n ** 51n - 1n))).encoding.inline_bitpacking).toBeDefined();
  });

  it('compresses string items with lz4', () => {
    const dictionary = encodeDictionary(pageOf(colors), 4) as DictionaryPage;
    expect(compressDictionary(dictionary).encoding.general?.values).toEqual(dictionary.encoding);
  });
});

/**
 * When a page of strings or binary values becomes a dictionary page, and what the indices and items hold.
 */
import { describe, expect, it } from 'vitest';
import { decodeBlockValues } from '../../decode-workers/encodings/values.js';
import { encodeDictionary } from '../../writer/dictionary.js';
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

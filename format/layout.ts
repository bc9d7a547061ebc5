/**
 * Page layouts: what one page of one column looks like, parsed from the page's `Encoding` (an `Any`
 * holding a lance.encodings21.PageLayout in 2.1, a lance.encodings.ArrayEncoding in 2.0). These are
 * plain data (structured-clone safe) so decode tasks can carry them to worker threads.
 */
import { CorruptFileError } from '../errors.js';
import type { FileVersion } from './footer.js';
import {
  decodeAny,
  decodeArrayEncoding,
  decodePageLayout,
  type ArrayEncodingProto,
  type CompressiveEncodingProto,
  type ConstantLayoutProto,
  type EncodingProto,
  type FullZipLayoutProto,
  type MiniBlockLayoutProto,
  type PageLayoutProto,
} from './proto/messages.js';

export type PageLayout =
  | { kind: 'miniblock'; layout: MiniBlockLayoutProto }
  | { kind: 'fullzip'; layout: FullZipLayoutProto }
  | { kind: 'constant'; layout: ConstantLayoutProto }
  | { kind: 'blob'; layout: PageLayoutProto }
  | { kind: 'v2.0'; encoding: ArrayEncodingProto };

/** Decodes a page's encoding into a layout; `where` names the file, column and page for errors. */
export function parsePageLayout(encoding: EncodingProto | undefined, version: FileVersion, where: string): PageLayout {
  if (encoding?.location !== 'direct' || !encoding.direct) {
    throw new CorruptFileError(
      `${where}: page encoding is not stored inline (location ${encoding?.location ?? 'missing'})`,
    );
  }
  const any = decodeAny(encoding.direct.encoding, where);
  if (any.type_url.endsWith('lance.encodings21.PageLayout')) {
    if (version === '2.0') throw new CorruptFileError(`${where}: a 2.1 page layout in a ${version} file`);
    const proto = decodePageLayout(any.value, where);
    switch (proto.layout) {
      case 'mini_block_layout':
        if (proto.mini_block_layout) return { kind: 'miniblock', layout: proto.mini_block_layout };
        break;
      case 'full_zip_layout':
        if (proto.full_zip_layout) return { kind: 'fullzip', layout: proto.full_zip_layout };
        break;
      case 'constant_layout':
        if (proto.constant_layout) return { kind: 'constant', layout: proto.constant_layout };
        break;
      case 'blob_layout':
        return { kind: 'blob', layout: proto };
    }
    throw new CorruptFileError(`${where}: page layout has no layout set`);
  }
  if (any.type_url.endsWith('lance.encodings.ArrayEncoding')) {
    if (version !== '2.0') throw new CorruptFileError(`${where}: a 2.0 array encoding in a ${version} file`);
    return { kind: 'v2.0', encoding: decodeArrayEncoding(any.value, where) };
  }
  throw new CorruptFileError(`${where}: unknown page encoding type "${any.type_url}"`);
}

/**
 * Where the buffers of a constant page sit (lance 10 ConstantLayout, file version 2.2): a value buffer
 * when the value is not inline (strings and binaries), then the repetition and definition levels when
 * the page has nulls or lists:
 *
 *   [value]? [rep, def]?
 *
 * Without a value (no inline value, no value buffer) the page is all null.
 */
export interface ConstantBuffers {
  value: number | undefined;
  rep: number | undefined;
  def: number | undefined;
}

/** The buffer indexes of a constant page with `bufferCount` buffers. */
export function constantBuffers(layout: ConstantLayoutProto, bufferCount: number, where: string): ConstantBuffers {
  const value = layout.inline_value === undefined && bufferCount % 2 === 1 ? 0 : undefined;
  const levelsAt = value === undefined ? 0 : 1;
  if (bufferCount !== levelsAt && bufferCount !== levelsAt + 2) {
    throw new CorruptFileError(
      `${where}: constant page has ${bufferCount} buffers (expected [value]? [rep, def]?, ${layout.inline_value ? 'inline value' : 'no inline value'})`,
    );
  }
  const levels = bufferCount === levelsAt + 2;
  return { value, rep: levels ? levelsAt : undefined, def: levels ? levelsAt + 1 : undefined };
}

/**
 * A short human-readable name of a layout and its encodings, for `inspect` and error messages; a
 * constant page's `bufferCount` tells a value buffer from an all-null page.
 */
export function describeLayout(layout: PageLayout, bufferCount: number): string {
  switch (layout.kind) {
    case 'miniblock': {
      const l = layout.layout;
      const parts = [`values=${describeCompressive(l.value_compression)}`];
      if (l.def_compression) parts.push(`def=${describeCompressive(l.def_compression)}`);
      if (l.rep_compression) parts.push(`rep=${describeCompressive(l.rep_compression)}`);
      if (l.dictionary) parts.push(`dict=${describeCompressive(l.dictionary)}`);
      return `MiniBlock{${parts.join('; ')}}`;
    }
    case 'fullzip': {
      const l = layout.layout;
      const width = l.details === 'bits_per_offset' ? `offsets=${l.bits_per_offset}b` : `value=${l.bits_per_value}b`;
      return `FullZip{values=${describeCompressive(l.value_compression)}; ${width}; bits_rep=${l.bits_rep}; bits_def=${l.bits_def}}`;
    }
    case 'constant': {
      const l = layout.layout;
      if (!l.inline_value && bufferCount % 2 === 0) return bufferCount > 0 ? 'AllNull{rep/def}' : 'AllNull{}';
      const parts = [l.inline_value ? `inline=${l.inline_value.length}b` : 'value=buffer'];
      if (bufferCount >= 2) parts.push(`def=${l.def_compression ? describeCompressive(l.def_compression) : 'u16'}`);
      if (l.rep_compression) parts.push(`rep=${describeCompressive(l.rep_compression)}`);
      return `Constant{${parts.join('; ')}}`;
    }
    case 'blob': {
      const inner = layout.layout.blob_layout?.inner_layout;
      return inner?.mini_block_layout
        ? `Blob{${describeLayout({ kind: 'miniblock', layout: inner.mini_block_layout }, bufferCount)}}`
        : 'Blob{}';
    }
    case 'v2.0':
      return describeArrayEncoding(layout.encoding);
  }
}

/** Names a compressive encoding chain, e.g. `General(zstd,ByteStreamSplit(Flat(32b)))`. */
export function describeCompressive(encoding: CompressiveEncodingProto | undefined): string {
  const kind = encoding?.compression;
  if (!encoding || !kind) return '-';
  const body = (encoding as unknown as Record<string, Record<string, unknown>>)[kind] ?? {};
  const inner = (key: string) => describeCompressive(body[key] as CompressiveEncodingProto | undefined);
  switch (kind) {
    case 'flat':
      return `Flat(${body['bits_per_value']}b)`;
    case 'variable':
      return `Variable(${inner('offsets')})`;
    case 'inline_bitpacking':
      return `InlineBitpacking(u${body['uncompressed_bits_per_value']})`;
    case 'out_of_line_bitpacking':
      return `OutOfLineBitpacking(u${body['uncompressed_bits_per_value']},${inner('values')})`;
    case 'fsst':
      return `Fsst(${inner('values')})`;
    case 'rle':
      return `Rle(${inner('values')},${inner('run_lengths')})`;
    case 'byte_stream_split':
      return `ByteStreamSplit(${inner('values')})`;
    case 'general': {
      const scheme = String((body['compression'] as Record<string, unknown> | undefined)?.['scheme'] ?? '');
      return `General(${scheme.replace('COMPRESSION_ALGORITHM_', '').toLowerCase()},${inner('values')})`;
    }
    case 'fixed_size_list':
      return `FixedSizeList(${body['items_per_value']},${inner('values')})`;
    case 'dictionary':
      return `Dictionary(${inner('indices')},${inner('items')})`;
    case 'packed_struct':
      return `PackedStruct(${inner('values')})`;
    case 'variable_packed_struct': {
      const fields = (body['fields'] ?? []) as { value?: CompressiveEncodingProto }[];
      return `VariablePackedStruct(${fields.map((f) => describeCompressive(f.value)).join(';')})`;
    }
    default:
      return kind;
  }
}

/** Names a 2.0 ArrayEncoding tree, e.g. `Nullable(SomeNull,Flat(1b),Flat(32b))`. */
export function describeArrayEncoding(encoding: ArrayEncodingProto | undefined): string {
  if (!encoding?.array_encoding) return '-';
  switch (encoding.array_encoding) {
    case 'flat': {
      const scheme = encoding.flat?.compression?.scheme;
      return `Flat(${encoding.flat?.bits_per_value}b${scheme ? `,${scheme}` : ''})`;
    }
    case 'nullable': {
      const n = encoding.nullable;
      if (n?.nullability === 'no_nulls') return `Nullable(NoNull,${describeArrayEncoding(n.no_nulls?.values)})`;
      if (n?.nullability === 'some_nulls')
        return `Nullable(SomeNull,${describeArrayEncoding(n.some_nulls?.validity)},${describeArrayEncoding(n.some_nulls?.values)})`;
      return 'Nullable(AllNull)';
    }
    case 'fixed_size_list':
      return `FixedSizeList(${encoding.fixed_size_list?.dimension},${describeArrayEncoding(encoding.fixed_size_list?.items)})`;
    case 'binary':
      return `Binary(${describeArrayEncoding(encoding.binary?.indices)},${describeArrayEncoding(encoding.binary?.bytes)})`;
    case 'dictionary':
      return `Dictionary(${describeArrayEncoding(encoding.dictionary?.indices)},${describeArrayEncoding(encoding.dictionary?.items)})`;
    case 'fsst':
      return `Fsst(${describeArrayEncoding(encoding.fsst?.binary)})`;
    case 'list':
      return `List(${describeArrayEncoding(encoding.list?.offsets)})`;
    case 'struct':
      return 'SimpleStruct';
    default:
      return encoding.array_encoding;
  }
}

/** Width in bits of a Flat encoding, or undefined for anything else. */
export function flatBits(encoding: CompressiveEncodingProto | undefined): number | undefined {
  return encoding?.compression === 'flat' ? encoding.flat?.bits_per_value : undefined;
}

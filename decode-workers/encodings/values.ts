/**
 * Compressive decoding of mini-block value buffers (lance.encodings21.CompressiveEncoding): turns the
 * value buffers of one chunk into fixed-width bytes or variable-width offsets + bytes.
 *
 * Copies: Flat values are returned as views of the chunk (no copy); every other encoding writes its
 * result once into a fresh buffer (bit unpacking, run expansion, byte-stream unsplit, decompression,
 * FSST expansion). Bools (Flat 1 bit, LSB first) are expanded to one byte per value.
 */
import { CorruptFileError, UnsupportedError } from '../../errors.js';
import type { ItemValidity } from '../../io/plan-steps.js';
import { describeCompressive, flatBits } from '../../format/layout.js';
import type { CompressiveEncodingProto } from '../../format/proto/messages.js';
import { decodeInlineBitpacking, decodeOutOfLineBitpacking, type BitWidthElem } from './bitpack.js';
import { extractInlineBitpacked } from './bitpack-sparse.js';
import { decodeByteStreamSplit } from './byte-stream-split.js';
import { decompressBuffer } from './compression.js';
import { fsstSymbolTable, type FsstSymbolTable } from './fsst.js';
import { expandBitmap } from './item-validity.js';
import { decodeRle, decodeRleBlock } from './rle.js';

/**
 * Values of a chunk or dictionary. Variable-width values may still be FSST-compressed (`fsst` set): they
 * are expanded only when copied out, so a sparse take decodes just the rows it needs. Fixed-size lists
 * with null items carry their items' validity (item-validity.ts).
 */
export type DecodedValues =
  | { kind: 'fixed'; byteWidth: number; bytes: Uint8Array; count: number; itemValidity?: ItemValidity }
  | { kind: 'variable'; offsets: Uint32Array; data: Uint8Array; count: number; fsst?: FsstSymbolTable };

/** Largest decompressed size accepted for one chunk buffer. */
const MAX_CHUNK_BUFFER_BYTES = 64 * 1024 * 1024;

function unsupported(encoding: CompressiveEncodingProto | undefined, where: string): never {
  throw new UnsupportedError(`${where}: encoding ${describeCompressive(encoding)} is not supported by lance-loader`, {
    encoding: describeCompressive(encoding),
  });
}

function need(buffer: Uint8Array | undefined, bytes: number, where: string, what: string): Uint8Array {
  if (!buffer || buffer.length < bytes) {
    throw new CorruptFileError(`${where}: ${what} needs ${bytes} bytes but has ${buffer?.length ?? 0}`);
  }
  return buffer;
}

/**
 * Refuses to allocate the decoded values of an expanding encoding (bit unpacking, runs) beyond what a
 * chunk may hold: `count` comes from the file and, through fixed-size lists, can be multiplied by any width.
 */
function checkDecodedBytes(bytes: number, where: string, what: string): void {
  if (bytes > MAX_CHUNK_BUFFER_BYTES) {
    throw new CorruptFileError(
      `${where}: ${what} would decode to ${bytes} bytes, more than a chunk may hold (${MAX_CHUNK_BUFFER_BYTES})`,
      { bytes },
    );
  }
}

function elemBitsOf(bits: number, where: string): BitWidthElem {
  if (bits === 8 || bits === 16 || bits === 32 || bits === 64) return bits;
  throw new CorruptFileError(`${where}: bit-packed values of ${bits} bits (expected 8, 16, 32 or 64)`);
}

/**
 * Memory for sparse extractions, reused by every sparse decode of this thread: a shuffled take extracts a
 * few values per chunk, and allocating (and zeroing) a whole chunk's output for them costs more than the
 * extraction. Only the wanted entries are written and read; the result is consumed (gathered) before the
 * next decode, so it is never cached or handed on.
 */
let sparseScratch = new ArrayBuffer(64 * 1024);

/** Unsigned integers of `elemBits` decoded by a bit-unpacking kernel, returned as little-endian bytes. */
function unpacked(
  elemBits: BitWidthElem,
  count: number,
  fill: (out: Uint8Array | Uint16Array | Uint32Array) => void,
  scratch = false,
): Uint8Array {
  const bytes = (count * elemBits) / 8;
  if (scratch && sparseScratch.byteLength < bytes)
    sparseScratch = new ArrayBuffer(Math.max(bytes, 2 * sparseScratch.byteLength));
  const buffer = scratch ? sparseScratch : new ArrayBuffer(bytes);
  const words = elemBits === 64 ? count * 2 : count;
  const out =
    elemBits === 8
      ? new Uint8Array(buffer, 0, words)
      : elemBits === 16
        ? new Uint16Array(buffer, 0, words)
        : new Uint32Array(buffer, 0, words);
  fill(out);
  return new Uint8Array(buffer, 0, bytes);
}

/**
 * The values a caller will read: entries [from, to) of `rows`, minus `base`. Decoders may fill only
 * those (the rest of the result is garbage) when that is cheaper than decoding every value; such a
 * result may live in this thread's scratch memory and is valid only until the next decode.
 */
export interface WantedValues {
  rows: Uint32Array;
  from: number;
  to: number;
  base: number;
}

/**
 * Values [first, end) of a chunk, for a caller that copies a run of them (a list's items): decoders may
 * fill only those, in this thread's scratch memory, valid until the next decode.
 */
export interface WantedRange {
  first: number;
  end: number;
}

/** Fewer wanted values than count / SPARSE_RATIO are extracted one by one instead of unpacking blocks. */
const SPARSE_RATIO = 16;

/** Decodes the value buffers of one mini-block chunk holding `count` values. */
export function decodeMiniBlockValues(
  encoding: CompressiveEncodingProto | undefined,
  buffers: Uint8Array[],
  count: number,
  where: string,
  wanted?: WantedValues | WantedRange,
): DecodedValues {
  switch (encoding?.compression) {
    case 'packed_struct': {
      // Rows of the struct's fixed-width fields side by side (lance-encoding physical/packed.rs): one
      // Flat value per row; the fields are split apart when the Arrow struct is built.
      const packed = encoding.packed_struct;
      const rowBits = packed?.bits_per_value.reduce((sum, bits) => sum + Number(bits), 0);
      if (packed?.values?.compression !== 'flat' || packed.values.flat?.bits_per_value !== rowBits)
        unsupported(encoding, where);
      return decodeMiniBlockValues(packed.values, buffers, count, where);
    }
    case 'flat': {
      const bits = encoding.flat?.bits_per_value ?? 0;
      const buffer = buffers[0];
      if (bits === 1) {
        const packed = need(buffer, Math.ceil(count / 8), where, 'bool values');
        const bytes = new Uint8Array(count);
        expandBitmap(packed, 0, count, bytes, 0);
        return { kind: 'fixed', byteWidth: 1, bytes, count };
      }
      if (bits === 0 || bits % 8 !== 0) unsupported(encoding, where);
      const byteWidth = bits / 8;
      return {
        kind: 'fixed',
        byteWidth,
        bytes: need(buffer, count * byteWidth, where, 'flat values').subarray(0, count * byteWidth),
        count,
      };
    }
    case 'fixed_size_list': {
      // A layer with validity has its bitmap buffer before the buffers of the layers below (value.rs
      // miniblock_fsl); only the innermost layer's, the items', is read (a null inner list is refused).
      const fsl = encoding.fixed_size_list;
      const dim = fsl?.items_per_value ?? 0;
      if (!fsl || dim <= 0 || (fsl.has_validity && fsl.values?.compression !== 'flat')) unsupported(encoding, where);
      const items = count * dim;
      const inner = decodeMiniBlockValues(fsl.values, fsl.has_validity ? buffers.slice(1) : buffers, items, where);
      if (inner.kind !== 'fixed') unsupported(encoding, where);
      const values: DecodedValues = { kind: 'fixed', byteWidth: inner.byteWidth * dim, bytes: inner.bytes, count };
      if (fsl.has_validity) {
        const bytes = new Uint8Array(items);
        expandBitmap(need(buffers[0], Math.ceil(items / 8), where, 'item validity'), 0, items, bytes, 0);
        values.itemValidity = { perValue: dim, bytes };
      } else if (inner.itemValidity) {
        values.itemValidity = { perValue: inner.itemValidity.perValue * dim, bytes: inner.itemValidity.bytes };
      }
      return values;
    }
    case 'inline_bitpacking': {
      const elemBits = elemBitsOf(encoding.inline_bitpacking?.uncompressed_bits_per_value ?? 0, where);
      const src = need(buffers[0], 0, where, 'bit-packed values');
      checkDecodedBytes((count * elemBits) / 8, where, 'bit-packed values');
      if (wanted && 'first' in wanted) {
        const end = Math.min(count, wanted.end);
        const bytes = unpacked(
          elemBits,
          count,
          (out) => naming(where, () => decodeInlineBitpacking(src, elemBits, end, out, 0, wanted.first)),
          true,
        );
        return { kind: 'fixed', byteWidth: elemBits / 8, bytes, count };
      }
      const sparse = wanted !== undefined && (wanted.to - wanted.from) * SPARSE_RATIO < count;
      const bytes = unpacked(
        elemBits,
        count,
        (out) =>
          sparse
            ? extractInlineBitpacked(src, elemBits, count, wanted.rows, wanted.from, wanted.to, wanted.base, out, where)
            : naming(where, () => decodeInlineBitpacking(src, elemBits, count, out, 0)),
        sparse,
      );
      return { kind: 'fixed', byteWidth: elemBits / 8, bytes, count };
    }
    case 'out_of_line_bitpacking': {
      const oob = encoding.out_of_line_bitpacking;
      const elemBits = elemBitsOf(oob?.uncompressed_bits_per_value ?? 0, where);
      const bitWidth = flatBits(oob?.values);
      if (bitWidth === undefined) unsupported(encoding, where);
      const src = need(buffers[0], 0, where, 'bit-packed values');
      checkDecodedBytes((count * elemBits) / 8, where, 'bit-packed values');
      const bytes = unpacked(elemBits, count, (out) =>
        naming(where, () => decodeOutOfLineBitpacking(src, elemBits, bitWidth, count, out, 0)),
      );
      return { kind: 'fixed', byteWidth: elemBits / 8, bytes, count };
    }
    case 'rle': {
      const bits = flatBits(encoding.rle?.values);
      const runBits = flatBits(encoding.rle?.run_lengths);
      if (bits === undefined || runBits !== 8 || ![8, 16, 32, 64].includes(bits)) unsupported(encoding, where);
      const byteWidth = (bits / 8) as 1 | 2 | 4 | 8;
      checkDecodedBytes(count * byteWidth, where, 'run-length values');
      const bytes = new Uint8Array(count * byteWidth);
      decodeRle(
        need(buffers[0], 0, where, 'run values'),
        need(buffers[1], 0, where, 'run lengths'),
        byteWidth,
        count,
        bytes,
        0,
      );
      return { kind: 'fixed', byteWidth, bytes, count };
    }
    case 'byte_stream_split': {
      const bits = flatBits(encoding.byte_stream_split?.values);
      if (bits !== 32 && bits !== 64) unsupported(encoding, where);
      const byteWidth = bits / 8;
      const split = need(buffers[0], count * byteWidth, where, 'byte-stream-split values');
      const bytes = new Uint8Array(count * byteWidth);
      decodeByteStreamSplit(split.subarray(0, count * byteWidth), byteWidth as 4 | 8, count, bytes, 0);
      return { kind: 'fixed', byteWidth, bytes, count };
    }
    case 'general': {
      const scheme = encoding.general?.compression?.scheme;
      const codec =
        scheme === 'COMPRESSION_ALGORITHM_ZSTD' ? 'zstd' : scheme === 'COMPRESSION_ALGORITHM_LZ4' ? 'lz4' : undefined;
      if (!codec) unsupported(encoding, where);
      const first = need(buffers[0], 0, where, 'compressed values');
      const rest = buffers.slice(1);
      return decodeMiniBlockValues(
        encoding.general?.values,
        [decompressBuffer(codec, first, MAX_CHUNK_BUFFER_BYTES), ...rest],
        count,
        where,
        wanted,
      );
    }
    case 'variable':
      return decodeVariableChunk(encoding, need(buffers[0], 0, where, 'variable values'), count, where);
    case 'fsst': {
      const fsst = encoding.fsst;
      if (!fsst) unsupported(encoding, where);
      const compressed = decodeMiniBlockValues(fsst.values, buffers, count, where);
      if (compressed.kind !== 'variable' || compressed.fsst) unsupported(encoding, where);
      return { ...compressed, fsst: fsstSymbolTable(fsst.symbol_table) };
    }
    default:
      return unsupported(encoding, where);
  }
}

/**
 * Mini-block Variable: (count + 1) u32 or u64 offsets measured from the start of the chunk buffer,
 * then the bytes (physical/binary.rs, BinaryMiniBlockDecompressor).
 */
function decodeVariableChunk(
  encoding: CompressiveEncodingProto,
  buffer: Uint8Array,
  count: number,
  where: string,
): DecodedValues {
  const bits = flatBits(encoding.variable?.offsets);
  if (bits !== 32 && bits !== 64) unsupported(encoding, where);
  const width = bits / 8;
  need(buffer, (count + 1) * width, where, 'variable offsets');
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const read = (i: number) => (width === 4 ? view.getUint32(i * 4, true) : Number(view.getBigUint64(i * 8, true)));
  const first = read(0);
  const offsets = new Uint32Array(count + 1);
  let previous = first;
  for (let i = 0; i <= count; i++) {
    const offset = read(i);
    if (offset < previous || offset > buffer.length) {
      throw new CorruptFileError(
        `${where}: variable offset ${i} is ${offset} (previous ${previous}, buffer ${buffer.length} bytes)`,
      );
    }
    offsets[i] = offset - first;
    previous = offset;
  }
  return { kind: 'variable', offsets, data: buffer.subarray(first, previous), count };
}

/** Runs a decoder whose kernels' CorruptFileErrors may not name the page: they are rethrown naming `where`. */
export function naming<T>(where: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof CorruptFileError) || error.message.startsWith(where)) throw error;
    throw new CorruptFileError(`${where}: ${error.message}`, error.details, { cause: error });
  }
}

/**
 * Decodes a whole-buffer ("block") encoding of `count` values, as used for mini-block dictionaries:
 * Variable = `u32 bits_per_offset | u32 bytes_start | offsets | bytes` (u64 fields for 64-bit offsets),
 * General = a compressed buffer around another block encoding, Flat = plain values, InlineBitpacking
 * and OutOfLineBitpacking = bit-packed integers (LanceDB 0.39's 2.2 dictionaries of narrow 64-bit values).
 */
export function decodeBlockValues(
  encoding: CompressiveEncodingProto | undefined,
  buffer: Uint8Array,
  count: number,
  where: string,
): DecodedValues {
  switch (encoding?.compression) {
    case 'flat':
    case 'inline_bitpacking':
    case 'out_of_line_bitpacking':
      return decodeMiniBlockValues(encoding, [buffer], count, where);
    case 'general': {
      const scheme = encoding.general?.compression?.scheme;
      const codec =
        scheme === 'COMPRESSION_ALGORITHM_ZSTD' ? 'zstd' : scheme === 'COMPRESSION_ALGORITHM_LZ4' ? 'lz4' : undefined;
      if (!codec) unsupported(encoding, where);
      return decodeBlockValues(
        encoding.general?.values,
        decompressBuffer(codec, buffer, MAX_CHUNK_BUFFER_BYTES * 16),
        count,
        where,
      );
    }
    case 'variable': {
      need(buffer, 8, where, 'variable block header');
      const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      const bits = view.getUint32(0, true);
      if (bits !== 32 && bits !== 64)
        throw new CorruptFileError(`${where}: variable block has ${bits}-bit offsets (expected 32 or 64)`);
      const width = bits / 8;
      const headerBytes = bits === 32 ? 8 : 16;
      need(buffer, headerBytes, where, 'variable block header');
      const bytesStart = bits === 32 ? view.getUint32(4, true) : Number(view.getBigUint64(8, true));
      if (bytesStart > buffer.length || bytesStart < headerBytes + (count + 1) * width) {
        throw new CorruptFileError(
          `${where}: variable block data starts at ${bytesStart}, outside its ${buffer.length} bytes for ${count} values`,
        );
      }
      const data = buffer.subarray(bytesStart);
      const offsets = new Uint32Array(count + 1);
      const read = (i: number) =>
        width === 4 ? view.getUint32(headerBytes + i * 4, true) : Number(view.getBigUint64(headerBytes + i * 8, true));
      const first = read(0);
      let previous = first;
      for (let i = 0; i <= count; i++) {
        const offset = read(i);
        if (offset < previous || offset - first > data.length) {
          throw new CorruptFileError(
            `${where}: variable block offset ${i} is ${offset} (previous ${previous}, data ${data.length} bytes)`,
          );
        }
        offsets[i] = offset - first;
        previous = offset;
      }
      return { kind: 'variable', offsets, data: data.subarray(first), count };
    }
    default:
      return unsupported(encoding, where);
  }
}

/**
 * Decodes repetition or definition levels (u16 before compression) of a mini-block chunk or a constant
 * page. They are compressed as one block: Rle in its block form (file version 2.2), the others as a
 * chunk's single value buffer.
 */
export function decodeLevels(
  encoding: CompressiveEncodingProto | undefined,
  bytes: Uint8Array,
  numLevels: number,
  where: string,
): Uint16Array {
  if (encoding?.compression === 'rle') {
    const bits = flatBits(encoding.rle?.values);
    const runBits = flatBits(encoding.rle?.run_lengths);
    if (bits !== 16 || (runBits !== 8 && runBits !== 16 && runBits !== 32)) unsupported(encoding, `${where} levels`);
    checkDecodedBytes(numLevels * 2, where, 'run-length levels');
    const levels = new Uint16Array(numLevels);
    decodeRleBlock(bytes, 2, numLevels, new Uint8Array(levels.buffer), 0, (runBits / 8) as 1 | 2 | 4);
    return levels;
  }
  const decoded = decodeMiniBlockValues(encoding, [bytes], numLevels, `${where} levels`);
  if (decoded.kind !== 'fixed' || decoded.byteWidth !== 2) {
    throw new CorruptFileError(
      `${where}: levels decode to ${decoded.kind === 'fixed' ? decoded.byteWidth * 8 : 'variable'}-bit values, expected 16-bit`,
    );
  }
  const b = decoded.bytes;
  if (b.byteOffset % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset, numLevels);
  return new Uint16Array(b.slice().buffer, 0, numLevels);
}

/**
 * General-purpose compression that a field asks for with `lance-encoding:compression` (`zstd` or `lz4`,
 * level from `lance-encoding:compression-level`), framed as Lance frames it
 * (decode-workers/encodings/compression.ts reads it back):
 *
 *   zstd  u64 LE uncompressed length | one zstd frame
 *   lz4   u32 LE uncompressed length | one LZ4 block
 *
 * In a mini-block page LanceDB compresses the first value buffer of every chunk, each on its own, and
 * only when those buffers hold at least 4 KiB together and shrink; the `General` encoding then wraps the
 * value encoding. zstd runs in WebAssembly (@bokuweb/zstd-wasm), which must be loaded once, asynchronously,
 * before a page is encoded: {@link loadZstd}.
 */
import { compress as zstdCompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import { InternalError } from '../errors.js';
import type { CompressiveEncodingProto } from '../format/proto/messages.js';
import { compressLz4Block, lz4Bound } from './lz4.js';

/** A field's requested compression. `level` is zstd's (LanceDB's default 0 means zstd's own default, 3). */
export interface GeneralCompression {
  scheme: 'zstd' | 'lz4';
  level?: number;
}

const MIN_FIRST_BUFFER_BYTES = 4 * 1024;

let zstdReady: Promise<void> | undefined;
let zstdLoaded = false;

/** Loads the zstd WebAssembly module (once per thread). */
export function loadZstd(): Promise<void> {
  zstdReady ??= zstdInit().then(() => {
    zstdLoaded = true;
  });
  return zstdReady;
}

/** One buffer compressed and framed with its uncompressed length. */
export function compressBuffer(bytes: Uint8Array, compression: GeneralCompression): Uint8Array {
  if (compression.scheme === 'lz4') {
    const out = new Uint8Array(4 + lz4Bound(bytes.length));
    new DataView(out.buffer).setUint32(0, bytes.length, true);
    return out.subarray(0, compressLz4Block(bytes, out, 4));
  }
  if (!zstdLoaded) throw new InternalError('zstd compression was asked for before loadZstd() finished');
  const frame = zstdCompress(bytes, compression.level || 3);
  const out = new Uint8Array(8 + frame.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(frame, 8);
  return out;
}

/**
 * Each chunk's first value buffer compressed on its own, or undefined when LanceDB would leave them
 * as they are (under 4 KiB in all, or no smaller compressed).
 */
export function compressFirstBuffers(buffers: Uint8Array[], compression: GeneralCompression): Uint8Array[] | undefined {
  const before = buffers.reduce((sum, b) => sum + b.length, 0);
  if (before < MIN_FIRST_BUFFER_BYTES) return undefined;
  const compressed = buffers.map((b) => compressBuffer(b, compression));
  const after = compressed.reduce((sum, b) => sum + b.length, 0);
  return after < before ? compressed : undefined;
}

/** The `General` encoding around `values`. */
export function generalEncoding(
  compression: GeneralCompression,
  values: CompressiveEncodingProto,
): CompressiveEncodingProto {
  return {
    general: {
      compression:
        compression.scheme === 'zstd'
          ? { scheme: 'COMPRESSION_ALGORITHM_ZSTD', level: compression.level ?? 0 }
          : { scheme: 'COMPRESSION_ALGORITHM_LZ4' },
      values,
    },
  };
}

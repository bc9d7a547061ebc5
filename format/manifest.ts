/**
 * Dataset manifests (`_versions/*.manifest`, lance.table.Manifest) and version file naming.
 *
 *   [optional sections] u32 len | Manifest protobuf (len bytes) | i64 manifest_pos | u16 major | u16 minor | "LANC"
 *
 * Version file names: V2 naming is `{u64::MAX − version, 20 digits}.manifest` (newest sorts first),
 * V1 naming is `{version}.manifest`.
 */
import { CorruptFileError, UnsupportedError } from '../errors.js';
import { decodeManifest, type ManifestProto } from './proto/messages.js';

const U64_MAX = (1n << 64n) - 1n;
const MAGIC = [0x4c, 0x41, 0x4e, 0x43];

// Reader feature flags this reader understands (lance-table feature_flags.rs).
const FLAG_DELETION_FILES = 1n;
const FLAG_STABLE_ROW_IDS = 2n;
const FLAG_USE_V2_FORMAT_DEPRECATED = 4n;
const FLAG_TABLE_CONFIG = 8n;
/**
 * The manifest registers base paths (`base_paths`): external blobs relative to one are resolved by
 * dataset/blobs.ts; data or deletion files under another base are refused by dataset/dataset.ts.
 */
export const FLAG_BASE_PATHS = 16n;
const KNOWN_READER_FLAGS =
  FLAG_DELETION_FILES | FLAG_STABLE_ROW_IDS | FLAG_USE_V2_FORMAT_DEPRECATED | FLAG_TABLE_CONFIG | FLAG_BASE_PATHS;

/** The numbers (0..63) of the bits set in `flags`. */
function bitsOf(flags: bigint): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < 64; bit++) if ((flags >> BigInt(bit)) & 1n) bits.push(bit);
  return bits;
}

/** The version number a manifest file name stands for, or undefined if it is not a manifest name. */
export function versionOfManifestName(name: string): number | undefined {
  const match = /^(\d+)\.manifest$/.exec(name);
  if (!match) return undefined;
  const n = BigInt(match[1] as string);
  const version = match[1]?.length === 20 && n > 1n << 63n ? U64_MAX - n : n;
  return version > 0n && version <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(version) : undefined;
}

/** Parses the bytes of a whole manifest file. */
export function parseManifest(bytes: Uint8Array, path: string): ManifestProto {
  if (bytes.length < 20)
    throw new CorruptFileError(`${path}: manifest file is ${bytes.length} bytes, too small`, { path });
  const end = bytes.length;
  for (let i = 0; i < 4; i++) {
    if (bytes[end - 4 + i] !== MAGIC[i])
      throw new CorruptFileError(`${path}: not a Lance manifest (no "LANC" magic at the end)`, { path });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const position = Number(view.getBigInt64(end - 16, true));
  if (position < 0 || position + 4 > end - 16) {
    throw new CorruptFileError(`${path}: manifest position ${position} is outside the ${end}-byte file`, {
      path,
      position,
    });
  }
  const length = view.getUint32(position, true);
  if (position + 4 + length > end - 16) {
    throw new CorruptFileError(`${path}: manifest of ${length} bytes at ${position} runs past the end of the file`, {
      path,
      position,
      length,
    });
  }
  const manifest = decodeManifest(bytes.subarray(position + 4, position + 4 + length), path);
  const unknown = manifest.reader_feature_flags & ~KNOWN_READER_FLAGS;
  if (unknown !== 0n) {
    const bits = bitsOf(unknown);
    throw new UnsupportedError(
      `${path}: the dataset needs reader features ${unknown} (flag bits ${bits.join(', ')}) that lance-loader does not know (flags ${manifest.reader_feature_flags})`,
      {
        path,
        flags: String(manifest.reader_feature_flags),
        unknownBits: bits,
      },
    );
  }
  return manifest;
}

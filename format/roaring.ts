/**
 * Roaring bitmaps in the portable 32-bit serialization (RoaringFormatSpec), the format of Lance `.bin`
 * deletion files: `RoaringBitmap::serialize_into` from the `roaring` crate, called by
 * `write_deletion_file` in rust/lance-table/src/io/deletion.rs.
 *
 * ```
 * cookie u32 = 12346, count u32                        no run containers ("SERIAL_COOKIE_NO_RUNCONTAINER")
 * cookie u32 = 12347 | (count - 1) << 16,              may hold run containers ("SERIAL_COOKIE")
 *   run flags: ceil(count / 8) bytes, bit i (LSB first) set = container i is a run container
 * count × { key u16, cardinality - 1 u16 }             descriptive header, keys strictly increasing
 * count × offset u32                                   always after 12346; after 12347 only when count >= 4
 * count containers, back to back, in key order:
 *   run     (flag set)            runs u16, runs × { start u16, length - 1 u16 }
 *   array   (cardinality <= 4096) cardinality × u16, strictly increasing
 *   bitmap  (cardinality > 4096)  1024 × u64, bit v set = value v is present
 * ```
 * All integers are little-endian. A value is `key << 16 | low16`. Offsets count bytes from the start of
 * the stream.
 *
 * Two steps, so the caller can bound memory before allocating: {@link parseRoaringLayout} checks the header
 * and every container's position against the buffer (and, when present, against the offset header) and sums
 * the cardinalities; {@link decodeRoaringBitmap} writes the values, ascending and unique, into a caller's
 * output and checks each container's content against its declared cardinality.
 */
import { CorruptFileError, InternalError } from '../errors.js';

const ROARING_COOKIE_NO_RUN = 12346;
const ROARING_COOKIE_RUN = 12347;
/** With the run cookie, the offset header is only written for this many containers or more. */
const NO_OFFSET_THRESHOLD = 4;
/** Array containers hold at most this many values; above it a container is a bitmap. */
const ARRAY_LIMIT = 4096;
const BITMAP_CONTAINER_BYTES = 8192;
/** One container per 16-bit key. */
const MAX_CONTAINERS = 65536;

const CONTAINER_ARRAY = 0;
const CONTAINER_BITMAP = 1;
const CONTAINER_RUN = 2;

/** Where each container of a serialized bitmap lies, parallel typed arrays indexed by container. */
interface RoaringLayout {
  /** Number of values in the bitmap (sum of the containers' cardinalities). */
  cardinality: number;
  /** High 16 bits of the container's values, strictly increasing. */
  keys: Uint16Array;
  /** Declared number of values in each container (1..65536). */
  cardinalities: Uint32Array;
  /** {@link CONTAINER_ARRAY}, {@link CONTAINER_BITMAP} or {@link CONTAINER_RUN}. */
  kinds: Uint8Array;
  /** Byte offset of each container's data in the stream. */
  byteOffsets: Uint32Array;
  /** Byte length of each container's data. */
  byteLengths: Uint32Array;
}

function corrupt(path: string, message: string, details: Record<string, unknown> = {}): CorruptFileError {
  return new CorruptFileError(`${path}: roaring bitmap ${message}`, { path, ...details });
}

/** Checks the header of a serialized roaring bitmap and locates every container; reads no values. */
export function parseRoaringLayout(bytes: Uint8Array, path: string): RoaringLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.byteLength;
  if (size < 4) throw corrupt(path, `is ${size} bytes, too short for its 4-byte cookie`, { byteLength: size });

  const cookie = view.getUint32(0, true);
  let count: number;
  let hasRuns: boolean;
  let pos: number;
  if (cookie === ROARING_COOKIE_NO_RUN) {
    if (size < 8) throw corrupt(path, `is ${size} bytes, too short for its container count`, { byteLength: size });
    count = view.getUint32(4, true);
    if (count > MAX_CONTAINERS) {
      throw corrupt(path, `declares ${count} containers, more than the ${MAX_CONTAINERS} a 32-bit bitmap can have`, {
        byteOffset: 4,
        containerCount: count,
      });
    }
    hasRuns = false;
    pos = 8;
  } else if ((cookie & 0xffff) === ROARING_COOKIE_RUN) {
    count = (cookie >>> 16) + 1;
    hasRuns = true;
    pos = 4;
  } else {
    throw corrupt(
      path,
      `has unknown cookie ${cookie} (expected ${ROARING_COOKIE_NO_RUN}, or ${ROARING_COOKIE_RUN} in the low 16 bits)`,
      {
        byteOffset: 0,
        cookie,
      },
    );
  }

  const runFlagsAt = pos;
  if (hasRuns) pos += Math.ceil(count / 8);
  const descriptionsAt = pos;
  pos += 4 * count;
  const hasOffsets = !hasRuns || count >= NO_OFFSET_THRESHOLD;
  const offsetsAt = pos;
  if (hasOffsets) pos += 4 * count;
  if (pos > size) {
    throw corrupt(path, `header for ${count} containers needs ${pos} bytes but the file is ${size} bytes`, {
      containerCount: count,
      byteLength: size,
    });
  }

  const keys = new Uint16Array(count);
  const cardinalities = new Uint32Array(count);
  const kinds = new Uint8Array(count);
  const byteOffsets = new Uint32Array(count);
  const byteLengths = new Uint32Array(count);
  let cardinality = 0;
  let lastKey = -1;
  for (let i = 0; i < count; i++) {
    const key = view.getUint16(descriptionsAt + 4 * i, true);
    if (key <= lastKey) {
      throw corrupt(
        path,
        `container keys are not strictly increasing (container ${i} has key ${key} after ${lastKey})`,
        {
          byteOffset: descriptionsAt + 4 * i,
          container: i,
        },
      );
    }
    lastKey = key;
    const containerCardinality = view.getUint16(descriptionsAt + 4 * i + 2, true) + 1;
    const isRun = hasRuns && ((bytes[runFlagsAt + (i >>> 3)] ?? 0) & (1 << (i & 7))) !== 0;

    let byteLength: number;
    let kind: number;
    if (isRun) {
      if (pos + 2 > size) {
        throw corrupt(path, `run container ${i} at byte ${pos} runs past the end of the file (${size} bytes)`, {
          byteOffset: pos,
          container: i,
        });
      }
      const runs = view.getUint16(pos, true);
      if (runs === 0)
        throw corrupt(path, `run container ${i} at byte ${pos} has zero runs`, { byteOffset: pos, container: i });
      kind = CONTAINER_RUN;
      byteLength = 2 + 4 * runs;
    } else if (containerCardinality <= ARRAY_LIMIT) {
      kind = CONTAINER_ARRAY;
      byteLength = 2 * containerCardinality;
    } else {
      kind = CONTAINER_BITMAP;
      byteLength = BITMAP_CONTAINER_BYTES;
    }
    if (hasOffsets) {
      const declared = view.getUint32(offsetsAt + 4 * i, true);
      if (declared !== pos) {
        throw corrupt(
          path,
          `offset header says container ${i} starts at byte ${declared}, but it starts at byte ${pos}`,
          {
            byteOffset: offsetsAt + 4 * i,
            container: i,
            expected: pos,
            actual: declared,
          },
        );
      }
    }
    if (pos + byteLength > size) {
      throw corrupt(
        path,
        `container ${i} (${byteLength} bytes at byte ${pos}) runs past the end of the file (${size} bytes)`,
        {
          byteOffset: pos,
          container: i,
          byteLength: size,
        },
      );
    }
    keys[i] = key;
    cardinalities[i] = containerCardinality;
    kinds[i] = kind;
    byteOffsets[i] = pos;
    byteLengths[i] = byteLength;
    cardinality += containerCardinality;
    pos += byteLength;
  }
  if (pos !== size) {
    throw corrupt(path, `ends at byte ${pos} but the file has ${size - pos} more bytes`, {
      byteOffset: pos,
      byteLength: size,
    });
  }
  return { cardinality, keys, cardinalities, kinds, byteOffsets, byteLengths };
}

/**
 * Writes the bitmap's values, ascending and unique, into `output[0 .. layout.cardinality)`. Checks that
 * array values increase, that runs are ordered, disjoint and inside 16 bits, and that each container holds
 * exactly its declared cardinality.
 */
export function decodeRoaringBitmap(bytes: Uint8Array, layout: RoaringLayout, output: Uint32Array, path: string): void {
  if (output.length < layout.cardinality) {
    throw new InternalError(
      `roaring output holds ${output.length} values, fewer than the bitmap's ${layout.cardinality}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = 0;
  const count = layout.keys.length;
  for (let i = 0; i < count; i++) {
    const base = (layout.keys[i] ?? 0) * 65536;
    const expected = layout.cardinalities[i] ?? 0;
    const at = layout.byteOffsets[i] ?? 0;
    const end = out + expected; // this container may write output[out .. end)
    const mismatch = (actual: string) =>
      corrupt(path, `container ${i} at byte ${at} declares ${expected} values but holds ${actual}`, {
        byteOffset: at,
        container: i,
        expected,
      });

    switch (layout.kinds[i]) {
      case CONTAINER_ARRAY: {
        let previous = -1;
        for (let j = 0; j < expected; j++) {
          const low = view.getUint16(at + 2 * j, true);
          if (low <= previous) {
            throw corrupt(path, `array container ${i} at byte ${at} is not strictly increasing at value ${j}`, {
              byteOffset: at + 2 * j,
              container: i,
            });
          }
          previous = low;
          output[out++] = base + low;
        }
        break;
      }
      case CONTAINER_BITMAP: {
        for (let w = 0; w < 2048; w++) {
          let word = view.getUint32(at + 4 * w, true);
          while (word !== 0) {
            if (out >= end) throw mismatch('more');
            const lowest = word & -word;
            output[out++] = base + w * 32 + (31 - Math.clz32(lowest));
            word ^= lowest;
          }
        }
        if (out !== end) throw mismatch(String(expected - (end - out)));
        break;
      }
      case CONTAINER_RUN: {
        const runs = view.getUint16(at, true);
        let previousEnd = -1;
        for (let r = 0; r < runs; r++) {
          const start = view.getUint16(at + 2 + 4 * r, true);
          const last = start + view.getUint16(at + 4 + 4 * r, true);
          if (last > 0xffff) {
            throw corrupt(
              path,
              `run ${r} of container ${i} at byte ${at} goes past 65535 (start ${start}, end ${last})`,
              {
                byteOffset: at + 2 + 4 * r,
                container: i,
              },
            );
          }
          if (start <= previousEnd) {
            throw corrupt(
              path,
              `run ${r} of container ${i} at byte ${at} starts at ${start}, not after the previous run's end ${previousEnd}`,
              {
                byteOffset: at + 2 + 4 * r,
                container: i,
              },
            );
          }
          previousEnd = last;
          if (out + (last - start + 1) > end) throw mismatch('more');
          for (let v = start; v <= last; v++) output[out++] = base + v;
        }
        if (out !== end) throw mismatch(String(expected - (end - out)));
        break;
      }
      default:
        throw new InternalError(`roaring container ${i} has unknown kind ${layout.kinds[i]}`);
    }
  }
}

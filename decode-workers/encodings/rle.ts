/**
 * Run-length decoding for the Lance 2.1/2.2 `Rle` compressive encoding (proto `encodings_v2_1.Rle`,
 * fields `values = 1`, `run_lengths = 2`). Writes the expanded values into a caller-supplied output.
 *
 * Byte layout (rust/lance-encoding/src/encodings/physical/rle.rs; the mirrored snapshot only has the
 * mini-block form with u8 run lengths, newer upstream adds the block form and u16/u32 run lengths):
 *
 * ```
 * mini-block chunk: buffer 0 = runs × value      (LE, 1/2/4/8 bytes: Rle.values = Flat(8|16|32|64))
 *                   buffer 1 = runs × run length (LE, 1/2/4 bytes: Rle.run_lengths = Flat(8|16|32))
 * block (2.2 def levels, dictionary indices):
 *                   u64 LE values_byte_length | values | run lengths (the rest of the buffer)
 * ```
 * Runs longer than the run-length type allows are split by the encoder (255 + 255 + … with u8), so a
 * run length of 0 never appears. Lance 10/12 files observed so far only use u8 run lengths.
 *
 * Checks (the newer upstream decoder's semantics; the snapshot silently truncated an over-long last run,
 * we reject it): both buffers must hold whole entries and the same number of runs, no run may be 0, and
 * the run lengths must sum to exactly `numValues`. Nothing is written outside
 * `out[outByteOffset, outByteOffset + numValues × bytesPerValue)`.
 *
 * Copies: each value byte is read once per run and written once per output value; no intermediate
 * buffer. When the output position is aligned to the value width (the usual case for a batch slot) runs
 * are written through a 16/32-bit view with `fill`; otherwise byte by byte. Assumes nothing about the
 * alignment of the inputs. Views on a little-endian host only; a big-endian host takes the byte path.
 */
import { CorruptFileError, InvalidArgumentError, UnsupportedError } from '../../errors.js';

/** Width of one run value in bytes (`Rle.values = Flat(8|16|32|64)`). */
export type RleValueWidth = 1 | 2 | 4 | 8;
/** Width of one run length in bytes (`Rle.run_lengths = Flat(8|16|32)`). */
export type RleRunLengthWidth = 1 | 2 | 4;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Size of the `values_byte_length` prefix of the block form. */
const BLOCK_HEADER_BYTES = 8;

/**
 * Expands one mini-block chunk of runs into `numValues` fixed-width values at `out[outByteOffset…]`.
 * `values` and `runLengths` are the chunk's two buffers, exactly as long as the chunk's buffer sizes say.
 */
export function decodeRle(
  values: Uint8Array,
  runLengths: Uint8Array,
  bytesPerValue: RleValueWidth,
  numValues: number,
  out: Uint8Array,
  outByteOffset: number,
  runLengthBytes: RleRunLengthWidth = 1,
): void {
  checkWidths(bytesPerValue, runLengthBytes);
  checkOutput(numValues, bytesPerValue, out, outByteOffset);
  if (numValues === 0) return;

  if (values.length % bytesPerValue !== 0) {
    throw new CorruptFileError(
      `Rle values buffer is ${values.length} bytes, expected a multiple of the ${bytesPerValue}-byte value width`,
      { encoding: 'Rle', valuesByteLength: values.length, bytesPerValue },
    );
  }
  if (runLengths.length % runLengthBytes !== 0) {
    throw new CorruptFileError(
      `Rle run-lengths buffer is ${runLengths.length} bytes, expected a multiple of the ${runLengthBytes}-byte run-length width`,
      { encoding: 'Rle', runLengthsByteLength: runLengths.length, runLengthBytes },
    );
  }
  const runCount = values.length / bytesPerValue;
  const runLengthCount = runLengths.length / runLengthBytes;
  if (runCount !== runLengthCount) {
    throw new CorruptFileError(
      `Rle holds ${runCount} run values but ${runLengthCount} run lengths, expected equal counts`,
      {
        encoding: 'Rle',
        runCount,
        runLengthCount,
      },
    );
  }

  const start = out.byteOffset + outByteOffset;
  let written: number;
  if (!LITTLE_ENDIAN_HOST || bytesPerValue === 1 || start % bytesPerValue !== 0) {
    written = expandBytes(values, runLengths, runLengthBytes, bytesPerValue, runCount, numValues, out, outByteOffset);
  } else if (bytesPerValue === 2) {
    written = expandWords(values, runLengths, runLengthBytes, runCount, new Uint16Array(out.buffer, start, numValues));
  } else {
    const view = new Uint32Array(out.buffer, start, (numValues * bytesPerValue) / 4);
    written =
      bytesPerValue === 4
        ? expandWords(values, runLengths, runLengthBytes, runCount, view)
        : expandWords64(values, runLengths, runLengthBytes, runCount, view);
  }
  if (written !== numValues) {
    throw new CorruptFileError(`Rle run lengths sum to ${written} values, expected ${numValues}`, {
      encoding: 'Rle',
      decodedValues: written,
      expectedValues: numValues,
    });
  }
}

/**
 * Expands the block form `u64 LE values_byte_length | values | run lengths` (used for 2.2 definition
 * levels) into `numValues` values at `out[outByteOffset…]`. Views into `buf`, no copy of the inputs.
 */
export function decodeRleBlock(
  buf: Uint8Array,
  bytesPerValue: RleValueWidth,
  numValues: number,
  out: Uint8Array,
  outByteOffset: number,
  runLengthBytes: RleRunLengthWidth = 1,
): void {
  if (buf.length < BLOCK_HEADER_BYTES) {
    throw new CorruptFileError(
      `Rle block is ${buf.length} bytes, expected at least the ${BLOCK_HEADER_BYTES}-byte values length`,
      { encoding: 'Rle', byteLength: buf.length },
    );
  }
  const low = readU32(buf, 0);
  const high = readU32(buf, 4);
  const available = buf.length - BLOCK_HEADER_BYTES;
  if (high !== 0 || low > available) {
    const declared = high === 0 ? String(low) : `${high} * 2^32 + ${low}`;
    throw new CorruptFileError(
      `Rle block declares ${declared} bytes of run values, but only ${available} bytes follow its header`,
      { encoding: 'Rle', byteOffset: 0, declaredValuesByteLength: declared, availableBytes: available },
    );
  }
  const valuesEnd = BLOCK_HEADER_BYTES + low;
  decodeRle(
    buf.subarray(BLOCK_HEADER_BYTES, valuesEnd),
    buf.subarray(valuesEnd),
    bytesPerValue,
    numValues,
    out,
    outByteOffset,
    runLengthBytes,
  );
}

function checkWidths(bytesPerValue: number, runLengthBytes: number): void {
  if (bytesPerValue !== 1 && bytesPerValue !== 2 && bytesPerValue !== 4 && bytesPerValue !== 8) {
    throw new UnsupportedError(`Rle with ${bytesPerValue * 8}-bit values is not supported (8, 16, 32 or 64 bits)`, {
      encoding: 'Rle',
      bytesPerValue,
    });
  }
  if (runLengthBytes !== 1 && runLengthBytes !== 2 && runLengthBytes !== 4) {
    throw new UnsupportedError(`Rle with ${runLengthBytes * 8}-bit run lengths is not supported (8, 16 or 32 bits)`, {
      encoding: 'Rle',
      runLengthBytes,
    });
  }
}

function checkOutput(numValues: number, bytesPerValue: number, out: Uint8Array, outByteOffset: number): void {
  if (!Number.isSafeInteger(numValues) || numValues < 0) {
    throw new InvalidArgumentError(`Rle numValues must be a non-negative integer, got ${numValues}`);
  }
  if (!Number.isSafeInteger(outByteOffset) || outByteOffset < 0) {
    throw new InvalidArgumentError(`Rle outByteOffset must be a non-negative integer, got ${outByteOffset}`);
  }
  const needed = numValues * bytesPerValue;
  if (outByteOffset > out.length || needed > out.length - outByteOffset) {
    throw new InvalidArgumentError(
      `Rle output too small: ${numValues} values need ${needed} bytes at offset ${outByteOffset}, out has ${out.length} bytes`,
    );
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0
  );
}

/** Run length `run`, read at its width. */
function runLength(runLengths: Uint8Array, width: RleRunLengthWidth, run: number): number {
  if (width === 1) return runLengths[run] ?? 0;
  if (width === 2) return (runLengths[2 * run] ?? 0) | ((runLengths[2 * run + 1] ?? 0) << 8);
  return readU32(runLengths, 4 * run);
}

function runError(run: number, length: number, decoded: number, numValues: number): CorruptFileError {
  if (length === 0) {
    return new CorruptFileError(`Rle run ${run} has length 0, expected at least 1`, { encoding: 'Rle', run });
  }
  return new CorruptFileError(
    `Rle run lengths sum to more than ${numValues} values (run ${run} of length ${length} starts at value ${decoded})`,
    { encoding: 'Rle', run, runLength: length, expectedValues: numValues },
  );
}

/** Any width, any alignment: byte by byte. Returns the number of values decoded. */
function expandBytes(
  values: Uint8Array,
  runLengths: Uint8Array,
  runLengthBytes: RleRunLengthWidth,
  bytesPerValue: number,
  runCount: number,
  numValues: number,
  out: Uint8Array,
  outByteOffset: number,
): number {
  let decoded = 0;
  let o = outByteOffset;
  for (let run = 0; run < runCount; run++) {
    const length = runLength(runLengths, runLengthBytes, run);
    if (length === 0 || length > numValues - decoded) throw runError(run, length, decoded, numValues);
    const v = run * bytesPerValue;
    if (bytesPerValue === 1) {
      out.fill(values[v] ?? 0, o, o + length);
      o += length;
    } else {
      for (let k = 0; k < length; k++) {
        for (let b = 0; b < bytesPerValue; b++) out[o++] = values[v + b] ?? 0;
      }
    }
    decoded += length;
  }
  return decoded;
}

/** 16- and 32-bit values through a view of the same width, one `fill` per run. */
function expandWords(
  values: Uint8Array,
  runLengths: Uint8Array,
  runLengthBytes: RleRunLengthWidth,
  runCount: number,
  view: Uint16Array | Uint32Array,
): number {
  const numValues = view.length;
  const wide = view.BYTES_PER_ELEMENT === 4;
  let decoded = 0;
  for (let run = 0; run < runCount; run++) {
    const length = runLength(runLengths, runLengthBytes, run);
    if (length === 0 || length > numValues - decoded) throw runError(run, length, decoded, numValues);
    const value = wide ? readU32(values, 4 * run) : (values[2 * run] ?? 0) | ((values[2 * run + 1] ?? 0) << 8);
    view.fill(value, decoded, decoded + length);
    decoded += length;
  }
  return decoded;
}

/** 64-bit values as (low, high) 32-bit word pairs; `view` holds 2 words per value. */
function expandWords64(
  values: Uint8Array,
  runLengths: Uint8Array,
  runLengthBytes: RleRunLengthWidth,
  runCount: number,
  view: Uint32Array,
): number {
  const numValues = view.length / 2;
  let decoded = 0;
  for (let run = 0; run < runCount; run++) {
    const length = runLength(runLengths, runLengthBytes, run);
    if (length === 0 || length > numValues - decoded) throw runError(run, length, decoded, numValues);
    const low = readU32(values, 8 * run);
    const high = readU32(values, 8 * run + 4);
    const end = 2 * (decoded + length);
    for (let w = 2 * decoded; w < end; w += 2) {
      view[w] = low;
      view[w + 1] = high;
    }
    decoded += length;
  }
  return decoded;
}

/**
 * The pixel size an encoded image declares in its header (JPEG SOF, PNG IHDR, WebP VP8/VP8L/VP8X),
 * read without decoding: the random crops are drawn from it, and a size past the transform's maxPixels
 * (a decompression bomb) is refused before any pixel memory exists. Null when the bytes are none of
 * these formats or their header is cut short; the decoder then reports what it makes of them.
 */

export interface ImageSize {
  width: number;
  height: number;
}

const u16be = (b: Uint8Array, at: number): number => ((b[at] as number) << 8) | (b[at + 1] as number);
const u16le = (b: Uint8Array, at: number): number => (b[at] as number) | ((b[at + 1] as number) << 8);
const u24le = (b: Uint8Array, at: number): number => u16le(b, at) | ((b[at + 2] as number) << 16);
const u32be = (b: Uint8Array, at: number): number => u16be(b, at) * 65536 + u16be(b, at + 2);

/** The size in the header of a JPEG, PNG or WebP image, or null. */
export function readImageSize(bytes: Uint8Array): ImageSize | null {
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return { width: u32be(bytes, 16), height: u32be(bytes, 20) }; // IHDR is the first chunk, at byte 8
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  if (bytes.length >= 30 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF') return webpSize(bytes);
  return null;
}

/** Walks the JPEG markers to the first start-of-frame (SOF0–SOF15 but DHT C4, JPG C8 and DAC CC). */
function jpegSize(b: Uint8Array): ImageSize | null {
  let at = 2;
  while (at + 9 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: u16be(b, at + 5), width: u16be(b, at + 7) };
    at += 2 + u16be(b, at + 2);
  }
  return null;
}

function webpSize(b: Uint8Array): ImageSize | null {
  const chunk = String.fromCharCode(...b.subarray(12, 16));
  if (chunk === 'VP8 ') return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = (b[21] as number) | ((b[22] as number) << 8) | ((b[23] as number) << 16) | ((b[24] as number) << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  return null;
}

/**
 * Whether `b` is a JPEG with no end-of-image marker after its first scan: cut short. zune-jpeg decodes
 * such a file without an error (what is missing comes out grey), where libjpeg and PIL refuse it. The
 * marker is looked for from the end back to the scan, so an embedded thumbnail's (in APP1, before the
 * scan) does not count.
 */
export function isTruncatedJpeg(b: Uint8Array): boolean {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return false;
  let at = 2;
  while (at + 4 <= b.length && b[at] === 0xff && b[at + 1] !== 0xda)
    at += b[at + 1] === 0xff ? 1 : 2 + u16be(b, at + 2); // fill byte, else a segment with its length
  if (at + 4 > b.length || b[at] !== 0xff) return true;
  for (let end = b.length - 1; end > at; end--) if (b[end] === 0xd9 && b[end - 1] === 0xff) return false;
  return true;
}

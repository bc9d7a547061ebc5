/** Byte buffers joined, shared by every layer above (pure: no `node:` imports). */

/** `pieces` joined in order: the one piece itself when there is only one, else a new buffer. */
export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0] as Uint8Array;
  let byteLength = 0;
  for (const piece of pieces) byteLength += piece.length;
  const joined = new Uint8Array(byteLength);
  let at = 0;
  for (const piece of pieces) {
    joined.set(piece, at);
    at += piece.length;
  }
  return joined;
}

/**
 * Byte mutations of the fuzz suite: each takes a file's bytes and a seeded `Rng` and returns new bytes plus a
 * description of what changed (so a failing case can be read, not only rerun). Generic ones touch any byte;
 * structure-aware ones aim at what a reader trusts: the 40-byte footer of a data file (format/footer.ts) and
 * the varints of its protobuf metadata (column metadata, the schema buffer) or of a manifest.
 */
import type { Rng } from '../fixtures/random.js';

/** What a file is to the reader, which decides the mutations that make sense for it. */
export type FileRole = 'data' | 'manifest' | 'deletion';

export type MutationKind =
  | 'bitflip'
  | 'overwrite'
  | 'truncate'
  | 'zero'
  | 'splice'
  | 'u32-huge'
  | 'footer'
  | 'varint-huge'
  | 'length-past-end'
  | 'schema-width';

const GENERIC: readonly MutationKind[] = ['bitflip', 'overwrite', 'truncate', 'zero', 'splice', 'u32-huge'];
const PROTOBUF: readonly MutationKind[] = ['varint-huge', 'length-past-end', 'schema-width'];

/** The mutations that apply to a file of `role`. */
export function mutationsFor(role: FileRole): readonly MutationKind[] {
  if (role === 'data') return [...GENERIC, 'footer', ...PROTOBUF];
  if (role === 'manifest') return [...GENERIC, ...PROTOBUF];
  return GENERIC;
}

export interface Mutated {
  bytes: Uint8Array;
  description: string;
}

const FOOTER_BYTES = 40;
/** Values a huge varint takes: 2^64 − 1 (ten bytes, the largest protobuf holds) and the edges of u32, i32 and f64's integers. */
const HUGE_VALUES = [(1n << 64n) - 1n, (1n << 53n) + 1n, 1n << 32n, (1n << 31n) - 1n, 1n << 28n];

export function mutate(bytes: Uint8Array, role: FileRole, kind: MutationKind, rng: Rng): Mutated {
  const size = bytes.length;
  const out = Uint8Array.from(bytes);
  const at = (): number => (size === 0 ? 0 : rng.int(0, size));
  switch (kind) {
    case 'bitflip': {
      const flips = rng.int(1, 9);
      const positions: number[] = [];
      for (let i = 0; i < flips && size > 0; i++) {
        const p = at();
        out[p] = (out[p] as number) ^ (1 << rng.int(0, 8));
        positions.push(p);
      }
      return { bytes: out, description: `flip bits at ${positions.join(',')}` };
    }
    case 'overwrite': {
      const p = at();
      const n = Math.min(rng.int(1, 17), size - p);
      out.set(rng.bytes(Math.max(n, 0)), p);
      return { bytes: out, description: `overwrite ${n} random bytes at ${p}` };
    }
    case 'truncate': {
      const keep = rng.bool(0.3) ? Math.max(0, size - rng.int(1, FOOTER_BYTES + 1)) : at();
      return { bytes: out.subarray(0, keep), description: `truncate ${size} → ${keep} bytes` };
    }
    case 'zero': {
      const p = at();
      const n = Math.min(rng.int(1, 257), size - p);
      out.fill(0, p, p + n);
      return { bytes: out, description: `zero ${n} bytes at ${p}` };
    }
    case 'splice': {
      const from = at();
      const to = at();
      const n = Math.min(rng.int(1, 129), size - from, size - to);
      out.copyWithin(to, from, from + n);
      return { bytes: out, description: `copy ${n} bytes from ${from} to ${to}` };
    }
    case 'u32-huge': {
      const p = size < 4 ? 0 : rng.int(0, size - 3) & ~3;
      if (size >= 4) new DataView(out.buffer).setUint32(p, 0xffffffff - rng.int(0, 16), true);
      return { bytes: out, description: `u32 near 2^32 at ${p}` };
    }
    case 'footer':
      return mutateFooter(out, rng);
    case 'varint-huge':
    case 'length-past-end':
    case 'schema-width':
      return mutateVarint(out, role, kind, rng);
  }
}

const FOOTER_FIELDS = [
  { name: 'column_meta_start', offset: 0, bytes: 8 },
  { name: 'cmo_table_offset', offset: 8, bytes: 8 },
  { name: 'gbo_table_offset', offset: 16, bytes: 8 },
  { name: 'num_global_buffers', offset: 24, bytes: 4 },
  { name: 'num_columns', offset: 28, bytes: 4 },
  { name: 'major_version', offset: 32, bytes: 2 },
  { name: 'minor_version', offset: 34, bytes: 2 },
] as const;

function mutateFooter(out: Uint8Array, rng: Rng): Mutated {
  if (out.length < FOOTER_BYTES) return { bytes: out, description: 'footer: file too small, unchanged' };
  const field = FOOTER_FIELDS[rng.int(0, FOOTER_FIELDS.length)] as (typeof FOOTER_FIELDS)[number];
  const size = BigInt(out.length);
  const max = (1n << BigInt(field.bytes * 8)) - 1n;
  const choices = [0n, 1n, size - 1n, size, size + 1n, size * 4096n, 1n << 53n, max, BigInt(rng.int(0, 1 << 30))];
  const value = (choices[rng.int(0, choices.length)] as bigint) & max;
  const view = new DataView(out.buffer, out.length - FOOTER_BYTES);
  if (field.bytes === 8) view.setBigUint64(field.offset, value, true);
  else if (field.bytes === 4) view.setUint32(field.offset, Number(value), true);
  else view.setUint16(field.offset, Number(value), true);
  return { bytes: out, description: `footer ${field.name} = ${value}` };
}

/** A varint in protobuf bytes: where it starts, its byte length, its value, and the length prefixes around it. */
interface VarintSite {
  position: number;
  byteLength: number;
  value: number;
  isLength: boolean;
  /** Length prefixes of the messages that hold this varint, outermost first. */
  enclosing: VarintSite[];
}

/** Sets one varint of the file's protobuf metadata to a huge value, or a length to one past the end of the file. */
function mutateVarint(out: Uint8Array, role: FileRole, kind: MutationKind, rng: Rng): Mutated {
  const sites: VarintSite[] = [];
  for (const [start, end] of protobufRegions(out, role)) walkMessage(out, start, end, [], sites);
  if (kind === 'schema-width') return mutateWidth(out, role, sites, rng);
  const candidates = kind === 'length-past-end' ? sites.filter((s) => s.isLength) : sites;
  const site = candidates[rng.int(0, Math.max(candidates.length, 1))];
  if (!site) return { bytes: out, description: `${kind}: no protobuf varint found, unchanged` };
  const value =
    kind === 'varint-huge'
      ? (HUGE_VALUES[rng.int(0, HUGE_VALUES.length)] as bigint)
      : BigInt(out.length + rng.int(1, 1 << 20));
  const bytes = replaceAndRefit(out, role, site.position, site.byteLength, encodeVarint(value), site.enclosing);
  const what = site.isLength ? 'length' : 'varint';
  return { bytes, description: `${kind}: ${what} at ${site.position} (${site.byteLength} bytes) = ${value}` };
}

/** Widths a fixed-size type's logical type string takes: past u32 and i32, and zero. */
const HUGE_WIDTHS = ['4294967296', '2147483647', '99999999999999999999', '0'];

/** Rewrites the width in a schema field's logical type (`fixed_size_list:float:16`, `fixed_size_binary:16`). */
function mutateWidth(out: Uint8Array, role: FileRole, sites: VarintSite[], rng: Rng): Mutated {
  const decoder = new TextDecoder();
  const payloadStart = (s: VarintSite): number => s.position + s.byteLength;
  const candidates = sites.filter(
    (s) =>
      s.isLength &&
      s.value < 64 &&
      /^fixed_size_(list|binary):.*\d$/.test(decoder.decode(out.subarray(payloadStart(s), payloadStart(s) + s.value))),
  );
  const site = candidates[rng.int(0, Math.max(candidates.length, 1))];
  if (!site) return { bytes: out, description: 'schema-width: no fixed-size type found, unchanged' };
  const text = decoder.decode(out.subarray(payloadStart(site), payloadStart(site) + site.value));
  const changed = text.replace(/\d+$/, HUGE_WIDTHS[rng.int(0, HUGE_WIDTHS.length)] as string);
  const payload = new TextEncoder().encode(changed);
  const withPayload = replaceRange(out, payloadStart(site), site.value, payload);
  const length = encodeVarint(BigInt(payload.length));
  const delta = payload.length - site.value;
  const bytes = replaceAndRefit(withPayload, role, site.position, site.byteLength, length, site.enclosing, out, delta);
  return { bytes, description: `schema-width: ${text} → ${changed} at ${site.position}` };
}

/**
 * Replaces `byteLength` bytes at `position` with `replacement`, then refits everything around it: the
 * enclosing messages' length prefixes, the manifest's length, a data file's footer and offset tables. The
 * damage is then in the value alone, which the reader meets only after everything else checks out.
 * `original` and `delta` describe an earlier change inside the replaced site's message.
 */
function replaceAndRefit(
  out: Uint8Array,
  role: FileRole,
  position: number,
  byteLength: number,
  replacement: Uint8Array,
  enclosing: VarintSite[],
  original = out,
  earlierDelta = 0,
): Uint8Array {
  let bytes = replaceRange(out, position, byteLength, replacement);
  let delta = earlierDelta + replacement.length - byteLength;
  // Innermost first: each prefix sits before the ones it encloses, so earlier positions stay put.
  for (const parent of [...enclosing].reverse()) {
    const length = encodeVarint(BigInt(parent.value + delta));
    bytes = replaceRange(bytes, parent.position, parent.byteLength, length);
    delta += length.length - parent.byteLength;
  }
  refitTables(original, bytes, role, position, delta);
  return bytes;
}

function replaceRange(bytes: Uint8Array, position: number, byteLength: number, replacement: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - byteLength + replacement.length);
  out.set(bytes.subarray(0, position));
  out.set(replacement, position);
  out.set(bytes.subarray(position + byteLength), position + replacement.length);
  return out;
}

/** Moves the offsets that point past `position` by `delta` and grows the region holding it (`before` is the unmodified file). */
function refitTables(before: Uint8Array, after: Uint8Array, role: FileRole, position: number, delta: number): void {
  const old = new DataView(before.buffer, before.byteOffset, before.byteLength);
  const view = new DataView(after.buffer, after.byteOffset, after.byteLength);
  if (role === 'manifest') {
    const start = Number(old.getBigUint64(before.length - 16, true));
    view.setUint32(start, old.getUint32(start, true) + delta, true);
    return;
  }
  const shift = (offset: number): number => (offset > position ? offset + delta : offset);
  const oldFooter = before.length - FOOTER_BYTES;
  const footer = after.length - FOOTER_BYTES;
  for (const field of [0, 8, 16]) {
    view.setBigUint64(footer + field, BigInt(shift(Number(old.getBigUint64(oldFooter + field, true)))), true);
  }
  // The column metadata offset table (one entry per column) and the global buffer table: u64 position, u64 size.
  const tables = [
    { at: 8, entries: old.getUint32(oldFooter + 28, true) },
    { at: 16, entries: old.getUint32(oldFooter + 24, true) },
  ];
  for (const { at, entries } of tables) {
    const oldTable = Number(old.getBigUint64(oldFooter + at, true));
    const table = shift(oldTable);
    if (oldTable + 16 * entries > oldFooter) continue;
    for (let i = 0; i < entries; i++) {
      const start = Number(old.getBigUint64(oldTable + 16 * i, true));
      const size = Number(old.getBigUint64(oldTable + 16 * i + 8, true));
      view.setBigUint64(table + 16 * i, BigInt(shift(start)), true);
      const holds = start <= position && position < start + size;
      view.setBigUint64(table + 16 * i + 8, BigInt(holds ? size + delta : size), true);
    }
  }
}

function encodeVarint(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Uint8Array.from(bytes);
}

/** Byte ranges holding protobuf messages: a manifest's message, a data file's column metadata and global buffers. */
function protobufRegions(bytes: Uint8Array, role: FileRole): [number, number][] {
  const size = bytes.length;
  if (size < FOOTER_BYTES) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const inFile = (start: number, end: number): boolean => start >= 0 && start <= end && end <= size;
  if (role === 'manifest') {
    const position = Number(view.getBigUint64(size - 16, true));
    if (position + 4 > size) return [];
    const end = position + 4 + view.getUint32(position, true);
    return inFile(position + 4, end) ? [[position + 4, end]] : [];
  }
  const footer = size - FOOTER_BYTES;
  const columnMetaStart = Number(view.getBigUint64(footer, true));
  const cmoTable = Number(view.getBigUint64(footer + 8, true));
  const gboTable = Number(view.getBigUint64(footer + 16, true));
  const numGlobalBuffers = view.getUint32(footer + 24, true);
  const regions: [number, number][] = [];
  if (inFile(columnMetaStart, cmoTable)) regions.push([columnMetaStart, cmoTable]);
  for (let i = 0; i < numGlobalBuffers && inFile(gboTable, gboTable + 16 * (i + 1)); i++) {
    const start = Number(view.getBigUint64(gboTable + 16 * i, true));
    const end = start + Number(view.getBigUint64(gboTable + 16 * i + 8, true));
    if (inFile(start, end)) regions.push([start, end]);
  }
  return regions;
}

/**
 * Walks the protobuf wire format of [start, end), recording every varint (field values and length prefixes),
 * and descends into length-delimited fields that parse as messages themselves. Returns false (recording
 * nothing) when the bytes are not a message.
 */
function walkMessage(
  bytes: Uint8Array,
  start: number,
  end: number,
  enclosing: VarintSite[],
  sites: VarintSite[],
): boolean {
  const found: VarintSite[] = [];
  let p = start;
  const readVarint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 70 && p < end; shift += 7) {
      const b = bytes[p++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    return undefined;
  };
  while (p < end) {
    const tag = readVarint();
    if (tag === undefined || tag < 8) return false;
    const wireType = tag % 8;
    const position = p;
    const value = wireType === 0 || wireType === 2 ? readVarint() : 0;
    if (value === undefined) return false;
    const site = { position, byteLength: p - position, value, isLength: wireType === 2, enclosing };
    if (wireType === 0) found.push(site);
    else if (wireType === 2) {
      if (p + value > end) return false;
      found.push(site);
      if (enclosing.length < 8) walkMessage(bytes, p, p + value, [...enclosing, site], found);
      p += value;
    } else if (wireType === 1 || wireType === 5) {
      p += wireType === 1 ? 8 : 4;
      if (p > end) return false;
    } else return false;
  }
  sites.push(...found);
  return true;
}

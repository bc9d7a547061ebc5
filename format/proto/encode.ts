/**
 * Protobuf encoding of the Lance messages the writer produces, from the same definitions the decoder
 * reads (definitions.ts): one set of field numbers for both directions. Objects use the decoder's
 * shapes (snake_case fields, enums by name, oneof members set by name); 64-bit integers may be numbers,
 * bigints or decimal strings, so random u64 ids keep all their bits.
 */
import protobuf from 'protobufjs';
import { InternalError } from '../../errors.js';
import { protoSources } from './definitions.js';

const root = new protobuf.Root();
for (const source of protoSources) protobuf.parse(source, root, { keepCase: true });
root.resolveAll();

/** protobufjs takes u64s as numbers, strings or Longs, not bigints: turn every bigint into its decimal string. */
function withoutBigInts(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(withoutBigInts);
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = withoutBigInts(item);
    return out;
  }
  return value;
}

function encoder(typeName: string): (object: object) => Uint8Array {
  const type = root.lookupType(typeName);
  return (object) => {
    try {
      return type.encode(type.fromObject(withoutBigInts(object) as Record<string, unknown>)).finish();
    } catch (cause) {
      throw new InternalError(
        `cannot encode protobuf ${typeName}: ${(cause as Error).message}`,
        { message: typeName },
        { cause },
      );
    }
  };
}

/** lance.file.FileDescriptor: the schema and row count in global buffer 0 of a data file. */
export const encodeFileDescriptor = encoder('lance.file.FileDescriptor');
/** lance.file.v2.ColumnMetadata */
export const encodeColumnMetadata = encoder('lance.file.v2.ColumnMetadata');
/** lance.encodings21.PageLayout */
export const encodePageLayout = encoder('lance.encodings21.PageLayout');
/** lance.encodings.ColumnEncoding */
export const encodeColumnEncoding = encoder('lance.encodings.ColumnEncoding');
/** lance.table.Manifest */
export const encodeManifest = encoder('lance.table.Manifest');
/** lance.table.Transaction */
export const encodeTransaction = encoder('lance.table.Transaction');

const encodeAnyMessage = encoder('lance.wk.Any');

/** A google.protobuf.Any wrapping `value`, whose type URL names the Lance message (`/lance.encodings21.PageLayout`). */
export function encodeAny(typeName: string, value: Uint8Array): Uint8Array {
  return encodeAnyMessage({ type_url: `/${typeName}`, value });
}

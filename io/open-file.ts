/**
 * Fetching a data file's metadata: the footer (last 40 bytes), then the whole metadata region at the end
 * of the file in one read (column metadata, offset tables), then global buffer 0 (the schema) if it lies
 * before that region. Three reads at most, each bounded by the file size.
 */
import { CorruptFileError } from '../errors.js';
import { parseFooter, FOOTER_BYTES } from '../format/footer.js';
import {
  metadataRegion,
  parseFileMetadata,
  parseGlobalBufferTable,
  type FileMetadata,
} from '../format/file-metadata.js';
import type { ByteSource } from './source.js';

/** Reads and parses the metadata of the file behind `source`. */
export async function fetchFileMetadata(source: ByteSource): Promise<FileMetadata> {
  const { path, size } = source;
  if (size < FOOTER_BYTES) {
    throw new CorruptFileError(`${path}: file is ${size} bytes, too small for a Lance file (truncated?)`, {
      path,
      fileSize: size,
    });
  }
  const [tail] = await source.readRanges([{ offset: size - FOOTER_BYTES, size: FOOTER_BYTES }]);
  const footer = parseFooter(tail as Uint8Array, size, path);
  const region = metadataRegion(footer, size);
  const [regionBytes] = await source.readRanges([region]);
  const bytes = regionBytes as Uint8Array;
  const globals = parseGlobalBufferTable(bytes, region.offset, footer, size, path);
  const schema = globals[0];
  if (!schema) throw new CorruptFileError(`${path}: file has no global buffers, so no schema`, { path });
  const schemaBytes =
    schema.offset >= region.offset
      ? bytes.subarray(schema.offset - region.offset, schema.offset - region.offset + schema.size)
      : ((await source.readRanges([schema]))[0] as Uint8Array);
  return parseFileMetadata(bytes, region.offset, schemaBytes, footer, size, path);
}

import { describe, expect, it } from 'vitest';
import { parseChunkTable } from '../../format/miniblock-layout.js';
import { caught } from '../caught.js';

describe('parseChunkTable', () => {
  it('reads u32 chunk words (2.2 has_large_chunk) like u16 ones', () => {
    // Word = (bytes / 8 - 1) << 4 | log2(items): 1024 items in 4096 bytes, then the last chunk (log2 0).
    const words = Uint32Array.of(((4096 / 8 - 1) << 4) | 10, ((80000 / 8 - 1) << 4) | 0);
    const table = parseChunkTable(new Uint8Array(words.buffer), 4, 1500, 84096, 'p');
    expect(Array.from(table.byteOffsets)).toEqual([0, 4096, 84096]);
    expect(Array.from(table.itemStarts)).toEqual([0, 1024, 1500]);
  });

  it('refuses chunk metadata that is not a whole number of u32 words with a CorruptFileError', () => {
    const error = caught(() => parseChunkTable(new Uint8Array(6), 4, 10, 100, 'f.lance column 0 page 0'));
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toBe('f.lance column 0 page 0: chunk metadata is 6 bytes, not a whole number of u32 words');
  });
});

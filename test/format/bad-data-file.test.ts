/**
 * Damaged data files (footer, offset tables, column metadata and schema protobufs, page layouts, chunk
 * tables, 2.0 binary offsets) must fail with a typed error naming the file (and column/page) and what is
 * wrong, without allocating more than the file justifies. Fixtures: bad-input-helpers.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, IoError, UnsupportedError, openDataset, openFile } from '../../index.js';
import { decodeFileDescriptor } from '../../format/proto/messages.js';
import { buildFieldTree } from '../../format/schema.js';
import {
  AnyMessage,
  FOOTER,
  MiB,
  NUM_ROWS,
  PageLayout,
  VERSIONS,
  copyDataset,
  decodeColumn,
  editPageLayout,
  expectFailure,
  parseParts,
  patchFile,
  readAllOfFile,
  removeTempDirs,
  rewriteDataFile,
  tempDir,
  u32Bytes,
  u64Bytes,
  withinMemory,
  writePristineDatasets,
  type Msg,
  type Range,
} from '../dataset/bad-input-helpers.js';

beforeAll(writePristineDatasets);
afterAll(removeTempDirs);

describe.each(VERSIONS)('a damaged %s data file', (version) => {
  describe('truncated', () => {
    it('is a CorruptFileError naming the file when cut inside the footer, the column metadata or the page data', async () => {
      const { dataFile } = copyDataset(version);
      const whole = fs.readFileSync(dataFile);
      const parts = parseParts(whole);
      const cuts = {
        'inside the footer': whole.length - 20,
        'inside the column metadata': parts.columnMetaStart + 5,
        'inside the page data': 100,
      };
      for (const [where, length] of Object.entries(cuts)) {
        fs.writeFileSync(dataFile, whole.subarray(0, length));
        const error = await expectFailure(
          () => openFile(dataFile),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          /truncated/,
        );
        expect(error.message, where).toContain('LANC');
      }
    });

    it('is a CorruptFileError naming the file when it is shorter than a footer', async () => {
      const { dataFile } = copyDataset(version);
      fs.writeFileSync(dataFile, fs.readFileSync(dataFile).subarray(0, 12));
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        'file is 12 bytes, too small',
        'truncated',
      );
    });

    it('is a CorruptFileError when page data is missing but the footer survived', async () => {
      const { dataFile } = copyDataset(version);
      const whole = fs.readFileSync(dataFile);
      // Drop 64 bytes of page data: every offset in the footer now points 64 bytes too far.
      fs.writeFileSync(dataFile, Buffer.concat([whole.subarray(0, 64), whole.subarray(128)]));
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        /runs past the footer|points past the end|outside/,
      );
    });

    it('is a CorruptFileError from a dataset take, naming the data file', async () => {
      const { root, dataFile } = copyDataset(version);
      fs.truncateSync(dataFile, 1000);
      const ds = await openDataset(root);
      try {
        await expectFailure(() => ds.take([0]), CorruptFileError, 'CORRUPT_FILE', dataFile, 'LANC');
      } finally {
        await ds.close();
      }
    });

    it('is an IoError (short read) when the file shrinks after it was opened', async () => {
      const { dataFile } = copyDataset(version);
      const lance = await openFile(dataFile);
      try {
        fs.truncateSync(dataFile, 32);
        await expectFailure(() => lance.take([NUM_ROWS - 1]), IoError, 'IO_ERROR', dataFile, 'short read', 'truncated');
      } finally {
        await lance.close();
      }
    });
  });

  it('with the wrong magic is a CorruptFileError saying it is not a Lance file', async () => {
    const { dataFile } = copyDataset(version);
    const size = fs.statSync(dataFile).size;
    patchFile(dataFile, size - 4, Buffer.from('LANX', 'latin1'));
    await expectFailure(
      () => openFile(dataFile),
      CorruptFileError,
      'CORRUPT_FILE',
      dataFile,
      'not a Lance file',
      '"LANC"',
    );
  });

  it('that is not a Lance file at all is a CorruptFileError', async () => {
    const file = path.join(tempDir(), 'notes.lance');
    fs.writeFileSync(file, 'just some text that is certainly long enough to hold a footer\n'.repeat(4));
    await expectFailure(() => openFile(file), CorruptFileError, 'CORRUPT_FILE', file, 'not a Lance file');
  });

  it('with an unknown format version is an UnsupportedError naming the version', async () => {
    const { dataFile } = copyDataset(version);
    const size = fs.statSync(dataFile).size;
    patchFile(dataFile, size - 8, [9, 0, 7, 0]); // major 9, minor 7
    await expectFailure(
      () => openFile(dataFile),
      UnsupportedError,
      'UNSUPPORTED',
      dataFile,
      'version 9.7 is not supported',
    );
  });

  describe('with corrupt protobuf', () => {
    it('in the column metadata is a CorruptFileError naming the file, column and message', async () => {
      const { dataFile } = copyDataset(version);
      const column = parseParts(fs.readFileSync(dataFile)).columns[1] as Range;
      // 0xFF… reads as a tag with wire type 7, which protobuf does not have.
      patchFile(dataFile, column.offset, new Array(8).fill(0xff));
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        `${dataFile} column 1`,
        'cannot decode protobuf lance.file.v2.ColumnMetadata',
      );
    });

    it('in the column metadata claiming a 2 GiB field is a CorruptFileError without a big allocation', async () => {
      const { dataFile } = copyDataset(version);
      const column = parseParts(fs.readFileSync(dataFile)).columns[0] as Range;
      // field 1 (encoding), length-delimited, length varint 0x7FFFFFFF
      patchFile(dataFile, column.offset, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x07]);
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => openFile(dataFile),
          CorruptFileError,
          'CORRUPT_FILE',
          `${dataFile} column 0`,
          'cannot decode protobuf',
        ),
      );
    });

    it('in the schema (global buffer 0) is a CorruptFileError naming the file', async () => {
      const { dataFile } = copyDataset(version);
      const schema = parseParts(fs.readFileSync(dataFile)).globals[0] as Range;
      patchFile(dataFile, schema.offset, new Array(8).fill(0xff));
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        'schema in global buffer 0',
        'lance.file.FileDescriptor',
      );
    });

    it('in a page encoding is a CorruptFileError naming the column and page', async () => {
      const { dataFile } = copyDataset(version);
      rewriteDataFile(dataFile, {
        column: (i, column) => {
          if (i === 2) column.pages[0].encoding.direct.encoding = Uint8Array.from([0x0a, 0x10, 0x2f]); // a 16-byte string with 1 byte
        },
      });
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        `${dataFile} column 2 page 0`,
        'cannot decode protobuf',
      );
    });
  });

  describe('with offsets pointing past the end of the file', () => {
    it('in the column metadata offset table is a CorruptFileError', async () => {
      const { dataFile } = copyDataset(version);
      const bytes = fs.readFileSync(dataFile);
      const parts = parseParts(bytes);
      patchFile(dataFile, parts.cmoTableOffset + 16, u64Bytes(BigInt(bytes.length))); // column 1 position
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        'column metadata 1 points past the end of the file',
      );
    });

    it('in a page buffer offset is a CorruptFileError naming column, page and buffer', async () => {
      const { dataFile } = copyDataset(version);
      const size = fs.statSync(dataFile).size;
      rewriteDataFile(dataFile, {
        column: (i, column) => {
          if (i === 1) column.pages[0].buffer_offsets[0] = size + 4096;
        },
      });
      await expectFailure(
        () => openFile(dataFile),
        CorruptFileError,
        'CORRUPT_FILE',
        dataFile,
        'column 1 page 0 buffer 0 points past the end of the file',
      );
    });

    it('in a page buffer size is a CorruptFileError', async () => {
      const { dataFile } = copyDataset(version);
      rewriteDataFile(dataFile, {
        column: (i, column) => {
          if (i === 0) column.pages[0].buffer_sizes[column.pages[0].buffer_sizes.length - 1] = 2 ** 40;
        },
      });
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => openFile(dataFile),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          /column 0 page 0 buffer \d points past the end of the file/,
        ),
      );
    });
  });

  describe('with absurd lengths', () => {
    it('in the footer is a CorruptFileError, without allocating for them', async () => {
      const { dataFile } = copyDataset(version);
      const whole = fs.readFileSync(dataFile);
      const footer = whole.length - FOOTER;
      const cases: { patch: [number, Buffer]; message: string | RegExp }[] = [
        { patch: [footer + 28, u32Bytes(2 ** 31)], message: 'column offset table (2147483648 columns' },
        { patch: [footer + 24, u32Bytes(0xffffffff)], message: 'global buffer table (4294967295 buffers' },
        {
          patch: [footer + 0, u64Bytes((1n << 64n) - 1n)],
          message: 'column metadata start is 18446744073709551615, beyond any file size',
        },
        { patch: [footer + 8, u64Bytes(2n ** 53n - 1n)], message: 'runs past the footer' },
        {
          patch: [footer + 16, u64Bytes(1n << 40n)],
          message: 'global buffer table (1 buffers at 1099511627776) runs past the footer',
        },
      ];
      for (const { patch, message } of cases) {
        fs.writeFileSync(dataFile, whole);
        patchFile(dataFile, patch[0], patch[1]);
        await withinMemory(64 * MiB, () =>
          expectFailure(() => openFile(dataFile), CorruptFileError, 'CORRUPT_FILE', dataFile, message),
        );
      }
    });

    it('in the schema row count is a CorruptFileError, not 2^40 rows of scan', async () => {
      const { dataFile } = copyDataset(version);
      rewriteDataFile(dataFile, { descriptor: (d) => (d.length = 2 ** 40) });
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => readAllOfFile(dataFile),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          `pages hold ${NUM_ROWS} rows but the file has 1099511627776`,
        ),
      );
    });

    it('in a page row count is a CorruptFileError', async () => {
      const { dataFile } = copyDataset(version);
      rewriteDataFile(dataFile, {
        column: (i, column) => {
          if (i === 1) column.pages[0].length = 2 ** 40;
        },
      });
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => readAllOfFile(dataFile),
          CorruptFileError,
          'CORRUPT_FILE',
          `${dataFile} column 1`,
          'rows but the file has 300',
        ),
      );
    });
  });

  it('whose schema does not match its columns is a CorruptFileError', async () => {
    const { dataFile } = copyDataset(version);
    rewriteDataFile(dataFile, { descriptor: (d) => d.schema.fields.pop() });
    await expectFailure(
      () => openFile(dataFile),
      CorruptFileError,
      'CORRUPT_FILE',
      dataFile,
      'schema needs 2 columns',
      'the file has 3',
    );
  });
});

// Chunk table words and chunk-header buffer sizes are u16 in 2.1 and u32 in 2.2 (has_large_chunk).
describe.each([
  { version: '2.1' as const, word: 2, huge: [0xff, 0xff], hugeBytes: 32768, hugeSize: 65535 },
  { version: '2.2' as const, word: 4, huge: [0xff, 0xff, 0xff, 0x00], hugeBytes: 8388608, hugeSize: 16777215 },
])('a damaged $version mini-block page', ({ version, word, huge, hugeBytes, hugeSize }) => {
  /** Column 0 (id): mini-block, buffer 0 = chunk table (one word per chunk), buffer 1 = chunks. */
  function idPage(dataFile: string): { table: Range; chunks: Range; layout: Msg } {
    const column = decodeColumn(parseParts(fs.readFileSync(dataFile)), 0);
    const page = column.pages[0];
    const any = AnyMessage.decode(page.encoding.direct.encoding) as Msg;
    const layout = PageLayout.decode(any.value) as Msg;
    expect(layout.mini_block_layout, 'id column is mini-block').toBeTruthy();
    const range = (b: number) => ({ offset: Number(page.buffer_offsets[b]), size: Number(page.buffer_sizes[b]) });
    return { table: range(0), chunks: range(1), layout: layout.mini_block_layout };
  }

  it('whose chunk table claims more bytes than the chunk data buffer is a CorruptFileError', async () => {
    const { dataFile } = copyDataset(version);
    const { table, chunks } = idPage(dataFile);
    expect(table.size).toBe(word); // one chunk
    patchFile(dataFile, table.offset, huge); // ((word >> 4) + 1) × 8 bytes
    const lance = await openFile(dataFile);
    try {
      await expectFailure(
        () => lance.take([5]),
        CorruptFileError,
        'CORRUPT_FILE',
        `${dataFile} column 0 ("id") page 0`,
        `chunk table of 1 chunks covers ${NUM_ROWS} items in ${hugeBytes} bytes, but the page has ${NUM_ROWS} items in ${chunks.size} bytes`,
      );
    } finally {
      await lance.close();
    }
  });

  it('whose chunk header claims a buffer larger than the chunk is a CorruptFileError', async () => {
    const { dataFile } = copyDataset(version);
    const { chunks } = idPage(dataFile);
    patchFile(dataFile, chunks.offset + 2, huge); // the size after num_levels: a def or value buffer size
    const lance = await openFile(dataFile);
    try {
      await expectFailure(
        () => lance.take([5]),
        CorruptFileError,
        'CORRUPT_FILE',
        `${dataFile} column 0 ("id") page 0`,
        `${hugeSize} bytes`,
        'runs past the chunk',
      );
    } finally {
      await lance.close();
    }
  });

  it('whose layout claims 2^31 items is a CorruptFileError without allocating for them', async () => {
    const { dataFile } = copyDataset(version);
    rewriteDataFile(dataFile, {
      column: (i, column) => {
        if (i === 0) editPageLayout(column.pages[0], (layout) => (layout.mini_block_layout.num_items = 2 ** 31));
      },
    });
    const lance = await openFile(dataFile);
    try {
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => lance.take([5]),
          CorruptFileError,
          'CORRUPT_FILE',
          `${dataFile} column 0 ("id") page 0`,
          `holds 2147483648 items but the page has ${NUM_ROWS} rows`,
        ),
      );
    } finally {
      await lance.close();
    }
  });
  it('whose values claim a fixed-size list of 2^20 bit-packed items each is a CorruptFileError without allocating for them', async () => {
    const { dataFile } = copyDataset(version);
    rewriteDataFile(dataFile, {
      column: (i, column) => {
        if (i !== 0) return;
        editPageLayout(column.pages[0], (layout) => {
          const values = layout.mini_block_layout.value_compression;
          layout.mini_block_layout.value_compression = { fixed_size_list: { items_per_value: 2 ** 20, values } };
        });
      },
    });
    const lance = await openFile(dataFile);
    try {
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => lance.take([5]),
          CorruptFileError,
          'CORRUPT_FILE',
          `${dataFile} column 0 ("id") page 0`,
          `bit-packed values would decode to ${NUM_ROWS * 2 ** 20 * 4} bytes`,
        ),
      );
    } finally {
      await lance.close();
    }
  });
});

describe('a damaged 2.0 binary page', () => {
  it('whose end offsets point past the bytes buffer is a CorruptFileError', async () => {
    const { dataFile } = copyDataset('2.0');
    const page = decodeColumn(parseParts(fs.readFileSync(dataFile)), 2).pages[0];
    const sizes = (page.buffer_sizes as unknown[]).map(Number);
    const indices = sizes.indexOf(NUM_ROWS * 8); // u64 end offset per row
    expect(indices).toBeGreaterThanOrEqual(0);
    const bytesSize = sizes[1 - indices] as number;
    // Offsets at or above null_adjustment mark nulls (offset + null_adjustment), so 2^40 still names a
    // byte far past the buffer after the adjustment.
    patchFile(dataFile, Number(page.buffer_offsets[indices]) + (NUM_ROWS - 1) * 8, u64Bytes(1n << 40n));
    const lance = await openFile(dataFile);
    try {
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => lance.take([NUM_ROWS - 1]),
          CorruptFileError,
          'CORRUPT_FILE',
          `${dataFile} column 2 ("s") page 0`,
          `outside the ${bytesSize}-byte buffer`,
        ),
      );
    } finally {
      await lance.close();
    }
  });

  it('whose values are narrower than the column type is a CorruptFileError, not a RangeError', async () => {
    const { dataFile } = copyDataset('2.0');
    // Swap the schema's logical type of "x" (float, 32 bits) for double: the page still holds 32-bit values.
    rewriteDataFile(dataFile, { descriptor: (d) => (d.schema.fields[1].logical_type = 'double') });
    await expectFailure(
      () => readAllOfFile(dataFile),
      CorruptFileError,
      'CORRUPT_FILE',
      `${dataFile} column 1 ("x")`,
      'values are 32 bits wide',
      'needs 64',
    );
  });
});

describe('a schema whose field metadata omits an empty value', () => {
  it('decodes the value as empty bytes, not a plain array', () => {
    // FileDescriptor{ schema(1){ fields(1){ name(2)="a", parent_id(4)=-1, logical_type(5)="int32",
    //   metadata(10){ key(1)="k" } } } }   (-1 is a 10-byte varint)
    const parentNone = [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    const field = [0x12, 0x01, 0x61, ...parentNone, 0x2a, 0x05, ...Buffer.from('int32'), 0x52, 0x03, 0x0a, 0x01, 0x6b];
    const schema = [0x0a, field.length, ...field];
    const bytes = Uint8Array.from([0x0a, schema.length, ...schema]);
    const descriptor = decodeFileDescriptor(bytes, 'hand-made descriptor');
    const value = descriptor.schema?.fields[0]?.metadata['k'];
    expect(value).toBeInstanceOf(Uint8Array);
    expect(value).toHaveLength(0);
    expect(buildFieldTree(descriptor.schema?.fields ?? [], 'hand-made descriptor')[0]?.metadata.get('k')).toBe('');
  });
});

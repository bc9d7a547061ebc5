/**
 * Damaged nested pages (a LanceDB-written list column whose rows span mini-block chunks, copied and
 * patched): corrupt repetition levels, a repetition index pointing past the page or ending inside a
 * row, and level counts past the chunk end with a CorruptFileError naming the file and the column, never
 * a hang, a raw exception or values taken from other rows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CorruptFileError, openDataset } from '../../index.js';
import type { PageInfo } from '../../format/file-metadata.js';
import { fetchFileMetadata } from '../../io/open-file.js';
import { FileSource } from '../../io/source.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName } from '../fixtures/matrix.js';
import { expectFailure, patchFile, removeTempDirs, tempDir, u32Bytes, u64Bytes } from './bad-input-helpers.js';

let pristine: string;
let singleRow: string;

beforeAll(async () => {
  pristine = await ensureDataset(specByName('nested_long'), '2.1');
  singleRow = await ensureDataset(specByName('nested_single_row'), '2.2');
});

afterAll(() => removeTempDirs());

/** A copy of a dataset (nested_long: its list column is column 1), its data file, and page 0 of `column`. */
async function damagedCopy(from = pristine, column = 1): Promise<{ root: string; file: string; page: PageInfo }> {
  const root = path.join(tempDir(), path.basename(from));
  fs.cpSync(from, root, { recursive: true });
  // The first fragment's file: the rows the tests take are its rows.
  const ds = await openDataset(root);
  const name = ds.fragments[0]?.files[0]?.path as string;
  await ds.close();
  const file = path.join(root, 'data', name);
  const source = await FileSource.open(file);
  try {
    const meta = await fetchFileMetadata(source);
    return { root, file, page: meta.columns[column]?.pages[0] as PageInfo };
  } finally {
    await source.close();
  }
}

/**
 * Takes rows of `column` (a run of page 0's rows, and row 0 alone), expecting a CorruptFileError naming the
 * file, the column's stored `leaf` and `needles`.
 */
async function expectCorruptColumn(
  root: string,
  file: string,
  column: string,
  leaf: string,
  ...needles: (string | RegExp)[]
): Promise<void> {
  const read = async (rows: number[]) => {
    const ds = await openDataset(root);
    try {
      await ds.take(rows, { columns: [column] });
    } finally {
      await ds.close();
    }
  };
  for (const rows of [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [0]]) {
    await expectFailure(() => read(rows), CorruptFileError, 'CORRUPT_FILE', file, `"${leaf}"`, ...needles);
  }
}

/** {@link expectCorruptColumn} of nested_long's list column. */
function expectCorrupt(root: string, file: string, ...needles: (string | RegExp)[]): Promise<void> {
  return expectCorruptColumn(root, file, 'list_long', 'list_long.item', ...needles);
}

describe('a damaged list page', () => {
  it('with a repetition index entry past the page is a CorruptFileError', async () => {
    const { root, file, page } = await damagedCopy();
    const index = page.buffers[2] as { offset: number };
    patchFile(file, index.offset, u64Bytes(1n << 40n));
    await expectCorrupt(root, file, /repetition index entry 0 .* puts rows past the page/);
  });

  it('with a repetition index whose last chunk ends inside a row is a CorruptFileError', async () => {
    const { root, file, page } = await damagedCopy();
    const index = page.buffers[2] as { offset: number; size: number };
    patchFile(file, index.offset + index.size - 8, u64Bytes(7n));
    await expectCorrupt(root, file, /repetition index/);
  });

  it('with corrupt repetition levels is a CorruptFileError naming the rows read', async () => {
    const { root, file, page } = await damagedCopy();
    const data = page.buffers[1] as { offset: number };
    // Chunk 0: u16 levels, u16 rep size, u16 def size, u16 value size, then its rep bytes: all ones.
    const bytes = fs.readFileSync(file);
    const repSize = bytes.readUInt16LE(data.offset + 2);
    patchFile(file, data.offset + 8, new Uint8Array(repSize).fill(0xff));
    await expectCorrupt(root, file, /chunks from row 0/);
  });

  it('with corrupt definition levels is a CorruptFileError naming the rows read', async () => {
    const { root, file, page } = await damagedCopy();
    const data = page.buffers[1] as { offset: number };
    // Chunk 0: its header (8 bytes), rep bytes padded to 8, then its def bytes: all ones, every entry an empty list.
    const bytes = fs.readFileSync(file);
    const repSize = bytes.readUInt16LE(data.offset + 2);
    const defSize = bytes.readUInt16LE(data.offset + 4);
    patchFile(file, data.offset + 8 + Math.ceil(repSize / 8) * 8, new Uint8Array(defSize).fill(0xff));
    await expectCorrupt(root, file, /chunks from row 0/);
  });

  it('with a level count past its chunk is a CorruptFileError', async () => {
    const { root, file, page } = await damagedCopy();
    const data = page.buffers[1] as { offset: number };
    patchFile(file, data.offset, [0xff, 0xff]);
    await expectCorrupt(root, file);
  });
});

/** Takes the one row of nested_single_row's `list_utf8`, expecting a CorruptFileError naming `needle`. */
async function expectCorruptSingleRow(root: string, file: string, needle: RegExp): Promise<void> {
  const read = async () => {
    const ds = await openDataset(root);
    try {
      await ds.take([0], { columns: ['list_utf8'] });
    } finally {
      await ds.close();
    }
  };
  await expectFailure(read, CorruptFileError, 'CORRUPT_FILE', file, '"list_utf8.item"', needle);
}

describe('a damaged constant page of a list column (file version 2.2)', () => {
  it('with a value buffer header of the wrong buffer count is a CorruptFileError', async () => {
    const { root, file, page } = await damagedCopy(singleRow, 2);
    const value = page.buffers[0] as { offset: number };
    patchFile(file, value.offset, u32Bytes(5));
    await expectCorruptSingleRow(root, file, /constant value buffer .* holds 5 buffers/);
  });

  it('with repetition levels that start no row is a CorruptFileError', async () => {
    const { root, file, page } = await damagedCopy(singleRow, 2);
    const rep = page.buffers[1] as { offset: number; size: number };
    patchFile(file, rep.offset, new Uint8Array(rep.size));
    await expectCorruptSingleRow(root, file, /0 row starts/);
  });
});

describe('a damaged full-zip list page', () => {
  it('with a value length past its row is a CorruptFileError naming the row', async () => {
    const lists = await ensureDataset(specByName('nested_lists'), '2.1');
    const { root, file, page } = await damagedCopy(lists, 3);
    const zipped = page.buffers[0] as { offset: number };
    // Entries are a 1-byte control word (rep << 2 | def), then a u32 length and the bytes when def is 0.
    const bytes = fs.readFileSync(file);
    let at = zipped.offset;
    while (((bytes[at] as number) & 3) !== 0) at++;
    patchFile(file, at + 1, u32Bytes(0xffffffff));
    await expectCorruptColumn(root, file, 'list_text', 'list_text.item', /4294967295-byte value runs past the row/);
  });
});

describe('a damaged fixed_size_list page with null items', () => {
  it('with an item validity buffer shorter than its items is a CorruptFileError', async () => {
    const fsl = await ensureDataset(specByName('fsl_null_items'), '2.1');
    const { root, file, page } = await damagedCopy(fsl, 1);
    const data = page.buffers[1] as { offset: number };
    // Chunk 0 of a column without levels: u16 level count, then the sizes of its validity and values buffers.
    patchFile(file, data.offset + 2, [1, 0]);
    await expectCorruptColumn(root, file, 'fsl', 'fsl', /item validity needs \d+ bytes but has 1/);
  });
});

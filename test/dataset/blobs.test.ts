/**
 * dataset.takeBlobs over LanceDB-written blob columns: legacy blobs (2.0, 2.1: bytes in the data file)
 * and blob v2 (2.2: inline, packed sidecar and dedicated sidecar). The handles' bytes are compared with
 * the bytes the fixture wrote; read costs are counted on the dataset's files; damaged descriptors and
 * sidecars give typed errors naming file, column and row.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CorruptFileError,
  InvalidArgumentError,
  IoError,
  UnsupportedError,
  openDataset,
  type Dataset,
} from '../../index.js';
import { BlobFiles, createBlobHandles } from '../../dataset/blobs.js';
import { FileSource } from '../../io/source.js';
import { fdsUnder } from '../fixtures/fds.js';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';
import { oracleTake } from '../fixtures/oracle.js';
import { BLOB_CASES as CASES, externalDescriptor, writtenBlobs } from './blob-fixtures.js';

async function withBlobs<T>(spec: string, version: StorageVersion, fn: (ds: Dataset) => Promise<T>): Promise<T> {
  const ds = await openDataset(await ensureDataset(specByName(spec), version));
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');

describe.each(CASES)('takeBlobs on $spec written as $version', ({ spec, version }) => {
  it('returns handles whose bytes are the values written, in the order asked, nulls as null', async () => {
    const written = writtenBlobs(spec);
    await withBlobs(spec, version, async (ds) => {
      const rows = Array.from({ length: ds.numRows }, (_, i) => ds.numRows - 1 - i);
      rows.push(3, 3);
      const handles = await ds.takeBlobs(rows, 'image');
      for (const [i, row] of rows.entries()) {
        const handle = handles[i] ?? null;
        // 2.0 keeps a null blob as an empty (position 1, size 0) descriptor, like LanceDB's scan of it.
        const want = written[row] ?? (version === '2.0' ? '' : null);
        expect(handle === null ? null : hex(await handle.arrayBuffer()), `row ${row}`).toBe(want);
      }
    });
  });

  it('gives each handle the size its descriptor records', async () => {
    const path = await ensureDataset(specByName(spec), version);
    await withBlobs(spec, version, async (ds) => {
      const rows = [0, 5, 9, ds.numRows - 1];
      const descriptors = (await oracleTake(path, rows, ['image'])).getChild('image');
      const handles = await ds.takeBlobs(rows, 'image');
      rows.forEach((_, i) => {
        const descriptor = descriptors?.get(i) as { size: bigint } | null;
        expect(handles[i]?.size ?? null).toBe(descriptor === null ? null : Number(descriptor.size));
      });
    });
  });

  it('learns the size of a megabyte value without reading it, and reads only the range asked for', async () => {
    const written = writtenBlobs(spec);
    const big = written.findIndex((v) => v !== null && v.length / 2 >= 1_000_000);
    await withBlobs(spec, version, async (ds) => {
      const before = (await ds.readStats()).bytesRead;
      const [handle] = await ds.takeBlobs([big], 'image');
      const afterHandle = (await ds.readStats()).bytesRead;
      expect(handle?.size).toBe((written[big] as string).length / 2);
      expect(afterHandle - before).toBeLessThan(64 * 1024);
      const slice = await handle?.read(500_000, 100);
      expect((await ds.readStats()).bytesRead - afterHandle).toBe(100);
      expect(hex(slice as Uint8Array)).toBe((written[big] as string).slice(1_000_000, 1_000_200));
    });
  });

  it('refuses a read past the end of the value', async () => {
    await withBlobs(spec, version, async (ds) => {
      const [handle] = await ds.takeBlobs([1], 'image');
      const size = handle?.size ?? 0;
      await expect(handle?.read(size, 1)).rejects.toThrow(InvalidArgumentError);
      await expect(handle?.read(0, size + 1)).rejects.toThrow(
        `blob read length must be an integer from 0 to ${size} (the blob has ${size} bytes), got ${size + 1}`,
      );
    });
  });
});

describe('takeBlobs arguments', () => {
  it('refuses a column that is not a blob column', async () => {
    await withBlobs('blob', '2.1', async (ds) => {
      await expect(ds.takeBlobs([0], 'idx')).rejects.toThrow(InvalidArgumentError);
      await expect(ds.takeBlobs([0], 'idx')).rejects.toThrow('column "idx" is not a blob column');
    });
  });

  it('refuses a row offset past the end', async () => {
    await withBlobs('blob', '2.1', async (ds) => {
      await expect(ds.takeBlobs([ds.numRows], 'image')).rejects.toThrow(InvalidArgumentError);
    });
  });
});

// ------------------------------------------------------------------------------------ damaged files

const temps: string[] = [];
afterAll(() => temps.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A copy of a fixture dataset to damage. */
async function copyOf(spec: string, version: StorageVersion): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llblob-'));
  temps.push(dir);
  const target = path.join(dir, `${spec}.lance`);
  fs.cpSync(await ensureDataset(specByName(spec), version), target, { recursive: true });
  return target;
}

/** Replaces the only occurrence of `find` in `file` with `replace` (same length). */
function patchOnce(file: string, find: Buffer, replace: Buffer): void {
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(find);
  expect(at, `pattern in ${file}`).toBeGreaterThanOrEqual(0);
  expect(bytes.indexOf(find, at + 1), `second pattern in ${file}`).toBe(-1);
  replace.copy(bytes, at);
  fs.writeFileSync(file, bytes);
}

/** Expects `promise` to reject with an error of class `type` and exactly `message`. */
async function expectError(
  promise: Promise<unknown>,
  type: new (message: string) => Error,
  message: string,
): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toBe(message);
}

const u64 = (value: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
};

/** The data file holding visible row `row` of a one-fragment dataset, and the row's descriptor bytes. */
async function descriptorOf(root: string, row: number): Promise<{ file: string; position: bigint; size: bigint }> {
  const ds = await openDataset(root);
  try {
    const image = (await ds.take([row], { columns: ['image'] })).getChild('image')?.get(0) as {
      position: bigint;
      size: bigint;
    };
    return { file: path.join(root, 'data', ds.fragments[0]?.files[0]?.path as string), ...image };
  } finally {
    await ds.close();
  }
}

describe('takeBlobs on damaged descriptors', () => {
  it('refuses a legacy descriptor pointing past the end of the data file, naming file, column and row', async () => {
    const root = await copyOf('blob', '2.1');
    const { file, position, size } = await descriptorOf(root, 4);
    patchOnce(file, Buffer.concat([u64(position), u64(size)]), Buffer.concat([u64(position), u64(1n << 40n)]));
    const ds = await openDataset(root);
    try {
      const error = await ds.takeBlobs([4], 'image').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as Error).message).toContain(`${file} column 1 ("image"): row 4`);
      expect((error as Error).message).toContain(
        `points at bytes ${position}..${position + (1n << 40n)}, past the end`,
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses a legacy descriptor size beyond any file size before using it', async () => {
    const root = await copyOf('blob', '2.0');
    const { file, position, size } = await descriptorOf(root, 4);
    patchOnce(file, Buffer.concat([u64(position), u64(size)]), Buffer.concat([u64(position), u64(1n << 63n)]));
    const ds = await openDataset(root);
    try {
      await expectError(
        ds.takeBlobs([4], 'image'),
        CorruptFileError,
        `${file} column 1 ("image"): row 4: blob size is ${1n << 63n}, beyond any file size`,
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses an external blob v2 value that is not a local file: URI with UnsupportedError', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const { file, position, size } = await descriptorOf(root, 3);
    // kind 0 (inline) → 3 (external), its blob_uri empty.
    patchOnce(
      file,
      Buffer.concat([Buffer.from([0]), u64(position), u64(size)]),
      Buffer.concat([Buffer.from([3]), u64(position), u64(size)]),
    );
    const ds = await openDataset(root);
    try {
      await expectError(
        ds.takeBlobs([3], 'image'),
        UnsupportedError,
        `${file} column 1 ("image"): row 3: external blob "" is not a local file: URI, which lance-loader cannot read`,
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses a blob v2 descriptor of an unknown kind', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const { file, position, size } = await descriptorOf(root, 3);
    patchOnce(
      file,
      Buffer.concat([Buffer.from([0]), u64(position), u64(size)]),
      Buffer.concat([Buffer.from([9]), u64(position), u64(size)]),
    );
    const ds = await openDataset(root);
    try {
      await expectError(
        ds.takeBlobs([3], 'image'),
        CorruptFileError,
        `${file} column 1 ("image"): row 3: blob descriptor of unknown kind 9`,
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses a blob v2 descriptor row whose URI length runs past the row, naming file, column and row', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const { file, position, size } = await descriptorOf(root, 3);
    // kind 0 | position | size | blob_id 0 | blob_uri length 0 → length 1000
    const zeros = Buffer.alloc(4);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(1000);
    const descriptor = (uriLength: Buffer) =>
      Buffer.concat([Buffer.from([0]), u64(position), u64(size), zeros, uriLength]);
    patchOnce(file, descriptor(zeros), descriptor(length));
    const ds = await openDataset(root);
    try {
      // Visible row 3 is physical row 4 (idx 1 is deleted).
      await expectError(
        ds.take([3], { columns: ['image'] }),
        CorruptFileError,
        `${file} column 1 ("image") page 0 row 4: the packed row of 25 bytes ends inside its field 4`,
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses a blob v2 descriptor larger than its sidecar file', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const row = writtenBlobs('blob_v2').findIndex((v) => v !== null && v.length / 2 === 100_000);
    const { file, position, size } = await descriptorOf(root, row);
    patchOnce(file, Buffer.concat([u64(position), u64(size)]), Buffer.concat([u64(position), u64(size * 1000n)]));
    const ds = await openDataset(root);
    try {
      const error = await ds.takeBlobs([row], 'image').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as Error).message).toMatch(
        new RegExp(`column 1 \\("image"\\): row ${row} \\(blob in sidecar .*\\.blob\\)`),
      );
    } finally {
      await ds.close();
    }
  });

  it('refuses a sidecar that is a symlink out of the dataset', async () => {
    const root = await copyOf('blob_v2', '2.2');
    const row = writtenBlobs('blob_v2').findIndex((v) => v !== null && v.length / 2 === 5_000_000);
    const { file } = await descriptorOf(root, row);
    const sidecarDir = file.replace(/\.lance$/, '');
    const outside = path.join(path.dirname(root), 'outside.blob');
    fs.writeFileSync(outside, Buffer.alloc(5_000_000));
    for (const name of fs.readdirSync(sidecarDir)) {
      fs.rmSync(path.join(sidecarDir, name));
      fs.symlinkSync(outside, path.join(sidecarDir, name));
    }
    const ds = await openDataset(root);
    try {
      await expect(ds.takeBlobs([row], 'image')).rejects.toBeInstanceOf(IoError);
    } finally {
      await ds.close();
    }
  });
});

// ---------------------------------------------------------------------------------------- external

describe('external blobs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llext-'));
  temps.push(dir);
  const media = path.join(dir, 'media');
  fs.mkdirSync(media);
  const file = path.join(media, 'clip.bin');
  fs.writeFileSync(
    file,
    Uint8Array.from({ length: 64 }, (_, i) => i),
  );
  const handles = async (uri: string, position: bigint, size: bigint, roots?: string[], base = 0, basePath = '') => {
    const source = await FileSource.open(file);
    const files = new BlobFiles(undefined, [{ id: 2, is_dataset_root: false, path: basePath }]);
    try {
      const origin = { source, where: 'f.lance column 1 ("image")', row: 7 };
      const [handle] = await createBlobHandles(externalDescriptor(uri, position, size, base), [origin], files, {
        externalRoots: roots,
      });
      return await handle?.read();
    } finally {
      await files.close();
      await source.close();
    }
  };

  it('reads a file: URI under one of externalRoots', async () => {
    const bytes = await handles(pathToFileURL(file).href, 10n, 5n, [media]);
    expect([...(bytes as Uint8Array)]).toEqual([10, 11, 12, 13, 14]);
  });

  it('refuses a file: URI outside externalRoots with UnsupportedError', async () => {
    await expectError(
      handles(pathToFileURL(file).href, 0n, 1n, [path.join(dir, 'elsewhere')]),
      UnsupportedError,
      `f.lance column 1 ("image"): row 7: external blob ${file} is outside options.externalRoots (${path.join(dir, 'elsewhere')})` +
        `; to read it, add a directory holding it, e.g. externalRoots: [${JSON.stringify(media)}]`,
    );
  });

  it('reads an external blob of size 0 as the whole file, as LanceDB does', async () => {
    const bytes = await handles(pathToFileURL(file).href, 0n, 0n, [media]);
    expect([...(bytes as Uint8Array)]).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  const at = 'f.lance column 1 ("image"): row 7';
  it('reads an external blob relative to a registered base under externalRoots', async () => {
    const bytes = await handles('clip.bin', 10n, 3n, [media], 2, pathToFileURL(media).href);
    expect([...(bytes as Uint8Array)]).toEqual([10, 11, 12]);
  });

  it('reads a base given as an absolute path, as Lance accepts it', async () => {
    const bytes = await handles('clip.bin', 0n, 0n, [dir], 2, media);
    expect(bytes?.length).toBe(64);
  });

  it('refuses a blob relative to a base outside externalRoots with UnsupportedError', async () => {
    await expectError(
      handles('clip.bin', 0n, 0n, [path.join(dir, 'elsewhere')], 2, pathToFileURL(media).href),
      UnsupportedError,
      `${at}: external blob ${file} is outside options.externalRoots (${path.join(dir, 'elsewhere')})` +
        `; to read it, add a directory holding it, e.g. externalRoots: [${JSON.stringify(media)}]`,
    );
  });

  it('refuses a base id the manifest does not register with CorruptFileError', async () => {
    await expectError(
      handles('clip.bin', 0n, 0n, [media], 5, pathToFileURL(media).href),
      CorruptFileError,
      `${at}: external blob names external base 5, which the manifest does not register (bases: 2)`,
    );
  });

  it('refuses a base-relative URI that climbs out of its base with CorruptFileError', async () => {
    await expectError(
      handles('../media/clip.bin', 0n, 0n, [dir], 2, pathToFileURL(media).href),
      CorruptFileError,
      `${at}: external blob "../media/clip.bin" of external base 2 (${pathToFileURL(media).href}) is not a path inside its base`,
    );
  });

  it("refuses a local dataset's base that is not a local directory with UnsupportedError", async () => {
    await expectError(
      handles('clip.bin', 0n, 0n, [media], 2, 's3://bucket/media'),
      UnsupportedError,
      `${at}: external blob "clip.bin" is relative to external base 2 (s3://bucket/media), which is not a local directory (a file: URL or an absolute path); a local dataset's external bases must be`,
    );
  });

  it('refuses a missing external file with an IoError naming the row and the URI', async () => {
    const error = await handles('gone.bin', 0n, 0n, [media], 2, pathToFileURL(media).href).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).message).toMatch(
      new RegExp(`^${at.replace(/[().]/g, '\\$&')}: external blob "gone.bin" cannot be read: .*gone\\.bin`),
    );
    expect((error as IoError).details).toMatchObject({ row: 7, uri: 'gone.bin' });
  });

  it('refuses an external value past the end of its file', async () => {
    await expectError(
      handles(pathToFileURL(file).href, 60n, 5n, [media]),
      CorruptFileError,
      `f.lance column 1 ("image"): row 7 (external blob ${file}): the descriptor points at bytes 60..65, past the end of ${file} (64 bytes)`,
    );
  });
});

describe("a dataset's blob files after close", () => {
  it('refuses to open one with an IoError, leaving no file of the dataset open', async () => {
    const root = fs.realpathSync(await ensureDataset(specByName('blob_v2'), '2.2'));
    const [dataFile] = fs.readdirSync(path.join(root, 'data')).filter((name) => name.endsWith('.lance'));
    const file = path.join(root, 'data', dataFile as string);
    const files = new BlobFiles(undefined);
    const opening = files.open(file, 'blob sidecar file');
    await files.close();
    await expect(files.open(file, 'blob sidecar file')).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: `blob sidecar file ${file} cannot be opened: its dataset is closed`,
    });
    await opening.catch(() => undefined);
    expect(fdsUnder(root)).toEqual([]);
  });
});

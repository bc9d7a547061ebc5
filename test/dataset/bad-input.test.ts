/**
 * Bad input at the dataset and API level must end in a typed error that names the file and what is wrong:
 * manifests that escape the dataset or claim absurd sizes, missing files, bad take/scan arguments, paths
 * that are not datasets. Random damage (fuzzing) to a data file and a manifest must end in a result or a
 * LanceLoaderError: never a raw RangeError/TypeError, a hang or a huge allocation. Damaged data files in
 * detail: test/format/bad-data-file.test.ts; fixtures and byte surgery: bad-input-helpers.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CorruptFileError,
  InvalidArgumentError,
  IoError,
  LanceLoaderError,
  UnsupportedError,
  openDataset,
  openFile,
  type ErrorCode,
} from '../../index.js';
import {
  MiB,
  NUM_ROWS,
  VERSIONS,
  copyDataset,
  editManifest,
  expectFailure,
  readAllOfDataset,
  readAllOfFile,
  removeTempDirs,
  rewriteDataFile,
  tempDir,
  withinMemory,
  writeDataset,
  writePristineDatasets,
} from './bad-input-helpers.js';
import { Rng } from '../fixtures/random.js';

beforeAll(writePristineDatasets);
afterAll(removeTempDirs);

describe('the byte-surgery helpers', () => {
  it.each(VERSIONS)('keep an undamaged %s dataset readable with the same values', async (version) => {
    const original = copyDataset(version);
    const expected = await readAllOfDataset(original.root);
    expect(expected.split('\n')).toHaveLength(NUM_ROWS + 3);
    const copy = copyDataset(version);
    rewriteDataFile(copy.dataFile, { column: () => {}, descriptor: () => {} });
    editManifest(copy.manifest, () => {});
    expect(await readAllOfDataset(copy.root)).toBe(expected);
    expect(await readAllOfFile(copy.dataFile)).toBe(await readAllOfFile(original.dataFile));
  });
});

describe.each(VERSIONS)('a %s dataset with a bad manifest', (version) => {
  it.each(['../../etc/passwd', '/etc/passwd', '../t.lance/../../outside.lance'])(
    'naming data file %s outside the dataset is a CorruptFileError',
    async (escape) => {
      const { root, manifest } = copyDataset(version);
      editManifest(manifest, (m) => (m.fragments[0].files[0].path = escape));
      await expectFailure(
        () => openDataset(root),
        CorruptFileError,
        'CORRUPT_FILE',
        manifest,
        `data file "${escape}"`,
        'lies outside',
      );
    },
  );

  it('claiming 2^40 physical rows is a CorruptFileError on first read, naming the data file', async () => {
    const { root, manifest, dataFile } = copyDataset(version);
    editManifest(manifest, (m) => (m.fragments[0].physical_rows = 2 ** 40));
    const ds = await openDataset(root);
    try {
      expect(ds.numRows).toBe(2 ** 40);
      await withinMemory(64 * MiB, async () => {
        await expectFailure(
          () => ds.take([0]),
          CorruptFileError,
          'CORRUPT_FILE',
          dataFile,
          `file has ${NUM_ROWS} rows but the manifest says fragment 0 has 1099511627776`,
        );
        await expectFailure(
          () => ds.take([2 ** 33]),
          InvalidArgumentError,
          'INVALID_ARGUMENT',
          'row offset 8589934592 at index 0 is out of range',
        );
        const batches = ds.scan({ batchSize: 1000 })[Symbol.asyncIterator]();
        await expectFailure(() => batches.next(), CorruptFileError, 'CORRUPT_FILE', dataFile);
      });
    } finally {
      await ds.close();
    }
  });

  it('with a schema metadata entry whose empty value was omitted still opens (the value reads as "")', async () => {
    const { root, manifest } = copyDataset(version);
    // Manifest field 5 (map<string, bytes> schema_metadata): one entry holding only its key "k".
    editManifest(manifest, () => {}, [0x2a, 0x03, 0x0a, 0x01, 0x6b]);
    const ds = await openDataset(root);
    try {
      expect(ds.schema.metadata.get('k')).toBe('');
      expect((await ds.take([7])).getChild('id')?.get(0)).toBe(7);
    } finally {
      await ds.close();
    }
  });

  it('needing unknown reader features is an UnsupportedError', async () => {
    const { root, manifest } = copyDataset(version);
    editManifest(manifest, (m) => (m.reader_feature_flags = 64));
    await expectFailure(() => openDataset(root), UnsupportedError, 'UNSUPPORTED', manifest, 'reader features 64');
  });

  it('with broken framing is a CorruptFileError naming the manifest', async () => {
    const { root, manifest } = copyDataset(version);
    const whole = fs.readFileSync(manifest);
    const framings: [string, Buffer][] = [
      ['no "LANC" magic', Buffer.concat([whole.subarray(0, whole.length - 4), Buffer.from('XXXX')])],
      ['too small', whole.subarray(0, 10)],
      [
        'is outside the',
        (() => {
          const b = Buffer.from(whole);
          b.writeBigInt64LE(-5n, b.length - 16);
          return b;
        })(),
      ],
      [
        'runs past the end',
        (() => {
          const b = Buffer.from(whole);
          b.writeUInt32LE(0xfffffff0, Number(b.readBigInt64LE(b.length - 16)));
          return b;
        })(),
      ],
      [
        'cannot decode protobuf lance.table.Manifest',
        (() => {
          const b = Buffer.from(whole);
          b.fill(0xff, Number(b.readBigInt64LE(b.length - 16)) + 4, Number(b.readBigInt64LE(b.length - 16)) + 12);
          return b;
        })(),
      ],
    ];
    for (const [message, bytes] of framings) {
      fs.writeFileSync(manifest, bytes);
      await withinMemory(64 * MiB, () =>
        expectFailure(() => openDataset(root), CorruptFileError, 'CORRUPT_FILE', manifest, message),
      );
    }
  });
});

describe.each(VERSIONS)('a %s dataset with a missing file', (version) => {
  it('missing its data file is an IoError naming the file on take and on scan', async () => {
    const { root, dataFile } = copyDataset(version);
    fs.rmSync(dataFile);
    const ds = await openDataset(root);
    try {
      await expectFailure(() => ds.take([0]), IoError, 'IO_ERROR', `cannot open data file ${dataFile}`, 'ENOENT');
      const batches = ds.scan()[Symbol.asyncIterator]();
      await expectFailure(() => batches.next(), IoError, 'IO_ERROR', `cannot open data file ${dataFile}`);
    } finally {
      await ds.close();
    }
  });

  it('missing its deletion file is an IoError naming the file', async () => {
    const root = await writeDataset(version, (table) => table.delete('id = 5'));
    const deletions = fs.readdirSync(path.join(root, '_deletions'));
    expect(deletions).toHaveLength(1);
    const deletion = path.join(root, '_deletions', deletions[0] as string);
    fs.rmSync(deletion);
    await expectFailure(() => openDataset(root), IoError, 'IO_ERROR', `cannot open deletion file ${deletion}`);
  });
});

describe.each(['openDataset', 'openFile'] as const)('bad arguments to %s', (opener) => {
  const open = async () => {
    const { root, dataFile } = copyDataset('2.1');
    return opener === 'openDataset' ? openDataset(root) : openFile(dataFile);
  };

  const range = `valid offsets 0..${NUM_ROWS - 1}`;
  const integers = `must be integers from 0 to ${NUM_ROWS - 1}`;
  it.each([
    ['past the end', [NUM_ROWS], `row offset ${NUM_ROWS} at index 0 is out of range`, range],
    ['negative', [0, -1], 'row offset -1 at index 1 is out of range', range],
    ['a negative bigint', [-1n], 'row offset -1 at index 0 is out of range', range],
    ['not an integer', [1.5], 'row offset 1.5 at index 0 is not an integer', integers],
    ['NaN', [NaN], 'row offset NaN at index 0 is not an integer', integers],
    ['Infinity', [Infinity], 'row offset Infinity at index 0 is not an integer', integers],
    ['a string', ['3'], 'row offset 3 at index 0 is not an integer', integers],
  ])('take with an offset %s is an InvalidArgumentError', async (_what, offsets, message, accepted) => {
    const reader = await open();
    try {
      await expectFailure(
        () => reader.take(offsets as number[]),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        message,
        accepted,
      );
    } finally {
      await reader.close();
    }
  });

  it('take with something other than an array is an InvalidArgumentError', async () => {
    const reader = await open();
    try {
      await expectFailure(
        () => reader.take(42 as unknown as number[]),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'must be an array or typed array',
      );
      await expectFailure(
        () => reader.take(null as unknown as number[]),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'must be an array or typed array',
      );
      await withinMemory(64 * MiB, () =>
        expectFailure(
          () => reader.take({ length: 2 ** 31 } as ArrayLike<number>),
          InvalidArgumentError,
          'INVALID_ARGUMENT',
          'row offset undefined at index 0',
        ),
      );
    } finally {
      await reader.close();
    }
  });

  it('a column that does not exist is an InvalidArgumentError listing the columns', async () => {
    const reader = await open();
    try {
      await expectFailure(
        () => reader.take([0], { columns: ['id', 'nope'] }),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'has no column "nope"',
        'its columns are: id, x, s',
      );
      const batches = reader.scan({ columns: ['ID'] })[Symbol.asyncIterator]();
      await expectFailure(
        () => batches.next(),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'has no column "ID"',
        'its columns are: id, x, s',
      );
      await expectFailure(
        () => reader.take([0], { columns: 'id' as unknown as string[] }),
        InvalidArgumentError,
        'INVALID_ARGUMENT',
        'options.columns must be an array',
      );
    } finally {
      await reader.close();
    }
  });

  it.each([0, 1.5, -3, '8' as unknown as number])(
    'scan with batchSize %s is an InvalidArgumentError',
    async (batchSize) => {
      const reader = await open();
      try {
        const batches = reader.scan({ batchSize })[Symbol.asyncIterator]();
        await expectFailure(
          () => batches.next(),
          InvalidArgumentError,
          'INVALID_ARGUMENT',
          'options.batchSize must be an integer',
          `got ${batchSize}`,
        );
      } finally {
        await reader.close();
      }
    },
  );
});

describe('opening something that is not a dataset or a file', () => {
  it('a nonexistent dataset path is an IoError naming it', async () => {
    const missing = path.join(tempDir(), 'nothing-here.lance');
    await expectFailure(() => openDataset(missing), IoError, 'IO_ERROR', missing, 'is not a Lance dataset');
  });

  it('an empty directory is an IoError saying it is not a dataset', async () => {
    const dir = tempDir();
    await expectFailure(() => openDataset(dir), IoError, 'IO_ERROR', dir, 'is not a Lance dataset', '_versions');
  });

  it('a directory whose _versions holds no manifest is an IoError', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, '_versions'));
    fs.writeFileSync(path.join(dir, '_versions', 'latest_version_hint.json'), '{"version":1}');
    await expectFailure(() => openDataset(dir), IoError, 'IO_ERROR', dir, 'holds no manifest');
  });

  it('a regular file other than a data file is an IoError saying it is not a directory', async () => {
    const { manifest } = copyDataset('2.1');
    await expectFailure(() => openDataset(manifest), IoError, 'IO_ERROR', `${manifest} is not a directory`);
  });

  it('a version that does not exist is an InvalidArgumentError listing the versions', async () => {
    const { root } = copyDataset('2.1');
    await expectFailure(
      () => openDataset(root, { version: 99 }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'has no version 99',
      'its versions are 1',
    );
  });

  it.each([0, -1, 1.5, NaN])('version %s is an InvalidArgumentError', async (version) => {
    const { root } = copyDataset('2.1');
    await expectFailure(
      () => openDataset(root, { version }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'options.version must be a positive integer',
    );
  });

  it('a missing data file is an IoError naming it', async () => {
    const missing = path.join(tempDir(), 'missing.lance');
    await expectFailure(() => openFile(missing), IoError, 'IO_ERROR', `cannot open data file ${missing}`, 'ENOENT');
  });

  it('a directory that is not a dataset given to openFile is an IoError', async () => {
    const dir = tempDir();
    await expectFailure(() => openFile(dir), IoError, 'IO_ERROR', `${dir} is not a regular file`);
  });

  it('an empty path is an InvalidArgumentError naming the argument', async () => {
    await expectFailure(
      () => openDataset(''),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openDataset(path) must be a dataset directory',
      'got an empty string',
    );
    await expectFailure(
      () => openFile(''),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'openFile(path) must be a .lance data file',
      'got an empty string',
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Fuzzing: random byte damage must end in success or a LanceLoaderError, never anything else.

/**
 * Rejects with an Error when `promise` has not settled after `ms`. It catches asynchronous hangs (a read
 * that never completes); a synchronous infinite loop cannot be interrupted in-process.
 */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface FuzzTally {
  same: number;
  different: number;
  errors: Partial<Record<ErrorCode, number>>;
  escaped: string[];
}

async function fuzz(
  original: Buffer,
  target: string,
  iterations: number,
  seed: number,
  read: () => Promise<string>,
  mutate: (bytes: Buffer, random: () => number) => void,
): Promise<FuzzTally> {
  fs.writeFileSync(target, original);
  const expected = await read();
  // Seeded (mulberry32), so every run damages the same bytes.
  const rng = new Rng(seed);
  const random = () => rng.float();
  const tally: FuzzTally = { same: 0, different: 0, errors: {}, escaped: [] };
  for (let i = 0; i < iterations; i++) {
    const damaged = Buffer.from(original);
    mutate(damaged, random);
    fs.writeFileSync(target, damaged);
    const before = process.memoryUsage().arrayBuffers;
    try {
      const got = await withTimeout(read(), 10_000, `mutation ${i}`);
      if (got === expected) tally.same++;
      else tally.different++;
    } catch (error) {
      if (error instanceof LanceLoaderError) tally.errors[error.code] = (tally.errors[error.code] ?? 0) + 1;
      else
        tally.escaped.push(
          `mutation ${i}: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`,
        );
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    if (grown > 256 * MiB) tally.escaped.push(`mutation ${i}: array buffers grew by ${grown} bytes`);
  }
  return tally;
}

/** Flips 1–3 random bits; half of them land in the last 700 bytes (metadata, schema, footer). */
function flipBits(bytes: Buffer, random: () => number): void {
  const flips = 1 + Math.floor(random() * 3);
  for (let j = 0; j < flips; j++) {
    const tail = Math.min(bytes.length, 700);
    const at = random() < 0.5 ? Math.floor(random() * bytes.length) : bytes.length - 1 - Math.floor(random() * tail);
    bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(random() * 8));
  }
}

describe.each(VERSIONS)('fuzzing a %s dataset', (version) => {
  // The data files are the same bytes every run (manifests differ in names and timestamps), so a seed
  // gives nearly the same tally each time: most flips of the data file are CorruptFile, well above the
  // bound asserted. "different" (silently different values) is expected: half the flips land anywhere in
  // the file, mostly in value bytes, and Lance files carry no checksums; the rest come from metadata
  // still valid after the flip (a page buffer offset moved by a few bytes inside the file, a renamed
  // field, other manifest metadata). Flips that make a 2.0 schema type wider than the page's values, or
  // pages hold fewer rows than the file claims, must come out as typed errors, not a RangeError or an
  // InternalError.
  it('turns 300 random bit flips in the data file into results or typed errors, never anything else', async () => {
    const { dataFile } = copyDataset(version);
    const original = fs.readFileSync(dataFile);
    const tally = await fuzz(original, dataFile, 300, 20251122, () => readAllOfFile(dataFile), flipBits);
    expect(tally.escaped).toEqual([]);
    expect(tally.errors.CORRUPT_FILE ?? 0).toBeGreaterThan(50);
    expect(tally.errors.INTERNAL ?? 0).toBe(0);
    expect(tally.same + tally.different + Object.values(tally.errors).reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('turns 200 random byte changes in the manifest into results or typed errors, never anything else', async () => {
    const { root, manifest } = copyDataset(version);
    const original = fs.readFileSync(manifest);
    const tally = await fuzz(
      original,
      manifest,
      200,
      7,
      () => readAllOfDataset(root),
      (bytes, random) => {
        const at = Math.floor(random() * bytes.length);
        bytes[at] = Math.floor(random() * 256);
      },
    );
    expect(tally.escaped).toEqual([]);
    expect(tally.errors.INTERNAL ?? 0).toBe(0);
    expect(Object.values(tally.errors).reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
  });
});

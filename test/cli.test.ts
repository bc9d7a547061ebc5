/**
 * The `lance-loader inspect` command on a dataset written by LanceDB: two fragments, the first with
 * deletions; and `lance-loader doctor`, checked against what the modules it asks say in this process.
 * The main cases run the CLI as a child process through the TypeScript source
 * (`node --import tsx cli.ts`), so exit codes and streams are the real ones; the rest call the exported
 * `main(argv, io)` in-process, which is the same code without the ~0.5 s start of a process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { LanceLoaderError } from '../errors.js';
import { openDataset } from '../index.js';
import { formatInspectReport, toFileReport } from '../dataset/inspect.js';
import { nativeAddon } from '../io/native-addon.js';
import { readEngine } from '../io/native-read.js';
import { lanceDbArrow as A } from './fixtures/arrow-bridge.js';
import { ensureDataset } from './fixtures/datasets.js';
import { specByName } from './fixtures/matrix.js';
import { runScript } from './fixtures/run-script.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(...args: string[]): Promise<CliResult> {
  return runScript('cli.ts', args);
}

/** The same CLI in-process: `main` with collected output. */
async function runMain(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

/** `n` rows with ids from `start`: id Int32, x Float32, name Utf8 (not dictionary-encoded). */
function rows(start: number, n: number) {
  const id = Int32Array.from({ length: n }, (_, i) => start + i);
  const x = Float32Array.from({ length: n }, (_, i) => (start + i) / 2);
  const name = A.vectorFromArray(
    Array.from({ length: n }, (_, i) => `name-${start + i}`),
    new A.Utf8(),
  );
  // tableFromArrays takes the Utf8 vector at run time, but its types accept only arrays: build the Table
  // from vectors the same way tableFromArrays does.
  return new A.Table({ id: A.makeVector(id), x: A.makeVector(x), name });
}

let tmp: string;
let dataset: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lance-loader-cli-'));
  const db = await lancedb.connect(tmp);
  const table = await db.createTable('t', rows(0, 100), { storageOptions: { new_table_data_storage_version: '2.1' } });
  await table.add(rows(100, 50)); // version 2: a second fragment
  await table.delete('id < 10'); // version 3: 10 rows deleted from fragment 0
  table.close();
  db.close();
  dataset = path.join(tmp, 't.lance');
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('lance-loader inspect on a dataset', () => {
  it('prints versions, schema, rows, fragments with deletions, and per-column pages and layouts', async () => {
    const { code, stdout, stderr } = await runCli('inspect', dataset);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^dataset +${escape(dataset)}$`, 'm'));
    expect(stdout).toMatch(/^version +3 \(latest\)$/m);
    expect(stdout).toMatch(/^rows +140 visible \(150 physical, 10 deleted\)$/m);
    expect(stdout).toMatch(/^versions \(3\)\n +1 +\d{4}-\d\d-\d\dT[\d:.]+Z\n +2 .*\n +3 .*← opened$/m);
    expect(stdout).toMatch(/^ +id +Int32 +not null$/m);
    expect(stdout).toMatch(/^ +x +Float32 +not null$/m);
    expect(stdout).toMatch(/^ +name +Utf8 +nullable$/m);
    expect(stdout).toMatch(/^ +0 +100 +10 +90 +1 +_deletions\/0-\d+-\d+\.arrow$/m);
    expect(stdout).toMatch(/^ +1 +50 +0 +50 +1 +-$/m);
    expect(stdout.match(/^fragment \d: data\/\w+\.lance$/gm)).toHaveLength(2);
    expect(stdout.match(/^ +format +2\.1$/gm)).toHaveLength(2);
    // column, field, pages, rows, bytes, layouts: one page per column in each file
    for (const [field, rowsInFile] of [
      ['id', 100],
      ['x', 100],
      ['name', 100],
      ['id', 50],
      ['name', 50],
    ] as const) {
      expect(stdout).toMatch(
        new RegExp(`^ +\\d +${field} +1 +${rowsInFile} +[\\d.]+ (B|KiB) +1 × MiniBlock\\{values=.+\\}$`, 'm'),
      );
    }
    expect(stdout).toMatch(/^ +2 +name .*1 × MiniBlock\{values=Variable\(.*\)\}$/m);
  });

  it('opens an older version with --version', async () => {
    const { code, stdout } = await runMain('inspect', dataset, '--version', '1');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^version +1 \(latest is 3\)$/m);
    expect(stdout).toMatch(/^rows +100 visible \(100 physical, 0 deleted\)$/m);
    expect(stdout).toMatch(/^fragments \(1\)$/m);
  });

  it('prints a JSON document with --json', async () => {
    const { code, stdout } = await runCli('inspect', dataset, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      kind: 'dataset',
      path: dataset,
      version: 3,
      numRows: 140,
      schema: [
        { name: 'id', type: 'Int32', nullable: false, metadata: {} },
        { name: 'x', type: 'Float32', nullable: false, metadata: {} },
        { name: 'name', type: 'Utf8', nullable: true, metadata: {} },
      ],
      fragments: [
        {
          id: 0,
          physicalRows: 100,
          deletedRows: 10,
          numRows: 90,
          deletionFile: expect.stringMatching(/^_deletions\//),
        },
        { id: 1, physicalRows: 50, deletedRows: 0, numRows: 50, deletionFile: null },
      ],
    });
    expect(report.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 3]);
    const file = report.fragments[0].files[0];
    expect(file).toMatchObject({ fileVersion: '2.1', numRows: 100, fields: [0, 1, 2] });
    expect(file.columns.map((c: { field: string }) => c.field)).toEqual(['id', 'x', 'name']);
    expect(file.columns[0]).toMatchObject({
      index: 0,
      pages: 1,
      rows: 100,
      layouts: [{ layout: expect.stringMatching(/^MiniBlock\{/), pages: 1 }],
    });
  });
});

describe('lance-loader inspect on a single .lance file', () => {
  it('prints the file version, rows, schema and columns', async () => {
    const dataDir = path.join(dataset, 'data');
    const files = fs.readdirSync(dataDir).map((name) => path.join(dataDir, name));
    const file = files.find(
      (f) => fs.statSync(f).size === Math.max(...files.map((g) => fs.statSync(g).size)),
    ) as string;
    const { code, stdout, stderr } = await runMain('inspect', file);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^file +${escape(file)}\\nformat +2\\.1\\nrows +100\\n`, 'm'));
    expect(stdout).toMatch(/^ +name +Utf8 +nullable$/m);
    expect(stdout).toMatch(/^ +2 +name +1 +100 +.*1 × MiniBlock\{values=Variable\(.*\)\}$/m);
    expect(stdout).not.toMatch(/fragment/);
  });
});

describe('lance-loader errors and usage', () => {
  it('prints the IO_ERROR message and exits 1 for a missing path', async () => {
    const missing = path.join(tmp, 'no-such-dataset');
    const error = await openDataset(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LanceLoaderError);
    expect((error as LanceLoaderError).code).toBe('IO_ERROR');
    const { code, stdout, stderr } = await runCli('inspect', missing);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`lance-loader: ${(error as Error).message}\n`);
    expect(stderr).toContain(`${missing} is not a Lance dataset`);
  });

  it('inspects a dataset given as a file:// URL', async () => {
    const { code, stdout } = await runMain('inspect', pathToFileURL(dataset).href);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^dataset +${escape(dataset)}$`, 'm'));
  });

  it('exits 1 for a URL of a store it cannot read, naming it without its query string', async () => {
    const { code, stderr } = await runMain('inspect', 'gs://bucket/t.lance?X-Goog-Credential=secret');
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^lance-loader: gs:\/\/bucket\/t\.lance is a remote URL \(gs:\/\/\): lance-loader cannot read it/,
    );
    expect(stderr).not.toContain('secret');
  });

  it('exits 1 for a LanceDB database folder, listing its tables', async () => {
    const { code, stderr } = await runMain('inspect', tmp);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `lance-loader: ${tmp} is a LanceDB database folder, not a table: it holds the table t; pass one of them, e.g. ${dataset}\n`,
    );
  });

  it('exits 1 for a version the dataset does not have', async () => {
    const { code, stderr } = await runMain('inspect', dataset, '--version', '9');
    expect(code).toBe(1);
    expect(stderr).toBe(`lance-loader: ${dataset} has no version 9; its versions are 1, 2, 3\n`);
  });

  it('exits 2 with the usage for an unknown command', async () => {
    const { code, stdout, stderr } = await runCli('frob', dataset);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`lance-loader: unknown command "frob"\n\n${(await runMain('--help')).stdout}`);
  });

  it('returns 2 with the usage for a missing path or command, a bad option or a bad --version', async () => {
    const cases: [string[], string][] = [
      [['inspect'], 'inspect needs a dataset directory or .lance file path'],
      [[], 'missing command'],
      [['inspect', dataset, '--bogus'], "Unknown option '--bogus'"],
      [['inspect', dataset, '--version', 'x'], '--version must be a positive integer, got "x"'],
    ];
    const results = await Promise.all(cases.map(([args]) => runMain(...args)));
    results.forEach(({ code, stdout, stderr }, i) => {
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(`lance-loader: ${cases[i]?.[1]}`);
      expect(stderr).toContain('Usage: lance-loader inspect <dataset-dir | file.lance> [--version N] [--json]');
    });
  });

  it('prints the usage on stdout and exits 0 with --help', async () => {
    const { code, stdout, stderr } = await runCli('--help');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: lance-loader inspect /);
  });
});

describe('lance-loader doctor', () => {
  it('prints node, the machine, the native addon, the read engine, O_DIRECT, huge pages and tfjs, and exits 0', async () => {
    const { code, stdout, stderr } = await runCli('doctor', tmp);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      new RegExp(`^node +${escape(process.version)} on ${process.platform} ${process.arch}, kernel `),
    );
    expect(stdout).toMatch(/^machine +\d+ cores, [\d.]+ GiB memory$/m);
    expect(stdout).toMatch(
      new RegExp(`^native addon +${nativeAddon() ? 'loaded: native addon' : 'not loaded: '}`, 'm'),
    );
    expect(stdout).toMatch(new RegExp(`^read engine +${escape(readEngine().engine)}`, 'm'));
    expect(stdout).toMatch(new RegExp(`^O_DIRECT +(works|does not work) in ${escape(tmp)}`, 'm'));
    expect(stdout).toMatch(/^huge pages +transparent huge pages \w+; read memory /m);
    expect(stdout).toMatch(/^tfjs +(wasm|tensorflow|cpu) backend$/m); // tfjs and its wasm backend are dev dependencies
  });

  it('prints a JSON document with --json, and leaves no test file in the directory it probes', async () => {
    const { code, stdout } = await runCli('doctor', tmp, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      node: process.version,
      platform: process.platform,
      cores: os.availableParallelism(),
      nativeAddon: { loaded: nativeAddon() !== null },
      readEngine: readEngine().engine,
      directIo: { path: tmp },
      tfjs: { backend: 'wasm' },
    });
    if (report.directIo.works) expect([512, 4096]).toContain(report.directIo.blockBytes);
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('.lance-loader-doctor'))).toEqual([]);
  });

  it('says why the addon is not loaded and reads with fs.readSync under LANCE_LOADER_NATIVE=0', async () => {
    const { code, stdout } = await runScript('cli.ts', ['doctor', '--json'], { env: { LANCE_LOADER_NATIVE: '0' } });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      nativeAddon: { loaded: false, reason: 'LANCE_LOADER_NATIVE=0' },
      readEngine: 'fs.readSync',
      hugePages: { addonMemory: false, used: false },
      directIo: { path: process.cwd() },
    });
  });

  it('reports O_DIRECT as not working, with the reason, for a path that does not exist', async () => {
    const missing = path.join(tmp, 'no-such-dir');
    const { code, stdout } = await runMain('doctor', missing, '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).directIo).toEqual({
      path: missing,
      works: false,
      reason: `ENOENT: no such file or directory, stat '${missing}'`,
      tmpfs: false,
    });
  });

  it('exits 2 with the usage for --version or a second path', async () => {
    const results = await Promise.all([runMain('doctor', '--version', '1'), runMain('doctor', tmp, tmp)]);
    expect(results.map((r) => r.code)).toEqual([2, 2]);
    expect(results[0]?.stderr).toMatch(/^lance-loader: --version is an option of inspect, not of doctor\n\nUsage: /);
    expect(results[1]?.stderr).toMatch(new RegExp(`^lance-loader: unexpected argument "${escape(tmp)}"\n\nUsage: `));
  });
});

describe('lance-loader inspect on nested columns', () => {
  it('shows their leaves by path with their rep/def layers, and marks none as unreadable', async () => {
    const nested = await ensureDataset(specByName('nested'), '2.2');
    const { code, stdout } = await runMain('inspect', nested);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ +list_utf8 +List<Utf8> +not null$/m);
    expect(stdout).toMatch(/^ +4 +struct_ab\.a .*layers=\[NULLABLE_ITEM, ALL_VALID_ITEM\]$/m);
    expect(stdout).not.toContain('✗');
  });
});

describe('inspect text formatting', () => {
  it('groups identical page layouts of a column with their counts, in first-seen order', () => {
    const page = (layout: string) => ({ rows: 10, layout, bufferSizes: [2, 40] });
    const file = toFileReport({
      path: '/x.lance',
      fileSize: 5000,
      version: '2.1',
      numRows: 40,
      columns: [
        {
          index: 0,
          field: 'a',
          bytes: 168,
          pages: [
            page('MiniBlock{values=Flat(32b)}'),
            page('Constant{inline}'),
            page('MiniBlock{values=Flat(32b)}'),
            page('MiniBlock{values=Flat(32b)}'),
          ],
        },
      ],
    });
    expect(file.columns[0]).toEqual({
      index: 0,
      field: 'a',
      pages: 4,
      rows: 40,
      bytes: 168,
      layouts: [
        { layout: 'MiniBlock{values=Flat(32b)}', pages: 3 },
        { layout: 'Constant{inline}', pages: 1 },
      ],
      unreadable: [],
    });
    const text = formatInspectReport({ kind: 'file', schema: [], schemaMetadata: {}, ...file });
    expect(text).toMatch(/^ +0 +a +4 +40 +168 B +3 × MiniBlock\{values=Flat\(32b\)\}, 1 × Constant\{inline\}$/m);
    expect(text).toMatch(/^size +4\.9 KiB$/m);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

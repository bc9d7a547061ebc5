/**
 * The quickstart example run as a user runs it, on tiny and empty datasets: it reads datasets of any
 * size (its own or one given), and the temporary folder it writes its own into is gone afterwards,
 * also after Ctrl-C. Each run gets a TMPDIR of its own, so a folder left behind is seen.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lanceDbArrow as A } from '../fixtures/arrow-bridge.js';
import { runScript, type ScriptOptions } from '../fixtures/run-script.js';

let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lance-loader-quickstart-test-'));
});

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** Runs the quickstart with a fresh TMPDIR; returns the result and the quickstart folders left in it. */
async function runQuickstart(args: string[], options: Omit<ScriptOptions, 'env'> = {}) {
  const tmpdir = fs.mkdtempSync(path.join(root, 'tmpdir-'));
  const result = await runScript('examples/quickstart.ts', args, { ...options, env: { TMPDIR: tmpdir } });
  const left = fs.readdirSync(tmpdir).filter((name) => name.startsWith('lance-loader-quickstart-'));
  return { ...result, left };
}

describe('quickstart', () => {
  it('writes, takes and scans a 5-row table and removes its temporary folder', async () => {
    const { code, stdout, left } = await runQuickstart(['--rows', '5']);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^dataset .*\/lance-loader-quickstart-\w+\/images\.lance: version 2, 5 rows, 1 fragment\(s\)$/m,
    );
    expect(stdout.match(/^take → row \d+/gm)).toEqual(['take → row 2', 'take → row 4', 'take → row 0', 'take → row 2']);
    expect(stdout).toMatch(
      /^take → row 4: id=4 label=4 embedding=\[[-\d.]+, [-\d.]+, [-\d.]+, … 8 values\] caption="image 4 of class 4"$/m,
    );
    expect(stdout).toMatch(/^scan → 5 rows in [\d.]+ ms$/m);
    expect(left).toEqual([]);
  });

  it('reads an empty table: nothing to take, a scan of 0 rows', async () => {
    const { code, stdout, left } = await runQuickstart(['--rows', '0']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/: version 2, 0 rows, 0 fragment\(s\)$/m);
    expect(stdout).toMatch(/^take → nothing to take: the dataset has no rows$/m);
    expect(stdout).toMatch(/^scan → 0 rows in [\d.]+ ms$/m);
    expect(left).toEqual([]);
  });

  it('reads a 3-row dataset of its own columns from the path given, and leaves it in place', async () => {
    const db = await lancedb.connect(root);
    const table = await db.createTable(
      'tiny',
      new A.Table({
        x: A.makeVector(Float64Array.from([0.5, 1.5, 2.5])),
        name: A.vectorFromArray(['a', 'b'.repeat(50), null], new A.Utf8()),
      }),
      { storageOptions: { new_table_data_storage_version: '2.1' } },
    );
    table.close();
    db.close();
    const dataset = path.join(root, 'tiny.lance');
    const { code, stdout } = await runQuickstart([dataset]);
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/^writing/m);
    expect(stdout).toMatch(/^schema: x: Float64, name: Utf8$/m);
    expect(stdout).toMatch(/^take → row 1: x=1\.500 name="b{40}…"$/m);
    expect(stdout).toMatch(/^take → row 2: x=2\.500 name=null$/m);
    expect(stdout).toMatch(/^scan → 3 rows in /m);
    expect(fs.existsSync(path.join(dataset, '_versions'))).toBe(true);
  });

  it('prints the error in one line and exits 1 for a path that is not a dataset', async () => {
    const missing = path.join(root, 'no-such-dataset');
    const { code, stdout, stderr } = await runQuickstart([missing]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(new RegExp(`^quickstart: ${missing} is not a Lance dataset .*\\n$`));
  });

  it('refuses --rows together with a dataset path', async () => {
    const { code, stderr } = await runQuickstart(['--rows', '5', root]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^quickstart: --rows sizes the example table: not with a dataset-dir\n\nUsage: /);
  });

  it('removes its temporary folder when interrupted with Ctrl-C while writing', async () => {
    let interrupted = false;
    const { signal, left } = await runQuickstart(['--rows', '500000'], {
      onStdout: (child, stdout) => {
        if (!interrupted && stdout.includes('writing 500000 rows')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(signal).toBe('SIGINT');
    expect(left).toEqual([]);
  });

  it('removes its temporary folder and ends by Ctrl-C when interrupted while LanceDB commits the table', async () => {
    // LanceDB's threads go on adding files while the signal is handled: the folder must not outlive them.
    let interrupted = false;
    const { signal, left } = await runQuickstart(['--rows', '500000'], {
      onStdout: (child, stdout) => {
        const dir = /^writing 500000 rows with LanceDB into (\S+)/m.exec(stdout)?.[1];
        if (interrupted || dir === undefined) return;
        interrupted = true;
        const poll = setInterval(() => {
          if (!fs.existsSync(path.join(dir, 'images.lance', '_versions'))) return;
          clearInterval(poll);
          child.kill('SIGINT');
        }, 2);
        child.on('exit', () => clearInterval(poll));
      },
    });
    expect(interrupted).toBe(true);
    expect(signal).toBe('SIGINT');
    expect(left).toEqual([]);
  });
});

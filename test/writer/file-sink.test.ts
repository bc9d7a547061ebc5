/**
 * FileSink on real files: when it lets go of appended memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSink } from '../../writer/file-sink.js';

const root = fs.mkdtempSync(join(os.tmpdir(), 'file-sink-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('FileSink.whenWritten', () => {
  it('calls back once the bytes appended before it are in the file, not while they are queued', async () => {
    const path = join(root, 'queued');
    const sink = FileSink.create(path);
    sink.append(Uint8Array.from([1, 2, 3]));
    sink.append(Uint8Array.from([4, 5]));
    const seen: number[][] = [];
    sink.whenWritten(() => seen.push(Array.from(fs.readFileSync(path))));
    sink.append(Uint8Array.from([6]));
    expect(seen).toEqual([]);
    await sink.close();
    expect(seen).toEqual([[1, 2, 3, 4, 5, 6]]);
  });

  it('calls back at once when nothing appended is left to write', async () => {
    const sink = FileSink.create(join(root, 'empty'));
    let called = false;
    sink.whenWritten(() => (called = true));
    expect(called).toBe(true);
    await sink.close();
  });
});

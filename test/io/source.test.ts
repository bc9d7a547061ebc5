/**
 * FileSource's close: reads already handed to the OS return the file's own bytes, reads still queued fail
 * with an IoError, and no read ever uses the descriptor number after it was closed, when the next open
 * may have given it to another file.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { FileSource } from '../../io/source.js';
import { openFds } from '../fixtures/fds.js';

const root = mkdtempSync(join(os.tmpdir(), 'file-source-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RANGES = 2000;
const RANGE_BYTES = 64;
const QUEUE_DEPTH = 4;

/** A file of RANGES × RANGE_BYTES bytes, every byte `fill`. */
function fileOf(name: string, fill: number): string {
  const path = join(root, name);
  writeFileSync(path, new Uint8Array(RANGES * RANGE_BYTES).fill(fill));
  return path;
}

/** The descriptor numbers this process has open on `path`. */
function fdsOn(path: string): number[] {
  return [...openFds()].filter(([, target]) => target === path).map(([fd]) => fd);
}

it('fails reads queued behind a close with an IoError, and never reads the file that reuses the descriptor number', async () => {
  const [mine, other] = [fileOf('mine.bin', 0xaa), fileOf('other.bin', 0x55)];
  const source = await FileSource.open(mine, { queueDepth: QUEUE_DEPTH });
  const [fd] = fdsOn(mine);
  const ranges = Array.from({ length: RANGES }, (_, i) => ({ offset: i * RANGE_BYTES, size: RANGE_BYTES }));
  const targets = ranges.map(() => new Uint8Array(RANGE_BYTES));
  const reading = source.readInto(ranges, targets).catch((error: unknown) => error);
  await source.close();
  // Opens of the other file take the lowest free numbers: the one just closed among them.
  const others: number[] = [];
  try {
    while (others.length < 64 && !others.includes(fd as number)) others.push(openSync(other, 'r'));
    expect(others).toContain(fd);
    expect(await reading).toMatchObject({
      code: 'IO_ERROR',
      message: `${mine}: source closed while a read was queued`,
    });
  } finally {
    for (const n of others) closeSync(n);
  }
  const filled = targets.filter((t) => t[0] !== 0);
  // The reads handed to the OS before the close (one per queue slot) completed, with this file's bytes.
  expect(filled.length).toBe(QUEUE_DEPTH);
  for (const t of filled) expect(t).toEqual(new Uint8Array(RANGE_BYTES).fill(0xaa));
});

it('refuses a read after close with an IoError naming the file', async () => {
  const path = fileOf('closed.bin', 1);
  const source = await FileSource.open(path);
  await source.close();
  await expect(source.readRanges([{ offset: 0, size: 8 }])).rejects.toMatchObject({
    code: 'IO_ERROR',
    message: `${path}: source is closed`,
  });
});

it('closes the file only once a read in flight has returned its bytes', async () => {
  const path = join(root, 'large.bin');
  const size = 32 * 1024 * 1024; // a read long enough for a close on another threadpool thread to overtake it
  writeFileSync(path, new Uint8Array(size).fill(7));
  const source = await FileSource.open(path);
  const settled: string[] = [];
  const reading = source.readRanges([{ offset: 0, size }]).then(([bytes]) => {
    settled.push('read');
    return bytes as Uint8Array;
  });
  await source.close().then(() => settled.push('close'));
  expect(settled).toEqual(['read', 'close']);
  expect(Buffer.from(await reading).equals(new Uint8Array(size).fill(7))).toBe(true);
  expect(fdsOn(path)).toEqual([]);
});

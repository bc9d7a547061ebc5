/**
 * A fuzz child process: runs the cases its parent sends over IPC, one at a time, and answers each with its
 * outcome. Per source dataset it keeps one copy in a temp dir; a case damages one file of that copy, opens,
 * scans and takes from it (and, for some cases, runs a one-worker loader epoch), then puts the file back.
 * The parent owns timeouts and crashes: this process only classifies what the reader returned or threw.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LanceLoaderError, createLoader, openDataset, openFile } from '../../index.js';
import type { Rng } from '../fixtures/random.js';
import { mutationRng, type FuzzCase } from './cases.js';
import { mutate } from './mutations.js';

export interface CaseRequest {
  fuzzCase: FuzzCase;
  sourceRoot: string;
}

export interface CaseReply {
  index: number;
  /** `data`: every read returned; `typed`: a LanceLoaderError; `raw`: anything else thrown. */
  outcome: 'data' | 'typed' | 'raw';
  /** The error's code (typed) or class name (raw). */
  code?: string;
  message?: string;
  description: string;
  /** Peak resident set of this process so far. */
  maxRssBytes: number;
  /** Descriptors of the dataset's files the case left open (every reader it opened is closed by then). */
  leakedFds: number;
}

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'llfuzz-'));
const copies = new Map<string, string>();

/**
 * Descriptors this process holds on files of the damaged copies (Linux; 0 where /proc is missing). Other
 * descriptors (the addon's io_uring, made once per thread on first use) are not the case's to close.
 */
function openDatasetFds(): number {
  if (!fs.existsSync('/proc/self/fd')) return 0;
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(tempRoot)) count++;
    } catch {
      // closed between the listing and the look
    }
  }
  return count;
}

/**
 * Dataset descriptors opened since `before` that stay open. A rejected read may still be closing a sibling
 * file when the error reaches the caller, so a descriptor only counts once it outlives a grace period.
 */
async function leakedSince(before: number): Promise<number> {
  if (openDatasetFds() <= before) return 0;
  await new Promise((resolve) => setTimeout(resolve, FD_GRACE_MS));
  return Math.max(0, openDatasetFds() - before);
}
const FD_GRACE_MS = 500;

process.on('exit', () => fs.rmSync(tempRoot, { recursive: true, force: true }));

function copyOf(sourceRoot: string): string {
  let copy = copies.get(sourceRoot);
  if (!copy) {
    copy = path.join(tempRoot, String(copies.size), path.basename(sourceRoot));
    fs.cpSync(sourceRoot, copy, { recursive: true });
    copies.set(sourceRoot, copy);
  }
  return copy;
}

async function exercise(root: string, c: FuzzCase, rng: Rng): Promise<void> {
  const dataset = await openDataset(root);
  try {
    await dataset.versions();
    for await (const batch of dataset.scan({ batchSize: 1024 })) void batch.numRows;
    const rows = dataset.numRows;
    if (rows > 0) await dataset.take([rows - 1, 0, rng.int(0, rows)]);
  } finally {
    await dataset.close();
  }
  if (c.role === 'data') {
    const file = await openFile(path.join(root, c.file));
    try {
      for await (const batch of file.scan({ batchSize: 1024 })) void batch.numRows;
      if (file.numRows > 0) await file.take([rng.int(0, file.numRows), 0]);
    } finally {
      await file.close();
    }
  }
  if (c.loader) {
    const loader = await createLoader(root, { batchSize: 64, workers: 1, memoryBytes: 32 << 20, seed: c.index });
    try {
      for await (const batch of loader.epoch(0)) batch.release();
    } finally {
      await loader.close();
    }
  }
}

async function runCase({ fuzzCase: c, sourceRoot }: CaseRequest): Promise<CaseReply> {
  const root = copyOf(sourceRoot);
  const target = path.join(root, c.file);
  const original = fs.readFileSync(path.join(sourceRoot, c.file));
  const rng = mutationRng(c);
  const { bytes, description } = mutate(original, c.role, c.mutation, rng);
  fs.writeFileSync(target, bytes);
  const fdsBefore = openDatasetFds();
  const reply = async (outcome: CaseReply['outcome'], code?: string, message?: string): Promise<CaseReply> => ({
    index: c.index,
    outcome,
    code,
    message,
    description,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    leakedFds: await leakedSince(fdsBefore),
  });
  try {
    await exercise(root, c, rng);
    return await reply('data');
  } catch (error) {
    if (error instanceof LanceLoaderError) return await reply('typed', error.code, error.message);
    const e = error instanceof Error ? error : new Error(String(error));
    const at = e.stack?.split('\n')[1]?.trim() ?? '';
    return await reply('raw', e.name, `${e.message} ${at}`);
  } finally {
    fs.writeFileSync(target, original);
  }
}

process.on('message', (request: CaseRequest) => {
  void runCase(request).then((reply) => process.send?.(reply));
});
process.send?.({ tempRoot });

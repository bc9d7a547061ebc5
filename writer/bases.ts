/**
 * External bases of a write (`options.externalBases`): which directories blob v2 URIs resolve against,
 * and how an append or overwrite registers new ones the way Lance does.
 *
 * Lance's Append transaction cannot register a base (its data may only refer to bases the manifest
 * already lists); Lance registers bases with an UpdateBases transaction of their own
 * (`Dataset::add_bases`, protos/transaction.proto `UpdateBases`). So an append that adds bases commits
 * two versions:
 *
 *   version N ──UpdateBases (N + 1: N's fragments, plus the new base_paths)──► Append (N + 2)
 *
 * An overwrite of an existing dataset does the same (Lance refuses Overwrite.initial_bases unless the
 * write creates the dataset); only a create registers them in its own version, as
 * Overwrite.initial_bases. A base is one directory however it is spelled (a `file:` URL or a path, a
 * trailing '/', '.' and '..' segments): two spellings are compared by the directory the reader
 * resolves them to (dataset/blobs.ts).
 *
 * Every base registered gets a name no other base of the dataset has: Lance's UpdateBases refuses a
 * new base whose name or path equals a registered base's, two unnamed ones included (None == None in
 * its check), so Lance never registers an unnamed base beside another one that way.
 */
import fs from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CommitConflictError, InvalidArgumentError } from '../errors.js';
import { FLAG_BASE_PATHS, parseManifest } from '../format/manifest.js';
import type { BasePathProto, ManifestProto } from '../format/proto/messages.js';
import { localBaseDirectory } from '../dataset/blobs.js';
import type { ExternalBlobPolicy } from './blob.js';
import {
  commitManifest,
  indexSectionOf,
  manifestFileBytes,
  manifestFileName,
  manifestTimestamp,
  writeTransactionFile,
  type CommittedVersion,
} from './commit.js';

/** The base paths a write commits, the ones it adds, and how its blob URIs resolve against them. */
export interface WriteBases {
  basePaths: BasePathProto[];
  added: BasePathProto[];
  policy: ExternalBlobPolicy;
}

/** The directory options.externalBases[index] names: an absolute path or a file: URL. */
function baseDirectory(base: unknown, index: number): string {
  const option = `options.externalBases[${index}]`;
  const text = base instanceof URL ? base.href : base;
  const dir = typeof text !== 'string' ? undefined : directoryOf(text);
  if (dir === undefined)
    throw new InvalidArgumentError(
      `${option} must be an absolute directory path or a file: URL; got ${JSON.stringify(String(base))}`,
      { option },
    );
  return dir;
}

/** The local directory a base path names, resolved; undefined for a remote URL or a relative path. */
function directoryOf(path: string): string | undefined {
  return localBaseDirectory({ id: 0, is_dataset_root: false, path });
}

/** Whether two base paths name one directory (or, remote, are the same URL). */
function sameBase(a: BasePathProto, b: BasePathProto): boolean {
  if (a.is_dataset_root !== b.is_dataset_root) return false;
  const dir = localBaseDirectory(a);
  return dir === undefined ? a.path === b.path : dir === localBaseDirectory(b);
}

/**
 * `base` with a name none of `others` has: its own when free, else its directory's last segment
 * (`media`), suffixed `-2`, `-3`… until free.
 */
function named(base: BasePathProto, others: readonly BasePathProto[]): BasePathProto {
  const taken = new Set(others.map((b) => b.name));
  if (base.name !== undefined && !taken.has(base.name)) return base;
  const stem = basename(localBaseDirectory(base) ?? base.path) || 'base';
  let name = stem;
  for (let n = 2; taken.has(name); n++) name = `${stem}-${n}`;
  return { ...base, name };
}

/**
 * The base paths after this write: the dataset's `existing` ones (kept, as Lance keeps them) and the
 * directories of options.externalBases not among them, numbered after the largest id and named after
 * their directories; URIs resolve against every local base that is not another dataset's root, as
 * Lance resolves them.
 */
export function externalBasesOf(
  existing: readonly BasePathProto[],
  externalBases: unknown,
  allowOutsideBases: boolean,
): WriteBases {
  const given = externalBases ?? [];
  if (!Array.isArray(given))
    throw new InvalidArgumentError(
      'options.externalBases must be an array of directories (absolute paths or file: URLs)',
      {
        option: 'externalBases',
      },
    );
  const basePaths = [...existing];
  const added: BasePathProto[] = [];
  let nextId = Math.max(0, ...existing.map((b) => b.id)) + 1;
  given.forEach((base: unknown, index) => {
    const path: BasePathProto = {
      id: nextId,
      is_dataset_root: false,
      path: pathToFileURL(baseDirectory(base, index)).href,
    };
    if (basePaths.some((b) => sameBase(b, path))) return;
    nextId++;
    const registered = named(path, basePaths);
    basePaths.push(registered);
    added.push(registered);
  });
  const bases = basePaths.flatMap((b) => {
    const dir = b.is_dataset_root ? undefined : localBaseDirectory(b);
    return dir === undefined ? [] : [{ id: b.id, dir, prefix: dir.endsWith('/') ? dir : `${dir}/` }];
  });
  return { basePaths, added, policy: { bases, allowOutsideBases } };
}

/**
 * The bases of `added` that `committed` (a version another writer may have committed meanwhile) does
 * not register yet. One it registers under the same id, however spelled, counts as registered; a
 * CommitConflictError when another writer took one of their ids for another directory or registered
 * one of their directories under another id (the blobs this write stored name the ids it chose).
 */
export function missingBases(
  root: string,
  committed: readonly BasePathProto[],
  added: readonly BasePathProto[],
): BasePathProto[] {
  return added.filter((mine) => {
    const other = committed.find((b) => b.id === mine.id || sameBase(b, mine));
    if (other && (other.id !== mine.id || !sameBase(other, mine)))
      throw new CommitConflictError(
        `${root}: another writer registered external base ${other.id} (${other.path}) while this append stored blobs under base ${mine.id} (${mine.path})`,
        { path: root },
      );
    return other === undefined;
  });
}

/**
 * Commits version `committed.version + 1`: `committed`'s data with `bases` registered, through an
 * UpdateBases transaction, as Lance's `add_bases` commits it; returns that version. A base whose name
 * `committed` (written meanwhile by another writer) has taken is renamed: blobs name bases by id. A
 * CommitConflictError when the version is taken (its transaction file is removed then).
 */
export function commitBases(
  root: string,
  committed: CommittedVersion,
  bases: readonly BasePathProto[],
  writerVersion: ManifestProto['writer_version'],
): CommittedVersion {
  const newBases: BasePathProto[] = [];
  for (const base of bases) newBases.push(named(base, [...committed.manifest.base_paths, ...newBases]));
  const version = committed.version + 1;
  const transactionFile = writeTransactionFile(root, {
    readVersion: committed.version,
    operation: 'updateBases',
    newBases,
  });
  const previous = committed.manifest;
  const manifest: ManifestProto = {
    ...previous,
    version,
    base_paths: [...previous.base_paths, ...newBases],
    // Lance sets feature flag 16 for readers and writers whenever the manifest registers a base path.
    reader_feature_flags: previous.reader_feature_flags | FLAG_BASE_PATHS,
    writer_feature_flags: previous.writer_feature_flags | FLAG_BASE_PATHS,
    timestamp: manifestTimestamp(),
    writer_version: writerVersion,
    transaction_file: transactionFile,
  };
  const bytes = manifestFileBytes(manifest, indexSectionOf(committed));
  try {
    commitManifest(root, version, bytes);
  } catch (error) {
    fs.rmSync(join(root, '_transactions', transactionFile), { force: true });
    throw error;
  }
  return { version, manifest: parseManifest(bytes, manifestFileName(version)), bytes };
}

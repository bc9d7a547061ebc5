/**
 * Versions of a dataset directory: reading the latest manifest, and committing a new one atomically.
 *
 *   _versions/.tmp-<random>              written, fsynced, closed
 *        │ link(2) → _versions/{u64::MAX − version:020}.manifest   (fails with EEXIST if taken)
 *        ▼
 *   unlink the temporary name; fsync _versions/; rewrite latest_version_hint.json (a hint only)
 *
 * link(2) never replaces an existing name, so of two writers racing for one version exactly one wins;
 * the other sees EEXIST and gets a {@link CommitConflictError}. A manifest is only linked after every
 * data file it names is fsynced, so a crash at any point leaves either the previous version or the new
 * complete one (plus unreferenced files, which readers never open). The manifest file is what Lance
 * writes: `[index section] u32 len | Manifest | i64 position | u16 0 | u16 2 | "LANC"`, named with
 * Lance's V2 scheme so the newest version sorts first.
 *
 * Each commit also records what it did in `_transactions/{read_version}-{uuid}.txn` (a Transaction
 * message, protos/transaction.proto), named by the manifest's `transaction_file` (field 12): a Lance
 * writer that loses a race to one of our commits reads it to decide whether its own commit still
 * applies, and fails without it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { CommitConflictError, CorruptFileError } from '../errors.js';
import { parseManifest, versionOfManifestName } from '../format/manifest.js';
import { encodeManifest, encodeTransaction } from '../format/proto/encode.js';
import type { ManifestProto } from '../format/proto/messages.js';
import { fsError } from './fs-error.js';

const U64_MAX = (1n << 64n) - 1n;
const MAGIC = new Uint8Array([0x4c, 0x41, 0x4e, 0x43]);

/** The latest committed version of a dataset: its manifest and the bytes it was parsed from. */
export interface CommittedVersion {
  version: number;
  manifest: ManifestProto;
  bytes: Uint8Array;
}

/**
 * What a commit did (protos/transaction.proto, Transaction): `readVersion` is the version the write
 * started from (0 for a new dataset). Fragments carry no ids yet: Lance assigns them at commit.
 */
export type TransactionRecord = { readVersion: number } & (
  | { operation: 'append'; fragments: ManifestProto['fragments'] }
  | {
      operation: 'overwrite';
      fragments: ManifestProto['fragments'];
      fields: ManifestProto['fields'];
      schemaMetadata: ManifestProto['schema_metadata'];
      /** External bases this write registers (Transaction.Overwrite.initial_bases, field 5). */
      initialBases?: ManifestProto['base_paths'];
    }
  | {
      /** Registers external bases and changes nothing else (Transaction.UpdateBases, field 114). */
      operation: 'updateBases';
      /** UpdateBases.new_bases (field 1), with their ids. */
      newBases: ManifestProto['base_paths'];
    }
);

/** The Transaction message's operation (its oneof member) for `transaction`. */
function transactionOperation(transaction: TransactionRecord): object {
  if (transaction.operation === 'updateBases') return { update_bases: { new_bases: transaction.newBases } };
  const fragments = transaction.fragments.map((fragment) => ({ ...fragment, id: 0 }));
  if (transaction.operation === 'append') return { append: { fragments } };
  return {
    overwrite: {
      fragments,
      schema: transaction.fields,
      schema_metadata: transaction.schemaMetadata,
      config_upsert_values: {},
      initial_bases: transaction.initialBases ?? [],
    },
  };
}

/** The file name of `version` under `_versions/` (Lance's V2 naming). */
export function manifestFileName(version: number): string {
  return `${(U64_MAX - BigInt(version)).toString().padStart(20, '0')}.manifest`;
}

/** The latest version in `root`, or undefined when `root` holds no dataset (missing or no manifest). */
export function readLatestVersion(root: string): CommittedVersion | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(join(root, '_versions'));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError('listing versions', join(root, '_versions'), cause);
  }
  let latest: { version: number; name: string } | undefined;
  for (const name of names) {
    const version = versionOfManifestName(name);
    if (version !== undefined && (!latest || version > latest.version)) latest = { version, name };
  }
  if (!latest) return undefined;
  const path = join(root, '_versions', latest.name);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (cause) {
    throw fsError('reading the manifest', path, cause);
  }
  const manifest = parseManifest(bytes, path);
  if (manifest.version !== latest.version) {
    throw new CorruptFileError(
      `${path}: the file is named for version ${latest.version} but holds version ${manifest.version}`,
      {
        path,
      },
    );
  }
  return { version: latest.version, manifest, bytes };
}

/**
 * The index section of a committed manifest file (`u32 len | IndexSection`), copied so a new version
 * keeps the indexes of the previous one; undefined when it has none.
 */
export function indexSectionOf(committed: CommittedVersion): Uint8Array | undefined {
  const at = committed.manifest.index_section;
  if (at === undefined) return undefined;
  const view = new DataView(committed.bytes.buffer, committed.bytes.byteOffset, committed.bytes.byteLength);
  if (at + 4 > committed.bytes.length || at + 4 + view.getUint32(at, true) > committed.bytes.length) {
    throw new CorruptFileError(`version ${committed.version}: index section at ${at} runs past the manifest file`);
  }
  return committed.bytes.subarray(at, at + 4 + view.getUint32(at, true));
}

/** A manifest's `timestamp`: now, in seconds and nanoseconds. */
export function manifestTimestamp(): ManifestProto['timestamp'] {
  const now = Date.now();
  return { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 };
}

/** The bytes of a manifest file: the index section first when there is one, then the manifest and footer. */
export function manifestFileBytes(manifest: ManifestProto, indexSection?: Uint8Array): Uint8Array {
  const prefix = indexSection ?? new Uint8Array(0);
  const body = encodeManifest(indexSection ? { ...manifest, index_section: 0 } : manifest);
  const out = new Uint8Array(prefix.length + 4 + body.length + 16);
  const view = new DataView(out.buffer);
  out.set(prefix, 0);
  view.setUint32(prefix.length, body.length, true);
  out.set(body, prefix.length + 4);
  const tail = prefix.length + 4 + body.length;
  view.setBigInt64(tail, BigInt(prefix.length), true);
  view.setUint16(tail + 8, 0, true);
  view.setUint16(tail + 10, 2, true);
  out.set(MAGIC, tail + 12);
  return out;
}

function writeSynced(path: string, bytes: Uint8Array): void {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  try {
    let at = 0;
    while (at < bytes.length) at += fs.writeSync(fd, bytes, at, bytes.length - at, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes the transaction file of a commit about to be made, fsynced with its directory entry (the
 * manifest will name it); returns its name inside `_transactions/`.
 */
export function writeTransactionFile(root: string, transaction: TransactionRecord): string {
  const uuid = randomUUID();
  const name = `${transaction.readVersion}-${uuid}.txn`;
  const operation = transactionOperation(transaction);
  const dir = join(root, '_transactions');
  const path = join(dir, name);
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeSynced(path, encodeTransaction({ read_version: transaction.readVersion, uuid, tag: '', ...operation }));
    syncDirectory(dir);
  } catch (cause) {
    fs.rmSync(path, { force: true });
    throw fsError('writing the transaction file', path, cause);
  }
  return name;
}

/** fsyncs a directory, so the names created in it survive a crash. */
export function syncDirectory(path: string): void {
  const fd = fs.openSync(path, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Commits `bytes` as version `version` of the dataset at `root`, or throws a {@link CommitConflictError}
 * if that version exists (another writer got there first). Nothing is left behind on failure.
 */
export function commitManifest(root: string, version: number, bytes: Uint8Array): void {
  const dir = join(root, '_versions');
  const target = join(dir, manifestFileName(version));
  const temporary = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeSynced(temporary, bytes);
  } catch (cause) {
    fs.rmSync(temporary, { force: true });
    throw fsError('writing the manifest', temporary, cause);
  }
  try {
    fs.linkSync(temporary, target);
  } catch (cause) {
    fs.rmSync(temporary, { force: true });
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CommitConflictError(`${root}: version ${version} was committed by another writer first`, {
        path: root,
        version,
      });
    }
    throw fsError('committing the manifest', target, cause);
  }
  fs.rmSync(temporary, { force: true });
  try {
    syncDirectory(dir);
  } catch (cause) {
    throw fsError('syncing _versions/', dir, cause);
  }
  writeVersionHint(dir, version);
}

/** latest_version_hint.json, replaced by rename; a reader only takes it as a hint, so a lost race is harmless. */
function writeVersionHint(dir: string, version: number): void {
  const temporary = join(dir, `.tmp-hint-${randomBytes(8).toString('hex')}`);
  try {
    fs.writeFileSync(temporary, JSON.stringify({ version }));
    fs.renameSync(temporary, join(dir, 'latest_version_hint.json'));
  } catch {
    fs.rmSync(temporary, { force: true });
  }
}

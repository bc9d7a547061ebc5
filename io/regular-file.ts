/**
 * Opening the files a reader reads (manifests, deletion files, data files): nothing but a regular file is
 * ever opened, and a file that cannot be what it claims to be is refused before a byte is read.
 *
 *   realpath ─► inside the directory? ─► stat: regular, not too large? ─► open O_NONBLOCK|O_NOFOLLOW
 *        ─► fstat the fd: still a regular file? ─► reopen through /proc/self/fd without O_NONBLOCK
 *
 * Why each step: a FIFO opened for reading blocks open(2) until a writer appears (a libuv thread hangs
 * and the process cannot exit); an endless character device (/dev/zero) read whole never ends; stat
 * first means a device is never even opened (opening some has side effects). O_NONBLOCK makes a FIFO
 * swapped in between stat and open fail the fstat instead of hanging. The fd handed out is reopened
 * without O_NONBLOCK because io_uring on older kernels fails reads of O_NONBLOCK files with EAGAIN
 * instead of waiting for the disk; /proc/self/fd/N names the same inode, so the reopen cannot reach
 * another file. Without /proc (not Linux) the O_NONBLOCK fd is kept: reads of regular files ignore it.
 */
import { close, closeSync, constants, fstatSync, open, openSync, read, realpath, stat, type Stats } from 'node:fs';
import { relative, isAbsolute, sep } from 'node:path';
import { promisify } from 'node:util';
import { CorruptFileError, IoError, LanceLoaderError } from '../errors.js';

const openAsync = promisify(open);
const closeAsync = promisify(close);
const readAsync = promisify(read);
const realpathAsync = promisify(realpath);
const statAsync = promisify(stat);

/** How a file is checked when it is opened. */
export interface RegularFileOptions {
  /** What the file is, for messages: 'manifest', 'deletion file', 'data file'. */
  what: string;
  /** Larger files are refused with a CorruptFileError before anything is read. */
  maxBytes?: number;
  /**
   * A directory (its real path) the file must lie in once every symlink is resolved; a file that
   * resolves outside it is refused with an IoError.
   */
  inside?: string;
}

/** An open regular file: its descriptor (the caller closes it) and its size when opened. */
export interface RegularFile {
  fd: number;
  size: number;
  /** Device and inode of the file opened: equal for two opens exactly when they reached the same file. */
  identity: string;
}

/** Opens `path` for reading after the checks of the module comment; every refusal is a typed error naming it. */
export async function openRegularFile(path: string, options: RegularFileOptions): Promise<RegularFile> {
  const { what } = options;
  const cannot = (cause: unknown) =>
    new IoError(`cannot open ${what} ${path}: ${(cause as Error).message}`, { path }, { cause });
  let real: string;
  let info: Stats;
  try {
    real = await realpathAsync(path);
    info = await statAsync(real);
  } catch (cause) {
    throw cannot(cause);
  }
  if (options.inside !== undefined && !isWithin(options.inside, real)) {
    throw new IoError(
      `${what} ${path} resolves to ${real}, outside the dataset directory ${options.inside}; files outside it are read only with openDataset(path, { followSymlinks: 'all' })`,
      { path, realPath: real, directory: options.inside },
    );
  }
  checkRegular(info, path, options);
  let fd: number;
  try {
    fd = await openAsync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (cause) {
    throw cannot(cause);
  }
  try {
    const opened = fstatSync(fd);
    checkRegular(opened, path, options);
    const reopened = reopen(fd, constants.O_RDONLY);
    // Closed before returning, as on every path below: a caller that fails next must find nothing of
    // this file left open once its promise rejects.
    if (reopened !== fd) closeSync(fd);
    return { fd: reopened, size: opened.size, identity: `${opened.dev}:${opened.ino}` };
  } catch (error) {
    closeSync(fd);
    throw error instanceof LanceLoaderError ? error : cannot(error);
  }
}

/**
 * Opens the file behind `fd` (a regular file from {@link openRegularFile}) again with `flags`, e.g. with
 * O_DIRECT; the same inode when /proc/self/fd exists, else `path` checked to be the same inode.
 */
export function reopenRegularFile(fd: number, path: string, flags: number): number {
  const reopened = reopen(fd, flags);
  if (reopened !== fd) return reopened;
  const other = openSync(path, flags | constants.O_NONBLOCK);
  try {
    const [was, now] = [fstatSync(fd), fstatSync(other)];
    if (was.ino !== now.ino || was.dev !== now.dev)
      throw new IoError(`${path} was replaced while it was being opened`, { path });
    return other;
  } catch (error) {
    closeSync(other);
    throw error;
  }
}

/** The file behind `fd` opened again through /proc/self/fd with `flags`, or `fd` itself without /proc. */
function reopen(fd: number, flags: number): number {
  try {
    return openSync(`/proc/self/fd/${fd}`, flags);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return fd;
    throw cause;
  }
}

/**
 * Reads a whole file of the kind `options.what` (a manifest, a deletion file) after the checks of
 * {@link openRegularFile}: exactly the size fstat gave, so a file that shrinks or grows while it is read is
 * an IoError rather than a truncated or endless read.
 */
export async function readRegularFile(path: string, options: RegularFileOptions): Promise<Uint8Array> {
  const { fd, size } = await openRegularFile(path, options);
  /** Reads into `into` from byte `from` on, at file position `position`. */
  const readAt = async (into: Uint8Array, from: number, position: number): Promise<number> => {
    try {
      return (await readAsync(fd, into, from, into.byteLength - from, position)).bytesRead;
    } catch (cause) {
      throw new IoError(
        `cannot read ${options.what} ${path}: ${(cause as Error).message}`,
        { path, offset: position },
        { cause },
      );
    }
  };
  try {
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size;) {
      const bytesRead = await readAt(bytes, done, done);
      if (bytesRead === 0) {
        throw new IoError(`${options.what} ${path} shrank while being read: ${done} of its ${size} bytes were there`, {
          path,
          size,
          bytesRead: done,
        });
      }
      done += bytesRead;
    }
    // A byte past the size fstat gave means the file grew after it was opened.
    if ((await readAt(new Uint8Array(1), 0, size)) !== 0)
      throw new IoError(`${options.what} ${path} grew while being read (it was ${size} bytes)`, { path, size });
    return bytes;
  } finally {
    await closeAsync(fd);
  }
}

function checkRegular(info: Stats, path: string, options: RegularFileOptions): void {
  if (!info.isFile()) {
    throw new IoError(`${options.what} ${path} is not a regular file (it is ${kindOf(info)})`, {
      path,
      kind: kindOf(info),
    });
  }
  if (options.maxBytes !== undefined && info.size > options.maxBytes) {
    throw new CorruptFileError(
      `${options.what} ${path} is ${info.size} bytes, more than a ${options.what} can be (${options.maxBytes} bytes)`,
      { path, size: info.size, maxBytes: options.maxBytes },
    );
  }
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
}

/** Whether `path` (a real path) is `directory` (a real path) or lies under it. */
function isWithin(directory: string, path: string): boolean {
  const rel = relative(directory, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

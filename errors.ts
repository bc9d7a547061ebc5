/**
 * The typed errors of lance-loader. Every error has a stable machine-readable `code` and a message
 * that names what went wrong and where (file, byte offset, column, row). Errors cross worker threads as
 * plain records ({@link ErrorRecord}) because structured clone drops the class, `code` and `cause`.
 */

/** Machine-readable error codes. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_STATE'
  | 'CORRUPT_FILE'
  | 'UNSUPPORTED'
  | 'IO_ERROR'
  | 'ABORTED'
  | 'WORKER_ERROR'
  | 'COMMIT_CONFLICT'
  | TransformErrorCode
  | ResourceErrorCode
  | 'INTERNAL';

/**
 * The codes of {@link ResourceError}: the memory budget cannot hold what is asked of it
 * (`MEMORY_BUDGET`), the consumer holds every batch slot (`SLOTS_EXHAUSTED`), or a batch waited too long
 * for its worker's read memory (`READ_MEMORY_TIMEOUT`).
 */
export type ResourceErrorCode = 'MEMORY_BUDGET' | 'SLOTS_EXHAUSTED' | 'READ_MEMORY_TIMEOUT';

/**
 * The codes of {@link TransformError}: a value a transform cannot decode (`IMAGE_DECODE`: corrupt,
 * truncated, not an image, null), an image larger than the transform's `maxPixels` (`IMAGE_TOO_LARGE`,
 * found from its header before any pixel is decoded), or a user transform that threw (`TRANSFORM_ERROR`).
 */
export type TransformErrorCode = 'IMAGE_DECODE' | 'IMAGE_TOO_LARGE' | 'TRANSFORM_ERROR';

/** Base class of every error lance-loader throws on purpose. */
export class LanceLoaderError extends Error {
  readonly code: ErrorCode;
  /** Structured facts about the error (file, offsets, column, rows), for programs to read. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    this.name = new.target.name;
  }
}

/** A bad option or argument: the message names the option path and what is accepted. */
export class InvalidArgumentError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_ARGUMENT', message, details);
  }
}

/**
 * A call the object's current state does not allow: a batch read after `release()`, an epoch started
 * while another is still being iterated.
 */
export class InvalidStateError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_STATE', message, details);
  }
}

/** The bytes of a file violate the Lance format (or are truncated). */
export class CorruptFileError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('CORRUPT_FILE', message, details, options);
  }
}

/** A valid file that uses a feature lance-loader does not implement (names the encoding and version). */
export class UnsupportedError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('UNSUPPORTED', message, details);
  }
}

/** An operating-system level failure: missing file, short read, permission. */
export class IoError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('IO_ERROR', message, details, options);
  }
}

/** The operation was cancelled (loader closed, signal aborted). */
export class AbortError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ABORTED', message, details);
  }
}

/** A worker thread died or could not be started. */
export class WorkerError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('WORKER_ERROR', message, details, options);
  }
}

/**
 * Another writer committed the version this write was about to commit, and the write cannot simply be
 * retried on top of it (creating a dataset that now exists, overwriting one that changed, or an append
 * that lost too many races in a row). The dataset stays at the other writer's version; nothing of this
 * write is visible.
 */
export class CommitConflictError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('COMMIT_CONFLICT', message, details);
  }
}

/**
 * A bounded resource of the loader ran out: the options are valid, but the memory budget (or the slots
 * the consumer left free) cannot hold what the data asks for. The message says how much was needed and
 * which option to change.
 */
export class ResourceError extends LanceLoaderError {
  declare readonly code: ResourceErrorCode;

  constructor(code: ResourceErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

/** A loader transform failed on a row: the message names the row, the column and the step or module. */
export class TransformError extends LanceLoaderError {
  declare readonly code: TransformErrorCode;

  constructor(code: TransformErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

const REPORT = '(this is a bug in lance-loader, please report it)';

/** A broken invariant inside lance-loader: please report it. */
export class InternalError extends LanceLoaderError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('INTERNAL', message.includes(REPORT) ? message : `${message} ${REPORT}`, details, options);
  }
}

/** An error as plain data, for crossing a thread boundary. */
export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

/** Turns any thrown value into a plain record; unknown errors become `INTERNAL`. */
export function toErrorRecord(error: unknown): ErrorRecord {
  if (error instanceof LanceLoaderError) {
    return { code: error.code, message: error.message, details: error.details };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { code: 'INTERNAL', message, details: {} };
}

type Rebuild = (message: string, details: Record<string, unknown>) => LanceLoaderError;

const rebuilders: Record<ErrorCode, Rebuild> = {
  INVALID_ARGUMENT: (m, d) => new InvalidArgumentError(m, d),
  INVALID_STATE: (m, d) => new InvalidStateError(m, d),
  CORRUPT_FILE: (m, d) => new CorruptFileError(m, d),
  UNSUPPORTED: (m, d) => new UnsupportedError(m, d),
  IO_ERROR: (m, d) => new IoError(m, d),
  ABORTED: (m, d) => new AbortError(m, d),
  WORKER_ERROR: (m, d) => new WorkerError(m, d),
  COMMIT_CONFLICT: (m, d) => new CommitConflictError(m, d),
  MEMORY_BUDGET: (m, d) => new ResourceError('MEMORY_BUDGET', m, d),
  SLOTS_EXHAUSTED: (m, d) => new ResourceError('SLOTS_EXHAUSTED', m, d),
  READ_MEMORY_TIMEOUT: (m, d) => new ResourceError('READ_MEMORY_TIMEOUT', m, d),
  IMAGE_DECODE: (m, d) => new TransformError('IMAGE_DECODE', m, d),
  IMAGE_TOO_LARGE: (m, d) => new TransformError('IMAGE_TOO_LARGE', m, d),
  TRANSFORM_ERROR: (m, d) => new TransformError('TRANSFORM_ERROR', m, d),
  INTERNAL: (m, d) => new InternalError(m, d),
};

/** Rebuilds the typed error from a record made by {@link toErrorRecord}. */
export function fromErrorRecord(record: ErrorRecord): LanceLoaderError {
  const rebuild = rebuilders[record.code] ?? rebuilders.INTERNAL;
  return rebuild(record.message, record.details);
}

/**
 * The same kind of error with context appended to its message and merged into its details (for
 * example the batch and rows a decode error happened in). Unknown errors become {@link InternalError}.
 */
export function withContext(error: unknown, context: string, details: Record<string, unknown>): LanceLoaderError {
  const record = toErrorRecord(error);
  const rebuilt = fromErrorRecord({
    code: record.code,
    message: `${record.message} (${context})`,
    details: { ...record.details, ...details },
  });
  if (error instanceof Error)
    rebuilt.stack = `${rebuilt.name}: ${rebuilt.message}\n${error.stack?.split('\n').slice(1).join('\n') ?? ''}`;
  return rebuilt;
}

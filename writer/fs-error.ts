/** The writer's file-system failures as typed errors: the path, the step that failed, and the errno code. */
import { IoError } from '../errors.js';

/** An {@link IoError} for `step` (e.g. "writing the data file") on `path`, keeping the OS error as `cause`. */
export function fsError(step: string, path: string, cause: unknown): IoError {
  const code = (cause as NodeJS.ErrnoException).code;
  return new IoError(`${path}: ${step} failed: ${(cause as Error).message}`, { path, code }, { cause });
}

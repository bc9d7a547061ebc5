/** Runs `fn` and returns the error it throws (failing the test when it throws nothing). */
import type { LanceLoaderError } from '../errors.js';

export function caught(fn: () => unknown): LanceLoaderError {
  try {
    fn();
  } catch (error) {
    return error as LanceLoaderError;
  }
  throw new Error('expected an error');
}

/** The error `promise` rejects with (failing the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<LanceLoaderError> {
  try {
    await promise;
  } catch (error) {
    return error as LanceLoaderError;
  }
  throw new Error('expected a rejection');
}

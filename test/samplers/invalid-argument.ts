/** Test helper: asserts that a call throws InvalidArgumentError with code INVALID_ARGUMENT and a message. */
import { expect } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import { caught } from '../caught.js';

export function expectInvalidArgument(run: () => unknown, message: string | RegExp): void {
  const error = caught(run);
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(error.code).toBe('INVALID_ARGUMENT');
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

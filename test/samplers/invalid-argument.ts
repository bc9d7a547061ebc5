/** Test helper: asserts that a call throws InvalidArgumentError with code INVALID_ARGUMENT and a message. */
import { expect } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';

export function expectInvalidArgument(run: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidArgumentError);
  expect((caught as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
  if (typeof message === 'string') expect((caught as InvalidArgumentError).message).toBe(message);
  else expect((caught as InvalidArgumentError).message).toMatch(message);
}

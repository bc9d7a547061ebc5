/** Error records: how typed errors cross a worker thread and come back with their class and code. */
import { describe, expect, it } from 'vitest';
import { ResourceError, fromErrorRecord, toErrorRecord, withContext } from '../errors.js';

describe('a ResourceError', () => {
  it.each(['MEMORY_BUDGET', 'SLOTS_EXHAUSTED', 'READ_MEMORY_TIMEOUT'] as const)(
    'comes back from its record as a ResourceError with code %s',
    (code) => {
      const rebuilt = fromErrorRecord(toErrorRecord(new ResourceError(code, 'out of memory', { neededBytes: 10 })));
      expect(rebuilt).toBeInstanceOf(ResourceError);
      expect(rebuilt).toMatchObject({ code, message: 'out of memory', details: { neededBytes: 10 } });
    },
  );

  it('keeps its class and code when context is added', () => {
    const error = withContext(new ResourceError('MEMORY_BUDGET', 'too big'), 'while loading batch 3', { batch: 3 });
    expect(error).toBeInstanceOf(ResourceError);
    expect(error).toMatchObject({ code: 'MEMORY_BUDGET', message: 'too big (while loading batch 3)' });
  });
});

/**
 * Waiting for parallel reads that each open a file: a rejection is passed on only after every read has
 * settled, so each has closed what it opened by the time the caller sees the error (Promise.all would
 * reject while sibling reads still hold their files open).
 */

/** The values of `promises` in order, or, once all have settled, the first rejection in order. */
export async function allSettledOrFirstError<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const outcomes = await Promise.allSettled(promises);
  return outcomes.map((outcome) => {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  });
}

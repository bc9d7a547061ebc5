/**
 * Waiting for parallel reads: a rejection is passed on only after every read has settled, so by the time
 * the caller sees the error each read has closed what it opened and stopped writing into its memory
 * (Promise.all would reject while sibling reads still hold their files open, or still write into memory
 * the caller then gives back: a batch slot, a leased slab, a receive buffer).
 */

/** The values of `promises` in order, or, once all have settled, the first rejection in order. */
export async function allSettledOrFirstError<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const outcomes = await Promise.allSettled(promises);
  return outcomes.map((outcome) => {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  });
}

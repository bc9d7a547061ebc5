/**
 * loadBlobColumn's hold on the decode scratch, over the LanceDB-written blob_v2 fixture: two batches read at
 * the same time (a worker's two lanes) take from one scratch, each checked against what the other holds.
 */
import { describe, expect, it } from 'vitest';
import { loadBlobColumn } from '../../decode-workers/blob-fill.js';
import { emptyReadStats } from '../../io/source.js';
import { writtenBlobs } from '../dataset/blob-fixtures.js';
import { withDataset } from '../loader/fixture-dataset.js';

describe('blob values read by two lanes at once', () => {
  it('are held within the scratch: the batch that does not fit beside the other is refused', async () => {
    await withDataset('blob_v2', '2.2', async (dataset) => {
      const big = writtenBlobs('blob_v2').flatMap((v, row) => (v !== null && v.length / 2 === 5_000_000 ? [row] : []));
      expect(big).toHaveLength(2);
      // Room for one 5 MB value, not two.
      const scratch = 8_000_000;
      let held = 0;
      let peak = 0;
      const budget = () => ({ bytesLeft: scratch - held, source: 'the test scratch' });
      const hold = (bytes: number) => {
        held += bytes;
        peak = Math.max(peak, held);
      };
      const results = await Promise.allSettled(
        big.map((row) =>
          loadBlobColumn(dataset, Uint32Array.of(row), 'image', true, [], budget, hold, emptyReadStats()),
        ),
      );
      expect(peak).toBeLessThanOrEqual(scratch);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = results.find((r) => r.status === 'rejected');
      expect(refused?.reason).toMatchObject({ code: 'MEMORY_BUDGET' });
    });
  });
});

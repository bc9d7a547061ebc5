/**
 * One rank of a loader over an s3:// dataset, as one host of a multi-host job runs it: prints the row
 * offsets of every batch of epoch 0 as JSON. Arguments: url endpoint rank worldSize.
 */
import { createLoader } from '../../index.js';
import { S3_KEY } from '../io/remote/servers.js';

const [url, endpoint, rank, worldSize] = process.argv.slice(2) as [string, string, string, string];
const loader = await createLoader(url, {
  batchSize: 100,
  seed: 9,
  rank: Number(rank),
  worldSize: Number(worldSize),
  workers: 1,
  storage: { ...S3_KEY, endpoint, allowHttp: 'true' },
});
const rows: number[] = [];
for await (const batch of loader.epoch(0)) {
  rows.push(...batch.rowOffsets);
  batch.release();
}
await loader.close();
process.stdout.write(JSON.stringify(rows));

/**
 * Opens a remote dataset with no storage options and prints its row count: run with NODE_EXTRA_CA_CERTS
 * set, which Node reads only when a process starts. Argument: the dataset's URL.
 */
import { openDataset } from '../../index.js';

const dataset = await openDataset(process.argv[2] as string);
process.stdout.write(String(dataset.numRows));
await dataset.close();

/**
 * Loads the decode worker script the way Piscina does (require) and prints every module file it loaded,
 * as JSON: worker-modules.test.ts checks what a worker pays for at start.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('../../decode-workers/worker.ts');
process.stdout.write(JSON.stringify(Object.keys(require.cache)));

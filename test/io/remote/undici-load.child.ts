/**
 * Prints whether undici is loaded after the library is imported, and again after one request has been
 * tried (to a port nobody listens on), as a JSON pair of booleans.
 */
import { createRequire } from 'node:module';
import { sep } from 'node:path';

const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes(`${sep}undici${sep}`));
const { ObjectStore } = await import('../../../io/remote/object-store.js');
const { resolveRemoteIo } = await import('../../../io/remote/remote-options.js');
await import('../../../index.js');
const afterImport = loaded();
const store = ObjectStore.open('http://127.0.0.1:9/d', undefined, resolveRemoteIo({ retries: 0 }, 'remote'));
await store.get('x', { offset: 0, size: 1 }).catch(() => undefined);
console.log(JSON.stringify([afterImport, loaded()]));

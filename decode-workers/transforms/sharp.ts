/**
 * sharp (libvips), the optional dependency decodeImage needs, loaded on first use in each thread. Each
 * worker decodes one image at a time with one libvips thread, so the loader's `workers` option is what
 * sets how many cores decode, and sharp's own cache is off (a loader never sees the same bytes twice in
 * a batch, and the cache would hold memory outside the budget).
 */
import { UnsupportedError } from '../../errors.js';

export type Sharp = (typeof import('sharp'))['default'];

const loaded = new Map<string, Promise<Sharp>>();

/**
 * The sharp module, or an UnsupportedError saying how to install it. `specifier` is sharp's package
 * name; tests give another to see the error.
 */
export function loadSharp(specifier = 'sharp'): Promise<Sharp> {
  let module = loaded.get(specifier);
  if (!module) {
    module = import(specifier).then(
      (m: { default: Sharp }) => {
        m.default.cache(false);
        m.default.concurrency(1);
        return m.default;
      },
      (cause: unknown) => {
        throw new UnsupportedError(
          `decodeImage needs the optional dependency sharp, which did not load (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}): install it with \`npm install sharp\``,
          { dependency: 'sharp' },
        );
      },
    );
    loaded.set(specifier, module);
  }
  return module;
}

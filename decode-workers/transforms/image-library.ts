/**
 * @napi-rs/image, the optional dependency decodeImage needs, loaded on first use in each thread: a Rust
 * addon (zune-jpeg, png, image-webp; fast_image_resize's SIMD convolutions) with synchronous calls, so
 * a worker decodes and resamples on its own thread with no hop to another pool, and the loader's
 * `workers` option alone sets how many cores decode. Its binaries come inside npm packages of one
 * platform each (its optional dependencies), nothing is downloaded at install.
 */
import { UnsupportedError } from '../../errors.js';

export type ImageLibrary = typeof import('@napi-rs/image');

const loaded = new Map<string, Promise<ImageLibrary>>();

/**
 * The @napi-rs/image module, or an UnsupportedError saying how to install it. `specifier` is its package
 * name; tests give another to see the error.
 */
export function loadImageLibrary(specifier = '@napi-rs/image'): Promise<ImageLibrary> {
  let module = loaded.get(specifier);
  if (!module) {
    module = import(specifier).then(
      (m: ImageLibrary & { default?: ImageLibrary }) => m.default ?? m,
      (cause: unknown) => {
        throw new UnsupportedError(
          `decodeImage needs the optional dependency @napi-rs/image, which did not load (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}): install it with \`npm install @napi-rs/image\``,
          { dependency: '@napi-rs/image' },
        );
      },
    );
    loaded.set(specifier, module);
  }
  return module;
}

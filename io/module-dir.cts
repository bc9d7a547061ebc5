/**
 * Where this copy of lance-loader sits on disk, for what it loads by path (the worker script, the native
 * addon) or resolves from its own place (tfjs's wasm files). The package ships an ES module build and a
 * CommonJS build of the same sources; ES modules learn their location from `import.meta`, which is a
 * syntax error in CommonJS. This file is CommonJS in both builds (a .cts file compiles to .cjs), so
 * `__dirname` and `require` are defined wherever it runs. Plain JavaScript syntax only: Vite, which runs
 * the tests, does not strip types from .cts files.
 */

/** This file's folder: io/ of the sources, of dist/ (ES modules) or of dist/cjs/ (CommonJS). */
export const ioDir = __dirname;

/** True when the TypeScript sources run (tests, tsx); false in a build. */
export const fromSource = __filename.endsWith('.cts');

/** `require` resolving from inside the package: its own files and what its user installed beside it. */
export const packageRequire = require;

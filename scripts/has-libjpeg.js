/**
 * Prints `true` when a C program including <jpeglib.h> and calling libjpeg-turbo's crop and skip functions
 * (1.5 and newer) compiles and links with -ljpeg here, else `false`. binding.gyp asks it whether to build the
 * addon's JPEG decoder (native/jpeg.c); without it decodeImage decodes JPEGs with @napi-rs/image.
 */
/* global console, process -- Node's globals: the lint config declares none for plain .js files */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const program = `#include <stdio.h>
#include <jpeglib.h>
int main(void) {
  struct jpeg_error_mgr e;
  jpeg_std_error(&e);
  return jpeg_crop_scanline != NULL && jpeg_skip_scanlines != NULL ? 0 : 1;
}
`;
const dir = mkdtempSync(join(tmpdir(), 'lance-loader-jpeg-'));
try {
  const compiler = process.env.CC || 'cc';
  const built = spawnSync(compiler, ['-x', 'c', '-', '-ljpeg', '-o', join(dir, 'probe')], {
    input: program,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  console.log(built.status === 0 ? 'true' : 'false');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Which pages lance-loader decodes: the structural checks made before a page is planned (io/plan.ts), and
 * by `inspect`, which marks the pages (and so the columns) that cannot be read yet with the reason. Pure:
 * layouts and buffer counts only, no page bytes.
 */
import { UnsupportedError } from '../errors.js';
import type { PageInfo } from './file-metadata.js';
import { checkFullZipSupported } from './fullzip-layout.js';
import { constantBuffers } from './layout.js';
import { checkMiniBlockSupported } from './miniblock-layout.js';
import { resolveV20Shape } from './v20-shape.js';

/** Throws an UnsupportedError naming `where` when lance-loader cannot decode the page. */
export function checkPageSupported(page: PageInfo, where: string): void {
  const layout = page.layout;
  switch (layout.kind) {
    case 'miniblock':
      checkMiniBlockSupported(layout.layout, where);
      return;
    case 'fullzip':
      checkFullZipSupported(layout.layout, where);
      return;
    case 'constant': {
      const rep = constantBuffers(layout.layout, page.buffers.length, where).rep;
      const repBytes = rep === undefined ? 0 : (page.buffers[rep]?.size ?? 0);
      if (layout.layout.rep_compression || repBytes > 0) {
        throw new UnsupportedError(
          `${where}: constant pages of list columns (repetition levels) are not supported yet`,
        );
      }
      return;
    }
    case 'blob': {
      // Legacy blob pages hold (position, size) descriptors in an inner mini-block layout.
      const inner = layout.layout.blob_layout?.inner_layout;
      if (inner?.layout !== 'mini_block_layout' || !inner.mini_block_layout)
        throw new UnsupportedError(
          `${where}: blob descriptors in a ${inner?.layout ?? 'missing'} layout are not supported`,
        );
      checkMiniBlockSupported(inner.mini_block_layout, where);
      return;
    }
    case 'v2.0':
      resolveV20Shape(layout.encoding, page, where);
      return;
  }
}

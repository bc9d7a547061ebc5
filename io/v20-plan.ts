/**
 * Read planning for file version 2.0 pages (see format/v20-shape.ts for the shapes). Reads are exact
 * per run of consecutive rows: fixed-width values at row × width (straight into the output when there is
 * no validity), validity bits by byte, binary end offsets then the bytes they bound. Compressed binary buffers and dictionary items are read whole.
 */
import { CorruptFileError } from '../errors.js';
import type { ByteRange } from '../format/file-metadata.js';
import type { ArrayEncodingProto } from '../format/proto/messages.js';
import { resolveV20Shape } from '../format/v20-shape.js';
import { planPlacedValues, rowRuns, type PageRequest, type PlanStep, type V20Buffers } from './plan-steps.js';

/** The first step of reading a 2.0 page. */
export function planV20Page(request: PageRequest, encoding: ArrayEncodingProto): PlanStep {
  const { page, rows, slots, where } = request;
  const shape = resolveV20Shape(encoding, page, where, request.arrowDictionary ?? false);
  const runs = rowRuns(rows);
  const finish = (buffers: Omit<V20Buffers, 'runs'>): PlanStep => ({
    done: true,
    task: { kind: 'v2.0', where, shape, rows, slots, buffers: { ...buffers, runs } },
  });
  const within = (range: ByteRange, offset: number, size: number, what: string): ByteRange => {
    if (offset < 0 || offset + size > range.size) {
      throw new CorruptFileError(
        `${where}: ${what} bytes ${offset}..${offset + size} are outside the ${range.size}-byte buffer`,
      );
    }
    return { offset: range.offset + offset, size };
  };
  switch (shape.kind) {
    case 'allnull':
      return finish({});
    case 'fixed': {
      const w = shape.bitWidth;
      const out = request.output;
      if (!shape.validity && !shape.itemValidity && w % 8 === 0 && out?.kind === 'fixed' && out.byteWidth === w / 8) {
        within(shape.values, 0, (page.numRows * w) / 8, 'values');
        return planPlacedValues(request, shape.values.offset, w / 8, out);
      }
      const valueRanges = runs.map(({ first, last }) =>
        w === 1
          ? within(shape.values, first >>> 3, (last >>> 3) - (first >>> 3) + 1, 'bool values')
          : within(shape.values, (first * w) / 8, ((last + 1 - first) * w) / 8, 'values'),
      );
      const validity = shape.validity;
      const validityRanges = validity
        ? runs.map(({ first, last }) => within(validity, first >>> 3, (last >>> 3) - (first >>> 3) + 1, 'validity'))
        : [];
      const items = shape.itemValidity;
      const itemRanges = items
        ? runs.map(({ first, last }) => {
            const from = Math.floor((first * items.perValue) / 8);
            const to = Math.floor(((last + 1) * items.perValue - 1) / 8);
            return within(items.range, from, to - from + 1, 'item validity');
          })
        : [];
      const n = runs.length;
      return {
        done: false,
        ranges: [...valueRanges, ...validityRanges, ...itemRanges],
        next: (views) =>
          finish({
            values: views.slice(0, n),
            ...(validity ? { validity: views.slice(n, 2 * n) } : {}),
            ...(items ? { itemValidity: views.slice(views.length - n) } : {}),
          }),
      };
    }
    case 'binary': {
      const b = shape.binary;
      const indexRanges = runs.map(({ first, last }) =>
        first > 0
          ? within(b.indices, (first - 1) * 8, (last - first + 2) * 8, 'binary offsets')
          : within(b.indices, 0, (last + 1) * 8, 'binary offsets'),
      );
      if (b.compression) {
        return {
          done: false,
          ranges: [...indexRanges, b.bytes],
          next: (views) =>
            finish({ indices: views.slice(0, runs.length), wholeBytes: views[runs.length] as Uint8Array }),
        };
      }
      return {
        done: false,
        ranges: indexRanges,
        next: (indexViews) => {
          const adjust = (v: number) => (v >= b.nullAdjustment ? v - b.nullAdjustment : v);
          const byteRanges = indexViews.map((view, k) => {
            const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
            const first = (runs[k] as { first: number }).first;
            const start = first > 0 ? adjust(Number(dv.getBigUint64(0, true))) : 0;
            const end = adjust(Number(dv.getBigUint64(view.length - 8, true)));
            if (end < start) throw new CorruptFileError(`${where}: binary offsets go backwards (${start} then ${end})`);
            return within(b.bytes, start, end - start, 'binary values');
          });
          return { done: false, ranges: byteRanges, next: (views) => finish({ indices: indexViews, bytes: views }) };
        },
      };
    }
    case 'dictionary': {
      const w = shape.indexBits / 8;
      const indexRanges = runs.map(({ first, last }) =>
        within(shape.indices, first * w, (last + 1 - first) * w, 'dictionary indices'),
      );
      return {
        done: false,
        ranges: [...indexRanges, shape.items.indices, shape.items.bytes],
        next: (views) =>
          finish({
            indices: views.slice(0, runs.length),
            wholeItemIndices: views[runs.length] as Uint8Array,
            wholeBytes: views[runs.length + 1] as Uint8Array,
          }),
      };
    }
  }
}

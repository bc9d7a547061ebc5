/**
 * Planning: which bytes a read of some rows of one page needs, as a short sequence of steps. Each step
 * lists byte ranges; given their bytes (one view per range) it yields the next step or the finished
 * {@link DecodeTask}. Steps are pure (no I/O), so the caller can merge the ranges of many pages and
 * columns into few large reads before running any of them.
 *
 *   mini-block:        [chunk table, dictionary]ᵒⁿᶜᵉ → [touched chunks]        → task
 *   full-zip fixed:    [row runs at row × stride]                              → task
 *                      (no control words, output known: read into the output's slots → 'placed')
 *   full-zip variable: [repetition-index entries of the runs] → [row runs]     → task
 *                      (within the budget: [whole index]ᵒⁿᶜᵉ, kept parsed; then [row runs] only)
 *   constant/all-null: (nothing to read)                                       → task
 *   2.0 tree:          see v20-plan.ts
 *
 * Page indexes (chunk tables, dictionaries) are cached per page, so later takes skip the first step.
 *
 * Decoded small pages: a shuffled read of a small column (ids, labels, short strings, tiny images) reads
 * and decodes a whole mini-block chunk (thousands of values) per row it wants in 2.1, and issues a tiny
 * read per row in 2.0. With a byte budget (PageCache.budget), the first read of such a page reads and
 * decodes the whole page once instead, keeps the values, and every later read of the page copies straight
 * from them with no I/O ('cached' task). Small pages are fixed-width mini-block pages, 2.0 pages of values
 * at most SMALL_VALUE_BYTES wide, and variable-width mini-block and 2.0 pages of at most
 * SMALL_VARIABLE_ROW_BYTES stored bytes a row, and fixed-width constant pages with definition levels
 * (2.2). Pages are kept first come, first served until the budget is spent; nothing is evicted. The same
 * budget keeps the parsed repetition indexes of variable-width full-zip pages (8 bytes a row), which takes
 * a read of such a page from two dependent rounds of reads to one.
 *
 *   small page, kept:       the page's steps for every row → decode all, keep → task
 *   decoded page kept:      (nothing to read)                                 → task
 *   page being kept:        wait for that load (waitFor) → plan again        → task
 *
 * A page chosen to be kept is charged to the budget before its bytes are read (PageLoad), so that
 * concurrent reads (a worker's lanes, overlapping takes) cannot count on the same bytes, and it is
 * registered as loading: another read of the page waits for it instead of reading and charging it a
 * second time. If the read fails (the runner calls the step's `abandon`) or the decode throws, the charge
 * is refunded and the page is left unkept; whoever waited plans again. A variable-width page's size is
 * known only once decoded: it is charged its stored size, and settled at the decoded size, or dropped
 * (and never tried again) when that no longer fits.
 */
import { CorruptFileError, InternalError } from '../errors.js';
import type { ByteRange, PageInfo } from '../format/file-metadata.js';
import {
  controlWordBytes,
  fixedValueBytes,
  parseRepetitionIndex,
  variableCodecKind,
} from '../format/fullzip-layout.js';
import {
  chunkWordBytes,
  parseChunkTable,
  parseMiniBlockRepIndex,
  type ChunkTable,
  type MiniBlockRepIndex,
} from '../format/miniblock-layout.js';
import { checkPageSupported } from '../format/page-support.js';
import { constantBuffers } from '../format/layout.js';
import { pageLevels, type LayerKind, type PageLevels } from '../format/repdef.js';
import type { ConstantLayoutProto, FullZipLayoutProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import {
  done,
  pageBuffer,
  planPlacedValues,
  rowRuns,
  type DecodeTask,
  type KeepFlight,
  type KeptValues,
  type MiniBlockChunkBytes,
  type PageRequest,
  type PlanStep,
  type RowRun,
  type RowSpan,
} from './plan-steps.js';
import { planConstantNested, planNestedChunks } from './nested-plan.js';
import { planV20Page } from './v20-plan.js';

/** Bytes of decoded pages that may still be kept; one budget may be shared by the caches of many files. */
export interface DecodedPageBudget {
  bytesLeft: number;
}

/** Per-page state loaded by a first read and reused by later reads of the same page. */
export interface PageCache {
  /** Chunk tables, dictionaries and repetition indexes of mini-block pages. */
  miniblock: WeakMap<PageInfo, MiniBlockIndexes>;
  /** Whole decoded small pages, within `budget`. */
  decoded: WeakMap<PageInfo, KeptValues>;
  /** Whole parsed repetition indexes of variable-width full-zip pages, within `budget`. */
  repetition: WeakMap<PageInfo, Float64Array>;
  /** Pages being read whole to be kept: a second read of one waits for the first instead of reading it too. */
  loading: WeakMap<PageInfo, KeepFlight>;
  /** Variable-width pages that decoded larger than the budget had left: read by rows from then on. */
  tooLarge: WeakSet<PageInfo>;
  budget: DecodedPageBudget;
  /** Decodes a page kept whole: the planner plans, the decoders (which io does not import) decode. */
  decodePage: DecodePage;
}

/** What the first read of a mini-block page loads: its chunk table, dictionary and repetition index. */
interface MiniBlockIndexes {
  table: ChunkTable;
  dictionary: Uint8Array | null;
  repIndex: MiniBlockRepIndex | null;
  /** A nested column's page: its levels against the column's layers (checked once, when the page is first read). */
  levels: PageLevels | undefined;
}

/**
 * Decodes a task over all `numRows` rows of a page into values to keep: fixed-width values of `byteWidth`
 * bytes, or variable-width values when `byteWidth` is undefined.
 */
export type DecodePage = (
  task: DecodeTask,
  numRows: number,
  nullable: boolean,
  byteWidth: number | undefined,
) => KeptValues;

/** A page cache; `budget` (default none) lets it keep decoded small pages, decoded by `decodePage`. */
export function createPageCache(decodePage: DecodePage, budget: DecodedPageBudget = { bytesLeft: 0 }): PageCache {
  return {
    miniblock: new WeakMap(),
    decoded: new WeakMap(),
    repetition: new WeakMap(),
    loading: new WeakMap(),
    tooLarge: new WeakSet(),
    budget,
    decodePage,
  };
}

/**
 * Widest values of a 2.0 page worth keeping decoded (2.0 stores every column in plain pages), and the
 * widest the loader's workers decode whole when the loader is created (WorkerDataset.keepSmallColumns).
 */
export const SMALL_VALUE_BYTES = 64;

/**
 * Most stored bytes per row (all the page's buffers over its rows) of a variable-width mini-block or 2.0
 * page worth keeping decoded. A shuffled read of such a page reads a whole mini-block chunk (2.1) or
 * sector (O_DIRECT) per row it wants, many times the value's size; larger values fill a chunk or sector
 * by themselves, so keeping them would spend the budget where reads waste little.
 */
export const SMALL_VARIABLE_ROW_BYTES = 256;

/**
 * A page some read is loading to keep: `charged` bytes of the budget are held for it from the moment it
 * is chosen (so two pages cannot both count on the same bytes) until it is kept or given up.
 */
class PageLoad implements KeepFlight {
  settled = false;
  readonly promise: Promise<void>;
  private resolve!: () => void;

  constructor(
    private readonly cache: PageCache,
    private readonly page: PageInfo,
    private readonly charged: number,
  ) {
    this.promise = new Promise((resolve) => (this.resolve = resolve));
    cache.budget.bytesLeft -= charged;
    cache.loading.set(page, this);
  }

  /**
   * Settles the charge at the `bytes` actually kept: true when they fit, false when they did not (the
   * charge is refunded and the caller keeps nothing).
   */
  land(bytes: number): boolean {
    if (this.settled) return false;
    const fits = bytes - this.charged <= this.cache.budget.bytesLeft;
    this.cache.budget.bytesLeft -= fits ? bytes - this.charged : -this.charged;
    this.finish();
    return fits;
  }

  /** Gives up (the read or decode failed, or will never run): refunds the charge. Idempotent. */
  abandon(): void {
    if (this.settled) return;
    this.cache.budget.bytesLeft += this.charged;
    this.finish();
  }

  private finish(): void {
    this.settled = true;
    this.cache.loading.delete(this.page);
    this.resolve();
  }
}

/** `step` and the steps after it, giving up `load` if one throws or is abandoned before it settles. */
function loadingSteps(step: PlanStep, load: PageLoad): PlanStep {
  if (step.done || load.settled) return step;
  return {
    ...step,
    abandon: () => {
      load.abandon();
      step.abandon?.();
    },
    next: (views) => {
      try {
        return loadingSteps(step.next(views), load);
      } catch (error) {
        load.abandon();
        throw error;
      }
    },
  };
}

/**
 * Bytes that keeping `request`'s whole page decoded would take (an estimate for variable width), or
 * undefined when the page is not worth keeping.
 */
function keptBytesOf(request: PageRequest, cache: PageCache): number | undefined {
  const { page } = request;
  const kind = page.layout.kind;
  if (request.nested) return undefined;
  const validity = request.nullable ? page.numRows : 0;
  const width = request.fixedWidth;
  // A constant page with buffers (2.2 definition levels) would otherwise read all of its levels per read.
  const constantWithLevels = kind === 'constant' && page.buffers.length > 0;
  if (width !== undefined)
    return kind === 'miniblock' || constantWithLevels || (kind === 'v2.0' && width <= SMALL_VALUE_BYTES)
      ? page.numRows * width + validity
      : undefined;
  if (!request.variableWidth || (kind !== 'miniblock' && kind !== 'v2.0') || cache.tooLarge.has(page)) return undefined;
  let stored = 0;
  for (const buffer of page.buffers) stored += buffer.size;
  if (stored > page.numRows * SMALL_VARIABLE_ROW_BYTES) return undefined;
  // Stored bytes are what uncompressed values decode to; the decoded size settles the charge (PageLoad.land).
  return stored + (page.numRows + 1) * Float64Array.BYTES_PER_ELEMENT + validity;
}

/** Bytes that kept values take. */
function keptSize(kept: KeptValues): number {
  const validity = kept.validity?.byteLength ?? 0;
  return kept.kind === 'fixed'
    ? kept.values.byteLength + validity + (kept.itemValidity?.bytes.byteLength ?? 0)
    : kept.data.byteLength + kept.offsets.byteLength + validity;
}

/** The first step of reading `request`. */
export function planPage(request: PageRequest, cache: PageCache): PlanStep {
  const { page } = request;
  const decoded = cache.decoded.get(page);
  if (decoded) return done(cachedTask(request, decoded));
  const loading = cache.loading.get(page);
  // Another read is loading the page to keep it: wait for it, then plan again (kept, or given up).
  if (loading) return { done: false, ranges: [], waitFor: loading, next: () => planPage(request, cache) };
  const keptBytes = keptBytesOf(request, cache);
  if (keptBytes === undefined || keptBytes > cache.budget.bytesLeft) return planLayout(request, cache);
  // Keep the page: read and decode every row once, then serve this and later requests from memory.
  const load = new PageLoad(cache, page, keptBytes);
  const all = new Uint32Array(page.numRows);
  for (let i = 0; i < all.length; i++) all[i] = i;
  const whole = { ...request, rows: all, slots: all, output: undefined };
  const steps = afterTask(planLayout(whole, cache), (task) => {
    const kept = cache.decodePage(task, page.numRows, request.nullable === true, request.fixedWidth);
    if (load.land(keptSize(kept))) cache.decoded.set(page, kept);
    else cache.tooLarge.add(page);
    return done(cachedTask(request, kept));
  });
  return loadingSteps(steps, load);
}

/** `step`, with its final decode task replaced by what `then` makes of it. */
function afterTask(step: PlanStep, then: (task: DecodeTask) => PlanStep): PlanStep {
  if (step.done) return then(step.task);
  return { ...step, next: (views) => afterTask(step.next(views), then) };
}

function cachedTask(request: PageRequest, kept: KeptValues): DecodeTask {
  return { kind: 'cached', where: request.where, rows: request.rows, slots: request.slots, kept };
}

/** The first step of reading `request` from the file, by the page's layout. */
function planLayout(request: PageRequest, cache: PageCache): PlanStep {
  const { page, where } = request;
  const layout = page.layout;
  // Leaves of nested fields are checked as their levels are read (format/repdef.ts pageLevels).
  if (layout.kind !== 'v2.0' && !request.nested) checkPageSupported(page, where);
  switch (layout.kind) {
    case 'miniblock':
      return planMiniBlock(request, layout.layout, cache);
    case 'fullzip':
      if (request.nested) return planFullZipNested(request, layout.layout, request.nested, cache);
      return layout.layout.details === 'bits_per_value'
        ? planFullZipFixed(request)
        : planFullZipVariable(request, cache);
    case 'constant':
      if (request.nested)
        return planConstantNested(request, layout.layout, pageLevels(layout.layout.layers, request.nested, where));
      return planConstant(request, layout.layout);
    case 'blob': {
      // A legacy blob page holds (position, size) descriptors in an inner layout; the bytes lie
      // elsewhere in the file and are read on demand (dataset.takeBlobs).
      const inner = layout.layout.blob_layout?.inner_layout?.mini_block_layout;
      if (!inner) throw new InternalError(`${where}: a blob page without descriptors passed the support check`);
      return afterTask(planMiniBlock(request, inner, cache), (task) =>
        done({ kind: 'blob-descriptors', where, slots: request.slots, descriptors: task }),
      );
    }
    case 'v2.0':
      // A struct's leaf is a plain column of the struct's rows; leaves under lists: io/v20-nested-plan.ts.
      return planV20Page(request, layout.encoding);
  }
}

/**
 * Constant and all-null pages: nothing to read, or (2.2) the value buffer of a string constant and the
 * definition levels of a constant with nulls, each read whole.
 */
function planConstant(request: PageRequest, layout: ConstantLayoutProto): PlanStep {
  const { page, rows, slots, where } = request;
  const buffers = constantBuffers(layout, page.buffers.length, where);
  const inlineValue = layout.inline_value ?? null;
  const ranges: ByteRange[] = [];
  if (buffers.value !== undefined) ranges.push(pageBuffer(page, buffers.value, where));
  const def = buffers.def === undefined ? undefined : pageBuffer(page, buffers.def, where);
  if (def && def.size > 0) ranges.push(def);
  if (ranges.length === 0) return done({ kind: 'constant', where, slots, inlineValue });
  return {
    done: false,
    ranges,
    next: (views) => {
      const task: DecodeTask = { kind: 'constant', where, slots, inlineValue };
      if (buffers.value !== undefined) task.valueBuffer = views[0];
      if (def && def.size > 0)
        task.levels = {
          bytes: views[views.length - 1] as Uint8Array,
          compression: layout.def_compression,
          numLevels: layout.num_def_values || page.numRows,
          rows,
        };
      return done(task);
    },
  };
}

/** The chunks of a mini-block page whose indexes are loaded. */
function planMiniBlockRows(request: PageRequest, layout: MiniBlockLayoutProto, entry: MiniBlockIndexes): PlanStep {
  return entry.levels
    ? planNestedChunks(request, layout, entry.table, entry.repIndex, entry.dictionary, entry.levels)
    : planMiniBlockChunks(request, layout, entry.table, entry.dictionary);
}

function planMiniBlock(request: PageRequest, layout: MiniBlockLayoutProto, cache: PageCache): PlanStep {
  const cached = cache.miniblock.get(request.page);
  // A page is read by one column: its levels, checked when its indexes were loaded, hold for every request.
  if (cached) return planMiniBlockRows(request, layout, cached);
  const { page, where, nested } = request;
  const levels = nested ? pageLevels(layout.layers, nested, where) : undefined;
  // Pages without lists hold one item per row; with lists, the repetition index places rows.
  const lists = levels !== undefined && levels.maxRep > 0;
  if (!lists && layout.num_items !== page.numRows) {
    throw new CorruptFileError(
      `${where}: mini-block layout holds ${layout.num_items} items but the page has ${page.numRows} rows`,
    );
  }
  if (lists && layout.repetition_index_depth === 0)
    throw new CorruptFileError(`${where}: a mini-block page of lists has no repetition index`);
  const meta = pageBuffer(page, 0, where);
  const data = pageBuffer(page, 1, where);
  const ranges = [meta];
  if (layout.dictionary) ranges.push(pageBuffer(page, 2, where));
  if (lists) ranges.push(pageBuffer(page, layout.dictionary ? 3 : 2, where));
  return {
    done: false,
    ranges,
    next: (views) => {
      const table = parseChunkTable(views[0] as Uint8Array, chunkWordBytes(layout), layout.num_items, data.size, where);
      const dictionary = layout.dictionary ? (views[1] as Uint8Array) : undefined;
      const repIndex = lists
        ? parseMiniBlockRepIndex(
            views[views.length - 1] as Uint8Array,
            layout.repetition_index_depth,
            table.itemStarts.length - 1,
            page.numRows,
            `${where} repetition index`,
          )
        : null;
      // Copied: the view may alias pooled read memory that is reused once this read is done.
      const entry = { table, dictionary: dictionary ? dictionary.slice() : null, repIndex, levels };
      cache.miniblock.set(page, entry);
      return planMiniBlockRows(request, layout, entry);
    },
  };
}

/**
 * A full-zip page of a nested column: rows are found as for flat pages (by the repetition index when
 * the page has one, else by stride), then decoded as level entries and values.
 */
function planFullZipNested(
  request: PageRequest,
  layout: FullZipLayoutProto,
  nested: LayerKind[],
  cache: PageCache,
): PlanStep {
  const { where } = request;
  const levels = pageLevels(layout.layers, nested, where);
  if (layout.details === 'bits_per_value') fixedValueBytes(layout, where);
  else variableCodecKind(layout.value_compression, where);
  const indexed = layout.bits_rep > 0 || layout.details === 'bits_per_offset';
  const steps = indexed ? planFullZipVariable(request, cache) : planFullZipFixed(request);
  return afterTask(steps, (task) => {
    if (task.kind !== 'fullzip') throw new CorruptFileError(`${where}: full-zip rows planned as ${task.kind}`);
    return done({ ...task, kind: 'fullzip-nested', levels });
  });
}

function planMiniBlockChunks(
  request: PageRequest,
  layout: MiniBlockLayoutProto,
  table: ChunkTable,
  dictionary: Uint8Array | null,
): PlanStep {
  const { page, rows, slots, where } = request;
  const data = pageBuffer(page, 1, where);
  const chunks: { chunk: number; from: number; to: number }[] = [];
  let chunk = 0;
  const numChunks = table.itemStarts.length - 1;
  for (let i = 0; i < rows.length;) {
    const row = rows[i] as number;
    while (chunk < numChunks && (table.itemStarts[chunk + 1] as number) <= row) chunk++;
    if (chunk >= numChunks)
      throw new CorruptFileError(`${where}: row ${row} is beyond the page's ${table.itemStarts[numChunks]} items`);
    const end = table.itemStarts[chunk + 1] as number;
    let j = i;
    while (j < rows.length && (rows[j] as number) < end) j++;
    chunks.push({ chunk, from: i, to: j });
    i = j;
  }
  const ranges = chunks.map(({ chunk: c }) => ({
    offset: data.offset + (table.byteOffsets[c] as number),
    size: (table.byteOffsets[c + 1] as number) - (table.byteOffsets[c] as number),
  }));
  return {
    done: false,
    ranges,
    next: (views) =>
      done({
        kind: 'miniblock',
        where,
        layout,
        rows,
        slots,
        dictionary,
        chunks: chunks.map(({ chunk: c, from, to }, k): MiniBlockChunkBytes => ({
          itemStart: table.itemStarts[c] as number,
          itemCount: (table.itemStarts[c + 1] as number) - (table.itemStarts[c] as number),
          from,
          to,
          bytes: views[k] as Uint8Array,
        })),
      }),
  };
}

function planFullZipFixed(request: PageRequest): PlanStep {
  const { page, rows, slots, where } = request;
  if (page.layout.kind !== 'fullzip') throw new CorruptFileError(`${where}: not a full-zip page`);
  const layout = page.layout.layout;
  const stride = controlWordBytes(layout) + fixedValueBytes(layout, where);
  const data = pageBuffer(page, 0, where);
  if (data.size < page.numRows * stride) {
    throw new CorruptFileError(
      `${where}: full-zip buffer is ${data.size} bytes, ${page.numRows} rows of ${stride} bytes need ${page.numRows * stride}`,
    );
  }
  const out = request.output;
  if (controlWordBytes(layout) === 0 && out?.kind === 'fixed' && out.byteWidth === stride)
    return planPlacedValues(request, data.offset, stride, out);
  const runs = rowRuns(rows);
  const ranges = runs.map(({ first, last }) => ({
    offset: data.offset + first * stride,
    size: (last + 1 - first) * stride,
  }));
  return {
    done: false,
    ranges,
    next: (views) => done({ kind: 'fullzip', where, layout, rows, slots, spans: spansOf(runs, views, null) }),
  };
}

function spansOf(
  runs: RowRun[],
  views: Uint8Array[],
  indexes: Float64Array[] | null,
): (RowSpan & { from: number; to: number })[] {
  return runs.map(({ from, to, first, last }, k) => {
    const span: RowSpan & { from: number; to: number } = {
      firstRow: first,
      endRow: last + 1,
      bytes: views[k] as Uint8Array,
      from,
      to,
    };
    if (indexes) span.index = indexes[k] as Float64Array;
    return span;
  });
}

/**
 * Variable-width full-zip rows: their repetition-index entries first, then the bytes between them. With
 * room in the budget, the first read of a page reads its whole index once and keeps it parsed (8 bytes
 * per row), so every later read of the page is one round: a shuffled batch would otherwise wait for one
 * small index read per page before reading any value.
 */
function planFullZipVariable(request: PageRequest, cache: PageCache): PlanStep {
  const { page, rows, where } = request;
  if (page.layout.kind !== 'fullzip') throw new CorruptFileError(`${where}: not a full-zip page`);
  const layout = page.layout.layout;
  const index = pageBuffer(page, 1, where);
  const width = index.size / (page.numRows + 1);
  if (![1, 2, 4, 8].includes(width)) {
    throw new CorruptFileError(
      `${where}: repetition index of ${index.size} bytes does not hold ${page.numRows + 1} entries of 1, 2, 4 or 8 bytes`,
    );
  }
  const runs = rowRuns(rows);
  const kept = cache.repetition.get(page);
  if (kept)
    return planZippedRuns(
      request,
      layout,
      runs,
      runs.map(({ first, last }) => kept.subarray(first, last + 2)),
    );
  const keptBytes = (page.numRows + 1) * Float64Array.BYTES_PER_ELEMENT;
  if (keptBytes <= cache.budget.bytesLeft) {
    const load = new PageLoad(cache, page, keptBytes);
    return loadingSteps(
      {
        done: false,
        ranges: [index],
        next: ([view]) => {
          const entries = parseRepetitionIndex(
            view as Uint8Array,
            width,
            page.numRows + 1,
            `${where} repetition index`,
          );
          if (load.land(entries.byteLength)) cache.repetition.set(page, entries);
          return planZippedRuns(
            request,
            layout,
            runs,
            runs.map(({ first, last }) => entries.subarray(first, last + 2)),
          );
        },
      },
      load,
    );
  }
  const indexRanges = runs.map(({ first, last }) => ({
    offset: index.offset + first * width,
    size: (last + 2 - first) * width,
  }));
  return {
    done: false,
    ranges: indexRanges,
    next: (indexViews) =>
      planZippedRuns(
        request,
        layout,
        runs,
        indexViews.map((view, k) => parseRepetitionIndex(view, width, view.length / width, `${where} run ${k}`)),
      ),
  };
}

/** Reads each run's zipped bytes, from its first row's index entry to the entry after its last row. */
function planZippedRuns(
  request: PageRequest,
  layout: FullZipLayoutProto,
  runs: RowRun[],
  indexes: Float64Array[],
): PlanStep {
  const { page, rows, slots, where } = request;
  const data = pageBuffer(page, 0, where);
  const ranges = indexes.map((entries) => {
    const start = entries[0] as number;
    const end = entries[entries.length - 1] as number;
    if (end > data.size)
      throw new CorruptFileError(`${where}: repetition index points at byte ${end} of a ${data.size}-byte buffer`);
    return { offset: data.offset + start, size: end - start };
  });
  return {
    done: false,
    ranges,
    next: (views) => done({ kind: 'fullzip', where, layout, rows, slots, spans: spansOf(runs, views, indexes) }),
  };
}

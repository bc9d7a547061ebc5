/**
 * The steps of read planning, shared by both planners (io/plan.ts for 2.1+ layouts, io/v20-plan.ts for
 * 2.0) and by whoever runs them: a {@link PageRequest} becomes {@link PlanStep}s, each listing byte ranges,
 * until the last yields a {@link DecodeTask}, plain data that decode-workers/encodings runs.
 */
import { CorruptFileError } from '../errors.js';
import type { ByteRange, ColumnInfo, PageInfo } from '../format/file-metadata.js';
import type { CompressiveEncodingProto, FullZipLayoutProto, MiniBlockLayoutProto } from '../format/proto/messages.js';
import type { LayerKind, PageLevels } from '../format/repdef.js';
import type { V20Shape } from '../format/v20-shape.js';

/** Where fixed-width values of a column go: slot i at i × byteWidth of `values`. */
export interface FixedPlacement {
  kind: 'fixed';
  byteWidth: number;
  values: Uint8Array;
}

/**
 * Validity of the items of fixed_size_list values with null items: one byte per item (1 = valid),
 * `perValue` items per value, value i's at i × perValue of `bytes`.
 */
export interface ItemValidity {
  perValue: number;
  bytes: Uint8Array;
}

/**
 * Values of a whole page kept decoded, `validity` one byte per row (1 = valid): fixed-width row i at
 * i × byteWidth of `values`; variable-width row i is `data[offsets[i], offsets[i + 1])`.
 */
export type KeptValues =
  | {
      kind: 'fixed';
      values: Uint8Array;
      byteWidth: number;
      validity: Uint8Array | null;
      itemValidity?: ItemValidity;
    }
  | { kind: 'variable'; offsets: Float64Array; data: Uint8Array; validity: Uint8Array | null };

/**
 * A page that one read is loading to keep (io/plan.ts): other reads of the page wait until it has
 * settled (kept, or given up and its budget refunded), then plan again.
 */
export interface KeepFlight {
  settled: boolean;
  promise: Promise<void>;
}

/** Rows of one page to read: page-relative rows, ascending (duplicates allowed), and each row's output slot. */
export interface PageRequest {
  page: PageInfo;
  rows: Uint32Array;
  slots: Uint32Array;
  /** File, column and page, for error messages. */
  where: string;
  /** The field is an Arrow dictionary (2.0 stores those with nulls among the items). */
  arrowDictionary?: boolean;
  /** Bytes per value when the column's output is fixed-width (such mini-block pages may be kept decoded). */
  fixedWidth?: number;
  /** The column's output is variable-width (strings, binaries): pages of small values may be kept decoded. */
  variableWidth?: boolean;
  nullable?: boolean;
  /** The output the rows go to, when known while planning: fixed-width values may then be read into place. */
  output?: FixedPlacement | { kind: 'variable' } | { kind: 'nested' };
  /** A leaf of a nested field: its layers, leaf outwards (rows then read as level entries and values). */
  nested?: LayerKind[];
}

/**
 * A step: ranges to read, then `next` with one view per range. With `into`, each range's bytes are final
 * values and go straight to their place in the output (`into[k]`, the same length as range k); `next` then
 * gets those places as its views. With `waitFor` (and no ranges), `next` runs once that page load has
 * settled. `abandon`, when present, must be called if the step will never run (a read failed): it gives
 * back what the step holds (a kept page's budget) and lets waiting reads go on.
 */
export type PlanStep =
  | {
      done: false;
      ranges: ByteRange[];
      into?: Uint8Array[];
      waitFor?: KeepFlight;
      abandon?: () => void;
      next: (views: Uint8Array[]) => PlanStep;
    }
  | { done: true; task: DecodeTask };

/** A run of consecutive page rows: entries [from, to) of a task's rows, covering rows first..last. */
export interface RowRun {
  from: number;
  to: number;
  first: number;
  last: number;
}

/** One mini-block chunk's bytes and the entries [from, to) of the task's rows that fall in it. */
export interface MiniBlockChunkBytes {
  itemStart: number;
  itemCount: number;
  from: number;
  to: number;
  bytes: Uint8Array;
}

/** Consecutive mini-block chunks of a nested page read together, and the requested rows they hold. */
export interface NestedChunkGroup {
  /** Page row that starts first in the first chunk (after any preamble, items of an earlier row). */
  firstRow: number;
  /** Per chunk: its bytes, its item count and how many rows start in it. */
  chunks: { bytes: Uint8Array; itemCount: number; rowStarts: number }[];
  /** Entries [from, to) of the task's rows. */
  from: number;
  to: number;
}

/** Numbers per group in a 'miniblock-nested' task's `groups`: first row, from, to, chunk count. */
export const GROUP_FIELDS = 4;
/** Numbers per chunk in a 'miniblock-nested' task's `chunks`: byte start, byte end, item count, row starts. */
export const CHUNK_FIELDS = 4;

/**
 * A 'miniblock-nested' task's groups as objects, each chunk a view of its bytes: for the general paths,
 * which decode chunk by chunk. The list paths read the task's numbers directly.
 */
export function chunkGroupsOf(task: DecodeTask & { kind: 'miniblock-nested' }): NestedChunkGroup[] {
  const { views, groups, chunks } = task;
  const result: NestedChunkGroup[] = [];
  let c = 0;
  for (let g = 0; g < views.length; g++) {
    const view = views[g] as Uint8Array;
    const at = GROUP_FIELDS * g;
    const group: NestedChunkGroup = {
      firstRow: groups[at] as number,
      from: groups[at + 1] as number,
      to: groups[at + 2] as number,
      chunks: [],
    };
    for (let end = c + (groups[at + 3] as number); c < end; c++) {
      const info = CHUNK_FIELDS * c;
      group.chunks.push({
        bytes: view.subarray(chunks[info] as number, chunks[info + 1] as number),
        itemCount: chunks[info + 2] as number,
        rowStarts: chunks[info + 3] as number,
      });
    }
    result.push(group);
  }
  return result;
}

/**
 * One 2.0 list level of a read (io/v20-nested-plan.ts): per row of the level, where its items start among
 * the next level's rows, how many there are, and whether the list is null.
 */
export interface V20ListLevel {
  position: Float64Array;
  count: Float64Array;
  nulls: Uint8Array;
}

export type DecodeTask =
  | {
      /** Rows of a 2.0 leaf under lists: the list levels read, then the leaf's items as flat tasks. */
      kind: 'v2.0-nested';
      where: string;
      /** The columns above the leaf, outermost first. */
      path: ('list' | 'struct')[];
      levels: V20ListLevel[];
      /** Per requested row (in `slots` order), its row among the first level's distinct rows. */
      rowIndex: Uint32Array;
      slots: Uint32Array;
      /** Items of the leaf read; the leaf tasks write item i into slot i of a scratch output. */
      itemCount: number;
      leafTasks: DecodeTask[];
    }
  | {
      /** Rows of a mini-block page of a nested column, as level entries and values. */
      kind: 'miniblock-nested';
      where: string;
      layout: MiniBlockLayoutProto;
      levels: PageLevels;
      rows: Uint32Array;
      slots: Uint32Array;
      dictionary: Uint8Array | null;
      /**
       * The chunks read, in groups of consecutive chunks read together, as numbers (no object per row
       * or chunk): `views[g]` holds group g's chunks back to back; `groups` has GROUP_FIELDS numbers per
       * group (the page row starting first in its first chunk, entries [from, to) of `rows`, its chunk
       * count) and `chunks` CHUNK_FIELDS per chunk, the groups' chunks one after another (byte start and
       * end in its group's view, item count, rows starting in it). chunkGroupsOf gives them as objects.
       */
      views: Uint8Array[];
      groups: number[];
      chunks: number[];
    }
  | {
      /** Rows of a full-zip page of a nested column. */
      kind: 'fullzip-nested';
      where: string;
      layout: FullZipLayoutProto;
      levels: PageLevels;
      rows: Uint32Array;
      slots: Uint32Array;
      spans: (RowSpan & { from: number; to: number })[];
    }
  | {
      /**
       * Rows of a constant or all-null page of a nested column: its levels (whole page buffers, null when
       * absent; u16 each, or compressed as one block by `repCompression`/`defCompression` into `numRep`/
       * `numDef` levels) and the value of every valid entry (inline, or in a 2.2 `valueBuffer`; none:
       * all null).
       */
      kind: 'constant-nested';
      where: string;
      levels: PageLevels;
      rows: Uint32Array;
      slots: Uint32Array;
      numRows: number;
      rep: Uint8Array | null;
      def: Uint8Array | null;
      repCompression: CompressiveEncodingProto | undefined;
      defCompression: CompressiveEncodingProto | undefined;
      numRep: number;
      numDef: number;
      inlineValue: Uint8Array | null;
      valueBuffer?: Uint8Array;
    }
  | {
      kind: 'miniblock';
      where: string;
      layout: MiniBlockLayoutProto;
      rows: Uint32Array;
      slots: Uint32Array;
      dictionary: Uint8Array | null;
      chunks: MiniBlockChunkBytes[];
    }
  | {
      kind: 'fullzip';
      where: string;
      layout: FullZipLayoutProto;
      rows: Uint32Array;
      slots: Uint32Array;
      spans: (RowSpan & { from: number; to: number })[];
    }
  | {
      /**
       * A constant page, or an all-null one (no value). The value is inline, or in `valueBuffer` (2.2
       * strings and binaries); `levels` holds the whole page's definition levels when some rows are null
       * (2.2), and `rows` the page rows of `slots` they are looked up for.
       */
      kind: 'constant';
      where: string;
      slots: Uint32Array;
      inlineValue: Uint8Array | null;
      valueBuffer?: Uint8Array;
      levels?: {
        bytes: Uint8Array;
        compression: CompressiveEncodingProto | undefined;
        numLevels: number;
        rows: Uint32Array;
      };
    }
  /**
   * Legacy blob descriptors (position u64, size u64 per slot) decoded by `descriptors`; a null blob is
   * stored as size 0 with a nonzero position (lance-encoding logical/blob.rs).
   */
  | { kind: 'blob-descriptors'; where: string; slots: Uint32Array; descriptors: DecodeTask }
  /** Values already read into their slots (io/plan.ts planPlacedValues): nothing left to decode. */
  | { kind: 'placed'; where: string; slots: Uint32Array }
  | {
      /** Rows of a page kept decoded (io/plan.ts): value `rows[i]` of `kept` goes to slot `slots[i]`. */
      kind: 'cached';
      where: string;
      rows: Uint32Array;
      slots: Uint32Array;
      kept: KeptValues;
    }
  | {
      kind: 'v2.0';
      where: string;
      shape: V20Shape;
      rows: Uint32Array;
      slots: Uint32Array;
      buffers: V20Buffers;
    };

/** A contiguous span of page rows [firstRow, endRow) that was read, with its bytes. */
export interface RowSpan {
  firstRow: number;
  endRow: number;
  bytes: Uint8Array;
  /** Variable width only: endRow - firstRow + 1 repetition-index entries (offsets into buffer 0). */
  index?: Float64Array;
}

/** Page-relative views read for a task (see io/v20-plan.ts for what each holds). */
export interface V20Buffers {
  /** fixed: per run of rows, the values bytes of the run. */
  values?: Uint8Array[];
  /** fixed with validity: per run, the validity bitmap bytes covering the run (from byte floor(first/8)). */
  validity?: Uint8Array[];
  /** fixed with null items: per run, the item bitmap bytes covering the run (from byte floor(first × perValue / 8)). */
  itemValidity?: Uint8Array[];
  /** binary/dictionary: per run, u64 end offsets of rows first-1 (when first > 0) .. last. */
  indices?: Uint8Array[];
  /** binary: per run, the bytes between the run's first start and last end (uncompressed buffers only). */
  bytes?: Uint8Array[];
  /** binary with a compressed bytes buffer, or dictionary items: whole buffers. */
  wholeBytes?: Uint8Array;
  wholeItemIndices?: Uint8Array;
  /** The runs of consecutive rows the per-run views above cover. */
  runs: RowRun[];
}

export const done = (task: DecodeTask): PlanStep => ({ done: true, task });

/** Buffer `index` of a page, or a CorruptFileError naming the page. */
export function pageBuffer(page: PageInfo, index: number, where: string): ByteRange {
  const buffer = page.buffers[index];
  if (!buffer)
    throw new CorruptFileError(`${where}: page has ${page.buffers.length} buffers, buffer ${index} is missing`);
  return buffer;
}

/** Splits ascending rows (duplicates allowed) into runs of consecutive rows. */
export function rowRuns(rows: Uint32Array): RowRun[] {
  const runs: RowRun[] = [];
  let from = 0;
  for (let i = 1; i <= rows.length; i++) {
    if (i === rows.length || (rows[i] as number) > (rows[i - 1] as number) + 1) {
      if (i > from) runs.push({ from, to: i, first: rows[from] as number, last: rows[i - 1] as number });
      from = i;
    }
  }
  return runs;
}

/**
 * Values stored as the output's bytes, `width` bytes per row from `dataOffset` (full-zip fixed values
 * without control words; 2.0 plain values without validity): each run of rows that are consecutive in the
 * file and in the output is read straight into its place (no copy after the read). The caller checks
 * that the page's buffer holds every row.
 */
export function planPlacedValues(
  request: PageRequest,
  dataOffset: number,
  width: number,
  out: FixedPlacement,
): PlanStep {
  const { rows, slots, where } = request;
  const ranges: ByteRange[] = [];
  const into: Uint8Array[] = [];
  for (let i = 0; i < rows.length;) {
    let j = i + 1;
    while (j < rows.length && rows[j] === (rows[j - 1] as number) + 1 && slots[j] === (slots[j - 1] as number) + 1) j++;
    const slot = slots[i] as number;
    ranges.push({ offset: dataOffset + (rows[i] as number) * width, size: (j - i) * width });
    into.push(out.values.subarray(slot * width, (slot + j - i) * width));
    i = j;
  }
  return { done: false, ranges, into, next: () => done({ kind: 'placed', where, slots }) };
}

/**
 * Splits ascending rows (duplicates allowed) of a column by page: each page's rows, page-relative, and
 * the entries [from, to) of `rows` they are. A row past the column's pages is a CorruptFileError.
 */
export function splitRowsByPage(
  column: ColumnInfo,
  rows: Uint32Array,
  where: string,
): { page: PageInfo; rows: Uint32Array; from: number; to: number }[] {
  const out: { page: PageInfo; rows: Uint32Array; from: number; to: number }[] = [];
  let p = 0;
  for (let i = 0; i < rows.length;) {
    const row = rows[i] as number;
    while (p < column.pages.length) {
      const page = column.pages[p] as PageInfo;
      if (row < page.rowStart + page.numRows) break;
      p++;
    }
    const page = column.pages[p];
    if (!page) {
      const last = column.pages[column.pages.length - 1];
      const covered = last ? last.rowStart + last.numRows : 0;
      throw new CorruptFileError(
        `${where}: row ${row} is past the last page (the column's ${column.pages.length} pages hold ${covered} rows)`,
        { row, rowsInPages: covered },
      );
    }
    const end = page.rowStart + page.numRows;
    let j = i;
    while (j < rows.length && (rows[j] as number) < end) j++;
    const pageRows = new Uint32Array(j - i);
    for (let k = i; k < j; k++) pageRows[k - i] = (rows[k] as number) - page.rowStart;
    out.push({ page, rows: pageRows, from: i, to: j });
    i = j;
  }
  return out;
}

/**
 * A page of a nested leaf (a column under lists and structs): the top-level Arrow data of successive
 * batches → one repetition and definition level per entry and the values of the entries that have a
 * value slot, as LanceDB's RepDefBuilder makes them (format/repdef.ts documents the numbering):
 *
 *   list<list<int32>> rows [[1, 2], []], null, [[3]]
 *     entry   1    2    []   null   3
 *     rep     2    0    1    2      2        (2 starts a row, 1 a new inner list, 0 continues)
 *     def     0    0    e    n      0        (per-page numbers from the leaf outwards, null before empty)
 *     value   1    2    -    -      3        (null and empty lists, and anything under them, have none)
 *
 * A layer is nullable (or emptyable) in a page when some node of it is null (or an empty list) there,
 * as in LanceDB, so the page's `layers` say which levels it uses. A null item, or a null struct below
 * the innermost list, keeps its value slot (zero bytes, an empty string). Children of null lists are
 * skipped; children of null structs count for the layers' nullability, as LanceDB counts them.
 */
import type * as arrow from 'apache-arrow';
import { InternalError } from '../errors.js';
import type { RepDefLayerName } from '../format/proto/messages.js';
import { gatherBlobV2Page } from './blob.js';
import { packStructRows, packVariableRows } from './packed.js';
import type { ColumnKind, LeafColumn, PackedChild } from './schema.js';
import {
  chunkBytes,
  copyItemValidity,
  gatherPageValues,
  hasNullItems,
  rowBytes,
  type PageLevels,
  type PageValues,
} from './values.js';

function bitAt(bits: Uint8Array, index: number): number {
  return ((bits[index >> 3] as number) >> (index & 7)) & 1;
}

function isValid(data: arrow.Data, i: number): boolean {
  return data.nullCount === 0 || !data.nullBitmap || bitAt(data.nullBitmap, data.offset + i) === 1;
}

/** The Data of each layer of `leaf` in one batch's column, outermost first, the leaf's last. */
function layerData(leaf: LeafColumn, top: arrow.Data): arrow.Data[] {
  const out = [top];
  for (const index of leaf.path) {
    const child = (out[out.length - 1] as arrow.Data).children[index];
    if (!child) throw new InternalError(`column "${leaf.name}": batch data has no child ${index}`);
    out.push(child);
  }
  return out;
}

function listBounds(data: arrow.Data, i: number): [number, number] {
  const offsets = data.valueOffsets as Int32Array;
  return [offsets[i] as number, offsets[i + 1] as number];
}

/** A typed array that grows as values are pushed (a page's levels and value slots). */
class Growing<T extends Uint8Array | Uint16Array | Int32Array> {
  private values: T;
  length = 0;
  constructor(private readonly make: (length: number) => T) {
    this.values = make(1024);
  }
  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = this.make(this.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  done(): T {
    return this.values.subarray(0, this.length) as T;
  }
}

/** Where each layer's levels sit in the page's numbering; layers outermost first, the leaf last. */
interface Numbering {
  nullLevel: number[];
  emptyLevel: number[];
  repLevel: number[];
  innermostList: number;
  layers: RepDefLayerName[];
  maxRep: number;
  maxDef: number;
  maxVisibleDef: number;
}

/** Which layers have nulls and which lists are empty somewhere in the page's chunks. */
function layerFlags(leaf: LeafColumn, datas: arrow.Data[][]): { nulls: boolean[]; empties: boolean[] } {
  const depth = leaf.layers.length;
  const nulls = new Array<boolean>(depth + 1).fill(false);
  const empties = new Array<boolean>(depth).fill(false);
  const visit = (layers: arrow.Data[], d: number, start: number, end: number): void => {
    const data = layers[d] as arrow.Data;
    if (d === depth || leaf.layers[d] === 'struct') {
      if (!nulls[d] && data.nullCount > 0) {
        for (let i = start; i < end && !nulls[d]; i++) nulls[d] = !isValid(data, i);
      }
      if (d < depth) visit(layers, d + 1, start, end);
      return;
    }
    for (let i = start; i < end; i++) {
      if (!isValid(data, i)) nulls[d] = true;
      else {
        const [from, to] = listBounds(data, i);
        if (from === to) empties[d] = true;
        else visit(layers, d + 1, from, to);
      }
    }
  };
  for (const layers of datas) visit(layers, 0, 0, (layers[0] as arrow.Data).length);
  return { nulls, empties };
}

function numbering(leaf: LeafColumn, datas: arrow.Data[][]): Numbering {
  const depth = leaf.layers.length;
  const { nulls, empties } = layerFlags(leaf, datas);
  const nullLevel = new Array<number>(depth + 1).fill(0);
  const emptyLevel = new Array<number>(depth).fill(0);
  const repLevel = new Array<number>(depth).fill(0);
  const layers: RepDefLayerName[] = [];
  let innermostList = -1;
  leaf.layers.forEach((layer, d) => {
    if (layer === 'list') innermostList = d;
  });
  let def = 0;
  let maxVisibleDef = -1;
  if (nulls[depth]) nullLevel[depth] = ++def;
  layers.push(nulls[depth] ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM');
  for (let d = depth - 1; d >= 0; d--) {
    if (d === innermostList) maxVisibleDef = def;
    if (nulls[d]) nullLevel[d] = ++def;
    if (leaf.layers[d] === 'struct') {
      layers.push(nulls[d] ? 'REPDEF_NULLABLE_ITEM' : 'REPDEF_ALL_VALID_ITEM');
      continue;
    }
    if (empties[d]) emptyLevel[d] = ++def;
    layers.push(
      nulls[d]
        ? empties[d]
          ? 'REPDEF_NULL_AND_EMPTY_LIST'
          : 'REPDEF_NULLABLE_LIST'
        : empties[d]
          ? 'REPDEF_EMPTYABLE_LIST'
          : 'REPDEF_ALL_VALID_LIST',
    );
  }
  const lists = leaf.layers.filter((layer) => layer === 'list').length;
  let rep = lists;
  leaf.layers.forEach((layer, d) => {
    if (layer === 'list') repLevel[d] = rep--;
  });
  return {
    nullLevel,
    emptyLevel,
    repLevel,
    innermostList,
    layers,
    maxRep: lists,
    maxDef: def,
    maxVisibleDef: maxVisibleDef < 0 ? def : maxVisibleDef,
  };
}

/** The value slots of a page: per slot, its batch, its index in the leaf's data and whether it is valid. */
interface Slots {
  batch: Int32Array;
  index: Int32Array;
  valid: Uint8Array;
}

/** Bytes of one batch's leaf values (what the page size limit counts), following lists to their items. */
export function leafChunkBytes(leaf: LeafColumn, top: arrow.Data): number {
  // A packed struct's children, each as if a column of its own.
  const packedChildren = leaf.packedChildren;
  if (packedChildren) {
    return top.children.reduce((sum, child, c) => {
      const spec = packedChildren[c] as PackedChild;
      const kind: ColumnKind = spec.kind === 'fixed' ? spec : { kind: 'variable', offsetBytes: spec.lengthBytes };
      return sum + chunkBytes(kind, child);
    }, 0);
  }
  if (leaf.blob === 'v2') return chunkBytes(leaf.kind, top.children[0] as arrow.Data);
  if (leaf.layers.length === 0) return chunkBytes(leaf.kind, top);
  const layers = layerData(leaf, top);
  let start = 0;
  let end = top.length;
  leaf.layers.forEach((layer, d) => {
    if (layer === 'list' && end > start) {
      const offsets = (layers[d] as arrow.Data).valueOffsets as Int32Array;
      [start, end] = [offsets[start] as number, offsets[end] as number];
    }
  });
  const data = (layers[layers.length - 1] as arrow.Data).slice(start, end - start);
  return chunkBytes(leaf.kind, data);
}

/** Copies the values of the page's slots into the layout the page encoders take. */
function gatherSlots(leaf: LeafColumn, leaves: arrow.Data[], slots: Slots): PageValues {
  const { kind } = leaf;
  const rows = slots.index.length;
  let nullCount = 0;
  for (const valid of slots.valid) if (!valid) nullCount++;
  const validity = nullCount > 0 ? slots.valid : undefined;
  if (kind.kind === 'variable') {
    const offsets = new Float64Array(rows + 1);
    let total = 0;
    for (let s = 0; s < rows; s++) {
      if (slots.valid[s]) {
        const data = leaves[slots.batch[s] as number] as arrow.Data;
        const source = data.valueOffsets as Int32Array;
        const i = slots.index[s] as number;
        total += (source[i + 1] as number) - (source[i] as number);
      }
      offsets[s + 1] = total;
    }
    const bytes = new Uint8Array(total);
    for (let s = 0; s < rows; s++) {
      if (!slots.valid[s]) continue;
      const data = leaves[slots.batch[s] as number] as arrow.Data;
      const source = data.valueOffsets as Int32Array;
      const i = slots.index[s] as number;
      bytes.set((data.values as Uint8Array).subarray(source[i] as number, source[i + 1] as number), offsets[s]);
    }
    return { rows, nullCount, validity, bytes, offsets };
  }
  if (kind.kind === 'bool') {
    const bytes = new Uint8Array(Math.ceil(rows / 8));
    for (let s = 0; s < rows; s++) {
      const data = leaves[slots.batch[s] as number] as arrow.Data;
      if (slots.valid[s] && bitAt(data.values as Uint8Array, data.offset + (slots.index[s] as number))) {
        bytes[s >> 3] = (bytes[s >> 3] as number) | (1 << (s & 7));
      }
    }
    return { rows, nullCount, validity, bytes };
  }
  const width = rowBytes(kind);
  const bytes = new Uint8Array(rows * width);
  const sources = leaves.map((data) => {
    const view = (kind.kind === 'fsl' ? data.children[0]?.values : data.values) as ArrayBufferView;
    return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  });
  for (let s = 0; s < rows; s++) {
    if (!slots.valid[s]) continue;
    const source = sources[slots.batch[s] as number] as Uint8Array;
    const from = (slots.index[s] as number) * width;
    const to = s * width;
    for (let b = 0; b < width; b++) bytes[to + b] = source[from + b] as number;
  }
  if (kind.kind !== 'fsl' || !leaves.some(hasNullItems)) return { rows, nullCount, validity, bytes };
  const itemValidity = new Uint8Array(Math.ceil((rows * kind.dimension) / 8));
  for (let s = 0; s < rows; s++) {
    const data = leaves[slots.batch[s] as number] as arrow.Data;
    copyItemValidity(data, slots.index[s] as number, kind.dimension, itemValidity, s);
  }
  return { rows, nullCount, validity, bytes, itemValidity };
}

/** Whether the leaf is fixed-width items without nulls directly under one list (list<int32> tokens). */
function isSimpleList(leaf: LeafColumn, datas: arrow.Data[][]): boolean {
  return (
    leaf.kind.kind === 'fixed' &&
    leaf.layers.length === 1 &&
    leaf.layers[0] === 'list' &&
    datas.every((layers) => (layers[1] as arrow.Data).nullCount === 0)
  );
}

/**
 * The page of a simple list (see {@link isSimpleList}), as the general walk makes it but row by row:
 * a list's items are one entry each (rep 1 for the first, 0 after) and their values one copy; a null
 * or empty list is one entry without a value.
 */
function gatherSimpleList(leaf: LeafColumn, datas: arrow.Data[][], n: Numbering): PageValues {
  const width = rowBytes(leaf.kind);
  let entries = 0;
  let slots = 0;
  for (const [top] of datas) {
    const list = top as arrow.Data;
    for (let i = 0; i < list.length; i++) {
      const [from, to] = isValid(list, i) ? listBounds(list, i) : [0, 0];
      entries += Math.max(1, to - from);
      slots += to - from;
    }
  }
  const rep = new Uint16Array(entries);
  const def = n.maxDef > 0 ? new Uint16Array(entries) : undefined;
  const bytes = new Uint8Array(slots * width);
  let entry = 0;
  let at = 0;
  let rows = 0;
  for (const [top, items] of datas) {
    const list = top as arrow.Data;
    const view = (items as arrow.Data).values as ArrayBufferView;
    const source = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let i = 0; i < list.length; i++) {
      rep[entry] = n.maxRep;
      if (!isValid(list, i)) {
        if (def) def[entry] = n.nullLevel[0] as number;
        entry++;
        continue;
      }
      const [from, to] = listBounds(list, i);
      if (from === to) {
        if (def) def[entry] = n.emptyLevel[0] as number;
        entry++;
        continue;
      }
      entry += to - from; // rep and def of the items after the first are 0
      bytes.set(source.subarray(from * width, to * width), at);
      at += (to - from) * width;
    }
    rows += list.length;
  }
  const levels: PageLevels = { rows, layers: n.layers, maxRep: n.maxRep, maxVisibleDef: n.maxVisibleDef, rep };
  if (def) levels.def = def;
  return { rows: slots, nullCount: 0, bytes, levels };
}

/**
 * One page of `leaf` from the top-level data of successive batches: its value slots and, for a nested
 * leaf, its levels. A flat leaf's values are gathered as before (values.ts).
 */
export function gatherLeafPage(leaf: LeafColumn, chunks: readonly arrow.Data[]): PageValues {
  const packed = leaf.packed;
  if (packed)
    return gatherPageValues(
      leaf.kind,
      chunks.map((data) => packStructRows(leaf.name, data, packed)),
    );
  if (leaf.blob === 'v2') return gatherBlobV2Page(chunks);
  const packedChildren = leaf.packedChildren;
  if (packedChildren)
    return gatherPageValues(
      leaf.kind,
      chunks.map((data) => packVariableRows(leaf.name, data, packedChildren)),
    );
  if (leaf.layers.length === 0) return gatherPageValues(leaf.kind, chunks);
  const depth = leaf.layers.length;
  const datas = chunks.map((top) => layerData(leaf, top));
  const n = numbering(leaf, datas);
  if (isSimpleList(leaf, datas)) return gatherSimpleList(leaf, datas, n);
  const rep = new Growing((length) => new Uint16Array(length));
  const def = new Growing((length) => new Uint16Array(length));
  const slotBatch = new Growing((length) => new Int32Array(length));
  const slotIndex = new Growing((length) => new Int32Array(length));
  const slotValid = new Growing((length) => new Uint8Array(length));
  let batch = 0;
  let layers = datas[0] as arrow.Data[];
  const entry = (r: number, d: number): void => {
    if (n.maxRep > 0) rep.push(r);
    if (n.maxDef > 0) def.push(d);
  };
  const slot = (index: number, valid: boolean): void => {
    slotBatch.push(batch);
    slotIndex.push(index);
    slotValid.push(valid ? 1 : 0);
  };
  const visit = (d: number, i: number, r: number): void => {
    const data = layers[d] as arrow.Data;
    if (d === depth) {
      const valid = isValid(data, i);
      entry(r, valid ? 0 : (n.nullLevel[d] as number));
      slot(i, valid);
    } else if (leaf.layers[d] === 'struct') {
      if (isValid(data, i)) visit(d + 1, i, r);
      else {
        entry(r, n.nullLevel[d] as number);
        if (d > n.innermostList) slot(i, false);
      }
    } else if (!isValid(data, i)) entry(r, n.nullLevel[d] as number);
    else {
      const [from, to] = listBounds(data, i);
      if (from === to) entry(r, n.emptyLevel[d] as number);
      for (let k = from; k < to; k++) visit(d + 1, k, k === from ? r : (n.repLevel[d] as number) - 1);
    }
  };
  let rows = 0;
  for (; batch < datas.length; batch++) {
    layers = datas[batch] as arrow.Data[];
    const top = layers[0] as arrow.Data;
    for (let i = 0; i < top.length; i++) visit(0, i, n.maxRep);
    rows += top.length;
  }
  const slots = { batch: slotBatch.done(), index: slotIndex.done(), valid: slotValid.done() };
  const values = gatherSlots(
    leaf,
    datas.map((l) => l[depth] as arrow.Data),
    slots,
  );
  const levels: PageLevels = {
    rows,
    layers: n.layers,
    maxRep: n.maxRep,
    maxVisibleDef: n.maxVisibleDef,
  };
  if (n.maxRep > 0) levels.rep = rep.done();
  if (n.maxDef > 0) levels.def = def.done();
  return { ...values, levels };
}

/**
 * Level entries → Arrow-style structure: for every layer of a nested column (leaf = 0, outwards), the
 * number of elements, one validity byte per element and, for lists, offsets into the elements of the
 * layer below. One pass over the entries (lance-encoding repdef.rs unravels layer by layer; the result is
 * the same):
 *
 *   entry (rep r, def d):  layers above the list that rep r continues are untouched; below it, each layer
 *                          gets a new element, outermost first, until the layer that d says is null or an
 *                          empty list (a null struct masks the layers below it down to the first list)
 *
 *   list<list<int>> rows [[1, 2], []] and null, canonical defs (item 1, inner list 2/3, outer list 4/5):
 *     entries (r, d): (2, 0) (0, 0) (1, 3) (2, 4)
 *     outer list: offsets [0, 2, 2], validity [1, 0]      inner list: offsets [0, 2, 2], validity [1, 1]
 *     items: validity [1, 1]
 *
 * The leaf layer's elements are the visible entries, one per stored value, in order. Arrays are sized
 * by the entry count, so corrupt levels cannot make them larger than the levels that were read.
 */
import { CorruptFileError } from '../../errors.js';
import { maxCanonicalDef, type LayerKind } from '../../format/repdef.js';

export interface UnravelledLayer {
  count: number;
  /** One byte per element, 1 = valid. */
  validity: Uint8Array;
  nullCount: number;
  /** Lists: count + 1 offsets into the elements of the layer below; null for items. */
  offsets: Int32Array | null;
}

/** Unravels `levels` (rep at 2i, canonical def at 2i + 1) of `numRows` rows of a column with `layers`. */
export function unravelLevels(
  levels: Uint16Array,
  layers: readonly LayerKind[],
  numRows: number,
  where: string,
): UnravelledLayer[] {
  const n = layers.length;
  const entries = levels.length / 2;
  const listIndex: number[] = [];
  layers.forEach((kind, i) => kind === 'list' && listIndex.push(i));
  const maxRep = listIndex.length;
  const maxDef = maxCanonicalDef(layers);
  // Canonical def → the layer it stops at, and whether that is an empty list (else a null).
  const cutLayer = new Int32Array(maxDef + 1).fill(-1);
  const cutEmpty = new Uint8Array(maxDef + 1);
  for (let i = 0, d = 1; i < n; i++) {
    cutLayer[d++] = i;
    if (layers[i] === 'list') {
      cutLayer[d] = i;
      cutEmpty[d++] = 1;
    }
  }
  // One flat array per kind (layer i's elements at i × entries, list l's offsets at l × (entries + 1)) keeps
  // the per-entry loop on monomorphic typed-array accesses.
  const count = new Int32Array(n);
  const validity = new Uint8Array(n * entries);
  const listOf = new Int32Array(n).fill(-1);
  listIndex.forEach((layer, l) => (listOf[layer] = l));
  const offsets = new Int32Array(maxRep * (entries + 1));
  const stride = entries + 1;
  let rows = 0;
  for (let e = 0; e < entries; e++) {
    const rep = levels[2 * e] as number;
    const def = levels[2 * e + 1] as number;
    if (rep > maxRep || def > maxDef || (e === 0 && maxRep > 0 && rep !== maxRep)) {
      throw new CorruptFileError(
        `${where}: level entry ${e} (rep ${rep}, def ${def}) is out of range for ${maxRep} list and ${n} layers`,
      );
    }
    const top = maxRep === 0 || rep === maxRep ? n : (listIndex[rep] as number);
    if (top === n) rows++;
    const cut = cutLayer[def] as number;
    if (cut >= top) {
      throw new CorruptFileError(
        `${where}: level entry ${e} continues a list (rep ${rep}) that its definition level ${def} ends`,
      );
    }
    if (top === 1) {
      // An item continuing the innermost list (most entries): one leaf element, valid unless def cuts it.
      const element = count[0] as number;
      count[0] = element + 1;
      validity[element] = cut < 0 ? 1 : 0;
      continue;
    }
    const empty = cutEmpty[def] as number;
    for (let i = top - 1; i >= 0; i--) {
      const element = count[i] as number;
      count[i] = element + 1;
      validity[i * entries + element] = i > cut || (i === cut && empty === 1) ? 1 : 0;
      const list = listOf[i] as number;
      if (list >= 0) {
        offsets[list * stride + element] = count[i - 1] as number;
        if (i <= cut) break;
      }
    }
  }
  if (rows !== numRows) {
    throw new CorruptFileError(`${where}: levels hold ${rows} rows where ${numRows} were read`, { rows, numRows });
  }
  return layers.map((_, i) => {
    const c = count[i] as number;
    const valid = validity.subarray(i * entries, i * entries + c);
    let nulls = 0;
    for (let k = 0; k < c; k++) nulls += 1 - (valid[k] as number);
    const list = listOf[i] as number;
    if (list < 0) return { count: c, validity: valid, nullCount: nulls, offsets: null };
    offsets[list * stride + c] = count[i - 1] as number;
    return {
      count: c,
      validity: valid,
      nullCount: nulls,
      offsets: offsets.subarray(list * stride, list * stride + c + 1),
    };
  });
}

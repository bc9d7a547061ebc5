/**
 * Repetition and definition levels of nested columns (lance-encoding repdef.rs; lance.encodings21
 * RepDefLayer). A 2.1 leaf column stores, per level entry, a repetition level (how many list layers a new
 * entry starts: `maxRep` starts a row) and a definition level (0 = valid at every layer; otherwise which
 * layer, counted from the leaf outwards, is null or an empty list).
 *
 * Layers are per page (one page may say NULLABLE_ITEM where the next says ALL_VALID_ITEM), so pages'
 * definition levels are mapped to one numbering per column, the canonical one, in which every item layer
 * has a null level and every list layer a null and an empty level:
 *
 *   layer i (leaf = 0):  item: base(i) + 1 = null        list: base(i) + 1 = null, base(i) + 2 = empty
 *   base(i) = levels of the layers below i (1 per item layer, 2 per list layer)
 *
 * so outputs of different pages can be concatenated and unravelled the same way.
 */
import { CorruptFileError } from '../errors.js';
import type { PageLayout } from './layout.js';
import type { RepDefLayerName } from './proto/messages.js';

/** The structure of one layer of a column, from its field: a list (list, large_list) or an item (struct, leaf). */
export type LayerKind = 'item' | 'list';

/** How one page's levels read in the column's canonical numbering. */
export interface PageLevels {
  /** List layers: the repetition level that starts a row (0 for columns without lists). */
  maxRep: number;
  /** Canonical definition level of each page definition level (index = page level). */
  defMap: Uint16Array;
  /** Page definition levels above this are entries without a value (null or empty lists, or under them). */
  maxVisibleDef: number;
  /** Whether the page stores definition levels (some layer can be null or empty). */
  hasDef: boolean;
}

function pageLevelsOf(layer: RepDefLayerName): { list: boolean; levels: ('null' | 'empty')[] } | undefined {
  switch (layer) {
    case 'REPDEF_ALL_VALID_ITEM':
      return { list: false, levels: [] };
    case 'REPDEF_NULLABLE_ITEM':
      return { list: false, levels: ['null'] };
    case 'REPDEF_ALL_VALID_LIST':
      return { list: true, levels: [] };
    case 'REPDEF_NULLABLE_LIST':
      return { list: true, levels: ['null'] };
    case 'REPDEF_EMPTYABLE_LIST':
      return { list: true, levels: ['empty'] };
    case 'REPDEF_NULL_AND_EMPTY_LIST':
      return { list: true, levels: ['null', 'empty'] };
  }
  return undefined;
}

/** Canonical definition level of layer `index` being null (or, for a list, empty). */
export function canonicalDef(layers: readonly LayerKind[], index: number, kind: 'null' | 'empty'): number {
  let base = 0;
  for (let i = 0; i < index; i++) base += layers[i] === 'list' ? 2 : 1;
  return base + (kind === 'null' ? 1 : 2);
}

/** Highest canonical definition level of a column with `layers`. */
export function maxCanonicalDef(layers: readonly LayerKind[]): number {
  return layers.reduce((sum, kind) => sum + (kind === 'list' ? 2 : 1), 0);
}

/**
 * Reads a page's `layers` (leaf outwards) against the column's layers: a page of another shape is a
 * CorruptFileError naming `where`.
 */
export function pageLevels(
  pageLayers: readonly RepDefLayerName[],
  columnLayers: readonly LayerKind[],
  where: string,
): PageLevels {
  if (pageLayers.length !== columnLayers.length) {
    throw new CorruptFileError(
      `${where}: page has ${pageLayers.length} rep/def layers (${pageLayers.join(', ')}) but the column's field nests ${columnLayers.length} deep`,
      { layers: pageLayers },
    );
  }
  const defMap: number[] = [0];
  let maxRep = 0;
  let maxVisibleDef = -1;
  for (let i = 0; i < pageLayers.length; i++) {
    const layer = pageLayers[i] as RepDefLayerName;
    const shape = pageLevelsOf(layer);
    if (!shape || shape.list !== (columnLayers[i] === 'list')) {
      throw new CorruptFileError(
        `${where}: rep/def layer ${i} is ${layer}, but that level of the column's field is ${columnLayers[i] === 'list' ? 'a list' : 'not a list'}`,
        { layers: pageLayers },
      );
    }
    // Entries that stop at a list (null or empty), or anywhere above the innermost list, have no value.
    if (shape.list && maxVisibleDef < 0) maxVisibleDef = defMap.length - 1;
    if (shape.list) maxRep++;
    for (const kind of shape.levels) defMap.push(canonicalDef(columnLayers, i, kind));
  }
  return {
    maxRep,
    defMap: Uint16Array.from(defMap),
    maxVisibleDef: maxVisibleDef < 0 ? defMap.length - 1 : maxVisibleDef,
    hasDef: defMap.length > 1,
  };
}

/** The rep/def layers of a 2.1 page (leaf outwards), or undefined for 2.0 pages. */
export function pageLayers(layout: PageLayout): readonly RepDefLayerName[] | undefined {
  return layout.kind === 'v2.0'
    ? undefined
    : layout.kind === 'blob'
      ? layout.layout.blob_layout?.layers
      : layout.layout.layers;
}

/**
 * The layers for `inspect`, e.g. ` layers=[NULLABLE_ITEM, NULL_AND_EMPTY_LIST]`: empty for a 2.0 page and
 * for a flat column's one all-valid layer.
 */
export function describeLayers(layers: readonly RepDefLayerName[] | undefined): string {
  if (!layers || (layers.length === 1 && layers[0] === 'REPDEF_ALL_VALID_ITEM')) return '';
  return ` layers=[${layers.map((l) => l.replace('REPDEF_', '')).join(', ')}]`;
}

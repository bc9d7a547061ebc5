/**
 * The fields a DataLoader batches, one batch column per leaf, selected the same way by the loader and by
 * each of its workers from the same names (DatasetRef.columns), so that output `i` of a job is leaf `i`
 * everywhere.
 *
 *   meta: struct<score, box: struct<x>>        → meta.score, meta.box.x   (struct children by path)
 *   boxes: list<struct<xyxy: fsl<f32, 4>, cls>> → boxes.xyxy, boxes.cls    (leaves of a list's structs)
 *   item: packed struct<id, name: utf8>         → item.id, item.name      (fields of a 2.2 VariablePackedStruct)
 *
 * A struct child is the dataset's field selected by path (its `ancestors` give the struct levels). A path
 * through a list is the outermost list field pruned to the one leaf (each struct on the way keeps that
 * child alone) and named by the path, which skips the lists' item fields: it reads as a column of its own
 * with every list level above the leaf, so the leaves of one list share its row splits. A field of a
 * packed struct with string or binary fields (stored as one column of whole rows) is the packed struct
 * named by the field's path with that field alone as its child ({@link packedChildOf}): the worker decodes
 * the rows once for all such fields of the struct and keeps each one's field (packed-leaf.ts). Packed structs of fixed-width fields stay one column
 * whose fields the worker splits in the slot (packed-fill.ts).
 */
import type * as arrow from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';
import { isListType, packedFieldKind, type LanceField } from '../format/schema.js';
import type { Dataset } from '../dataset/dataset.js';
import { packedRowBytes } from '../dataset/packed-struct.js';

/**
 * The batch fields for `columns` (all top-level columns when undefined): selected fields with struct and
 * list-of-struct leaves expanded, each path once.
 */
export function selectBatchFields(dataset: Dataset, columns: readonly string[] | undefined): LanceField[] {
  if (columns === undefined) return dataset.selectFields(undefined).flatMap((f) => leavesOf(dataset, f, f.name));
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string')) return dataset.selectFields(columns);
  const fields = columns.flatMap((name) => {
    const packedLeaf = packedLeafAt(dataset, name);
    if (packedLeaf) return [packedLeaf];
    const listed = throughLists(dataset, name);
    if (!listed) return leavesOf(dataset, dataset.selectFields([name])[0] as LanceField, name);
    return leavesOf(dataset, listed.end, name, true).map((leaf) => ({ ...listed.wrap(leaf), name: leaf.name }));
  });
  // A batch has one column per path: a column named twice, or a struct and a field of it, is read once,
  // where it is first named (packed-leaf.ts groups a packed struct's fields by the child each keeps).
  const named = new Set<string>();
  return fields.filter((field) => {
    if (named.has(field.name)) return false;
    named.add(field.name);
    return true;
  });
}

/** Whether a field has children the loader batches as leaves of their own (not a packed struct or blob). */
function isExpanded(field: LanceField): boolean {
  return field.children.length > 0 && packedFieldKind(field) === undefined;
}

/**
 * Each leaf below `field` (named `name`) as a field of its own, named by its path: a struct child by path
 * when no list is on the way, else `field` pruned to the leaf.
 */
function leavesOf(dataset: Dataset, field: LanceField, name: string, inList = false): LanceField[] {
  if (isSplitPacked(field) && !inList && !field.ancestors)
    return field.children.map((c) => ({ ...field, name: `${name}.${c.name}`, children: [c] }));
  if (!isExpanded(field)) return [{ ...field, name }];
  // `through`: the path goes through a list's items (else only through structs, to a leaf or a list of leaves).
  const pruned = (f: LanceField, path: string): { path: string; field: LanceField; through: boolean }[] => {
    const list = isListType(f.logicalType);
    if (!isExpanded(f) || (list && !isExpanded(f.children[0] as LanceField)))
      return [{ path, field: f, through: false }];
    // A list's item field adds no name to the path; a struct's children do.
    const children = list
      ? pruned(f.children[0] as LanceField, path)
      : f.children.flatMap((c) => pruned(c, `${path}.${c.name}`));
    return children.map((c) => ({ path: c.path, field: { ...f, children: [c.field] }, through: list || c.through }));
  };
  return pruned(field, name).map((leaf) =>
    inList || leaf.through || leaf.path === name
      ? { ...leaf.field, name: leaf.path }
      : (dataset.selectFields([leaf.path])[0] as LanceField),
  );
}

/** Whether `field` is a packed struct the loader batches field by field: one with a string or binary field. */
function isSplitPacked(field: LanceField): boolean {
  return packedFieldKind(field) === 'packed' && packedRowBytes(field) === undefined;
}

/**
 * The index in the packed struct's Arrow type of the one field a batch field of a split packed struct
 * ({@link isSplitPacked}) keeps, or undefined for other fields.
 */
export function packedChildOf(field: LanceField): number | undefined {
  const [child] = field.children;
  if (!child || field.children.length !== 1 || !isSplitPacked(field)) return undefined;
  const index = (field.arrowType as arrow.Struct).children.findIndex((c) => c.name === child.name);
  return index < 0 ? undefined : index;
}

/** The batch field a path to a field of a top-level split packed struct names (`item.name`), else undefined. */
function packedLeafAt(dataset: Dataset, name: string): LanceField | undefined {
  const dot = name.indexOf('.');
  if (dot < 0) return undefined;
  const top = dataset.selectFields(undefined).find((f) => f.name === name.slice(0, dot));
  const child = top?.children.find((c) => c.name === name.slice(dot + 1));
  return top && child && isSplitPacked(top) ? { ...top, name, children: [child] } : undefined;
}

/**
 * The field a path through a list names (`boxes.cls`): the field the path ends at (`end`), and how to
 * wrap a field below it into the outermost list field on the path, pruned to the path; undefined when the
 * path has no list on it (the dataset selects it as it is).
 */
function throughLists(
  dataset: Dataset,
  name: string,
): { end: LanceField; wrap: (inner: LanceField) => LanceField } | undefined {
  const parts = name.split('.');
  for (let i = parts.length - 1; i >= 1; i--) {
    let top: LanceField | undefined;
    try {
      top = dataset.selectFields([parts.slice(0, i).join('.')])[0];
    } catch {
      continue;
    }
    if (!top || !isListType(top.logicalType)) continue;
    const rest = parts.slice(i);
    // The fields from `top` down to where the path ends, a list's item field included.
    const chain: LanceField[] = [top];
    for (let k = 0; k < rest.length;) {
      const f = chain[chain.length - 1] as LanceField;
      const step = rest[k];
      let next: LanceField | undefined;
      if (isListType(f.logicalType)) next = f.children[0];
      else if (packedFieldKind(f) === undefined) {
        next = f.children.find((c) => c.name === step);
        k++;
      }
      if (!next)
        throw new InvalidArgumentError(
          `${dataset.path} has no column "${name}": "${parts.slice(0, i).join('.')}" is a list whose items have no field path "${rest.join('.')}"`,
          { column: name },
        );
      chain.push(next);
    }
    const end = chain.pop() as LanceField;
    return {
      end,
      wrap: (inner) => chain.reduceRight((child, f) => ({ ...f, children: [child] }), inner),
    };
  }
  return undefined;
}

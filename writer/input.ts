/**
 * What `writeDataset` takes as data, turned into one stream of record batches with one schema:
 *
 *   arrow Table ───────────────────────────► its batches
 *   (async) iterable of RecordBatch ───────► as they come (each checked against the first's schema)
 *   (async) iterable of row objects ───────► batches of `rowsPerBatch` rows built with `options.schema`
 *
 * Arrow objects are recognised by shape, not `instanceof`, so tables from another copy of apache-arrow
 * (LanceDB's CommonJS one) are taken too. Dictionary-encoded columns (what `tableFromArrays` makes of
 * strings) are decoded to their value type: the writer stores values, not Arrow dictionaries.
 */
import * as arrow from 'apache-arrow';
import { InvalidArgumentError } from '../errors.js';

/** Rows or batches accepted by `writeDataset`. */
export type WriteData =
  | arrow.Table
  | Iterable<arrow.RecordBatch>
  | AsyncIterable<arrow.RecordBatch>
  | Iterable<Record<string, unknown>>
  | AsyncIterable<Record<string, unknown>>;

const DEFAULT_ROWS_PER_BATCH = 8192;

function isTable(value: unknown): value is arrow.Table {
  return (
    typeof value === 'object' && value !== null && Array.isArray((value as arrow.Table).batches) && 'schema' in value
  );
}

function isRecordBatch(value: unknown): value is arrow.RecordBatch {
  return (
    typeof value === 'object' &&
    value !== null &&
    'schema' in value &&
    'data' in value &&
    typeof (value as arrow.RecordBatch).numRows === 'number'
  );
}

function hasDictionary(schema: arrow.Schema): boolean {
  return schema.fields.some((f) => arrow.DataType.isDictionary(f.type));
}

/** The field a dictionary field is written as: its value type, same name, nullability and metadata. */
function plainField(field: arrow.Field): arrow.Field {
  if (!arrow.DataType.isDictionary(field.type)) return field;
  return new arrow.Field(field.name, (field.type as arrow.Dictionary).dictionary, field.nullable, field.metadata);
}

/** The batch with every dictionary column replaced by its decoded values. */
function decodeDictionaries(batch: arrow.RecordBatch): arrow.RecordBatch {
  if (!hasDictionary(batch.schema)) return batch;
  const fields = batch.schema.fields.map(plainField);
  const data = batch.schema.fields.map((field, i) => {
    const vector = batch.getChildAt(i) as arrow.Vector;
    if (!arrow.DataType.isDictionary(field.type)) return vector.data[0] as arrow.Data;
    return arrow.vectorFromArray(vector.toArray() as unknown[], (fields[i] as arrow.Field).type).data[0] as arrow.Data;
  });
  const schema = new arrow.Schema(fields, batch.schema.metadata);
  return new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(fields), length: batch.numRows, children: data, nullCount: 0 }),
  );
}

function isWideInt(type: arrow.DataType): boolean {
  return arrow.DataType.isInt(type) && type.bitWidth === 64;
}

/** Whether `type` holds 64-bit integers, at the top or inside lists and structs. */
function hasWideInt(type: arrow.DataType): boolean {
  return isWideInt(type) || (type.children ?? []).some((child) => hasWideInt(child.type));
}

/**
 * `value` with the whole numbers under 64-bit integer types turned into bigints: 64-bit integer
 * builders take bigints only, and plain numbers are what JSON and most rows hold.
 */
function withBigInts(value: unknown, type: arrow.DataType): unknown {
  if (isWideInt(type)) return typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : value;
  if (arrow.DataType.isList(type) && Array.isArray(value)) {
    const item = type.children[0]?.type as arrow.DataType;
    return value.map((v: unknown) => withBigInts(v ?? null, item));
  }
  if (arrow.DataType.isStruct(type) && typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const child of type.children)
      out[child.name] = withBigInts((value as Record<string, unknown>)[child.name] ?? null, child.type);
    return out;
  }
  return value;
}

async function* fromRows(
  first: IteratorResult<unknown>,
  rest: AsyncIterator<unknown> | Iterator<unknown>,
  schema: arrow.Schema,
  rowsPerBatch: number,
): AsyncGenerator<arrow.RecordBatch> {
  let pending: Record<string, unknown>[] = [];
  let rowNumber = 0;
  const wide = schema.fields.map((field) => hasWideInt(field.type));
  const build = (): arrow.RecordBatch => {
    const children = schema.fields.map((field, f) => {
      const values = pending.map((row) => {
        const value = row[field.name] ?? null;
        return wide[f] ? withBigInts(value, field.type) : value;
      });
      try {
        return arrow.vectorFromArray(values, field.type).data[0] as arrow.Data;
      } catch (cause) {
        throw new InvalidArgumentError(
          `data: rows ${rowNumber - pending.length}..${rowNumber - 1}, column "${field.name}": values do not fit ${String(field.type)} (${(cause as Error).message})`,
          { column: field.name },
        );
      }
    });
    const batch = new arrow.RecordBatch(
      schema,
      arrow.makeData({ type: new arrow.Struct(schema.fields), length: pending.length, children, nullCount: 0 }),
    );
    pending = [];
    return batch;
  };
  for (let next = first; !next.done; next = await rest.next()) {
    const row = next.value;
    if (typeof row !== 'object' || row === null || isRecordBatch(row)) {
      throw new InvalidArgumentError(`data: item ${rowNumber} is not a row object like the ones before it`, {
        row: rowNumber,
      });
    }
    pending.push(row as Record<string, unknown>);
    rowNumber++;
    if (pending.length >= rowsPerBatch) yield build();
  }
  if (pending.length > 0) yield build();
}

async function* fromBatches(
  first: IteratorResult<unknown>,
  rest: AsyncIterator<unknown> | Iterator<unknown>,
): AsyncGenerator<arrow.RecordBatch> {
  let index = 0;
  for (let next = first; !next.done; next = await rest.next(), index++) {
    if (!isRecordBatch(next.value)) {
      throw new InvalidArgumentError(`data: item ${index} is not an Arrow RecordBatch like the ones before it`, {
        item: index,
      });
    }
    yield decodeDictionaries(next.value);
  }
}

/**
 * The data as record batches, and its schema (taken from the table, the first batch, or
 * `options.schema` for rows). An empty stream of rows or batches needs `options.schema`.
 */
export async function openInput(
  data: WriteData,
  options: { schema?: arrow.Schema; rowsPerBatch?: number },
): Promise<{ schema: arrow.Schema; batches: AsyncIterable<arrow.RecordBatch> }> {
  if (isTable(data)) {
    const batches = data.batches.map(decodeDictionaries);
    const schema = new arrow.Schema(data.schema.fields.map(plainField), data.schema.metadata);
    return {
      schema,
      batches: (async function* () {
        yield* batches;
      })(),
    };
  }
  const iterable = data as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  const iterator = iterable[Symbol.asyncIterator]?.() ?? iterable[Symbol.iterator]?.();
  if (!iterator) {
    throw new InvalidArgumentError(
      'data must be an Arrow Table, an (async) iterable of RecordBatches, or an (async) iterable of row objects',
    );
  }
  const first = await iterator.next();
  if (!first.done && isRecordBatch(first.value)) {
    const schema = decodeDictionaries(first.value).schema;
    return { schema, batches: fromBatches(first, iterator) };
  }
  const schema = options.schema;
  if (!schema) {
    throw new InvalidArgumentError(
      first.done
        ? 'data is empty: pass options.schema to say which columns the dataset has'
        : 'data is a stream of row objects: pass options.schema (an Arrow Schema) to say their column types',
    );
  }
  const rowsPerBatch = options.rowsPerBatch ?? DEFAULT_ROWS_PER_BATCH;
  return { schema, batches: fromRows(first, iterator, schema, rowsPerBatch) };
}

/**
 * JSON Lines and CSV files → row objects for `writeDataset`, streamed line by line.
 *
 * The schema is given, or inferred from the first `inferRows` records (default 1000): per column, the
 * first value decides: integers → int64 (float64 if a sampled number has a fraction), booleans → bool,
 * strings → utf8, arrays of numbers → fixed_size_list<float32> of that length; a column missing or null
 * in some sampled record is nullable. CSV values are
 * text: `true`/`false` are booleans, numbers are numbers, an empty field is null.
 *
 * A record that does not parse, or whose values do not fit the schema, is reported with its line number:
 * `onError: 'fail'` (default) stops with an InvalidArgumentError, `'skip'` leaves the record out and
 * lists it in the result's `skipped`.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import * as arrow from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse';
import { InvalidArgumentError } from '../errors.js';

/** A record that was left out, and why. */
export interface SkippedRecord {
  line: number;
  reason: string;
}

/** How records that do not parse or fit are handled. */
export type OnError = 'skip' | 'fail';

interface RawRecord {
  line: number;
  value?: Record<string, unknown>;
  error?: string;
}

async function* jsonlRecords(path: string): AsyncGenerator<RawRecord> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        yield { line, error: 'not a JSON object' };
      else yield { line, value: value as Record<string, unknown> };
    } catch (cause) {
      yield { line, error: `not JSON: ${(cause as Error).message}` };
    }
  }
}

function csvValue(text: string): unknown {
  if (text === '') return null;
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

async function* csvRecords(path: string): AsyncGenerator<RawRecord> {
  const parser = createReadStream(path).pipe(
    parseCsv({ columns: true, skip_empty_lines: true, relax_column_count: true, info: true }),
  );
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number; invalid_field_length: number };
  }>) {
    if (info.invalid_field_length > 0) {
      yield { line: info.lines, error: `does not have the header's ${Object.keys(record).length} fields` };
      continue;
    }
    const value: Record<string, unknown> = {};
    for (const [key, text] of Object.entries(record)) value[key] = csvValue(text);
    yield { line: info.lines, value };
  }
}

/**
 * The type of a column from its sampled values: the first present value decides (numbers are int64
 * unless some sampled number has a fraction); values of another type are then bad records.
 */
function inferType(values: unknown[]): arrow.DataType {
  const present = values.filter((v) => v !== null && v !== undefined);
  const first = present[0];
  if (typeof first === 'boolean') return new arrow.Bool();
  if (typeof first === 'number') {
    const fractional = present.some((v) => typeof v === 'number' && !Number.isSafeInteger(v));
    return fractional ? new arrow.Float64() : new arrow.Int64();
  }
  if (Array.isArray(first) && first.length > 0 && first.every((x) => typeof x === 'number')) {
    return new arrow.FixedSizeList(first.length, new arrow.Field('item', new arrow.Float32(), true));
  }
  return new arrow.Utf8();
}

function inferSchema(records: Record<string, unknown>[], where: string): arrow.Schema {
  const names: string[] = [];
  for (const record of records) for (const key of Object.keys(record)) if (!names.includes(key)) names.push(key);
  if (names.length === 0)
    throw new InvalidArgumentError(`${where}: no records to infer a schema from`, { path: where });
  return new arrow.Schema(
    names.map((name) => {
      const values = records.map((r) => r[name]);
      const type = inferType(values);
      return new arrow.Field(
        name,
        type,
        values.some((v) => v === null || v === undefined),
      );
    }),
  );
}

/** Why `value` does not fit `field`, or undefined when it does. */
function misfit(field: arrow.Field, value: unknown): string | undefined {
  if (value === null || value === undefined) return field.nullable ? undefined : 'is null, the column is not nullable';
  const type = field.type as arrow.DataType;
  const ok = arrow.DataType.isBool(type)
    ? typeof value === 'boolean'
    : arrow.DataType.isInt(type)
      ? (typeof value === 'number' && Number.isSafeInteger(value)) || typeof value === 'bigint'
      : arrow.DataType.isFloat(type)
        ? typeof value === 'number'
        : arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)
          ? typeof value === 'string'
          : arrow.DataType.isFixedSizeList(type)
            ? Array.isArray(value) && value.length === type.listSize && value.every((x) => typeof x === 'number')
            : true;
  return ok ? undefined : `has ${JSON.stringify(value)}, which is not ${String(type)}`;
}

/** Options of the JSONL and CSV converters. */
export interface RecordsOptions {
  /** The column types; inferred from the first `inferRows` records when absent. */
  schema?: arrow.Schema;
  inferRows?: number;
  onError?: OnError;
}

/**
 * The records of a JSONL or CSV file that fit its schema, as row objects for `writeDataset`, and the
 * schema. `skipped` fills up as the rows are read (with `onError: 'skip'`).
 */
export async function openRecords(
  path: string,
  format: 'jsonl' | 'csv',
  options: RecordsOptions,
): Promise<{ schema: arrow.Schema; rows: AsyncGenerator<Record<string, unknown>>; skipped: SkippedRecord[] }> {
  const onError = options.onError ?? 'fail';
  const source = format === 'jsonl' ? jsonlRecords(path) : csvRecords(path);
  const skipped: SkippedRecord[] = [];
  const reject = (line: number, reason: string): void => {
    if (onError === 'fail') throw new InvalidArgumentError(`${path}:${line}: ${reason}`, { path, line });
    skipped.push({ line, reason });
  };
  // Records read ahead for inference are kept and written first.
  const head: RawRecord[] = [];
  if (!options.schema) {
    const inferRows = options.inferRows ?? 1000;
    for await (const record of source) {
      head.push(record);
      if (head.filter((r) => r.value).length >= inferRows) break;
    }
  }
  const schema =
    options.schema ??
    inferSchema(
      head.flatMap((r) => (r.value ? [r.value] : [])),
      path,
    );
  async function* all(): AsyncGenerator<RawRecord> {
    yield* head;
    yield* source;
  }
  async function* rows(): AsyncGenerator<Record<string, unknown>> {
    for await (const record of all()) {
      if (!record.value) {
        reject(record.line, record.error ?? 'does not parse');
        continue;
      }
      const value = record.value;
      const extra = Object.keys(value).find((key) => !schema.fields.some((f) => f.name === key));
      const problem =
        extra !== undefined
          ? `has column "${extra}", which the schema lacks`
          : schema.fields
              .map((field) => {
                const why = misfit(field, value[field.name]);
                return why && `column "${field.name}" ${why}`;
              })
              .find((why) => why !== undefined);
      if (problem) reject(record.line, problem);
      else yield value;
    }
  }
  return { schema, rows: rows(), skipped };
}

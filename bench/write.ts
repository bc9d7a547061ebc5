/**
 * Write throughput, side by side in one run on the same in-memory batches (`npm run bench:write`):
 *
 *   lance-loader  writeDataset(dir, table): encode, write, fsync data files, commit
 *   lance-loader-workers  the same with { encodeInWorkers: true }: large CPU-heavy pages in worker threads
 *   lancedb       db.createTable(name, table), then fsync of its data files (LanceDB returns before
 *                 its files are durable; the fsync makes the two comparable)
 *   npy           one NPY v1.0 file per column (values as they sit in Arrow: vectors as an N × dim
 *                 array, binary as its bytes plus an int64 offsets file), written with large
 *                 sequential writes and fsynced: the disk's sequential speed for the same bytes
 *
 * MB/s counts the same bytes for every method: the Arrow value bytes of the table (offsets excluded).
 * Best wall and best CPU seconds are each the minimum over the repeats; CPU counts all of the process's
 * threads, so on a shared machine it shows what a method costs apart from the waits others cause.
 *
 *   npm run bench:write                                   # emb 200,000 rows and images 20,000 rows
 *   npm run bench:write -- --kinds emb --rows-scale 0.25 --repeats 3
 *   npm run bench:write -- --kinds mixed --methods lance-loader,lance-loader-workers,lancedb   # 1M rows of 7 scalar/string columns
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { writeDataset } from '../index.js';
import { benchBatches, dataDir, fsyncAll, type BenchKind } from './datasets.js';

const FULL_ROWS: Partial<Record<BenchKind, number>> = { emb: 200_000, images: 20_000, seed000: 500, mixed: 1_000_000 };
const WRITE_BYTES = 16 << 20;

type Method = 'lance-loader' | 'lance-loader-workers' | 'lancedb' | 'npy';

/** Bytes of values in the table: what every method must write at least. */
function valueBytes(table: arrow.Table): number {
  let total = 0;
  for (const batch of table.batches) {
    for (const data of batch.data.children) {
      if (data.valueOffsets) total += Number(data.valueOffsets[data.length]) - Number(data.valueOffsets[0]);
      else if (data.children.length > 0) total += (data.children[0]?.values as ArrayBufferView).byteLength;
      else total += (data.values as ArrayBufferView).byteLength;
    }
  }
  return total;
}

function npyHeader(descr: string, shape: number[]): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + header.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  return out;
}

/** Writes `pieces` to `path` in large sequential writes and fsyncs it. */
function writeSequential(path: string, pieces: Uint8Array[]): void {
  const fd = fs.openSync(path, 'w');
  let staged: Uint8Array[] = [];
  let stagedBytes = 0;
  const flush = (): void => {
    if (stagedBytes > 0) fs.writevSync(fd, staged);
    staged = [];
    stagedBytes = 0;
  };
  for (const piece of pieces) {
    staged.push(piece);
    stagedBytes += piece.length;
    if (stagedBytes >= WRITE_BYTES || staged.length >= 1024) flush();
  }
  flush();
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

const descrOf = (type: arrow.DataType): string =>
  ({ Int64: '<i8', Int32: '<i4', Float32: '<f4', Uint8: '|u1' })[String(type)] ?? '|u1';

function writeNpy(dir: string, table: arrow.Table): void {
  fs.mkdirSync(dir, { recursive: true });
  table.schema.fields.forEach((field, i) => {
    const chunks = table.batches.map((b) => b.data.children[i] as arrow.Data);
    const rows = table.numRows;
    if (arrow.DataType.isFixedSizeList(field.type)) {
      const dim = field.type.listSize;
      const values = chunks.map(
        (d) =>
          new Uint8Array(
            (d.children[0]?.values as ArrayBufferView).buffer,
            (d.children[0]?.values as ArrayBufferView).byteOffset,
            d.length * dim * (d.children[0]?.values as Float32Array).BYTES_PER_ELEMENT,
          ),
      );
      writeSequential(join(dir, `${field.name}.npy`), [
        npyHeader(descrOf(field.type.children[0]?.type as arrow.DataType), [rows, dim]),
        ...values,
      ]);
    } else if (chunks[0]?.valueOffsets) {
      const bytes = chunks.map((d) =>
        (d.values as Uint8Array).subarray(Number(d.valueOffsets[0]), Number(d.valueOffsets[d.length])),
      );
      const total = bytes.reduce((sum, b) => sum + b.length, 0);
      writeSequential(join(dir, `${field.name}.npy`), [npyHeader('|u1', [total]), ...bytes]);
      const offsets = new BigInt64Array(rows + 1);
      let row = 0;
      let base = 0;
      for (const d of chunks) {
        for (let r = 1; r <= d.length; r++)
          offsets[row + r] = BigInt(base + Number(d.valueOffsets[r]) - Number(d.valueOffsets[0]));
        row += d.length;
        base += Number(d.valueOffsets[d.length]) - Number(d.valueOffsets[0]);
      }
      writeSequential(join(dir, `${field.name}.offsets.npy`), [
        npyHeader('<i8', [rows + 1]),
        new Uint8Array(offsets.buffer),
      ]);
    } else {
      const values = chunks.map(
        (d) =>
          new Uint8Array(
            (d.values as ArrayBufferView).buffer,
            (d.values as ArrayBufferView).byteOffset,
            d.length * (d.values as Int32Array).BYTES_PER_ELEMENT,
          ),
      );
      writeSequential(join(dir, `${field.name}.npy`), [npyHeader(descrOf(field.type), [rows]), ...values]);
    }
  });
}

/** Wall and CPU seconds of one run; CPU counts every thread of the process (workers, libuv, LanceDB). */
interface Timing {
  seconds: number;
  cpuSeconds: number;
}

async function runMethod(method: Method, kind: BenchKind, table: arrow.Table, scratch: string): Promise<Timing> {
  const name = `${kind}-${method}`;
  const path = join(scratch, `${name}.lance`);
  fs.rmSync(path, { recursive: true, force: true });
  fs.rmSync(join(scratch, `${name}.npy`), { recursive: true, force: true });
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  if (method === 'lance-loader' || method === 'lance-loader-workers') {
    await writeDataset(path, table, { encodeInWorkers: method === 'lance-loader-workers' });
  } else if (method === 'lancedb') {
    const db = await lancedb.connect(scratch);
    (
      await db.createTable(name, table, {
        mode: 'overwrite',
        storageOptions: { new_table_data_storage_version: '2.1' },
      })
    ).close();
    db.close();
    fsyncAll(path);
  } else {
    writeNpy(join(scratch, `${name}.npy`), table);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  fs.rmSync(path, { recursive: true, force: true });
  fs.rmSync(join(scratch, `${name}.npy`), { recursive: true, force: true });
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kinds: { type: 'string', default: 'emb,images' },
      'rows-scale': { type: 'string', default: '1' },
      repeats: { type: 'string', default: '2' },
      methods: { type: 'string', default: 'lance-loader,lancedb,npy' },
    },
  });
  const scale = Number(values['rows-scale']);
  const repeats = Number(values.repeats);
  const methods = (values.methods as string).split(',') as Method[];
  const scratch = join(dataDir, 'write-scratch');
  fs.mkdirSync(scratch, { recursive: true });
  console.log('| dataset | rows | MB | method | best s | MB/s | vs npy | vs lancedb | best CPU s |');
  console.log('|---|---:|---:|---|---:|---:|---:|---:|---:|');
  for (const kind of (values.kinds as string).split(',') as BenchKind[]) {
    const rows = Math.max(1, Math.round((FULL_ROWS[kind] ?? 10_000) * scale));
    const table = new arrow.Table(benchBatches(kind, rows));
    const megabytes = valueBytes(table) / 1e6;
    const best: Partial<Record<Method, number>> = {};
    const bestCpu: Partial<Record<Method, number>> = {};
    for (let r = 0; r < repeats; r++) {
      for (const method of methods) {
        const { seconds, cpuSeconds } = await runMethod(method, kind, table, scratch);
        best[method] = Math.min(best[method] ?? Infinity, seconds);
        bestCpu[method] = Math.min(bestCpu[method] ?? Infinity, cpuSeconds);
      }
    }
    for (const method of methods) {
      const seconds = best[method] as number;
      const rate = megabytes / seconds;
      const ratio = (other: Method): string =>
        best[other] === undefined ? '' : `${(rate / (megabytes / (best[other] as number))).toFixed(2)}×`;
      console.log(
        `| ${kind} | ${rows} | ${megabytes.toFixed(0)} | ${method} | ${seconds.toFixed(2)} | ${rate.toFixed(0)} | ${ratio('npy')} | ${ratio('lancedb')} | ${(bestCpu[method] as number).toFixed(2)} |`,
      );
    }
  }
  console.log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  fs.rmSync(scratch, { recursive: true, force: true });
}

await main();

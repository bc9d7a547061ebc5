/**
 * Converting the seed000 NumPy batch files (500 rows × 105,600 float32, one 422 KB `.npy` per row plus
 * `index.json`, the layout of the Lance-vs-NumPy investigation) into Lance, best of `--repeats`:
 *
 *   lance-loader  convertToLance('npy', [dir], out): read each file, write, fsync, commit
 *   lancedb       read each file (examples/npy.ts), one Arrow table, createTable, fsync its files
 *
 * Both wall time and CPU time (best of the repeats each) are printed, with the load average at the end.
 *
 *   npx tsx bench/convert.ts [--rows 500] [--repeats 2]
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lancedb from '@lancedb/lancedb';
import * as arrow from 'apache-arrow';
import { fetchNpyFile, writeNpyBatchFiles } from '../examples/npy.js';
import { convertToLance } from '../index.js';
import { dataDir, fsyncAll, SEED000_DIM } from './datasets.js';

async function viaLanceDb(store: string, scratch: string): Promise<void> {
  const index = JSON.parse(fs.readFileSync(join(store, 'index.json'), 'utf8')) as { files: string[] };
  const ids: bigint[] = [];
  const parts: Float32Array[] = [];
  for (const [f, name] of index.files.entries()) {
    const { values } = await fetchNpyFile(join(store, name));
    parts.push(values);
    ids.push(BigInt(f));
  }
  const values = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    values.set(part, at);
    at += part.length;
  }
  const type = new arrow.FixedSizeList(SEED000_DIM, new arrow.Field('item', new arrow.Float32(), true));
  const tensor = arrow.makeVector(
    arrow.makeData({
      type,
      length: ids.length,
      nullCount: 0,
      child: arrow.makeData({ type: new arrow.Float32(), length: values.length, data: values }),
    }),
  );
  const table = new arrow.Table({ id: arrow.makeVector(BigInt64Array.from(ids)), tensor });
  const db = await lancedb.connect(scratch);
  (await db.createTable('lancedb', table, { storageOptions: { new_table_data_storage_version: '2.1' } })).close();
  db.close();
  fsyncAll(join(scratch, 'lancedb.lance'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '500' }, repeats: { type: 'string', default: '2' } },
  });
  const rows = Number(values.rows);
  const scratch = join(dataDir, 'convert-scratch');
  const store = join(scratch, 'store');
  fs.rmSync(scratch, { recursive: true, force: true });
  const tensor = new Float32Array(rows * SEED000_DIM);
  for (let i = 0; i < tensor.length; i++) tensor[i] = Math.sin(i);
  await writeNpyBatchFiles(
    store,
    BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)),
    tensor,
    SEED000_DIM,
    1,
  );
  const megabytes = (rows * SEED000_DIM * 4) / 1e6;
  const best = { 'lance-loader': Infinity, lancedb: Infinity };
  // CPU seconds of the process (all its threads: libuv's pool, LanceDB's own): less swayed by other
  // processes than wall time on a shared machine.
  const bestCpu = { 'lance-loader': Infinity, lancedb: Infinity };
  for (let r = 0; r < Number(values.repeats); r++) {
    for (const method of ['lance-loader', 'lancedb'] as const) {
      fs.rmSync(join(scratch, 'out.lance'), { recursive: true, force: true });
      fs.rmSync(join(scratch, 'lancedb.lance'), { recursive: true, force: true });
      const start = process.hrtime.bigint();
      const cpuStart = process.cpuUsage();
      if (method === 'lance-loader')
        await convertToLance('npy', [store], join(scratch, 'out.lance'), { progress: false });
      else await viaLanceDb(store, scratch);
      best[method] = Math.min(best[method], Number(process.hrtime.bigint() - start) / 1e9);
      const cpu = process.cpuUsage(cpuStart);
      bestCpu[method] = Math.min(bestCpu[method], (cpu.user + cpu.system) / 1e6);
    }
  }
  console.log(`| method | s | MB/s | vs lancedb | CPU s | CPU vs lancedb |`);
  console.log(`|---|---:|---:|---:|---:|---:|`);
  for (const [method, seconds] of Object.entries(best)) {
    const cpu = bestCpu[method as keyof typeof bestCpu];
    console.log(
      `| ${method} | ${seconds.toFixed(2)} | ${(megabytes / seconds).toFixed(0)} | ${(best.lancedb / seconds).toFixed(2)}× | ${cpu.toFixed(2)} | ${(bestCpu.lancedb / cpu).toFixed(2)}× |`,
    );
  }
  console.log(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  fs.rmSync(scratch, { recursive: true, force: true });
}

await main();

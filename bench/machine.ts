/**
 * The machine and software a benchmark run measured: CPU, cores, memory, the disk under bench/.data,
 * Node, LanceDB, lance-loader and its read engine, fio, the git commit (and whether the tree had changes).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { readEngine } from '../io/native-read.js';
import { dataDir } from './datasets.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  disk: { source: string; fsType: string; model: string; rotational: string; sizeBytes: string };
  node: string;
  lancedb: string;
  lanceLoader: string;
  apacheArrow: string;
  fio: string | null;
  gitCommit: string;
  gitDirty: boolean;
  uvThreadpoolSize: string;
  /** How the loader's workers issue blocking batch reads (native-read.ts), and why. */
  readEngine: string;
}

function run(cmd: string, args: string[], cwd?: string): string | null {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      ...(cwd ? { cwd } : {}),
    }).trim();
  } catch {
    return null;
  }
}

function packageVersion(repoRoot: string, name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(repoRoot: string): MachineInfo {
  const engine = readEngine();
  const mount =
    run('findmnt', ['-no', 'SOURCE,FSTYPE', '-T', dataDir]) ??
    run('findmnt', ['-no', 'SOURCE,FSTYPE', '-T', repoRoot]) ??
    '? ?';
  const [source = '?', fsType = '?'] = mount.split(/\s+/);
  const device = source.startsWith('/dev/') ? source : '';
  // lsblk of the whole disk a partition belongs to (PKNAME), else of the device itself.
  const parent = device ? run('lsblk', ['-dno', 'PKNAME', device]) : null;
  const disk = parent ? `/dev/${parent}` : device;
  const info = disk ? (run('lsblk', ['-dbno', 'MODEL,ROTA,SIZE', disk]) ?? '') : '';
  const parts = info.split(/\s+/).filter(Boolean);
  const sizeBytes = parts.pop() ?? '?';
  const rotational = parts.pop() ?? '?';
  const model = parts.join(' ') || '(no model: virtual disk)';
  const status = run('git', ['status', '--porcelain'], repoRoot);
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    disk: {
      source,
      fsType,
      model,
      rotational:
        rotational === '1' ? 'yes (as reported; virtual disks often say so)' : rotational === '0' ? 'no' : rotational,
      sizeBytes,
    },
    node: process.version,
    lancedb: packageVersion(repoRoot, '@lancedb/lancedb'),
    lanceLoader: (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version,
    apacheArrow: packageVersion(repoRoot, 'apache-arrow'),
    fio: run('fio', ['--version']),
    gitCommit: run('git', ['rev-parse', 'HEAD'], repoRoot) ?? 'unknown',
    gitDirty: status !== null && status !== '',
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    readEngine: `${engine.engine}: ${engine.reason}`,
  };
}

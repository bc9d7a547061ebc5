/**
 * The fuzz suite's cases. A case is (seed, index): from those two numbers alone it picks a LanceDB-written
 * source dataset (a type from the fixture matrix, file version 2.0, 2.1 or 2.2), one of its files (a data file, a
 * manifest or a deletion file), a mutation, and whether a one-worker loader epoch runs too. The parent plans
 * cases and the child process re-derives the mutation's bytes from the same seed, so any case reruns alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDataset } from '../fixtures/datasets.js';
import { specByName, type StorageVersion } from '../fixtures/matrix.js';
import { Rng, seedFrom } from '../fixtures/random.js';
import { mutationsFor, type FileRole, type MutationKind } from './mutations.js';

/** Small datasets covering every column type, nesting, several fragments, deletions and versions. */
const SOURCE_SPECS = [
  'ints',
  'floats',
  'bool_temporal',
  'strings_small_pages',
  'comp_bss',
  'comp_rle_dict',
  'comp_v21_only',
  'nested',
  'single_row',
  'multi_fragment',
  'deletions_arrow',
  'deletions_bitmap',
  'versions',
  'vectors',
] as const;
const VERSIONS: readonly StorageVersion[] = ['2.0', '2.1', '2.2'];

export interface SourceFile {
  /** Path inside the dataset directory, e.g. `data/0101….lance`. */
  relative: string;
  role: FileRole;
}

export interface Source {
  /** `<spec>-v<version>`, the name failures are reported under. */
  name: string;
  root: string;
  files: SourceFile[];
}

export interface FuzzCase {
  seed: number;
  index: number;
  source: string;
  file: string;
  role: FileRole;
  mutation: MutationKind;
  /** Also run a one-worker `createLoader` epoch (a subset of cases: it costs a worker thread). */
  loader: boolean;
}

/** Writes (or finds cached) every source dataset and lists its files by role. */
export async function loadSources(): Promise<Source[]> {
  const sources: Source[] = [];
  for (const name of SOURCE_SPECS) {
    const spec = specByName(name);
    for (const version of VERSIONS) {
      if (spec.versions && !spec.versions.includes(version)) continue;
      const root = await ensureDataset(spec, version);
      sources.push({ name: `${name}-v${version}`, root, files: listFiles(root) });
    }
  }
  return sources;
}

function listFiles(root: string): SourceFile[] {
  const inDir = (dir: string, suffix: string, role: FileRole): SourceFile[] => {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) return [];
    return fs
      .readdirSync(full)
      .filter((f) => f.endsWith(suffix))
      .sort()
      .map((f) => ({ relative: `${dir}/${f}`, role }));
  };
  return [
    ...inDir('data', '.lance', 'data'),
    ...inDir('_versions', '.manifest', 'manifest'),
    ...inDir('_deletions', '.arrow', 'deletion'),
    ...inDir('_deletions', '.bin', 'deletion'),
  ];
}

const LOADER_SHARE = 0.02;

/**
 * Case `index` of `seed`. The role is drawn first (data files 55 %, manifests 25 %, deletion files 20 %), then
 * a dataset that has such files, so the few datasets with deletion files get their share of cases. `skip`
 * leaves mutations out (a run that must pass while a known bug is open).
 */
export function planCase(
  seed: number,
  index: number,
  sources: readonly Source[],
  skip: readonly MutationKind[] = [],
): FuzzCase {
  const rng = new Rng(seedFrom(seed, index, 'plan'));
  const draw = rng.float();
  const role: FileRole = draw < 0.55 ? 'data' : draw < 0.8 ? 'manifest' : 'deletion';
  const withRole = sources.filter((s) => s.files.some((f) => f.role === role));
  const source = withRole[rng.int(0, withRole.length)] as Source;
  const files = source.files.filter((f) => f.role === role);
  const file = files[rng.int(0, files.length)] as SourceFile;
  const kinds = mutationsFor(role).filter((kind) => !skip.includes(kind));
  return {
    seed,
    index,
    source: source.name,
    file: file.relative,
    role,
    mutation: kinds[rng.int(0, kinds.length)] as MutationKind,
    loader: rng.bool(LOADER_SHARE),
  };
}

/** The `Rng` a case's mutation draws its positions and values from. */
export function mutationRng(c: FuzzCase): Rng {
  return new Rng(seedFrom(c.seed, c.index, 'bytes'));
}

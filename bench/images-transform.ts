/**
 * The images-transform part of the bench: JPEG bytes in a Lance dataset decoded and augmented in
 * lance-loader's workers, against PyTorch's DataLoader + torchvision's ImageFolder over the same JPEGs as
 * files, on the same pipeline (RandomResizedCrop 224, horizontal flip, normalize to float32; batch 64,
 * shuffled), warm and cold, in one run.
 *
 *   npm run bench -- --only images-transform [--quick] [--max-seconds 60] [--out bench/results]
 *
 *   examples/jpeg-shapes.ts ─► bench/.data/jpeg-<rows>/train.lance ─► lance-loader (1 and 2 workers)
 *                                           └─ files/<class>/<row>.jpg ─► torchvision-images.py (num_workers 2)
 *
 * Also measured, in this thread, for the breakdown of where a row's time goes: the addon's libjpeg-turbo
 * path (native/jpeg.c: the crop's region decoded; + the resample to 224; + the mirror and normalize into
 * float32, the worker's whole pipeline) where the addon has it, and @napi-rs/image's decode alone and its
 * decode + crop + resample (what the other path costs before the write into the slot). Writes
 * images-transform.json and prints the table that bench/README.md shows.
 *
 * 2 workers against 1 is measured over five alternated pairs of warm epochs, two epochs of each loader a
 * pair (runWarm), not over one epoch of each.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FastResizeFilter, ResizeFit, Transformer } from '@napi-rs/image';
import {
  createLoader,
  decodeImage,
  type DataLoader,
  flipHorizontal,
  normalize,
  openDataset,
  randomResizedCrop,
  type LoaderOptions,
} from '../index.js';
import { JPEG_CLASSES, ensureJpegDataset } from '../examples/jpeg-shapes.js';
import { readImageSize } from '../decode-workers/transforms/image-header.js';
import { nativeAddon } from '../io/native-addon.js';
import { datasetFiles, evictFiles } from './datasets.js';
import { describeMachine } from './machine.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const BATCH = 64;
const PYTHON = '/usr/bin/python3';

export interface ImagesTransformOptions {
  quick: boolean;
  maxSeconds: number;
  out: string;
  say: (message: string) => void;
}

interface LoaderRun {
  imagesPerSecond: number;
  /** Share of the timed epoch the main thread's event loop was busy (performance.eventLoopUtilization). */
  mainThreadBusy: number;
  /** Worker time in transforms per image (ms), summed over workers. */
  transformMsPerImage: number;
  /**
   * CPU time of the whole process per image (ms, process.cpuUsage over the timed epoch): what an image
   * costs whatever share of the cores the machine's other jobs leave, unlike images/s.
   */
  cpuMsPerImage: number;
  /**
   * The same by thread (`/proc/self/task/<tid>/stat` ticks): the main thread, the `workers` busiest
   * other threads (Node names no thread, so the workers are told apart by being the busiest: each
   * decodes most of the epoch) and the rest (V8's GC and compiler threads, libuv's pool).
   */
  cpuMsPerImageByThread: Record<string, number>;
  /** Cores the process used on average over the timed epoch (CPU time / wall time). */
  coresUsed: number;
  /** Worker time reading per image (ms, metrics().readMs). */
  readMsPerImage: number;
  /** How long createLoader took (workers started, dataset opened, @napi-rs/image loaded). */
  createMs: number;
  images: number;
  seconds: number;
}

/** 2 workers against 1, per alternated pair of two warm epochs each and the medians (scalingOf). */
interface ScalingResult {
  pairs: {
    one: Pick<LoaderRun, 'imagesPerSecond' | 'cpuMsPerImage'>;
    two: Pick<LoaderRun, 'imagesPerSecond' | 'cpuMsPerImage'>;
    imagesPerSecond: number;
    byCpu: number;
  }[];
  imagesPerSecond: number;
  byCpu: number;
}

/** Kernel clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU ticks so far of each thread of this process (`/proc/self/task/<tid>/stat`), `main` or not. */
function threadTicks(): Map<string, { main: boolean; ticks: number }> {
  const threads = new Map<string, { main: boolean; ticks: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended while the list was read
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), counted from field 3 after the name.
    threads.set(tid, { main: tid === String(process.pid), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return threads;
}

/**
 * CPU ms per image between two threadTicks(): the main thread, the `workers` busiest others and the
 * rest (threads that ended in between are missing).
 */
function cpuByThread(
  before: ReturnType<typeof threadTicks>,
  after: ReturnType<typeof threadTicks>,
  images: number,
  workers: number,
): Record<string, number> {
  const ms = (tid: string, ticks: number) =>
    ((ticks - (before.get(tid)?.ticks ?? 0)) * 1000) / TICKS_PER_SECOND / images;
  const others = [...after]
    .filter(([, t]) => !t.main)
    .map(([tid, t]) => ms(tid, t.ticks))
    .sort((a, b) => b - a);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const main = [...after].find(([, t]) => t.main);
  return {
    main: main ? ms(main[0], main[1].ticks) : 0,
    [`${workers} busiest (workers)`]: sum(others.slice(0, workers)),
    'other threads': sum(others.slice(workers)),
  };
}

const transforms: LoaderOptions['transforms'] = {
  image: { steps: [decodeImage(), randomResizedCrop(224), flipHorizontal(), normalize(MEAN, STD)] },
};

/**
 * Untimed epochs of a warm loader before its timed ones, per worker: the 2-worker loader warms twice as
 * many. The per-batch functions of a worker run once a batch in that worker's own isolate, and V8
 * optimizes a function only after many calls: with the same epochs each, a worker of two had seen half
 * the batches and was still compiling (on V8's threads, beside the workers) in the timed epochs.
 */
const WARM_EPOCHS = 3;

/** A loader over the bench's JPEGs, and how long createLoader took. */
async function openLoader(path: string, workers: number): Promise<{ loader: DataLoader; createMs: number }> {
  const started = performance.now();
  const loader = await createLoader(path, {
    batchSize: BATCH,
    shuffle: true,
    seed: 1,
    workers,
    columns: ['image', 'label'],
    transforms,
  });
  return { loader, createMs: performance.now() - started };
}

/** Reads `epoch` of `loader`, releasing each batch, until it ends or `maxSeconds` after `from`. */
async function readEpoch(loader: DataLoader, epoch: number, from: number, maxSeconds: number): Promise<number> {
  let images = 0;
  for await (const batch of loader.epoch(epoch)) {
    images += batch.numRows;
    batch.release();
    if (performance.now() - from > maxSeconds * 1000) {
      await loader.endEpoch();
      break;
    }
  }
  return images;
}

/** One timed epoch of `loader`, timed from `from` (its creation for a cold run). */
async function timeEpoch(
  opened: { loader: DataLoader; createMs: number },
  workers: number,
  epoch: number,
  from: number,
  maxSeconds: number,
): Promise<LoaderRun> {
  const { loader, createMs } = opened;
  const before = loader.metrics();
  const elu = performance.eventLoopUtilization();
  const ticks = threadTicks();
  const cpu = process.cpuUsage();
  const images = await readEpoch(loader, epoch, from, maxSeconds);
  const { user, system } = process.cpuUsage(cpu);
  const byThread = cpuByThread(ticks, threadTicks(), images, workers);
  const busy = performance.eventLoopUtilization(elu);
  const seconds = (performance.now() - from) / 1000;
  const after = loader.metrics();
  return {
    imagesPerSecond: images / seconds,
    mainThreadBusy: busy.utilization,
    transformMsPerImage: (after.transformMs - before.transformMs) / images,
    cpuMsPerImage: (user + system) / 1000 / images,
    cpuMsPerImageByThread: byThread,
    coresUsed: (user + system) / 1e6 / seconds,
    readMsPerImage: (after.readMs - before.readMs) / images,
    createMs,
    images,
    seconds,
  };
}

/** A cold epoch: the dataset's files evicted, then createLoader and the epoch timed together. */
async function runCold(path: string, workers: number, maxSeconds: number): Promise<LoaderRun> {
  evictFiles(datasetFiles(path));
  const from = performance.now();
  const opened = await openLoader(path, workers);
  try {
    return await timeEpoch(opened, workers, 0, from, maxSeconds);
  } finally {
    await opened.loader.close();
  }
}

/**
 * Pairs of the 2-vs-1 comparison. The VM's speed drifts by a fifth within seconds, so one epoch of
 * each loader, taken apart, can say 1.5× or 2×: each pair times two epochs of each loader in the order
 * 2 1 1 2 (1 2 2 1 in the next pair), so that a steady drift within a pair weighs on both alike, and
 * the median of the pairs leaves out a pair a burst of the machine's other work fell on.
 */
const SCALING_PAIRS = 5;

/**
 * Warm epochs of a 1-worker and a 2-worker loader, both open at once and warmed, their timed epochs
 * alternated in SCALING_PAIRS pairs (above): per worker count, its timed epochs in order, two a pair.
 * The idle loader's workers wait without using a core.
 */
async function runWarm(path: string, maxSeconds: number): Promise<Record<1 | 2, LoaderRun[]>> {
  const opened = { 1: await openLoader(path, 1), 2: await openLoader(path, 2) };
  try {
    for (const workers of [1, 2] as const)
      for (let epoch = 0; epoch < WARM_EPOCHS * workers; epoch++)
        await readEpoch(opened[workers].loader, epoch, performance.now(), maxSeconds);
    const runs: Record<1 | 2, LoaderRun[]> = { 1: [], 2: [] };
    for (let pair = 0; pair < SCALING_PAIRS; pair++) {
      const [first, second] = pair % 2 === 0 ? ([2, 1] as const) : ([1, 2] as const);
      for (const workers of [first, second, second, first]) {
        const epoch = WARM_EPOCHS * workers + runs[workers].length;
        runs[workers].push(await timeEpoch(opened[workers], workers, epoch, performance.now(), maxSeconds));
      }
    }
    return runs;
  } finally {
    await Promise.all([opened[1].loader.close(), opened[2].loader.close()]);
  }
}

/**
 * Timed epochs of one loader as one run: images/s over their summed time, per-image figures weighted by
 * images, the main thread's busy share by time.
 */
function combineRuns(runs: readonly LoaderRun[]): LoaderRun {
  const images = runs.reduce((sum, r) => sum + r.images, 0);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const perImage = (value: (r: LoaderRun) => number) => runs.reduce((sum, r) => sum + value(r) * r.images, 0) / images;
  const threads = Object.keys(runs[0]?.cpuMsPerImageByThread ?? {});
  return {
    imagesPerSecond: images / seconds,
    mainThreadBusy: runs.reduce((sum, r) => sum + r.mainThreadBusy * r.seconds, 0) / seconds,
    transformMsPerImage: perImage((r) => r.transformMsPerImage),
    cpuMsPerImage: perImage((r) => r.cpuMsPerImage),
    cpuMsPerImageByThread: Object.fromEntries(
      threads.map((thread) => [thread, perImage((r) => r.cpuMsPerImageByThread[thread] ?? 0)]),
    ),
    coresUsed: runs.reduce((sum, r) => sum + r.coresUsed * r.seconds, 0) / seconds,
    readMsPerImage: perImage((r) => r.readMsPerImage),
    createMs: runs[0]?.createMs ?? 0,
    images,
    seconds,
  };
}

/** torchvision's DataLoader on the files, or why it was skipped. */
function runTorch(root: string, cache: 'warm' | 'cold', maxSeconds: number): Record<string, unknown> {
  if (!existsSync(PYTHON)) return { skipped: `${PYTHON} not found` };
  const script = join(import.meta.dirname, 'torchvision-images.py');
  const out = execFileSync(
    PYTHON,
    [script, root, '--workers', '2', '--cache', cache, '--max-seconds', String(maxSeconds)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
}

/**
 * Images per second of `fn` over `images` and its CPU time per image (the process's, all threads
 * included), best of two passes, in this thread.
 */
async function rate(
  images: readonly Buffer[],
  fn: (jpeg: Buffer, i: number) => unknown,
): Promise<{ imagesPerSecond: number; cpuMsPerImage: number }> {
  let best = { imagesPerSecond: 0, cpuMsPerImage: Infinity };
  for (let pass = 0; pass < 2; pass++) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    for (const [i, jpeg] of images.entries()) fn(jpeg, i);
    const { user, system } = process.cpuUsage(cpu);
    best = {
      imagesPerSecond: Math.max(best.imagesPerSecond, (images.length / (performance.now() - t)) * 1000),
      cpuMsPerImage: Math.min(best.cpuMsPerImage, (user + system) / 1000 / images.length),
    };
  }
  return best;
}

/**
 * The addon's JPEG path in this thread in three stages, on the same square crop (0.7 of the shorter side,
 * at the top left) as the @napi-rs/image measure: the crop's region decoded (its rows resampled to one,
 * so every row passes through libjpeg and the resample is a sliver), + the resample to 224 × 224 uint8,
 * + the mirror (every other image) and normalize into float32 (the worker's whole pipeline). Null where
 * the addon has no decodeJpeg.
 */
async function nativeStages(
  images: readonly Buffer[],
): Promise<Record<'region' | 'resample' | 'pipeline', Awaited<ReturnType<typeof rate>>> | null> {
  const decodeJpeg = nativeAddon()?.decodeJpeg;
  if (!decodeJpeg) return null;
  let scratch = new Uint8Array(1 << 20);
  const float = new Float32Array(224 * 224 * 3);
  const stage = (kind: 'region' | 'resample' | 'pipeline') => (jpeg: Buffer, i: number) => {
    const { width, height } = readImageSize(jpeg) as { width: number; height: number };
    const side = Math.floor(Math.min(width, height) * 0.7);
    const [w, h] = kind === 'region' ? [side, 1] : [224, 224];
    const pipeline = kind === 'pipeline';
    const scale = STD.map((s) => (pipeline ? 1 / 255 / s : 1));
    const offset = MEAN.map((m, c) => (pipeline ? -m / (STD[c] as number) : 0));
    const params = Float64Array.of(
      ...[width, height, 0, 0, side, side, w, h, 0, 0, w, h],
      ...[0, pipeline ? i & 1 : 0, 3, 0, 8],
      ...scale,
      1,
      ...offset,
      0,
    );
    const out = pipeline ? float : new Uint8Array(w * h * 3);
    let result = decodeJpeg(jpeg, params, scratch, out);
    if (result > 0) {
      scratch = new Uint8Array(result);
      result = decodeJpeg(jpeg, params, scratch, out);
    }
    if (result !== 0) throw new Error(`decodeJpeg returned ${result}`);
  };
  return {
    region: await rate(images, stage('region')),
    resample: await rate(images, stage('resample')),
    pipeline: await rate(images, stage('pipeline')),
  };
}

/**
 * 2 workers against 1 per alternated pair of warm epochs (runWarm: two epochs of each loader a pair):
 * each pair's images/s ratio and `2 × cpu₁ / cpu₂` (what two cores of their own would give at the
 * pair's CPU per image), and the median of each.
 */
function scalingOf(one: readonly LoaderRun[], two: readonly LoaderRun[]): ScalingResult {
  const pairs = Array.from({ length: Math.floor(one.length / 2) }, (_, i) => {
    const [a, b] = [combineRuns(one.slice(2 * i, 2 * i + 2)), combineRuns(two.slice(2 * i, 2 * i + 2))];
    return {
      one: { imagesPerSecond: a.imagesPerSecond, cpuMsPerImage: a.cpuMsPerImage },
      two: { imagesPerSecond: b.imagesPerSecond, cpuMsPerImage: b.cpuMsPerImage },
      imagesPerSecond: b.imagesPerSecond / a.imagesPerSecond,
      byCpu: (2 * a.cpuMsPerImage) / b.cpuMsPerImage,
    };
  });
  // An odd number of pairs: the middle value.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
  return {
    pairs,
    imagesPerSecond: median(pairs.map((p) => p.imagesPerSecond)),
    byCpu: median(pairs.map((p) => p.byCpu)),
  };
}

export async function runImagesTransform(options: ImagesTransformOptions): Promise<void> {
  const { say, maxSeconds } = options;
  const rows = options.quick ? 640 : 3200;
  // ensureJpegDataset holds a sixth out as its test table: the train table has `rows`.
  const dir = join(import.meta.dirname, '.data', `jpeg-${Math.round((rows * 6) / 5)}`);
  say(`images-transform: preparing ${rows} JPEGs in ${dir}`);
  const { trainPath } = await ensureJpegDataset(dir, Math.round((rows * 6) / 5));
  const files = join(dir, 'files');
  const dataset = await openDataset(trainPath);
  const jpegs: Buffer[] = [];
  try {
    for await (const batch of dataset.scan({ columns: ['image', 'label'] })) {
      const image = batch.getChild('image');
      const label = batch.getChild('label');
      for (let i = 0; i < batch.numRows; i++) {
        const bytes = Buffer.from(image?.get(i) as Uint8Array);
        const row = jpegs.push(bytes) - 1;
        const classDir = join(files, JPEG_CLASSES[label?.get(i) as number] as string);
        const file = join(classDir, `${row}.jpg`);
        if (!existsSync(file)) {
          mkdirSync(classDir, { recursive: true });
          writeFileSync(file, bytes);
        }
      }
    }
  } finally {
    await dataset.close();
  }
  const meanBytes = jpegs.reduce((s, b) => s + b.length, 0) / jpegs.length;
  say(`images-transform: ${jpegs.length} JPEGs, ${Math.round(meanBytes)} B on average`);

  const sample = jpegs.slice(0, 300);
  say('images-transform: @napi-rs/image in this thread (decode; decode + crop + resize 224)');
  const decodeOnly = await rate(sample, (b) => new Transformer(b).rawPixelsSync());
  // The worker's pipeline without its writes: decode, the crop copied out as RGBA, the resample.
  const pipeline = await rate(sample, (b) => {
    const image = new Transformer(b);
    const { width, height } = image.metadataSync();
    const rgb = image.rawPixelsSync();
    const side = Math.floor(Math.min(width, height) * 0.7);
    const rgba = new Uint8Array(side * side * 4);
    for (let y = 0, o = 0; y < side; y++)
      for (let s = y * width * 3, end = s + side * 3; s < end; s += 3, o += 4) {
        rgba[o] = rgb[s] as number;
        rgba[o + 1] = rgb[s + 1] as number;
        rgba[o + 2] = rgb[s + 2] as number;
        rgba[o + 3] = 255;
      }
    return Transformer.fromRgbaPixels(rgba, side, side)
      .fastResize({ width: 224, height: 224, filter: FastResizeFilter.Bilinear, fit: ResizeFit.Fill })
      .rawPixelsSync();
  });

  const native = await nativeStages(sample);

  const runs: Record<string, unknown> = {};
  say('images-transform: lance-loader 1 and 2 workers warm, timed epochs alternated');
  const warm = await runWarm(trainPath, maxSeconds);
  // The table's warm runs: all timed epochs of each loader together.
  runs['lance-loader 2 workers warm'] = combineRuns(warm[2]);
  runs['lance-loader 1 worker warm'] = combineRuns(warm[1]);
  say('images-transform: lance-loader 2 workers cold');
  runs['lance-loader 2 workers cold'] = await runCold(trainPath, 2, maxSeconds);
  const scaling = scalingOf(warm[1], warm[2]);
  for (const cache of ['warm', 'cold'] as const) {
    say(`images-transform: torchvision num_workers=2 ${cache}`);
    runs[`torchvision num_workers=2 ${cache}`] = runTorch(files, cache, maxSeconds);
  }

  const result = {
    generatedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    machine: describeMachine(join(import.meta.dirname, '..')),
    loadAverage: (await import('node:os')).loadavg(),
    rows: jpegs.length,
    meanJpegBytes: meanBytes,
    pipeline: 'RandomResizedCrop 224 + horizontal flip + normalize to float32, batch 64, shuffled',
    jpegPath: native ? 'libjpeg-turbo (the addon)' : '@napi-rs/image (the addon has no decodeJpeg)',
    inThread: { decode: decodeOnly, decodeCropResize: pipeline, native },
    runs,
    scaling,
  };
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'images-transform.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(renderImagesTransform(result));
}

/** The markdown table of a run (what bench/README.md shows). */
function renderImagesTransform(result: {
  runs: Record<string, unknown>;
  scaling: ScalingResult;
  jpegPath: string;
  inThread: Record<'decode' | 'decodeCropResize', Awaited<ReturnType<typeof rate>>> & {
    native: Awaited<ReturnType<typeof nativeStages>>;
  };
}): string {
  const rateOf = (name: string) => (result.runs[name] as { imagesPerSecond?: number } | undefined)?.imagesPerSecond;
  const fmt = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(0));
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
  const ours2 = result.runs['lance-loader 2 workers warm'] as LoaderRun;
  const cpuOf = (name: string) => (result.runs[name] as { cpuMsPerImage?: number } | undefined)?.cpuMsPerImage;
  const ms = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(2));
  const [cpu1, cpu2] = [cpuOf('lance-loader 1 worker warm'), cpuOf('lance-loader 2 workers warm')];
  const torchWarm = result.runs['torchvision num_workers=2 warm'] as
    { inThreadCpuMsPerImage?: number; inThreadDecodeCpuMsPerImage?: number } | undefined;
  const lines = [
    '| run | images/s | CPU ms/image | cores used | main thread busy | transform ms/image (worker) | read ms/image | createLoader ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(result.runs).map(([name, run]) => {
      const r = run as Partial<LoaderRun> & { skipped?: string };
      if (r.skipped) return `| ${name} | skipped: ${r.skipped} | | | | | | |`;
      return `| ${name} | ${fmt(r.imagesPerSecond)} | ${ms(r.cpuMsPerImage)} | ${ms(r.coresUsed)} | ${r.mainThreadBusy === undefined ? '—' : `${(r.mainThreadBusy * 100).toFixed(1)} %`} | ${ms(r.transformMsPerImage)} | ${ms(r.readMsPerImage)} | ${fmt(r.createMs)} |`;
    }),
    '',
    `- warm vs torchvision: ${ratio(rateOf('lance-loader 2 workers warm'), rateOf('torchvision num_workers=2 warm'))}; cold: ${ratio(rateOf('lance-loader 2 workers cold'), rateOf('torchvision num_workers=2 cold'))} (target ≥ 1.5×); CPU per image, torchvision's over ours (warm): ${ratio(cpuOf('torchvision num_workers=2 warm'), cpu2)}`,
    `- 2 workers vs 1: ${ratio(rateOf('lance-loader 2 workers warm'), rateOf('lance-loader 1 worker warm'))} (target ≥ 1.8×); CPU per image ${ms(cpu2)} ms with 2 workers, ${ms(cpu1)} with 1, so two cores of their own would give up to ${cpu1 && cpu2 ? ((2 * cpu1) / cpu2).toFixed(2) : '—'}×`,
    `- 2 workers vs 1 over ${result.scaling.pairs.length} alternated pairs of two warm epochs each, median: ${result.scaling.imagesPerSecond.toFixed(2)}× images/s, ${result.scaling.byCpu.toFixed(2)}× by CPU per image; per pair (images/s, by CPU per image, CPU ms an image with 1 / 2 workers): ${result.scaling.pairs.map((p) => `${p.imagesPerSecond.toFixed(2)}× ${p.byCpu.toFixed(2)}× ${ms(p.one.cpuMsPerImage)}/${ms(p.two.cpuMsPerImage)}`).join(', ')}`,
    ...(['lance-loader 2 workers warm', 'lance-loader 1 worker warm'] as const).map(
      (name) =>
        `- CPU ms per image by thread, ${name.slice('lance-loader '.length)}: ${Object.entries(
          (result.runs[name] as LoaderRun).cpuMsPerImageByThread,
        )
          .map(([thread, v]) => `${thread} ${v.toFixed(2)}`)
          .join(', ')}`,
    ),
    `- main thread busy while 2 workers decode: ${(ours2.mainThreadBusy * 100).toFixed(1)} % (target ≤ 5 %)`,
    `- JPEGs decoded by ${result.jpegPath}`,
    ...(result.inThread.native
      ? [
          `- in one thread, the addon's libjpeg-turbo path on a 0.7 square crop: the crop's region decoded ${ms(result.inThread.native.region.cpuMsPerImage)} ms CPU an image, ` +
            `+ resample to 224 ${ms(result.inThread.native.resample.cpuMsPerImage)}, + mirror and normalize into float32 (the whole pipeline) ${ms(result.inThread.native.pipeline.cpuMsPerImage)} (${fmt(result.inThread.native.pipeline.imagesPerSecond)} images/s)`,
        ]
      : []),
    `- in one thread, @napi-rs/image: decode only ${fmt(result.inThread.decode.imagesPerSecond)} images/s (${ms(result.inThread.decode.cpuMsPerImage)} ms CPU an image), ` +
      `decode + crop + resize 224 ${fmt(result.inThread.decodeCropResize.imagesPerSecond)} images/s (${ms(result.inThread.decodeCropResize.cpuMsPerImage)} ms CPU); ` +
      `a worker's whole transform (the same plus flip and normalize into the slot) ${ours2.transformMsPerImage.toFixed(2)} ms`,
    `- torchvision's pipeline in one thread (ImageFolder item: PIL decode, crop, resize, flip, ToTensor, Normalize): ${ms(torchWarm?.inThreadCpuMsPerImage)} ms CPU an image, PIL's decode alone ${ms(torchWarm?.inThreadDecodeCpuMsPerImage)} ms`,
  ];
  return lines.join('\n');
}

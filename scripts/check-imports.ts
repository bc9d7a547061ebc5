/**
 * The house rule, checked: dependencies point one way through the data flow, and no module reaches
 * itself through its imports. Run by `npm test` (npm run lint).
 *
 *   errors.ts ◄── format/, samplers/ ◄── io/ ◄── decode-workers/encodings/ ◄── dataset/
 *        ◄── decode-workers/ ◄── writer/ ◄── convert/ ◄── loader/ ◄── loader/tfjs/ ◄── entry points (index.ts, tfjs.ts, cli.ts)
 *
 * A module may import its own room and the rooms below it; `format/` and `samplers/` share a level but
 * not each other. Type-only imports count: a type is a dependency too. Examples import the public
 * entry points only. Reports every upward import and every cycle, then exits 1 if there is any.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Rooms from the bottom up; a room is a folder prefix or a file. Longest prefix wins. */
const LEVELS: string[][] = [
  ['errors.ts'],
  ['format/', 'samplers/'],
  ['io/'],
  ['decode-workers/encodings/'],
  ['dataset/'],
  ['decode-workers/'],
  ['writer/'],
  ['convert/'],
  ['loader/'],
  ['loader/tfjs/'],
  ['index.ts', 'tfjs.ts', 'cli.ts'],
];
const ENTRY_POINTS = new Set(['index.ts', 'tfjs.ts']);
const SOURCE_ROOTS = [...new Set(LEVELS.flat().map((room) => room.split('/')[0] as string))];

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;

function roomOf(file: string): { room: string; level: number } | undefined {
  let best: { room: string; level: number } | undefined;
  LEVELS.forEach((rooms, level) => {
    for (const room of rooms) {
      const matches = room.endsWith('/') ? file.startsWith(room) : file === room;
      if (matches && (!best || room.length > best.room.length)) best = { room, level };
    }
  });
  return best;
}

function listTs(dir: string): string[] {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) return [];
  if (fs.statSync(full).isFile()) return [dir];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return listTs(rel);
    return /\.c?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Relative imports of a file, resolved to repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const spec = (match[1] as string).replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts');
    found.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)));
  }
  return found;
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node) as number, low.get(to) as number));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node) as number, index.get(to) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

const problems: string[] = [];
const graph = new Map<string, string[]>();
for (const file of SOURCE_ROOTS.flatMap(listTs)) {
  const from = roomOf(file);
  if (!from) continue;
  const targets = importsOf(file);
  graph.set(file, targets);
  for (const target of targets) {
    const to = roomOf(target);
    if (!to) {
      problems.push(`${file} imports ${target}, which is in no room of the layout`);
    } else if (to.level > from.level || (to.level === from.level && to.room !== from.room)) {
      problems.push(`${file} (${from.room}) imports ${target} (${to.room}): an upward or sideways import`);
    }
  }
}
for (const component of cycles(graph)) problems.push(`import cycle: ${component.join(' → ')}`);
for (const file of listTs('examples')) {
  for (const target of importsOf(file)) {
    if (!ENTRY_POINTS.has(target) && !target.startsWith('examples/')) {
      problems.push(`${file} imports ${target}: examples use the public entry points only`);
    }
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(`check-imports: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-imports: ${graph.size} modules, dependencies point one way, no cycles`);

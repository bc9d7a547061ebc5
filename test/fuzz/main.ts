/**
 * `npm run fuzz`: mutates LanceDB-written files and checks that every read returns data or a typed error.
 *
 *   npm run fuzz                               10,000 cases of seed 1
 *   npm run fuzz -- --cases 500 --seed 7       another seed, fewer cases
 *   npm run fuzz -- --seed 7 --case 123        one case, to reproduce a failure
 *   options: --jobs N (child processes, default 2), --timeout MS (per case, default 20000),
 *            --rss-mb N (peak RSS cap per child, default 1024), --skip KIND (leave a mutation out; repeatable)
 *
 * Exits 1 when a case fails, after listing the failures grouped by message.
 */
import { parseArgs } from 'node:util';
import { formatSummary, runFuzz } from './fuzz.js';
import { mutationsFor, type MutationKind } from './mutations.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    case: { type: 'string' },
    jobs: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '20000' },
    'rss-mb': { type: 'string', default: '1024' },
    skip: { type: 'string', multiple: true, default: [] },
  },
});

function count(option: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`fuzz: --${option} must be a whole number ≥ 0, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const unknown = values.skip.filter((kind) => !mutationsFor('data').includes(kind as MutationKind));
if (unknown.length > 0) {
  console.error(`fuzz: --skip takes a mutation (${mutationsFor('data').join(', ')}), got ${unknown.join(', ')}`);
  process.exit(2);
}
const seed = count('seed', values.seed);
const cases = count('cases', values.cases);
const summary = await runFuzz({
  seed,
  cases,
  only: values.case === undefined ? undefined : count('case', values.case),
  skip: values.skip as MutationKind[],
  jobs: count('jobs', values.jobs),
  timeoutMs: count('timeout', values.timeout),
  rssCapBytes: count('rss-mb', values['rss-mb']) * 2 ** 20,
  onProgress: (done) => {
    if (done % 1000 === 0) console.error(`fuzz: ${done} / ${cases} cases`);
  },
});
console.log(formatSummary(summary, seed));
process.exitCode = summary.failures.length > 0 ? 1 : 0;

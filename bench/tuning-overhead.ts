/**
 * What choosing the next trial costs once a study is large: with N completed trials in a study,
 * the time of one `samplePoint` (the sampler alone, on trials in memory) and of one whole
 * `claimTrial` through the service (read the study and its trials, sample, claim atomically,
 * create the trial's tracking run), for random, grid and TPE, on each metadata backend.
 */
import { newId } from '../src/core/ids.js';
import { seededRandom } from '../src/core/random.js';
import type { Actor } from '../src/identity/index.js';
import type { Platform } from '../src/server/platform.js';
import { SqlTuningStore, canonicalKey, gridSize, mixSeed, samplePoint, sampleGrid, sampleRandom, type Params, type SamplerConfig, type SearchSpace, type Trial } from '../src/tuning/index.js';
import { quantile } from './tuning-quality.js';

/** Six parameters of every kind, as a real study would have them. */
const SPACE: SearchSpace = {
  learning_rate: { type: 'float', low: 1e-3, high: 0.5, log: true },
  subsample: { type: 'float', low: 0.4, high: 1 },
  num_leaves: { type: 'int', low: 4, high: 256, step: 4 },
  min_child_samples: { type: 'int', low: 1, high: 500, log: true },
  l2: { type: 'float', low: 0, high: 10 },
  booster: { type: 'categorical', choices: ['gbdt', 'dart', 'goss'] },
};

function value(p: Params): number {
  return Math.abs(Math.log(p.learning_rate as number) + 2.3) + ((p.subsample as number) - 0.8) ** 2 + Math.abs((p.num_leaves as number) - 64) / 64 + (p.booster === 'gbdt' ? 0 : 0.5);
}

/** The first `n` points the sampler would take in a sequential study (grid: the grid's first points). */
function fillPoints(sampler: SamplerConfig, n: number): Params[] {
  const rng = seededRandom(42);
  if (sampler.type !== 'grid') return Array.from({ length: n }, () => sampleRandom(SPACE, rng));
  const taken = new Set<string>();
  return Array.from({ length: n }, () => {
    const p = sampleGrid(SPACE, sampler.floatPoints ?? 5, taken)!;
    taken.add(canonicalKey(p));
    return p;
  });
}

export interface OverheadRow {
  backend: string;
  sampler: string;
  /** Milliseconds per call. */
  sampleP50: number;
  sampleP95: number;
  claimP50: number;
  claimP95: number;
  finishP50: number;
  /** Reading the study's trials, which claim and finish each do. */
  listP50: number;
}

const SAMPLERS: SamplerConfig[] = [{ type: 'random' }, { type: 'grid' }, { type: 'tpe' }];

/** The sampler alone: `reps` calls with `n` completed trials in memory. */
function timeSampler(sampler: SamplerConfig, n: number, reps: number): number[] {
  const trials: Trial[] = fillPoints(sampler, n).map((params, i) => ({
    id: `t${i}`,
    study: 's',
    number: i,
    params,
    state: 'complete',
    value: value(params),
    intermediate: {},
    runId: null,
    worker: 'w',
    startedAt: '',
    heartbeatAt: '',
    endedAt: null,
    error: null,
    retriedBy: null,
  }));
  const taken = new Set(trials.map((t) => canonicalKey(t.params)));
  const ms: number[] = [];
  for (let r = 0; r < reps + 3; r++) {
    const t = performance.now();
    samplePoint(sampler, { space: SPACE, direction: 'minimize', trials, taken, rng: seededRandom(mixSeed(7, n, r)) });
    if (r >= 3) ms.push(performance.now() - t); // the first calls warm the JIT up
  }
  return ms;
}

/**
 * The service: a study whose first `n` trials are written straight to the store (filling it
 * through the service would only take longer), then `reps` claims through the service, each
 * followed by its finish.
 */
async function timeService(platform: Platform, sampler: SamplerConfig, n: number, reps: number): Promise<{ claim: number[]; finish: number[]; list: number[] }> {
  const actor: Actor = { user: platform.config.auth.localUser, role: 'admin', tokenId: null };
  const name = `overhead-${sampler.type}-${newId('s').slice(2, 10)}`;
  await platform.tuning.createStudy({ name, metric: 'value', space: SPACE, sampler, budget: { trials: n + reps + 10 }, seed: 1 }, actor);
  const store = new SqlTuningStore(platform.database.db, platform.database.dialect);
  for (const params of fillPoints(sampler, n)) {
    const now = new Date().toISOString();
    const claimed = await store.claimTrial({ study: name, trialId: newId('trial'), params, claimKey: canonicalKey(params), worker: 'fill', now, maxTrials: null });
    if (claimed.kind !== 'claimed') throw new Error(`filling ${name}: ${claimed.kind}`);
    await store.finishTrial(claimed.trial.id, { state: 'complete', value: value(params), error: null, endedAt: now });
  }
  const claim: number[] = [];
  const finish: number[] = [];
  const list: number[] = [];
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    await platform.tuning.listTrials(name);
    list.push(performance.now() - t);
    t = performance.now();
    const { trial } = await platform.tuning.claimTrial(name, 'bench', actor);
    claim.push(performance.now() - t);
    if (!trial) throw new Error(`study ${name} stopped early`);
    t = performance.now();
    await platform.tuning.finishTrial(trial.id, { state: 'complete', value: value(trial.params) }, actor);
    finish.push(performance.now() - t);
  }
  return { claim, finish, list };
}

/** Measures every sampler on `platform`'s backend. */
export async function measureOverhead(platform: Platform, backend: string, n: number, reps: number): Promise<OverheadRow[]> {
  if (gridSize(SPACE, 5) < n + reps) throw new Error('the overhead space is too small for the grid');
  const rows: OverheadRow[] = [];
  for (const sampler of SAMPLERS) {
    const sample = timeSampler(sampler, n, reps);
    const { claim, finish, list } = await timeService(platform, sampler, n, reps);
    rows.push({
      backend,
      sampler: sampler.type,
      sampleP50: quantile(sample, 0.5),
      sampleP95: quantile(sample, 0.95),
      claimP50: quantile(claim, 0.5),
      claimP95: quantile(claim, 0.95),
      finishP50: quantile(finish, 0.5),
      listP50: quantile(list, 0.5),
    });
  }
  return rows;
}

export function printOverhead(rows: OverheadRow[], n: number, reps: number): void {
  const ms = (x: number) => (x < 1 ? x.toFixed(2) : x.toFixed(1));
  console.log(`\nSampler overhead with ${n} completed trials in the study (6 parameters: log float, float, int with step, log int, float, categorical); ${reps} calls each; goal < 10 ms\n`);
  console.log('| backend | sampler | sample p50 | sample p95 | claim via service p50 | claim p95 | finish p50 | of which reading the trials p50 |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.backend} | ${r.sampler} | ${ms(r.sampleP50)} ms | ${ms(r.sampleP95)} ms | ${ms(r.claimP50)} ms | ${ms(r.claimP95)} ms | ${ms(r.finishP50)} ms | ${ms(r.listP50)} ms |`);
  }
}

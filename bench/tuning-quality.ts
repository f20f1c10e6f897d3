/**
 * Search quality: the best value after N trials over many seeds, for Cairn's random search and
 * TPE run as real studies (TuningService on a temporary SQLite platform, function objectives
 * through runStudy), the bare samplers for comparison, and Optuna when it is installed.
 */
import { seededRandom } from '../src/core/random.js';
import type { Actor } from '../src/identity/index.js';
import type { Platform } from '../src/server/platform.js';
import { canonicalKey, mixSeed, runStudy, samplePoint, type Params, type SamplerConfig, type SearchSpace, type Trial } from '../src/tuning/index.js';
import type { OptunaDriver, OptunaSampler } from './tuning-optuna.js';

export type Objective = (p: Params) => number;

export interface Problem {
  name: string;
  space: SearchSpace;
  /** Known global minimum, when there is one. */
  minimum?: number;
  f: Objective;
}

export interface Runs {
  label: string;
  /** Best value of each seed's study. */
  best: number[];
  seconds: number;
}

/**
 * A sequential study on the bare sampler, seeded exactly as TuningService.claimTrial seeds it
 * (study seed, trial count, attempt), so that its trials are the service's trials: any difference
 * between the two would be the service's doing.
 */
export function samplerOnlyBest(space: SearchSpace, sampler: SamplerConfig, seed: number, n: number, f: Objective): number {
  const trials: Trial[] = [];
  const taken = new Set<string>();
  let best = Infinity;
  while (trials.length < n) {
    let params: Params | null = null;
    for (let attempt = 0; params === null; attempt++) {
      const p = samplePoint(sampler, { space, direction: 'minimize', trials, taken, rng: seededRandom(mixSeed(seed, trials.length, attempt)) })!;
      if (!taken.has(canonicalKey(p))) params = p;
    }
    const value = f(params);
    best = Math.min(best, value);
    taken.add(canonicalKey(params));
    const i = trials.length;
    trials.push({ id: `t${i}`, study: 's', number: i, params, state: 'complete', value, intermediate: {}, runId: null, worker: 'w', startedAt: '', heartbeatAt: '', endedAt: null, error: null, retriedBy: null });
  }
  return best;
}

let studyCount = 0;

/** A real study: created through the service, its trials run by runStudy; returns its best value. */
export async function studyBest(platform: Platform, space: SearchSpace, sampler: SamplerConfig, seed: number, n: number, f: Objective): Promise<number> {
  const actor: Actor = { user: platform.config.auth.localUser, role: 'admin', tokenId: null };
  const name = `bench-${sampler.type}-${++studyCount}`;
  await platform.tuning.createStudy({ name, metric: 'value', direction: 'minimize', space, sampler, budget: { trials: n }, seed }, actor);
  await runStudy(platform, name, async (p) => f(p));
  const progress = await platform.tuning.progress(name);
  if (progress.done !== n || !progress.best) throw new Error(`study ${name}: ${progress.done} of ${n} trials done`);
  return progress.best.value;
}

export async function timed(label: string, seeds: number, run: (seed: number) => number | Promise<number>): Promise<Runs> {
  const start = performance.now();
  const best: number[] = [];
  for (let s = 0; s < seeds; s++) best.push(await run(s));
  return { label, best, seconds: (performance.now() - start) / 1000 };
}

export const OPTUNA_LABELS: Record<OptunaSampler, string> = { random: 'random', tpe: 'TPE', 'tpe-fixed': 'TPE with upstream fix #5110' };

export async function optunaRuns(driver: OptunaDriver, version: string, problem: Problem, sampler: OptunaSampler, seeds: number, n: number): Promise<Runs> {
  return timed(`Optuna ${version} ${OPTUNA_LABELS[sampler]}`, seeds, (seed) => driver.optimise({ space: problem.space, sampler, seed, trials: n, objective: problem.f }));
}

/** The q-quantile by linear interpolation (numpy's default). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

/** Significant digits that show differences between samplers without noise. */
function show(x: number, digits: number): string {
  return x.toFixed(digits);
}

/** Prints one problem's table: median and interquartile range of the best values. */
export function printQuality(problem: Problem, n: number, rows: Runs[], digits: number): void {
  const gap = problem.minimum !== undefined;
  console.log(`\n${problem.name}: best value after ${n} trials, ${rows[0]!.best.length} seeds (lower is better${gap ? `; global minimum ${problem.minimum}` : ''})\n`);
  console.log(`| sampler | median best | IQR (p25 – p75) |${gap ? ' median gap to minimum |' : ''} time per study |`);
  console.log(`| --- | ---: | ---: |${gap ? ' ---: |' : ''} ---: |`);
  for (const r of rows) {
    const med = quantile(r.best, 0.5);
    const iqr = `${show(quantile(r.best, 0.25), digits)} – ${show(quantile(r.best, 0.75), digits)}`;
    const perStudy = r.seconds / r.best.length;
    console.log(`| ${r.label} | ${show(med, digits)} | ${iqr} |${gap ? ` ${show(med - problem.minimum!, digits)} |` : ''} ${perStudy < 1 ? `${Math.round(perStudy * 1000)} ms` : `${perStudy.toFixed(1)} s`} |`);
  }
}

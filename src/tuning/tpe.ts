/**
 * The Tree-structured Parzen Estimator (Bergstra et al. 2011), univariate, with Optuna's defaults:
 * random search for the first 10 trials, then the finished trials are split into the best
 * γ(n) = min(⌈0.1·n⌉, 25) ("below", l) and the rest ("above", g); each parameter is drawn as 24
 * candidates from l and the one maximising l(x)/g(x) (expected improvement) wins.
 *
 * Numeric parameters use a mixture of truncated normals on their internal scale (the logarithm
 * for log ones; integers widened by half a step and rounded), one kernel per observation plus a
 * prior kernel (centre of the range, width of the range, weight `priorWeight`), bandwidths from
 * the distance to the neighbours clipped to [range/min(100, 1+kernels), range] (Optuna's "magic
 * clip"). Older observations get less weight once there are more than 25 (Optuna's ramp).
 * Categorical parameters use smoothed counts: each observation is a kernel putting 1 on its choice
 * and priorWeight/n on every choice, plus a uniform prior. With the constant liar, running trials
 * join "above" as if they had the worst value, so parallel workers do not pile on one point.
 */
import type { CategoricalParam, Choice, ParamSpec, Params, TpeSamplerConfig, Trial } from './model.js';
import type { SampleContext } from './samplers.js';
import { sampleRandom } from './samplers.js';
import { fromInternal, internalBounds, snap, toInternal } from './space.js';

export const TPE_DEFAULTS = { nStartupTrials: 10, nEiCandidates: 24, priorWeight: 1, constantLiar: true } as const;

/** Optuna's default γ: the number of trials in the "below" group. */
export function tpeGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

/** Optuna's default weights: flat for the newest 25, a linear ramp up for older ones. */
export function tpeWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = n - 25;
  const out: number[] = [];
  for (let i = 0; i < ramp; i++) out.push(ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (ramp - 1));
  for (let i = 0; i < 25; i++) out.push(1);
  return out;
}

interface Observation {
  params: Params;
  number: number;
}

/** Splits trials into the good and the bad group; null while there are too few finished ones. */
export function splitTrials(trials: readonly Trial[], direction: 'minimize' | 'maximize', constantLiar: boolean): { below: Observation[]; above: Observation[] } {
  const complete = trials.filter((t) => t.state === 'complete' && t.value !== null && Number.isFinite(t.value));
  const sign = direction === 'minimize' ? 1 : -1;
  complete.sort((a, b) => sign * (a.value! - b.value!) || a.number - b.number);
  const pruned = trials.filter((t) => t.state === 'pruned');
  const running = constantLiar ? trials.filter((t) => t.state === 'running') : [];
  const n = complete.length + pruned.length + running.length;
  const nBelow = Math.min(tpeGamma(n), complete.length);
  const byNumber = (a: Observation, b: Observation) => a.number - b.number;
  const below = complete.slice(0, nBelow).map((t) => ({ params: t.params, number: t.number })).sort(byNumber);
  const above = [...complete.slice(nBelow), ...pruned, ...running].map((t) => ({ params: t.params, number: t.number })).sort(byNumber);
  return { below, above };
}

// ---- numeric Parzen estimator -------------------------------------------------------------

const SQRT2 = Math.SQRT2;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** erf to ~1e-7 (Abramowitz & Stegun 7.1.26). */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
const normCdf = (z: number) => 0.5 * (1 + erf(z / SQRT2));

export interface NumericMixture {
  mus: Float64Array;
  sigmas: Float64Array;
  /** Normalized weights. */
  weights: Float64Array;
  /** log of each kernel's mass inside [low, high]. */
  logMass: Float64Array;
  low: number;
  high: number;
}

/** Builds the Parzen mixture of observations (on the internal scale) with the prior kernel. */
export function numericMixture(xs: number[], weights: number[], low: number, high: number, priorWeight: number): NumericMixture {
  const range = high - low || 1;
  const mus = [...xs, (low + high) / 2];
  const ws = [...weights, priorWeight];
  const n = mus.length;
  const order = mus.map((_, i) => i).sort((a, b) => mus[a]! - mus[b]!);
  const sigmas = new Float64Array(n);
  const minSigma = range / Math.min(100, 1 + n);
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const left = k > 0 ? mus[i]! - mus[order[k - 1]!]! : null;
    const right = k < n - 1 ? mus[order[k + 1]!]! - mus[i]! : null;
    const s = left === null ? (right ?? range) : right === null ? left : Math.max(left, right);
    sigmas[i] = Math.min(range, Math.max(minSigma, s));
  }
  sigmas[n - 1] = range; // the prior
  const total = ws.reduce((a, b) => a + b, 0);
  const logMass = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const mass = normCdf((high - mus[i]!) / sigmas[i]!) - normCdf((low - mus[i]!) / sigmas[i]!);
    logMass[i] = Math.log(Math.max(mass, 1e-300));
  }
  return { mus: Float64Array.from(mus), sigmas, weights: Float64Array.from(ws.map((w) => w / total)), logMass, low, high };
}

/** log density of the truncated mixture at x. */
export function mixtureLogPdf(m: NumericMixture, x: number): number {
  let max = -Infinity;
  const terms = new Float64Array(m.mus.length);
  for (let i = 0; i < m.mus.length; i++) {
    const z = (x - m.mus[i]!) / m.sigmas[i]!;
    const t = Math.log(m.weights[i]!) - 0.5 * z * z - LOG_SQRT_2PI - Math.log(m.sigmas[i]!) - m.logMass[i]!;
    terms[i] = t;
    if (t > max) max = t;
  }
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < terms.length; i++) sum += Math.exp(terms[i]! - max);
  return max + Math.log(sum);
}

function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** One draw from the truncated mixture (rejection within the bounds; clipped after 100 misses). */
export function mixtureSample(m: NumericMixture, rng: () => number): number {
  let u = rng();
  let k = 0;
  while (k < m.weights.length - 1 && u >= m.weights[k]!) u -= m.weights[k++]!;
  for (let tries = 0; tries < 100; tries++) {
    const x = m.mus[k]! + m.sigmas[k]! * gaussian(rng);
    if (x >= m.low && x <= m.high) return x;
  }
  return Math.min(m.high, Math.max(m.low, m.mus[k]!));
}

// ---- categorical -------------------------------------------------------------------------

/** The smoothed-count distribution over the choices. */
export function categoricalProbs(spec: CategoricalParam, obs: Choice[], weights: number[], priorWeight: number): number[] {
  const k = spec.choices.length;
  const probs = new Array<number>(k).fill(0);
  let total = priorWeight;
  for (let i = 0; i < k; i++) probs[i] = priorWeight / k;
  obs.forEach((c, i) => {
    const idx = spec.choices.findIndex((x) => x === c);
    if (idx < 0) return;
    const w = weights[i]!;
    const denom = 1 + priorWeight;
    // A kernel: 1 on its choice plus priorWeight/k on every choice, normalised to 1.
    for (let j = 0; j < k; j++) probs[j]! += (w * ((j === idx ? 1 : 0) + priorWeight / k)) / denom;
    total += w;
  });
  return probs.map((p) => p / total);
}

// ---- the sampler -------------------------------------------------------------------------

function sampleNumeric(spec: ParamSpec, below: Observation[], above: Observation[], name: string, cfg: Required<Omit<TpeSamplerConfig, 'type'>>, rng: () => number): number {
  const [lo, hi] = internalBounds(spec);
  const values = (obs: Observation[]) => obs.map((o) => toInternal(spec, o.params[name] as number));
  const l = numericMixture(values(below), tpeWeights(below.length), lo, hi, cfg.priorWeight);
  const g = numericMixture(values(above), tpeWeights(above.length), lo, hi, cfg.priorWeight);
  let best = NaN;
  let bestScore = -Infinity;
  for (let i = 0; i < cfg.nEiCandidates; i++) {
    const x = mixtureSample(l, rng);
    const score = mixtureLogPdf(l, x) - mixtureLogPdf(g, x);
    if (score > bestScore || Number.isNaN(best)) [best, bestScore] = [x, score];
  }
  return snap(spec, fromInternal(spec, best));
}

function sampleCategorical(spec: CategoricalParam, below: Observation[], above: Observation[], name: string, cfg: Required<Omit<TpeSamplerConfig, 'type'>>, rng: () => number): Choice {
  const l = categoricalProbs(spec, below.map((o) => o.params[name]!), tpeWeights(below.length), cfg.priorWeight);
  const g = categoricalProbs(spec, above.map((o) => o.params[name]!), tpeWeights(above.length), cfg.priorWeight);
  let best = 0;
  let bestScore = -Infinity;
  for (let i = 0; i < cfg.nEiCandidates; i++) {
    let u = rng();
    let c = 0;
    while (c < l.length - 1 && u >= l[c]!) u -= l[c++]!;
    const score = Math.log(l[c]!) - Math.log(g[c]!);
    if (score > bestScore) [best, bestScore] = [c, score];
  }
  return spec.choices[best]!;
}

/** The next TPE point; random until `nStartupTrials` trials have finished. */
export function sampleTpe(config: TpeSamplerConfig, ctx: SampleContext): Params {
  const cfg = {
    nStartupTrials: config.nStartupTrials ?? TPE_DEFAULTS.nStartupTrials,
    nEiCandidates: config.nEiCandidates ?? TPE_DEFAULTS.nEiCandidates,
    priorWeight: config.priorWeight ?? TPE_DEFAULTS.priorWeight,
    constantLiar: config.constantLiar ?? TPE_DEFAULTS.constantLiar,
  };
  const finished = ctx.trials.filter((t) => t.state === 'complete' || t.state === 'pruned').length;
  if (finished < cfg.nStartupTrials) return sampleRandom(ctx.space, ctx.rng);
  const { below, above } = splitTrials(ctx.trials, ctx.direction, cfg.constantLiar);
  if (below.length === 0) return sampleRandom(ctx.space, ctx.rng);
  const out: Params = {};
  for (const name of Object.keys(ctx.space).sort()) {
    const spec = ctx.space[name]!;
    // Trials from before a parameter was added (or with a foreign value) simply do not vote on it.
    const has = (o: Observation) => o.params[name] !== undefined;
    out[name] =
      spec.type === 'categorical'
        ? sampleCategorical(spec, below.filter(has), above.filter(has), name, cfg, ctx.rng)
        : sampleNumeric(spec, below.filter(has), above.filter(has), name, cfg, ctx.rng);
  }
  return out;
}

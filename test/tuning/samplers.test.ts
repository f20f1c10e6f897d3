import { describe, expect, it } from 'vitest';
import { ValidationErrors } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import type { Params, SearchSpace, Trial, TrialState } from '../../src/tuning/model.js';
import { shouldPrune } from '../../src/tuning/pruners.js';
import { mixSeed, samplePoint, sampleGrid, sampleRandom } from '../../src/tuning/samplers.js';
import { canonicalKey, checkSpace, gridAxes, gridPoint, gridSize, inSpace } from '../../src/tuning/space.js';
import { categoricalProbs, mixtureLogPdf, numericMixture, splitTrials, tpeGamma, tpeWeights } from '../../src/tuning/tpe.js';
import type { SamplerConfig } from '../../src/tuning/model.js';

const SPACE: SearchSpace = {
  lr: { type: 'float', low: 1e-4, high: 1, log: true },
  x: { type: 'float', low: -5, high: 5 },
  leaves: { type: 'int', low: 4, high: 64, step: 4 },
  depth: { type: 'int', low: 1, high: 100, log: true },
  kind: { type: 'categorical', choices: ['a', 'b', true, 3] },
};

let nextId = 0;
function trial(number: number, params: Params, state: TrialState, value: number | null, intermediate: Record<string, number> = {}): Trial {
  return {
    id: `t${nextId++}`,
    study: 's',
    number,
    params,
    state,
    value,
    intermediate,
    runId: null,
    worker: 'w',
    startedAt: '',
    heartbeatAt: '',
    endedAt: null,
    error: null,
    retriedBy: null,
  };
}

/** Runs a sequential study of `n` trials on `f` and returns the best value. */
function optimise(config: SamplerConfig, space: SearchSpace, f: (p: Params) => number, n: number, seed: number): { best: number; trials: Trial[] } {
  const trials: Trial[] = [];
  const taken = new Set<string>();
  for (let i = 0; i < n; i++) {
    const p = samplePoint(config, { space, direction: 'minimize', trials, taken, rng: seededRandom(mixSeed(seed, i)) });
    if (!p) break;
    taken.add(canonicalKey(p));
    trials.push(trial(i, p, 'complete', f(p)));
  }
  return { best: Math.min(...trials.map((t) => t.value!)), trials };
}

describe('search spaces', () => {
  it('names every bad field', () => {
    const v = new ValidationErrors();
    checkSpace(v, 'space', {
      a: { type: 'float', low: 2, high: 1 },
      b: { type: 'float', low: 0, high: 1, log: true },
      c: { type: 'int', low: 0.5, high: 3, step: 0 },
      d: { type: 'categorical', choices: [] },
      e: { type: 'categorical', choices: ['x', 'x'] },
      f: { type: 'bogus' },
    });
    expect(v.errors.map((e) => e.path)).toEqual(['space.a.high', 'space.b.low', 'space.c.low', 'space.c.step', 'space.d.choices', 'space.e.choices', 'space.f.type']);
    const ok = new ValidationErrors();
    checkSpace(ok, 'space', SPACE);
    expect(ok.errors).toEqual([]);
  });

  it('gives a canonical key independent of key order and float noise', () => {
    expect(canonicalKey({ b: 1, a: 0.1 + 0.2 })).toBe(canonicalKey({ a: 0.3, b: 1 }));
    expect(canonicalKey({ a: 'x' })).not.toBe(canonicalKey({ a: 'y' }));
  });

  it('draws random points inside the space, log-uniform for log params, deterministic by seed', () => {
    const rng = seededRandom(1);
    const pts = Array.from({ length: 2000 }, () => sampleRandom(SPACE, rng));
    for (const p of pts) expect(inSpace(SPACE, p)).toBe(true);
    // log scale: about half the draws below sqrt(1e-4 * 1) = 0.01
    const below = pts.filter((p) => (p.lr as number) < 0.01).length / pts.length;
    expect(below).toBeGreaterThan(0.45);
    expect(below).toBeLessThan(0.55);
    // int with step: every value on the step grid, ends included
    const leaves = new Set(pts.map((p) => p.leaves));
    expect(leaves.size).toBe(16);
    expect(leaves.has(4) && leaves.has(64)).toBe(true);
    expect(new Set(pts.map((p) => p.kind)).size).toBe(4);
    const again = seededRandom(1);
    expect(sampleRandom(SPACE, again)).toEqual(pts[0]);
  });

  it('hands out every grid point exactly once, then none', () => {
    const space: SearchSpace = { a: { type: 'int', low: 1, high: 3 }, b: { type: 'categorical', choices: ['x', 'y'] }, c: { type: 'float', low: 0, high: 1 } };
    expect(gridSize(space, 3)).toBe(18);
    const taken = new Set<string>();
    for (let i = 0; i < 18; i++) {
      const p = sampleGrid(space, 3, taken)!;
      expect(taken.has(canonicalKey(p))).toBe(false);
      taken.add(canonicalKey(p));
    }
    expect(sampleGrid(space, 3, taken)).toBeNull();
    expect(taken.size).toBe(18);
  });

  it('walks past many taken grid points to the first free one (axes built once per call)', () => {
    const space: SearchSpace = { a: { type: 'int', low: 0, high: 99 }, b: { type: 'float', low: 1e-3, high: 1, log: true }, c: { type: 'categorical', choices: ['x', 'y', 'z'] } };
    const axes = gridAxes(space, 4);
    expect(axes.map(([name, values]) => [name, values.length])).toEqual([['a', 100], ['b', 4], ['c', 3]]);
    const taken = new Set(Array.from({ length: 1000 }, (_, i) => canonicalKey(gridPoint(space, 4, i))));
    taken.delete(canonicalKey(gridPoint(space, 4, 700)));
    expect(sampleGrid(space, 4, taken)).toEqual(gridPoint(space, 4, 700));
    taken.add(canonicalKey(gridPoint(space, 4, 700)));
    expect(sampleGrid(space, 4, taken)).toEqual(gridPoint(space, 4, 1000, axes));
    expect(gridPoint(space, 4, 1000, axes)).toEqual({ a: 0, b: 0.1, c: 'z' });
  });
});

describe('TPE', () => {
  it('uses Optuna’s γ and weights', () => {
    expect([1, 10, 11, 100, 1000].map(tpeGamma)).toEqual([1, 1, 2, 10, 25]);
    expect(tpeWeights(3)).toEqual([1, 1, 1]);
    const w = tpeWeights(50);
    expect(w).toHaveLength(50);
    expect(w[0]).toBeCloseTo(1 / 50);
    expect(w.slice(25)).toEqual(new Array(25).fill(1));
    expect(w[24]).toBeCloseTo(1);
  });

  it('splits finished trials into good and bad, with running ones as bad (constant liar)', () => {
    const ts = Array.from({ length: 20 }, (_, i) => trial(i, { x: i }, 'complete', i));
    ts.push(trial(20, { x: 99 }, 'running', null), trial(21, { x: 98 }, 'pruned', null));
    const { below, above } = splitTrials(ts, 'minimize', true);
    expect(below.map((o) => o.params.x)).toEqual([0, 1, 2]);
    expect(above.map((o) => o.params.x)).toContain(99);
    expect(splitTrials(ts, 'minimize', false).above.map((o) => o.params.x)).not.toContain(99);
    expect(splitTrials(ts, 'maximize', true).below.map((o) => o.params.x)).toEqual([17, 18, 19]);
  });

  it('builds normalized Parzen densities with a prior, and smoothed categorical counts', () => {
    const m = numericMixture([0.1, 0.2, 0.9], [1, 1, 1], 0, 1, 1);
    let integral = 0;
    for (let x = 0.0005; x < 1; x += 0.001) integral += Math.exp(mixtureLogPdf(m, x)) * 0.001;
    expect(integral).toBeCloseTo(1, 2);
    expect(mixtureLogPdf(m, 0.15)).toBeGreaterThan(mixtureLogPdf(m, 0.6));
    const p = categoricalProbs({ type: 'categorical', choices: ['a', 'b', 'c'] }, ['a', 'a'], [1, 1], 1);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    expect(p[0]).toBeGreaterThan(p[1]!);
    expect(p[1]).toBeGreaterThan(0);
  });

  it('is random for the startup trials, deterministic for a seed, and stays in the space', () => {
    const f = (p: Params) => ((p.x as number) - 1) ** 2 + Math.log(p.lr as number) ** 2 / 10 + (p.kind === 'b' ? 0 : 1) + Math.abs((p.leaves as number) - 32) / 32;
    const a = optimise({ type: 'tpe' }, SPACE, f, 40, 7);
    const b = optimise({ type: 'tpe' }, SPACE, f, 40, 7);
    expect(a.trials.map((t) => t.params)).toEqual(b.trials.map((t) => t.params));
    const r = optimise({ type: 'random' }, SPACE, f, 10, 7);
    expect(a.trials.slice(0, 10).map((t) => t.params)).toEqual(r.trials.map((t) => t.params));
    for (const t of a.trials) expect(inSpace(SPACE, t.params)).toBe(true);
    expect(optimise({ type: 'tpe' }, SPACE, f, 40, 8).trials.map((t) => t.params)).not.toEqual(a.trials.map((t) => t.params));
  });

  it('beats random search on a quadratic bowl over many seeds', () => {
    const space: SearchSpace = { x: { type: 'float', low: -10, high: 10 }, y: { type: 'float', low: -10, high: 10 }, c: { type: 'categorical', choices: ['p', 'q', 'r', 's'] } };
    const f = (p: Params) => (p.x as number) ** 2 + ((p.y as number) - 3) ** 2 + (p.c === 'r' ? 0 : 20);
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const seeds = Array.from({ length: 11 }, (_, i) => i);
    const tpe = med(seeds.map((s) => optimise({ type: 'tpe' }, space, f, 60, s).best));
    const rnd = med(seeds.map((s) => optimise({ type: 'random' }, space, f, 60, s).best));
    expect(tpe).toBeLessThan(rnd / 2);
  });
});

describe('pruners', () => {
  const curve = (id: number, state: TrialState, values: number[]) => {
    const t = trial(id, {}, state, values[values.length - 1] ?? null, Object.fromEntries(values.map((v, s) => [String(s), v])));
    return t;
  };

  it('median: prunes a trial worse than the median of complete trials at the step, after startup and warmup', () => {
    const done = [1, 2, 3, 4, 5].map((k, i) => curve(i, 'complete', [k, k - 0.5, k - 1]));
    const bad = curve(10, 'running', [10, 9]);
    const good = curve(11, 'running', [1, 0.5]);
    expect(shouldPrune({ type: 'median' }, 'minimize', bad, 1, [...done, bad])).toBe(true);
    expect(shouldPrune({ type: 'median' }, 'minimize', good, 1, [...done, good])).toBe(false);
    expect(shouldPrune({ type: 'median', nStartupTrials: 6 }, 'minimize', bad, 1, [...done, bad])).toBe(false);
    expect(shouldPrune({ type: 'median', nWarmupSteps: 2 }, 'minimize', bad, 1, [...done, bad])).toBe(false);
    expect(shouldPrune({ type: 'median' }, 'maximize', bad, 1, [...done, bad])).toBe(false);
    expect(shouldPrune({ type: 'none' }, 'minimize', bad, 1, [...done, bad])).toBe(false);
  });

  it('successive halving: keeps the top 1/η at each rung', () => {
    const others = [1, 2, 3, 4, 5, 6, 7, 8].map((k, i) => curve(i, 'complete', Array.from({ length: 10 }, () => k)));
    const cfg = { type: 'successive-halving' as const, minResource: 0, reductionFactor: 3 };
    // 9 competitors at rung 0: the top 3 (values ≤ 2.5 with mid counted) continue.
    expect(shouldPrune({ ...cfg, minResource: 1 }, 'minimize', curve(23, 'running', [9, 9]), 1, [...others])).toBe(true);
    expect(shouldPrune({ ...cfg, minResource: 1 }, 'minimize', curve(24, 'running', [9, 0.5]), 1, [...others])).toBe(false);
    // the first trial at a rung always continues
    expect(shouldPrune({ ...cfg, minResource: 1 }, 'minimize', curve(25, 'running', [9, 9]), 1, [])).toBe(false);
  });
});

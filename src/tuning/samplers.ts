/**
 * Samplers: where the next trial goes. Each is a pure function of the study's trials and a seeded
 * random source, so a study is reproducible for a given seed. Random draws each parameter
 * uniformly on its scale; grid walks the grid's points in order and hands each out once (taken
 * points are skipped); TPE is in tpe.ts.
 */
import type { Direction, Params, SamplerConfig, SearchSpace, Trial } from './model.js';
import { canonicalKey, gridAxes, gridPoint, uniformValue } from './space.js';
import { sampleTpe } from './tpe.js';

export interface SampleContext {
  space: SearchSpace;
  direction: Direction;
  /** Every trial of the study so far, running ones included. */
  trials: readonly Trial[];
  /** Canonical keys that are claimed already (complete, running, pruned, failed and not retried). */
  taken: ReadonlySet<string>;
  rng: () => number;
}

/** Draws every parameter uniformly on its scale (log-uniform for log ones). */
export function sampleRandom(space: SearchSpace, rng: () => number): Params {
  const out: Params = {};
  for (const name of Object.keys(space).sort()) out[name] = uniformValue(space[name]!, rng());
  return out;
}

export const DEFAULT_GRID_FLOAT_POINTS = 5;

/** The first grid point (in index order) nobody has taken; null when the grid is exhausted. */
export function sampleGrid(space: SearchSpace, floatPoints: number, taken: ReadonlySet<string>): Params | null {
  const axes = gridAxes(space, floatPoints);
  const size = axes.reduce((n, [, values]) => n * values.length, 1);
  for (let i = 0; i < size; i++) {
    const p = gridPoint(space, floatPoints, i, axes);
    if (!taken.has(canonicalKey(p))) return p;
  }
  return null;
}

/**
 * The next point of the configured sampler, or null when there is none left (an exhausted grid).
 * The caller claims it atomically and asks again (with a new random source) on a collision.
 */
export function samplePoint(config: SamplerConfig, ctx: SampleContext): Params | null {
  switch (config.type) {
    case 'random':
      return sampleRandom(ctx.space, ctx.rng);
    case 'grid':
      return sampleGrid(ctx.space, config.floatPoints ?? DEFAULT_GRID_FLOAT_POINTS, ctx.taken);
    case 'tpe':
      return sampleTpe(config, ctx);
  }
}

/** Mixes a study seed, a trial count and an attempt into one 32-bit seed (splitmix-style). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

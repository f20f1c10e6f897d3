/** Search spaces: validation, canonical keys of parameter combinations, sampling helpers and grids. */
import { type ValidationErrors } from '../core/errors.js';
import type { Choice, ParamSpec, Params, SearchSpace } from './model.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/;

/** Checks a search space, adding every problem to `v` under `path`. */
export function checkSpace(v: ValidationErrors, path: string, space: unknown): void {
  if (typeof space !== 'object' || space === null || Array.isArray(space)) {
    v.add(path, 'expected an object of parameter name → specification');
    return;
  }
  const entries = Object.entries(space as Record<string, unknown>);
  if (entries.length === 0) v.add(path, 'give at least one parameter');
  for (const [name, raw] of entries) {
    const at = `${path}.${name}`;
    if (!NAME.test(name)) v.add(at, 'parameter names are letters, digits, _, . and -');
    const s = raw as Partial<ParamSpec> & Record<string, unknown>;
    if (typeof s !== 'object' || s === null) {
      v.add(at, 'expected {type, …}');
      continue;
    }
    if (s.type === 'float' || s.type === 'int') {
      const { low, high } = s as { low: unknown; high: unknown };
      if (typeof low !== 'number' || !Number.isFinite(low)) v.add(`${at}.low`, 'expected a finite number');
      if (typeof high !== 'number' || !Number.isFinite(high)) v.add(`${at}.high`, 'expected a finite number');
      if (typeof low === 'number' && typeof high === 'number' && !(low <= high)) v.add(`${at}.high`, `must be ≥ low (${low})`);
      if (s.log !== undefined && typeof s.log !== 'boolean') v.add(`${at}.log`, 'expected true or false');
      if (s.log === true && typeof low === 'number' && low <= 0) v.add(`${at}.low`, 'must be > 0 on a log scale');
      if (s.type === 'int') {
        if (typeof low === 'number' && !Number.isInteger(low)) v.add(`${at}.low`, 'expected an integer');
        if (typeof high === 'number' && !Number.isInteger(high)) v.add(`${at}.high`, 'expected an integer');
        const step = (s as { step?: unknown }).step;
        if (step !== undefined && !(typeof step === 'number' && Number.isInteger(step) && step >= 1)) v.add(`${at}.step`, 'expected an integer ≥ 1');
        if (s.log === true && step !== undefined && step !== 1) v.add(`${at}.step`, 'a log-scale integer takes step 1');
      }
    } else if (s.type === 'categorical') {
      const choices = s.choices as unknown;
      if (!Array.isArray(choices) || choices.length === 0) v.add(`${at}.choices`, 'expected a non-empty list');
      else {
        choices.forEach((c, i) => {
          if (!(typeof c === 'string' || typeof c === 'boolean' || (typeof c === 'number' && Number.isFinite(c)))) v.add(`${at}.choices[${i}]`, 'expected a string, number or boolean');
        });
        const keys = choices.map((c) => JSON.stringify(c));
        if (new Set(keys).size !== keys.length) v.add(`${at}.choices`, 'choices must be distinct');
      }
    } else v.add(`${at}.type`, 'must be float, int or categorical');
  }
}

/**
 * The canonical JSON of a parameter combination: keys sorted, floats rounded to 12 significant
 * digits, so the same point is the same text on every worker. Claims are unique on this text.
 */
export function canonicalKey(params: Params): string {
  const sorted: Record<string, Choice> = {};
  for (const k of Object.keys(params).sort()) {
    const v = params[k]!;
    sorted[k] = typeof v === 'number' ? Number(v.toPrecision(12)) : v;
  }
  return JSON.stringify(sorted);
}

/** Rounds a sampled value to what the parameter can take (step grid, bounds, 12 digits). */
export function snap(spec: ParamSpec, x: number): number {
  if (spec.type === 'int') {
    const step = spec.step ?? 1;
    const k = Math.round((x - spec.low) / step);
    return Math.min(spec.high - ((spec.high - spec.low) % step), Math.max(spec.low, spec.low + k * step));
  }
  if (spec.type === 'float') return Number(Math.min(spec.high, Math.max(spec.low, x)).toPrecision(12));
  throw new Error('snap: categorical');
}

/** The internal (optimisation) scale of a numeric parameter: log for log-scale ones. */
export function toInternal(spec: ParamSpec, x: number): number {
  return spec.type !== 'categorical' && spec.log ? Math.log(x) : x;
}
export function fromInternal(spec: ParamSpec, y: number): number {
  return spec.type !== 'categorical' && spec.log ? Math.exp(y) : y;
}

/** Bounds on the internal scale; an int's bounds widen by half a step so its ends are as likely as its middle. */
export function internalBounds(spec: ParamSpec): [number, number] {
  if (spec.type === 'categorical') return [0, spec.choices.length];
  if (spec.type === 'int') {
    const half = (spec.step ?? 1) / 2;
    return spec.log ? [Math.log(spec.low - 0.5), Math.log(spec.high + 0.5)] : [spec.low - half, spec.high + half];
  }
  return spec.log ? [Math.log(spec.low), Math.log(spec.high)] : [spec.low, spec.high];
}

/** One value of a parameter drawn uniformly (on its scale) from `u` in [0, 1). */
export function uniformValue(spec: ParamSpec, u: number): Choice {
  if (spec.type === 'categorical') return spec.choices[Math.min(spec.choices.length - 1, Math.floor(u * spec.choices.length))]!;
  const [lo, hi] = internalBounds(spec);
  return snap(spec, fromInternal(spec, lo + u * (hi - lo)));
}

/** The values of a parameter on a grid: every int step and choice; `floatPoints` evenly spaced floats. */
export function gridValues(spec: ParamSpec, floatPoints: number): Choice[] {
  if (spec.type === 'categorical') return [...spec.choices];
  if (spec.type === 'int') {
    const step = spec.step ?? 1;
    const out: number[] = [];
    for (let x = spec.low; x <= spec.high; x += step) out.push(x);
    return out;
  }
  if (spec.low === spec.high || floatPoints <= 1) return [spec.low];
  const [lo, hi] = internalBounds(spec);
  return Array.from({ length: floatPoints }, (_, i) => snap(spec, fromInternal(spec, lo + ((hi - lo) * i) / (floatPoints - 1))));
}

/** How many points the grid of a space has. */
export function gridSize(space: SearchSpace, floatPoints: number): number {
  return Object.values(space).reduce((n, s) => n * new Set(gridValues(s, floatPoints).map((x) => JSON.stringify(x))).size, 1);
}

/** Each parameter's distinct grid values, parameters sorted by name: the digits of gridPoint's mixed radix. */
export function gridAxes(space: SearchSpace, floatPoints: number): [string, Choice[]][] {
  return Object.keys(space)
    .sort()
    .map((name) => [name, [...new Map(gridValues(space[name]!, floatPoints).map((x) => [JSON.stringify(x), x])).values()]]);
}

/**
 * The i-th point of the grid (mixed radix over parameters sorted by name). Callers walking many
 * points pass `axes` once: rebuilding them per point made the grid sampler O(taken × grid values).
 */
export function gridPoint(space: SearchSpace, floatPoints: number, index: number, axes = gridAxes(space, floatPoints)): Params {
  const out: Params = {};
  let rest = index;
  for (const [name, values] of axes) {
    out[name] = values[rest % values.length]!;
    rest = Math.floor(rest / values.length);
  }
  return out;
}

/** True when `params` has exactly the space's parameters, each a value it can take. */
export function inSpace(space: SearchSpace, params: Params): boolean {
  const names = Object.keys(space);
  if (Object.keys(params).length !== names.length) return false;
  return names.every((n) => {
    const s = space[n]!;
    const x = params[n];
    if (s.type === 'categorical') return s.choices.some((c) => c === x);
    if (typeof x !== 'number' || x < s.low - 1e-12 || x > s.high + 1e-12) return false;
    return s.type === 'float' || Number.isInteger((x - s.low) / (s.step ?? 1));
  });
}

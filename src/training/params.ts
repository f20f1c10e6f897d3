import { CairnError, ValidationErrors, type FieldError } from '../core/errors.js';
import { DEFAULT_GBDT_PARAMS, DEFAULT_LINEAR_PARAMS, resolveGbdtParams, resolveLinearParams } from '../ml/index.js';
import type { ParamValue, TrainerName } from './model.js';

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const DEFAULTS: Record<TrainerName, Record<string, unknown>> = { gbdt: DEFAULT_GBDT_PARAMS, linear: DEFAULT_LINEAR_PARAMS };
const RESOLVERS: Record<TrainerName, (p: Record<string, unknown>) => Record<string, unknown>> = {
  gbdt: (p) => resolveGbdtParams(p) as unknown as Record<string, unknown>,
  linear: (p) => resolveLinearParams(p) as unknown as Record<string, unknown>,
};

/** The snake_case parameter names a trainer takes, with their defaults. */
export function trainerParams(trainer: TrainerName): Record<string, unknown> {
  return Object.fromEntries(Object.entries(DEFAULTS[trainer]).map(([k, v]) => [snake(k), v]));
}

function closest(name: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/**
 * Translates user parameters (snake_case, as logged on the run) into the trainer's own names and
 * checks them all. Throws VALIDATION_FAILED naming each bad `params.<name>`, with a suggestion for
 * a misspelt name.
 */
export function translateParams(trainer: TrainerName, params: Record<string, ParamValue>): Record<string, unknown> {
  const known = new Map(Object.keys(DEFAULTS[trainer]).map((k) => [snake(k), k]));
  const v = new ValidationErrors();
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) {
    const camel = known.get(name);
    if (!camel) {
      const hint = closest(name, [...known.keys()]);
      v.add(`params.${name}`, `not a ${trainer} parameter${hint ? ` (did you mean ${hint}?)` : ''}; known: ${[...known.keys()].join(', ')}`);
      continue;
    }
    out[camel] = value;
  }
  v.throwIfAny();
  try {
    RESOLVERS[trainer](out);
  } catch (err) {
    if (err instanceof CairnError && err.code === 'VALIDATION_FAILED') {
      const errors = ((err.details.errors as FieldError[]) ?? []).map((e) => ({
        path: e.path.replace(/^params\.(\w+)/, (_, k: string) => `params.${snake(k)}`),
        reason: e.reason,
      }));
      throw CairnError.validation(errors);
    }
    throw err;
  }
  return out;
}

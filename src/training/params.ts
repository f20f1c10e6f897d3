import { closestName } from '../core/did-you-mean.js';
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
      const hint = closestName(name, known.keys());
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

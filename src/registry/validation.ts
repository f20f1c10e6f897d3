/**
 * The registry's input rules: model names, aliases, stages, tags, references. Each checker adds
 * what is wrong to a ValidationErrors under the field's path, so a request reports every problem.
 */
import type { ValidationErrors } from '../core/errors.js';
import { STAGES, type Stage } from './model.js';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const MODEL_NAME_RULE = 'must start with a letter or digit and hold only letters, digits, _ . - (at most 128)';

// An alias starts with a letter so that it can never be read as a version number.
const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
// Stage names and `latest` are kept free so that `model@production` or `model@latest` can never be
// ambiguous where a reference may name a stage, an alias or a version.
const RESERVED_ALIASES = new Set([...STAGES.map((s) => s.toLowerCase()), 'latest']);

export const MAX_TEXT = 20_000;
const MAX_TAGS = 100;
const TAG_KEY = /^[A-Za-z0-9_.\-/]{1,128}$/;

export function checkModelName(v: ValidationErrors, path: string, name: unknown): name is string {
  if (typeof name === 'string' && MODEL_NAME_PATTERN.test(name)) return true;
  v.add(path, `${MODEL_NAME_RULE}${typeof name === 'string' ? `, got ${JSON.stringify(name.slice(0, 60))}` : ''}`);
  return false;
}

export function checkAlias(v: ValidationErrors, path: string, alias: unknown): alias is string {
  if (typeof alias !== 'string' || !ALIAS_PATTERN.test(alias)) {
    v.add(path, 'must start with a lowercase letter and hold only a-z, 0-9, _ and - (at most 64), e.g. champion');
    return false;
  }
  if (RESERVED_ALIASES.has(alias)) {
    v.add(path, `${alias} is reserved (stage names and latest cannot be aliases)`);
    return false;
  }
  return true;
}

/** A stage in any letter case (`production`, `PRODUCTION`) → its canonical spelling, or null. */
export function parseStage(text: unknown): Stage | null {
  if (typeof text !== 'string') return null;
  return STAGES.find((s) => s.toLowerCase() === text.toLowerCase()) ?? null;
}

export function checkStage(v: ValidationErrors, path: string, text: unknown): Stage | null {
  const stage = parseStage(text);
  if (stage === null) v.add(path, `must be one of ${STAGES.join(', ')}${typeof text === 'string' ? `, got ${JSON.stringify(text.slice(0, 40))}` : ''}`);
  return stage;
}

export function checkTags(v: ValidationErrors, path: string, value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    v.add(path, 'expected an object of key: value');
    return out;
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) v.add(path, `at most ${MAX_TAGS} tags`);
  for (const [key, text] of entries) {
    if (!TAG_KEY.test(key)) {
      v.add(`${path}.${key}`, 'keys are 1 to 128 of letters, digits, _ . - /');
      continue;
    }
    const checked = v.text(`${path}.${key}`, text, 5000);
    if (checked !== null) out[key] = checked;
  }
  return out;
}

/** `name@3` of the feature store (dataset and feature versions). */
const PINNED_REF = /^([a-z][a-z0-9_]{0,63})@([1-9]\d{0,8})$/;

export function checkPinnedRef(v: ValidationErrors, path: string, ref: unknown): { name: string; version: number } | null {
  const m = typeof ref === 'string' ? PINNED_REF.exec(ref) : null;
  if (!m) {
    v.add(path, `expected a pinned version like name@3${typeof ref === 'string' ? `, got ${JSON.stringify(ref.slice(0, 80))}` : ''}`);
    return null;
  }
  return { name: m[1]!, version: Number(m[2]) };
}

/** `model@3`: a model version, as a parent is named. */
export function checkModelVersionRef(v: ValidationErrors, path: string, ref: unknown): { model: string; version: number } | null {
  const m = typeof ref === 'string' ? /^([A-Za-z0-9][A-Za-z0-9_.-]{0,127})@([1-9]\d{0,8})$/.exec(ref) : null;
  if (!m) {
    v.add(path, `expected a model version like churn@3${typeof ref === 'string' ? `, got ${JSON.stringify(ref.slice(0, 80))}` : ''}`);
    return null;
  }
  return { model: m[1]!, version: Number(m[2]) };
}

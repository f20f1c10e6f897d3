/**
 * Checks prediction instances against a model's signature before anything runs: every problem of
 * every instance is collected, with its path (`instances[2].distance`) and reason, and the request
 * is refused whole. What passes is a row the ONNX runner takes as it is.
 *
 * The rules:
 * - an instance is an object whose fields are the model's inputs, plus the entity key columns the
 *   model's online features are looked up by; anything else is an unknown field (with a "did you
 *   mean" suggestion);
 * - a numeric input takes a JSON number; a categorical input a string (or a number or boolean
 *   whose text is one of its categories, as an integer or boolean column trained as categorical);
 * - null (missing) is accepted only for an input the model saw missing in training (its profile
 *   says so; without a profile, null is accepted);
 * - strict mode (the default): a category outside the model's vocabulary, or a number outside the
 *   range seen in training, is refused; off, they are predicted as missing / extrapolated;
 * - an input that is neither given nor fillable from the online store is missing.
 */
import { closestName } from '../core/did-you-mean.js';
import type { FieldError } from '../core/errors.js';
import type { Signature } from '../ml/index.js';

/** One model input as validation sees it. */
export interface InputRule {
  name: string;
  kind: 'numeric' | 'categorical';
  min: number;
  max: number;
  vocabulary: ReadonlySet<string>;
  vocabularyList: readonly string[];
  nullable: boolean;
}

/** Inputs that can be read from the online store, grouped by the entity key columns they need. */
export interface FillGroup {
  entity: string;
  /** The instance fields holding the entity key, in the entity's join-key order. */
  keyColumns: string[];
  /** Model input ← pinned feature version (`name@version`). */
  uses: { input: string; ref: string }[];
}

export interface InputPlan {
  inputs: InputRule[];
  byName: ReadonlyMap<string, InputRule>;
  fill: FillGroup[];
  /** Input name → the group that can fill it. */
  fillable: ReadonlyMap<string, FillGroup>;
  /** Key columns of every fill group: fields an instance may carry besides the inputs. */
  keyColumns: ReadonlySet<string>;
  /** Every field name an instance may carry, for suggestions. */
  known: readonly string[];
}

/** Per-input "seen missing in training", from the version's profile.json when it has one. */
export type MissingInTraining = ReadonlyMap<string, boolean> | null;

export function buildInputPlan(signature: Signature, missingInTraining: MissingInTraining, fill: FillGroup[]): InputPlan {
  const inputs: InputRule[] = signature.inputs.map((i) => ({
    name: i.name,
    kind: i.kind,
    min: i.kind === 'numeric' && Number.isFinite(i.min) ? i.min : -Infinity,
    max: i.kind === 'numeric' && Number.isFinite(i.max) ? i.max : Infinity,
    vocabulary: new Set(i.kind === 'categorical' ? i.vocabulary : []),
    vocabularyList: i.kind === 'categorical' ? i.vocabulary : [],
    nullable: missingInTraining === null ? true : (missingInTraining.get(i.name) ?? true),
  }));
  const fillable = new Map<string, FillGroup>();
  for (const g of fill) for (const u of g.uses) fillable.set(u.input, g);
  const keyColumns = new Set(fill.flatMap((g) => g.keyColumns));
  return {
    inputs,
    byName: new Map(inputs.map((i) => [i.name, i])),
    fill,
    fillable,
    keyColumns,
    known: [...new Set([...inputs.map((i) => i.name), ...keyColumns])],
  };
}

/** Where a field of instance i is, for error messages: `instances[2].distance`. */
export type PathOf = (instance: number, field: string | null) => string;

export const instancePath =
  (prefix: string, single: boolean): PathOf =>
  (i, field) => {
    const at = single ? prefix : `${prefix}[${i}]`;
    return field === null ? at : `${at}.${field}`;
  };

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * Checks one value for an input; returns the value the runner takes (a category given as a number
 * becomes its text), or undefined after adding a problem to `errors`. `source` says where the value
 * came from, for the message when it was looked up.
 */
export function checkValue(rule: InputRule, value: unknown, strict: boolean, path: string, errors: FieldError[], source?: string): unknown {
  const from = source ? ` (${source})` : '';
  if (value === null || value === undefined) {
    if (rule.nullable) return null;
    errors.push({ path, reason: `null is not allowed${from}: the model never saw ${rule.name} missing in training` });
    return undefined;
  }
  if (rule.kind === 'numeric') {
    if (typeof value !== 'number') {
      errors.push({ path, reason: `expected a number, got ${describeValue(value)}${from}` });
      return undefined;
    }
    if (!Number.isFinite(value)) {
      errors.push({ path, reason: `expected a finite number, got ${value}${from}` });
      return undefined;
    }
    if (strict && (value < rule.min || value > rule.max)) {
      errors.push({ path, reason: `${value} is outside the range seen in training, [${rule.min}, ${rule.max}]${from}` });
      return undefined;
    }
    return value;
  }
  let text: string;
  if (typeof value === 'string') text = value;
  else if ((typeof value === 'number' || typeof value === 'boolean') && rule.vocabulary.has(String(value))) return String(value);
  else {
    errors.push({ path, reason: `expected a string (a category), got ${describeValue(value)}${from}` });
    return undefined;
  }
  if (strict && !rule.vocabulary.has(text)) {
    const hint = closestName(text, rule.vocabularyList);
    const known = rule.vocabularyList.length <= 10 ? `; known: ${rule.vocabularyList.join(', ')}` : ` (${rule.vocabularyList.length} known)`;
    errors.push({ path, reason: `${describeValue(text)} is not a category the model knows${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}${known}${from}` });
    return undefined;
  }
  return text;
}

/** One checked instance: the row for the runner, and the entity keys it carried. */
export interface CheckedInstance {
  row: Record<string, unknown>;
  /** Fill groups whose inputs this instance left to the online store. */
  lookups: FillGroup[] | null;
  /** Entity key columns the instance carried, as given (the online store tells 1 from '1'). */
  entities: Record<string, string | number> | null;
}

/**
 * Checks instances; returns one CheckedInstance each, or null after adding problems to `errors`.
 * Inputs left to the online store are checked after the lookup (`checkValue` with a source).
 */
export function checkInstances(plan: InputPlan, instances: readonly unknown[], strict: boolean, pathOf: PathOf, errors: FieldError[]): (CheckedInstance | null)[] {
  const out: (CheckedInstance | null)[] = new Array(instances.length);
  for (let i = 0; i < instances.length; i++) out[i] = checkInstance(plan, instances[i], i, strict, pathOf, errors);
  return out;
}

function checkInstance(plan: InputPlan, inst: unknown, i: number, strict: boolean, pathOf: PathOf, errors: FieldError[]): CheckedInstance | null {
  if (inst === null || typeof inst !== 'object' || Array.isArray(inst)) {
    errors.push({ path: pathOf(i, null), reason: `expected an object of features, got ${describeValue(inst)}` });
    return null;
  }
  const given = inst as Record<string, unknown>;
  const before = errors.length;
  let entities: Record<string, string | number> | null = null;
  /** A key column that is not also an input: it must not reach the runner's row. */
  let keyOnly = false;
  /** Key columns given with a bad value: the inputs they would fill are not reported again. */
  let badKeys: Set<string> | null = null;
  let copied = false;
  let row = given;
  for (const field in given) {
    const rule = plan.byName.get(field);
    const isKey = plan.keyColumns.has(field);
    if (!rule && !isKey) {
      const hint = closestName(field, plan.known);
      errors.push({ path: pathOf(i, field), reason: `unknown field${hint ? ` (did you mean ${hint}?)` : ''}; the model takes ${plan.known.join(', ')}` });
      continue;
    }
    const value = given[field];
    if (isKey) {
      if (!rule) keyOnly = true;
      if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) (entities ??= {})[field] = value;
      else if (!rule) {
        errors.push({ path: pathOf(i, field), reason: `expected an entity key (a string or number), got ${describeValue(value)}` });
        (badKeys ??= new Set()).add(field);
      }
    }
    if (rule) {
      const checked = checkValue(rule, value, strict, pathOf(i, field), errors);
      if (checked !== value && checked !== undefined) {
        if (!copied) [row, copied] = [{ ...given }, true];
        row[field] = checked;
      }
    }
  }
  let lookups: FillGroup[] | null = null;
  for (const rule of plan.inputs) {
    if (Object.hasOwn(given, rule.name)) continue;
    const group = plan.fillable.get(rule.name);
    const missingKeys = group ? group.keyColumns.filter((k) => entities?.[k] === undefined) : null;
    if (group && missingKeys!.length === 0) {
      if (!lookups) lookups = [group];
      else if (!lookups.includes(group)) lookups.push(group);
      continue;
    }
    if (badKeys && missingKeys?.some((k) => badKeys!.has(k))) continue;
    const how = group ? ` (or give ${missingKeys!.join(', ')} to read it from the online store)` : '';
    errors.push({ path: pathOf(i, rule.name), reason: `missing: the model needs ${rule.name}${how}` });
  }
  if (errors.length > before) return null;
  // Key columns that are not inputs must not reach the runner's row (and the logged features);
  // looked-up values are written into the row, which must then be our own copy.
  if (keyOnly || (lookups !== null && !copied)) {
    const clean: Record<string, unknown> = {};
    for (const rule of plan.inputs) if (Object.hasOwn(row, rule.name)) clean[rule.name] = row[rule.name];
    row = clean;
  }
  return { row, lookups, entities };
}

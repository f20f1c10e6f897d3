import type { ValidationErrors } from '../core/errors.js';
import type { FeatureRef } from './model.js';

/** Names of entities, sources, features, feature sets and datasets: safe as SQL column names. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
export const NAME_RULE = 'must start with a lowercase letter and hold only a-z, 0-9 and _ (at most 64)';
/** Join keys and key columns name columns of user files, so they may use any identifier. */
export const COLUMN_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const COLUMN_RULE = 'must be a column name: letters, digits and _, not starting with a digit';

/** Adds an error at `path` unless `name` is a valid object name. */
export function checkName(v: ValidationErrors, path: string, name: unknown): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) v.add(path, NAME_RULE);
}

/**
 * Parses `name`, `name@latest` or `name@3`. Returns null (and records why at `path`) when the
 * text is not a reference.
 */
export function parseRef(text: unknown, v: ValidationErrors, path: string): FeatureRef | null {
  if (typeof text !== 'string') {
    v.add(path, 'expected a reference like name@3 or name');
    return null;
  }
  const m = /^([a-z][a-z0-9_]{0,63})(?:@(latest|\d+))?$/.exec(text);
  if (!m) {
    v.add(path, `${JSON.stringify(text)} is not a reference like name@3 or name`);
    return null;
  }
  const version = m[2] === undefined || m[2] === 'latest' ? null : Number(m[2]);
  if (version === 0) {
    v.add(path, 'versions start at 1');
    return null;
  }
  return { name: m[1]!, version };
}

export function formatRef(name: string, version: number): string {
  return `${name}@${version}`;
}

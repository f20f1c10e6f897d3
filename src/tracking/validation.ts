/**
 * The rules of tracking input: names, keys, values, times and artifact paths. Each checker adds
 * what is wrong to a ValidationErrors under the field's path, so one request reports every
 * problem at once.
 */
import type { ValidationErrors } from '../core/errors.js';
import { CairnError } from '../core/errors.js';

export const EXPERIMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const EXPERIMENT_NAME_RULE = 'must start with a letter or digit and hold only letters, digits, _ . - (at most 128)';

// Keys appear in filters, so they stay printable: words of [A-Za-z0-9_.-/] with single spaces between.
const KEY_PATTERN = /^[A-Za-z0-9_.\-/]+(?: [A-Za-z0-9_.\-/]+)*$/;
const MAX_KEY_LENGTH = 250;
const KEY_RULE = `must be 1 to ${MAX_KEY_LENGTH} of letters, digits, _ - . / and single spaces between words`;
export const MAX_VALUE_LENGTH = 6000;
const MAX_RUN_NAME_LENGTH = 250;
const MAX_ARTIFACT_PATH_LENGTH = 1024;

/** `name@3`: a pinned version of a feature-store object (dataset, feature set, feature). */
export const PINNED_REF = /^([a-z][a-z0-9_]{0,63})@([1-9]\d{0,8})$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function checkExperimentName(v: ValidationErrors, path: string, name: unknown): void {
  if (typeof name !== 'string' || !EXPERIMENT_NAME_PATTERN.test(name)) v.add(path, EXPERIMENT_NAME_RULE);
}

export function checkKey(v: ValidationErrors, path: string, key: unknown): key is string {
  if (typeof key === 'string' && key.length <= MAX_KEY_LENGTH && KEY_PATTERN.test(key)) return true;
  v.add(path, `${KEY_RULE}${typeof key === 'string' ? `, got ${JSON.stringify(key.slice(0, 60))}` : ''}`);
  return false;
}

/** Param values are text: numbers and booleans are kept as their text (`0.1`, `true`). */
export function paramText(v: ValidationErrors, path: string, value: unknown): string | null {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    v.add(path, 'expected a finite number, a string or a boolean');
    return null;
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    v.add(path, 'expected a string, a number or a boolean');
    return null;
  }
  return v.text(path, String(value), MAX_VALUE_LENGTH);
}

/** A map of tags (or params with `asParam`) checked key by key under `path.key`. */
export function checkStringMap(v: ValidationErrors, path: string, value: unknown, asParam = false): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    v.add(path, 'expected an object of key: value');
    return out;
  }
  for (const [key, raw] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (!checkKey(v, at, key)) continue;
    const text = asParam ? paramText(v, at, raw) : v.text(at, raw, MAX_VALUE_LENGTH);
    if (text !== null) out[key] = text;
  }
  return out;
}

/** An ISO-8601 time normalized to UTC with milliseconds, or null (recorded) when it is not one. */
export function checkTime(v: ValidationErrors, path: string, value: unknown): string | null {
  const ms = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    v.add(path, `expected an ISO-8601 time like 2026-01-31T12:00:00Z${typeof value === 'string' ? `, got ${JSON.stringify(value.slice(0, 40))}` : ''}`);
    return null;
  }
  return new Date(ms).toISOString();
}

/** True when the text holds an ASCII control character (they break terminals, headers and paths). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function checkRunName(v: ValidationErrors, path: string, name: unknown): void {
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_RUN_NAME_LENGTH || hasControlCharacter(name)) {
    v.add(path, `expected 1 to ${MAX_RUN_NAME_LENGTH} printable characters`);
  }
}

export function checkPinnedRef(v: ValidationErrors, path: string, ref: unknown): { name: string; version: number } | null {
  const m = typeof ref === 'string' ? PINNED_REF.exec(ref) : null;
  if (!m) {
    v.add(path, `expected a pinned version like name@3${typeof ref === 'string' ? `, got ${JSON.stringify(ref.slice(0, 80))}` : ''}`);
    return null;
  }
  return { name: m[1]!, version: Number(m[2]) };
}

export function checkDigest(v: ValidationErrors, path: string, digest: unknown): void {
  if (typeof digest !== 'string' || !DIGEST.test(digest)) v.add(path, 'expected "sha256:" followed by 64 lowercase hex digits');
}

/**
 * Checks a run artifact path: relative, `/`-separated, with no empty, `.` or `..` segment, no
 * backslash and no control character, so that it can never name anything outside the run when a
 * client writes it to disk. A trailing `/` is allowed only for folders (`folder`), and stripped.
 * @throws VALIDATION_FAILED naming `field`.
 */
export function checkArtifactPath(raw: unknown, field = 'path', folder = false): string {
  const fail = (reason: string): never => {
    throw CairnError.validation([{ path: field, reason }], `invalid artifact ${field}: ${reason}`);
  };
  if (typeof raw !== 'string') return fail('expected a relative path like model/model.onnx');
  const path = folder ? raw.replace(/\/+$/, '') : raw;
  if (folder && path === '') return '';
  if (path === '') return fail('expected a relative path like model/model.onnx');
  if (path.length > MAX_ARTIFACT_PATH_LENGTH) fail(`at most ${MAX_ARTIFACT_PATH_LENGTH} characters`);
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) fail(`${JSON.stringify(path)} is absolute: give a path relative to the run`);
  if (path.includes('\\')) fail('use / to separate folders, not \\');
  if (hasControlCharacter(path)) fail('control characters are not allowed');
  for (const segment of path.split('/')) {
    if (segment === '..' || segment === '.') fail(`${JSON.stringify(path)} holds a ${segment} segment: paths stay inside the run`);
    if (segment === '') fail(`${JSON.stringify(path)} has an empty folder name (// or a trailing /)`);
  }
  return path;
}

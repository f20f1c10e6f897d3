/**
 * Parsers for the compact notations of the command line. Each throws VALIDATION_FAILED naming the
 * option and what is wrong, so a typo exits 2 before any request is sent. Deeper checks (does the
 * feature exist, is the name well formed) are the server's: it has the one copy of those rules.
 */
import { CairnError } from '../core/errors.js';
import type { FeatureUseInput } from '../features/index.js';

// The message names the option; the field line below it (printed by the CLI) says what is wrong.
function invalid(option: string, reason: string): CairnError {
  return CairnError.validation([{ path: option, reason }], `invalid ${option}`);
}

// A reference is `name`, `name@3` or `name@latest`; anything with separators in it is a typo.
const REF_SHAPE = /^[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?$/;

/** Splits `a=1,b=2` into pairs; the value may itself hold `=` (`expr=a=b` → `expr`, `a=b`). */
function splitPairs(text: string, option: string, what: string): [string, string][] {
  return text.split(',').map((segment) => {
    const eq = segment.indexOf('=');
    if (eq < 0) throw invalid(option, `${JSON.stringify(segment)} in ${JSON.stringify(text)} is not ${what}=value`);
    const key = segment.slice(0, eq).trim();
    const value = segment.slice(eq + 1).trim();
    if (!key) throw invalid(option, `${JSON.stringify(segment)} in ${JSON.stringify(text)} has no ${what} before =`);
    if (!value) throw invalid(option, `${JSON.stringify(segment)} in ${JSON.stringify(text)} has no value after =`);
    return [key, value];
  });
}

/**
 * Parses a feature use: `REF[,joinKey=column...][,as=alias]`, for example
 * `origin_delay_rate_7d@1,airport=origin,as=origin_rate`. `as` is reserved for the alias, so a
 * join key named `as` cannot be mapped here (use the SDK or the API for that). A plain reference
 * comes back as a string, the API's shortest form.
 */
export function parseFeatureUse(text: string, option = '--feature'): FeatureUseInput {
  const [head = '', ...rest] = text.split(',');
  const ref = head.trim();
  if (!ref) throw invalid(option, `${JSON.stringify(text)} does not start with a feature reference like name@1`);
  if (!REF_SHAPE.test(ref)) throw invalid(option, `${JSON.stringify(ref)} is not a feature reference like name@1 or name`);
  if (rest.length === 0) return ref;

  const joinOn: Record<string, string> = {};
  let alias: string | undefined;
  for (const [key, value] of splitPairs(rest.join(','), option, 'joinKey')) {
    if (key === 'as') {
      if (alias !== undefined) throw invalid(option, `as= is given twice in ${JSON.stringify(text)}`);
      alias = value;
    } else {
      if (key in joinOn) throw invalid(option, `join key ${key} is mapped twice in ${JSON.stringify(text)}`);
      joinOn[key] = value;
    }
  }
  return { ref, ...(Object.keys(joinOn).length > 0 ? { joinOn } : {}), ...(alias !== undefined ? { as: alias } : {}) };
}

// Plain decimals only: `007` and `1e3` stay text (zip codes, ids), as do integers a double cannot hold exactly.
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/;

/** `"42"` → 42, `"-1.5"` → -1.5; anything that is not a plain, exactly representable number stays text. */
export function coerceValue(text: string): string | number {
  if (!DECIMAL.test(text)) return text;
  const n = Number(text);
  if (!text.includes('.') && !Number.isSafeInteger(n)) return text;
  return n;
}

/**
 * Parses a row of entity keys: `col=value[,col=value]...`. Values that look numeric are numbers
 * (see coerceValue). Values cannot contain a comma.
 */
export function parseRow(text: string, option = '--row'): Record<string, string | number> {
  if (!text.trim()) throw invalid(option, 'expected col=value[,col=value]...');
  const row: Record<string, string | number> = {};
  for (const [key, value] of splitPairs(text, option, 'column')) {
    if (key in row) throw invalid(option, `column ${key} is given twice in ${JSON.stringify(text)}`);
    row[key] = coerceValue(value);
  }
  return row;
}

/** Parses repeated `key=value` options (`--tag team=ops --tag tier=1`) into one map of text. */
export function parsePairs(items: string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    for (const [key, value] of splitPairs(item, option, 'key')) {
      if (key in out) throw invalid(option, `${key} is given twice`);
      out[key] = value;
    }
  }
  return out;
}

/** Parses a comma-separated list of references: `a@1,b` → `['a@1', 'b']`. */
export function parseRefList(text: string, option: string): string[] {
  const refs = text.split(',').map((r) => r.trim());
  for (const ref of refs) {
    if (!REF_SHAPE.test(ref)) throw invalid(option, `${JSON.stringify(ref)} in ${JSON.stringify(text)} is not a reference like name@1 or name`);
  }
  return refs;
}

/**
 * Parses `name`, `name@latest` or `name@3` into a name and a version (null for the latest).
 * With `requireVersion`, a missing or `latest` version is an error.
 */
export function parseNameVersion(text: string, what: string, requireVersion = false): { name: string; version: number | null } {
  const m = /^([^@\s]+)(?:@(latest|[1-9]\d*))?$/.exec(text.trim());
  if (!m) throw invalid(what, `${JSON.stringify(text)} is not like name@3${requireVersion ? '' : ' or name'}`);
  const version = m[2] === undefined || m[2] === 'latest' ? null : Number(m[2]);
  if (requireVersion && version === null) throw invalid(what, `${JSON.stringify(text)} needs an explicit version, like ${m[1]}@1`);
  return { name: m[1]!, version };
}

/** Commander's accumulator for repeatable options: `--x a --x b` → `['a', 'b']`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Commander's parser for a positive integer option such as `--limit`. */
export function positiveInt(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1) throw invalid(option, `expected a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

/**
 * Parses repeated `--param key=value` into typed values: numbers (coerceValue's rule, plus
 * exponents like 1e-3), true/false, null; anything else stays text.
 */
export function parseParams(items: string[], option = '--param'): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, text] of Object.entries(parsePairs(items, option))) {
    if (text === 'null') out[key] = null;
    else if (text === 'true' || text === 'false') out[key] = text === 'true';
    else if (/^-?(\d+\.?\d*|\.\d+)e[-+]?\d+$/i.test(text)) out[key] = Number(text);
    else out[key] = coerceValue(text);
  }
  return out;
}

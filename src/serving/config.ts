/**
 * Serving settings, from environment variables like the rest of Cairn's configuration. Invalid
 * values stop start-up with INVALID_CONFIG naming each variable (exit code 78 in the CLI).
 */
import { CairnError, type FieldError } from '../core/errors.js';

export interface ServingConfig {
  /** Models to load at start (their Production version); null loads every model that has one. */
  models: string[] | null;
  /** Most rows merged into one ONNX run. */
  maxBatchRows: number;
  /** How long the first request of a batch waits for others, in milliseconds (0: only what is already queued). */
  maxWaitMs: number;
  /** Most instances one request may carry. */
  maxInstances: number;
  /** Explicitly addressed versions kept loaded, least recently used evicted first. */
  versionCacheSize: number;
  /** How often the event log is read for registry changes made by other processes, in ms. */
  pollMs: number;
  /**
   * Refuse values outside what the model was trained on: a category not in its vocabulary, a
   * number outside the training range. Off: such values are predicted as missing / extrapolated.
   */
  strict: boolean;
}

export const SERVING_VARIABLES: Record<string, string> = {
  CAIRN_SERVE_MODELS: 'comma-separated models to serve (default: every model with a Production version)',
  CAIRN_SERVE_MAX_BATCH: 'most rows in one ONNX run (default 256)',
  CAIRN_SERVE_MAX_WAIT_MS: 'longest wait for a batch to fill, ms (default 1)',
  CAIRN_SERVE_MAX_INSTANCES: 'most instances in one request (default 1000)',
  CAIRN_SERVE_VERSION_CACHE: 'explicitly addressed versions kept loaded (default 8)',
  CAIRN_SERVE_POLL_MS: 'how often registry changes from other processes are picked up, ms (default 1000)',
  CAIRN_SERVE_STRICT: 'on|off: refuse categories and numbers outside the training data (default on)',
};

export const DEFAULT_SERVING_CONFIG: ServingConfig = {
  models: null,
  maxBatchRows: 256,
  maxWaitMs: 1,
  maxInstances: 1000,
  versionCacheSize: 8,
  pollMs: 1000,
  strict: true,
};

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, errors: FieldError[]): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    errors.push({ path: name, reason: `expected an integer from ${min} to ${max}, got ${JSON.stringify(env[name])}` });
    return fallback;
  }
  return n;
}

/** Reads the CAIRN_SERVE_* variables. @throws INVALID_CONFIG naming every bad variable */
export function loadServingConfig(env: NodeJS.ProcessEnv = process.env): ServingConfig {
  const errors: FieldError[] = [];
  const d = DEFAULT_SERVING_CONFIG;
  const list = env.CAIRN_SERVE_MODELS?.trim();
  const models = list ? [...new Set(list.split(',').map((m) => m.trim()).filter((m) => m !== ''))] : null;
  const strictRaw = env.CAIRN_SERVE_STRICT?.trim().toLowerCase();
  let strict = d.strict;
  if (strictRaw) {
    if (['1', 'true', 'on', 'yes'].includes(strictRaw)) strict = true;
    else if (['0', 'false', 'off', 'no'].includes(strictRaw)) strict = false;
    else errors.push({ path: 'CAIRN_SERVE_STRICT', reason: `expected on/off or true/false, got ${JSON.stringify(env.CAIRN_SERVE_STRICT)}` });
  }
  const config: ServingConfig = {
    models: models && models.length > 0 ? models : null,
    maxBatchRows: integer(env, 'CAIRN_SERVE_MAX_BATCH', d.maxBatchRows, 1, 100_000, errors),
    maxWaitMs: integer(env, 'CAIRN_SERVE_MAX_WAIT_MS', d.maxWaitMs, 0, 1000, errors),
    maxInstances: integer(env, 'CAIRN_SERVE_MAX_INSTANCES', d.maxInstances, 1, 1_000_000, errors),
    versionCacheSize: integer(env, 'CAIRN_SERVE_VERSION_CACHE', d.versionCacheSize, 1, 1000, errors),
    pollMs: integer(env, 'CAIRN_SERVE_POLL_MS', d.pollMs, 50, 3_600_000, errors),
    strict,
  };
  if (errors.length > 0) {
    throw new CairnError('INVALID_CONFIG', `invalid configuration: ${errors.map((e) => `${e.path}: ${e.reason}`).join('; ')}`, { errors });
  }
  return config;
}

/**
 * Checking what a run is given: its inputs (lineage references) and the entries of a logging
 * batch. Every problem is reported at once, each under the path of its field.
 */
import { ValidationErrors } from '../core/errors.js';
import type { RunInputs } from './model.js';
import type { LogBatch } from './store.js';
import { MAX_VALUE_LENGTH, checkDigest, checkKey, checkPinnedRef, checkTime, paramText } from './validation.js';

/** The most entries of each kind one batch may carry. */
export const MAX_BATCH = { params: 1000, metrics: 10_000, tags: 1000 } as const;

export interface RunInputsInput {
  /** The training dataset version; the content hash is looked up when the catalog knows it. */
  dataset?: { ref: string; contentHash?: string };
  featureSet?: string;
  features?: string[];
}

export interface LogBatchInput {
  params?: { key: string; value: string | number | boolean }[];
  /** `step` defaults to 0 and `timestamp` to the time the batch arrives. */
  metrics?: { key: string; value: number; step?: number; timestamp?: string }[];
  tags?: { key: string; value: string }[];
}

/**
 * What the feature store knows about a run's inputs, so that a run's lineage names versions that
 * exist and carries the dataset's content hash. Optional: without it inputs are stored as given.
 */
export interface RunInputCatalog {
  /** The content hash of a dataset version; null when there is no such version. */
  datasetHash(name: string, version: number): Promise<string | null>;
  /** The pinned feature refs of a feature set version; null when there is no such version. */
  featureSetFeatures(name: string, version: number): Promise<string[] | null>;
  hasFeature(name: string, version: number): Promise<boolean>;
}

/**
 * Checks a run's input references and, with a catalog, that they exist; fills in the dataset's
 * content hash and a feature set's pinned features. Adds every problem to `v`.
 */
export async function checkRunInputs(v: ValidationErrors, input: RunInputsInput, catalog: RunInputCatalog | null): Promise<RunInputs> {
  const inputs: RunInputs = { dataset: null, featureSet: input.featureSet ?? null, features: [...(input.features ?? [])] };
  if (input.dataset !== undefined) {
    const ref = checkPinnedRef(v, 'inputs.dataset.ref', input.dataset.ref);
    let contentHash = input.dataset.contentHash ?? null;
    if (contentHash !== null) checkDigest(v, 'inputs.dataset.contentHash', contentHash);
    if (ref && catalog) {
      const known = await catalog.datasetHash(ref.name, ref.version);
      if (known === null) v.add('inputs.dataset.ref', `dataset version ${input.dataset.ref} not found`);
      else if (contentHash !== null && contentHash !== known) v.add('inputs.dataset.contentHash', `dataset ${input.dataset.ref} has content ${known}`);
      else contentHash = known;
    }
    inputs.dataset = { ref: input.dataset.ref, contentHash };
  }
  if (input.featureSet !== undefined) {
    const ref = checkPinnedRef(v, 'inputs.featureSet', input.featureSet);
    const pinned = ref && catalog ? await catalog.featureSetFeatures(ref.name, ref.version) : undefined;
    if (pinned === null) v.add('inputs.featureSet', `feature set version ${input.featureSet} not found`);
    // A run on a feature set used exactly its pinned features unless it says otherwise.
    if (pinned && inputs.features.length === 0) inputs.features = pinned;
  }
  for (const [i, text] of (input.features ?? []).entries()) {
    const ref = checkPinnedRef(v, `inputs.features[${i}]`, text);
    if (ref && catalog && !(await catalog.hasFeature(ref.name, ref.version))) v.add(`inputs.features[${i}]`, `feature version ${text} not found`);
  }
  return inputs;
}

/**
 * Checks and normalizes a logging batch; metric times default to `now`.
 * @throws VALIDATION_FAILED naming every bad entry with its path (`metrics[3].value`)
 */
export function checkLogBatch(input: LogBatchInput, now: string): LogBatch {
  const v = new ValidationErrors();
  const batch: LogBatch = { params: [], metrics: [], tags: [] };
  for (const part of ['params', 'metrics', 'tags'] as const) {
    const list = input[part];
    if (list !== undefined && !Array.isArray(list)) v.add(part, 'expected an array');
    else if (list && list.length > MAX_BATCH[part]) v.add(part, `at most ${MAX_BATCH[part]} entries in one batch, got ${list.length}`);
  }
  v.throwIfAny();

  const seenParams = new Map<string, string>();
  (input.params ?? []).forEach((p, i) => {
    const keyOk = checkKey(v, `params[${i}].key`, p?.key);
    const value = paramText(v, `params[${i}].value`, p?.value);
    if (!keyOk || value === null) return;
    const earlier = seenParams.get(p.key);
    if (earlier !== undefined && earlier !== value) v.add(`params[${i}].value`, `${p.key} is given twice in this batch with different values`);
    seenParams.set(p.key, value);
    batch.params.push({ key: p.key, value });
  });

  (input.metrics ?? []).forEach((m, i) => {
    const keyOk = checkKey(v, `metrics[${i}].key`, m?.key);
    let ok = keyOk;
    if (typeof m?.value !== 'number' || !Number.isFinite(m.value)) {
      v.add(`metrics[${i}].value`, 'expected a finite number');
      ok = false;
    }
    const step = m?.step ?? 0;
    if (!Number.isSafeInteger(step) || step < 0) {
      v.add(`metrics[${i}].step`, 'expected an integer ≥ 0');
      ok = false;
    }
    const timestamp = m?.timestamp === undefined ? now : checkTime(v, `metrics[${i}].timestamp`, m.timestamp);
    if (ok && timestamp !== null) batch.metrics.push({ key: m.key, value: m.value, step, timestamp });
  });

  (input.tags ?? []).forEach((t, i) => {
    const keyOk = checkKey(v, `tags[${i}].key`, t?.key);
    const value = v.text(`tags[${i}].value`, t?.value, MAX_VALUE_LENGTH);
    if (keyOk && value !== null) batch.tags.push({ key: t.key, value });
  });
  v.throwIfAny();
  return batch;
}

/**
 * How a model version did on live traffic: its logged predictions joined with the actual
 * outcomes that feedback reported. A version whose predictions carry a probability or a label is
 * a classifier (accuracy, ROC AUC, log loss); otherwise a regressor (RMSE, MAE).
 */
import { logLoss, mae, rmse, rocAuc } from '../ml/index.js';
import type { Actual, ClassifierPerformance, RegressorPerformance, VersionPerformance } from './log-model.js';
import type { FeedbackPair, VersionCount } from './log-store.js';

/** A class as a comparable value: true/false and "1"/"0" mean 1/0, so every spelling of a class matches. */
function asClass(v: Actual | null): number | string | null {
  if (v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return v;
}

/** The outcome as 0/1, or null when it is not a binary outcome. */
function asBinary(v: Actual): 0 | 1 | null {
  const c = asClass(v);
  return c === 0 || c === 1 ? c : null;
}

function asNumber(v: Actual): number | null {
  const c = asClass(v);
  return typeof c === 'number' ? c : null;
}

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function classifierMetrics(pairs: FeedbackPair[]): ClassifierPerformance {
  let correct = 0;
  let compared = 0;
  const y: number[] = [];
  const p: number[] = [];
  for (const pair of pairs) {
    const predicted = pair.label !== null ? asClass(pair.label) : pair.probability !== null ? (pair.probability >= 0.5 ? 1 : 0) : null;
    const actual = asClass(pair.actual);
    if (predicted !== null && actual !== null) {
      compared++;
      if (predicted === actual) correct++;
    }
    const binary = asBinary(pair.actual);
    if (binary !== null && pair.probability !== null) {
      y.push(binary);
      p.push(pair.probability);
    }
  }
  return {
    task: 'classification',
    accuracy: compared === 0 ? null : correct / compared,
    auc: y.length === 0 ? null : orNull(rocAuc(y, p)),
    logLoss: y.length === 0 ? null : orNull(logLoss(y, p)),
  };
}

function regressorMetrics(pairs: FeedbackPair[]): RegressorPerformance {
  const y: number[] = [];
  const yhat: number[] = [];
  for (const pair of pairs) {
    const actual = asNumber(pair.actual);
    if (actual === null) continue;
    y.push(actual);
    yhat.push(pair.value);
  }
  return { task: 'regression', rmse: y.length === 0 ? null : orNull(rmse(y, yhat)), mae: y.length === 0 ? null : orNull(mae(y, yhat)) };
}

/** One entry per version that has predictions, in version order. */
export function versionPerformance(counts: VersionCount[], pairs: FeedbackPair[]): VersionPerformance[] {
  const byVersion = new Map<number, FeedbackPair[]>();
  for (const pair of pairs) {
    const list = byVersion.get(pair.version);
    if (list) list.push(pair);
    else byVersion.set(pair.version, [pair]);
  }
  return counts.map((c) => {
    const list = byVersion.get(c.version) ?? [];
    const classifier = list.some((p) => p.probability !== null || p.label !== null);
    return {
      version: c.version,
      predictions: c.predictions,
      withFeedback: c.withFeedback,
      metrics: list.length === 0 ? null : classifier ? classifierMetrics(list) : regressorMetrics(list),
    };
  });
}

/**
 * Evaluation metrics for binary classification and regression, matching scikit-learn's
 * definitions. Inputs are parallel arrays; a label counts as positive when it is > 0.5. Metrics
 * that are undefined for the input (AUC with one class, anything on zero rows) are NaN — JSON
 * turns that into null.
 */
import { CairnError } from '../core/errors.js';

type Values = ArrayLike<number>;

/** sklearn's historical log-loss clipping: probabilities are kept in [eps, 1 − eps]. */
export const LOG_LOSS_EPS = 1e-15;

function checkLengths(a: Values, b: Values, what: string): void {
  if (a.length !== b.length) {
    throw CairnError.validation([{ path: what, reason: `has ${b.length} values for ${a.length} labels` }]);
  }
}

/**
 * Area under the ROC curve: the probability that a random positive scores higher than a random
 * negative, ties counting one half (the average-rank / Mann–Whitney statistic, as sklearn's
 * roc_auc_score). O(n log n): positives and negatives are sorted separately and merged. NaN when
 * either class is absent or a score is NaN.
 */
export function rocAuc(y: Values, score: Values): number {
  checkLengths(y, score, 'scores');
  let positives = 0;
  for (let i = 0; i < y.length; i++) if (y[i]! > 0.5) positives++;
  const negatives = y.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  for (let i = 0, p = 0, n = 0; i < y.length; i++) {
    const s = score[i]!;
    if (Number.isNaN(s)) return NaN;
    if (y[i]! > 0.5) pos[p++] = s;
    else neg[n++] = s;
  }
  pos.sort();
  neg.sort();
  // For each run of equal positive scores: negatives strictly below count 1, equal ones 1/2.
  let below = 0;
  let sum = 0;
  for (let i = 0; i < positives; ) {
    const s = pos[i]!;
    let j = i;
    while (j < positives && pos[j] === s) j++;
    while (below < negatives && neg[below]! < s) below++;
    let equal = below;
    while (equal < negatives && neg[equal] === s) equal++;
    sum += (j - i) * (below + (equal - below) / 2);
    i = j;
  }
  return sum / positives / negatives;
}

/** Mean negative log-likelihood of the labels under probabilities `p` (clipped to [eps, 1 − eps]). */
export function logLoss(y: Values, p: Values, eps = LOG_LOSS_EPS): number {
  checkLengths(y, p, 'probabilities');
  if (y.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(Math.max(p[i]!, eps), 1 - eps);
    sum -= y[i]! > 0.5 ? Math.log(q) : Math.log(1 - q);
  }
  return sum / y.length;
}

/** Mean squared difference between probability and label. */
export function brierScore(y: Values, p: Values): number {
  checkLengths(y, p, 'probabilities');
  if (y.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const d = p[i]! - (y[i]! > 0.5 ? 1 : 0);
    sum += d * d;
  }
  return sum / y.length;
}

export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts when a row is predicted positive iff `p >= threshold`. */
export function confusion(y: Values, p: Values, threshold = 0.5): ConfusionCounts {
  checkLengths(y, p, 'probabilities');
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < y.length; i++) {
    const actual = y[i]! > 0.5;
    const predicted = p[i]! >= threshold;
    if (predicted) {
      if (actual) tp++;
      else fp++;
    } else if (actual) fn++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

/** Share of rows whose thresholded prediction equals the label. */
export function accuracy(y: Values, p: Values, threshold = 0.5): number {
  const c = confusion(y, p, threshold);
  const n = c.tp + c.fp + c.tn + c.fn;
  return n === 0 ? NaN : (c.tp + c.tn) / n;
}

/** tp / (tp + fp); 0 when nothing is predicted positive (sklearn's zero_division=0). */
export function precision(y: Values, p: Values, threshold = 0.5): number {
  const c = confusion(y, p, threshold);
  return c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
}

/** tp / (tp + fn); 0 when there are no positives. */
export function recall(y: Values, p: Values, threshold = 0.5): number {
  const c = confusion(y, p, threshold);
  return c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
}

/** Harmonic mean of precision and recall, 2tp / (2tp + fp + fn); 0 when that is 0/0. */
export function f1(y: Values, p: Values, threshold = 0.5): number {
  const c = confusion(y, p, threshold);
  const d = 2 * c.tp + c.fp + c.fn;
  return d === 0 ? 0 : (2 * c.tp) / d;
}

/** Root mean squared error. */
export function rmse(y: Values, yhat: Values): number {
  checkLengths(y, yhat, 'predictions');
  if (y.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const d = y[i]! - yhat[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum / y.length);
}

/** Mean absolute error. */
export function mae(y: Values, yhat: Values): number {
  checkLengths(y, yhat, 'predictions');
  if (y.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += Math.abs(y[i]! - yhat[i]!);
  return sum / y.length;
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot. As sklearn: when y is constant, 1 for a
 * perfect prediction and 0 otherwise.
 */
export function r2(y: Values, yhat: Values): number {
  checkLengths(y, yhat, 'predictions');
  const n = y.length;
  if (n === 0) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const d = y[i]! - yhat[i]!;
    const t = y[i]! - mean;
    ssRes += d * d;
    ssTot += t * t;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

export interface ClassificationMetrics {
  rows: number;
  positives: number;
  auc: number;
  logLoss: number;
  brier: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  /** The probability at or above which a row counts as predicted positive. */
  threshold: number;
}

export interface RegressionMetrics {
  rows: number;
  rmse: number;
  mae: number;
  r2: number;
}

/** Every classification metric for labels `y` (0/1) and positive-class probabilities `p`. */
export function classificationMetrics(y: Values, p: Values, opts: { threshold?: number } = {}): ClassificationMetrics {
  const threshold = opts.threshold ?? 0.5;
  const c = confusion(y, p, threshold);
  const n = y.length;
  return {
    rows: n,
    positives: c.tp + c.fn,
    auc: rocAuc(y, p),
    logLoss: logLoss(y, p),
    brier: brierScore(y, p),
    accuracy: n === 0 ? NaN : (c.tp + c.tn) / n,
    precision: c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp),
    recall: c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn),
    f1: 2 * c.tp + c.fp + c.fn === 0 ? 0 : (2 * c.tp) / (2 * c.tp + c.fp + c.fn),
    threshold,
  };
}

/** Every regression metric for targets `y` and predictions `yhat`. */
export function regressionMetrics(y: Values, yhat: Values): RegressionMetrics {
  return { rows: y.length, rmse: rmse(y, yhat), mae: mae(y, yhat), r2: r2(y, yhat) };
}

import { describe, expect, it } from 'vitest';
import {
  accuracy,
  brierScore,
  classificationMetrics,
  f1,
  logLoss,
  mae,
  precision,
  r2,
  recall,
  regressionMetrics,
  rmse,
  rocAuc,
} from '../../src/ml/metrics.js';
import { lcg } from '../support/fixtures.js';

/** O(n²) AUC straight from the definition: P(score_pos > score_neg) + ½ P(equal). */
function bruteAuc(y: number[], s: number[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      sum += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

describe('classification metrics, hand-computed', () => {
  it('computes ROC AUC as the share of correctly ordered pairs, ties counting one half', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(rocAuc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(rocAuc([1, 0], [0.9, 0.1])).toBe(1);
    expect(rocAuc([1, 0], [0.1, 0.9])).toBe(0);
  });

  it('returns NaN for AUC when a class is absent', () => {
    expect(rocAuc([1, 1], [0.2, 0.3])).toBeNaN();
    expect(rocAuc([0, 0], [0.2, 0.3])).toBeNaN();
  });

  it('matches a brute-force AUC on random scores with many ties', () => {
    const rand = lcg(11);
    const y: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < 600; i++) {
      y.push(rand() < 0.3 ? 1 : 0);
      s.push(Math.round(rand() * 20) / 20); // 21 distinct values: lots of ties
    }
    expect(rocAuc(y, s)).toBeCloseTo(bruteAuc(y, s), 12);
  });

  it('computes log loss, clipping certain mistakes instead of returning Infinity', () => {
    expect(logLoss([1, 0], [0.8, 0.3])).toBeCloseTo((-Math.log(0.8) - Math.log(0.7)) / 2, 15);
    const clipped = logLoss([1], [0]);
    expect(Number.isFinite(clipped)).toBe(true);
    expect(clipped).toBeCloseTo(-Math.log(1e-15), 10);
  });

  it('computes accuracy, precision, recall, F1 at the 0.5 threshold and at another one', () => {
    const y = [1, 1, 0, 0];
    const p = [0.9, 0.4, 0.6, 0.1];
    expect(accuracy(y, p)).toBe(0.5);
    expect(precision(y, p)).toBe(0.5);
    expect(recall(y, p)).toBe(0.5);
    expect(f1(y, p)).toBe(0.5);
    // At 0.3 everything but the last row is positive: tp 2, fp 1, fn 0.
    expect(precision(y, p, 0.3)).toBeCloseTo(2 / 3, 15);
    expect(recall(y, p, 0.3)).toBe(1);
    expect(accuracy(y, p, 0.3)).toBe(0.75);
  });

  it('gives 0 precision/recall/F1 instead of 0/0', () => {
    expect(precision([1, 0], [0.1, 0.2])).toBe(0);
    expect(recall([0, 0], [0.9, 0.2])).toBe(0);
    expect(f1([0, 0], [0.1, 0.2])).toBe(0);
  });

  it('computes the Brier score', () => {
    expect(brierScore([1, 0], [0.8, 0.3])).toBeCloseTo(0.065, 15);
  });
});

describe('regression metrics, hand-computed', () => {
  it('computes RMSE, MAE and R²', () => {
    expect(rmse([1, 2, 3], [1, 2, 5])).toBeCloseTo(Math.sqrt(4 / 3), 15);
    expect(mae([1, 2, 3], [1, 2, 5])).toBeCloseTo(2 / 3, 15);
    expect(r2([1, 2, 3], [1, 2, 5])).toBeCloseTo(-1, 15);
    expect(r2([1, 2, 3], [2, 2, 2])).toBe(0);
  });

  it('follows sklearn for R² of a constant target: 1 when perfect, else 0', () => {
    expect(r2([2, 2], [2, 2])).toBe(1);
    expect(r2([2, 2], [2, 3])).toBe(0);
  });

  it('rejects arrays of different lengths', () => {
    expect(() => rmse([1, 2], [1])).toThrow(/1 values for 2 labels/);
  });
});

describe('against scikit-learn 1.2.1 on fixed arrays', () => {
  // Values printed by sklearn.metrics for exactly these arrays (roc_auc_score, log_loss,
  // accuracy/precision/recall/f1 of p >= 0.5, brier_score_loss, mean_squared_error (sqrt),
  // mean_absolute_error, r2_score).
  const y = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0];
  const p = [0.1, 0.8, 0.65, 0.3, 0.5, 0.5, 0.2, 0.9, 0.35, 0.7, 0.6, 0.05, 0.5, 0.4, 0.95, 0.5, 0.55, 0.3, 0.3, 0.15];

  it('matches the classification metrics', () => {
    const m = classificationMetrics(y, p);
    expect(m.auc).toBeCloseTo(0.86, 12);
    expect(m.logLoss).toBeCloseTo(0.4737129203792881, 12);
    expect(m.accuracy).toBeCloseTo(0.75, 12);
    expect(m.precision).toBeCloseTo(0.7272727272727273, 12);
    expect(m.recall).toBeCloseTo(0.8, 12);
    expect(m.f1).toBeCloseTo(0.761904761904762, 12);
    expect(m.brier).toBeCloseTo(0.15774999999999997, 12);
    expect(m).toMatchObject({ rows: 20, positives: 10, threshold: 0.5 });
  });

  it('matches log loss with probabilities of exactly 0 and 1 (eps 1e-15)', () => {
    expect(logLoss([0, 1, 0, 1, 1], [0, 1, 1, 0, 0.5])).toBeCloseTo(13.9542999135623, 9);
  });

  it('matches the regression metrics', () => {
    const m = regressionMetrics([3.0, -0.5, 2.0, 7.0, 4.2, 1.1, 0.0, 5.5], [2.5, 0.0, 2.0, 8.0, 3.9, 1.5, -0.3, 6.0]);
    expect(m.rmse).toBeCloseTo(0.5111262075065218, 12);
    expect(m.mae).toBeCloseTo(0.4375, 12);
    expect(m.r2).toBeCloseTo(0.9575106096414323, 12);
    expect(m.rows).toBe(8);
  });
});

import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import { trainGbdt, type IterationInfo } from '../../src/ml/gbdt/index.js';
import { LANE_MIN_ROWS } from '../../src/ml/gbdt/lanes.js';
import { accuracy, logLoss, rmse, rocAuc } from '../../src/ml/metrics.js';
import { predict, predictRaw } from '../../src/ml/predict.js';
import { lcg } from '../support/fixtures.js';
import { bruteForceRaw, categorical, data, numeric, walkTree } from './helpers.js';

/** y = 1 when x1 and x2 have the same sign (XOR of two thresholds), with 2% label noise. */
function xor(rows: number, seed: number) {
  const rand = lcg(seed);
  const x1: number[] = [];
  const x2: number[] = [];
  const noise: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    const a = rand() * 2 - 1;
    const b = rand() * 2 - 1;
    x1.push(a);
    x2.push(b);
    noise.push(rand());
    y.push((a * b > 0) !== rand() < 0.02 ? 1 : 0);
  }
  return data('binary', [numeric('x1', -1, 1), numeric('x2', -1, 1), numeric('noise')], [x1, x2, noise], y);
}

/** A categorical-only problem: y = 1 for a scattered third of 30 categories (codes not contiguous). */
function categories(rows: number, seed: number, asNumeric = false) {
  const rand = lcg(seed);
  const positive = new Set([1, 4, 5, 9, 14, 17, 20, 22, 27, 29]);
  const codes: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    const c = Math.floor(rand() * 30);
    codes.push(c);
    y.push(positive.has(c) !== rand() < 0.03 ? 1 : 0);
  }
  const input = asNumeric ? numeric('airport', 0, 29) : categorical('airport', 30);
  return data('binary', [input], [codes], y);
}

describe('gbdt: learning', () => {
  it('learns an XOR-like problem that no single threshold separates', () => {
    const train = xor(4000, 1);
    const test = xor(2000, 2);
    const { model } = trainGbdt(train, { nTrees: 60, learningRate: 0.2, maxLeaves: 8, minSamplesLeaf: 10 });
    const p = predict(model, test.frame);
    expect(accuracy(test.labels, p)).toBeGreaterThan(0.93);
    expect(model.featureImportance.x1! + model.featureImportance.x2!).toBeGreaterThan(0.9);
    expect(Object.values(model.featureImportance).reduce((a, b) => a + b)).toBeCloseTo(1, 12);
  });

  it('splits a categorical input natively: one split separates a scattered set of categories', () => {
    const train = categories(3000, 3);
    const test = categories(2000, 4);
    const stump = { nTrees: 1, learningRate: 1, maxLeaves: 2, minSamplesLeaf: 5 };
    const { model } = trainGbdt(train, stump);
    expect(model.trees[0]!.categories[0]!.sort((a, b) => a - b)).toEqual([1, 4, 5, 9, 14, 17, 20, 22, 27, 29]);
    expect(rocAuc(test.labels, predict(model, test.frame))).toBeGreaterThan(0.95);
    // The same codes as a number: a single threshold cannot isolate the set.
    const numericModel = trainGbdt(categories(3000, 3, true), stump).model;
    expect(rocAuc(test.labels, predict(numericModel, categories(2000, 4, true).frame))).toBeLessThan(0.7);
  });

  it('beats the mean on a regression problem', () => {
    const make = (rows: number, seed: number) => {
      const rand = lcg(seed);
      const a: number[] = [];
      const b: number[] = [];
      const y: number[] = [];
      for (let i = 0; i < rows; i++) {
        const x1 = rand() * 6 - 3;
        const x2 = rand() * 4 - 2;
        a.push(x1);
        b.push(x2);
        y.push(3 * Math.sin(x1) + x2 * x2 + (rand() - 0.5) * 0.2);
      }
      return data('regression', [numeric('a'), numeric('b')], [a, b], y);
    };
    const train = make(3000, 5);
    const test = make(1000, 6);
    const { model } = trainGbdt(train, { nTrees: 150, learningRate: 0.1, maxLeaves: 16, minSamplesLeaf: 10 });
    const mean = train.labels.reduce((s, v) => s + v, 0) / train.frame.rows;
    expect(model.baseScore).toBeCloseTo(mean, 12);
    const baseline = rmse(test.labels, new Float64Array(test.frame.rows).fill(mean));
    expect(rmse(test.labels, predict(model, test.frame))).toBeLessThan(0.15 * baseline);
  });

  it('reports every iteration with a falling training loss', () => {
    const seen: IterationInfo[] = [];
    const train = xor(1000, 7);
    const valid = xor(500, 8);
    const { model } = trainGbdt(train, { nTrees: 20, maxLeaves: 8 }, { onIteration: (info) => seen.push(info), valid });
    expect(seen.map((s) => s.iteration)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(seen[19]!.trainLoss!).toBeLessThan(seen[0]!.trainLoss!);
    expect(seen[19]!.trainLoss!).toBeCloseTo(logLoss(train.labels, predict(model, train.frame)), 7);
    expect(seen[19]!.validLoss!).toBeCloseTo(logLoss(valid.labels, predict(model, valid.frame)), 9);
    expect(seen.every((s) => s.validLoss !== null && s.validMetric === s.validLoss)).toBe(true);
    // Regression reports RMSE.
    const reg: IterationInfo[] = [];
    const regression = { ...train, labels: train.frame.columns.x1!.map((v) => 2 * v) as Float64Array, signature: { ...train.signature, task: 'regression' as const } };
    const fitted = trainGbdt(regression, { nTrees: 5 }, { onIteration: (info) => reg.push(info) }).model;
    expect(reg[4]!.trainLoss).toBeCloseTo(rmse(regression.labels, predict(fitted, regression.frame)), 9);
  });
});

describe('gbdt: early stopping', () => {
  it('stops once the validation loss stops improving and keeps the trees up to the best iteration', () => {
    // Labels independent of the inputs: every tree after the first few only fits noise.
    const noise = (rows: number, seed: number) => {
      const rand = lcg(seed);
      const x: number[] = [];
      const y: number[] = [];
      for (let i = 0; i < rows; i++) {
        x.push(rand());
        y.push(rand() < 0.4 ? 1 : 0);
      }
      return data('binary', [numeric('x')], [x], y);
    };
    const result = trainGbdt(noise(2000, 9), { nTrees: 200, learningRate: 0.3, maxLeaves: 31, minSamplesLeaf: 5, earlyStoppingRounds: 5 }, { valid: noise(1000, 10) });
    expect(result.stoppedEarly).toBe(true);
    expect(result.history.length).toBeLessThan(60);
    expect(result.history.length).toBe(result.bestIteration + 5);
    expect(result.iterations).toBe(result.bestIteration);
    expect(result.model.trees).toHaveLength(result.bestIteration);
    const best = Math.min(...result.history.map((h) => h.validMetric!));
    expect(result.history[result.bestIteration - 1]!.validMetric).toBe(best);
  });

  it('can stop on AUC, where higher is better', () => {
    const result = trainGbdt(xor(2000, 11), { nTrees: 300, learningRate: 0.3, maxLeaves: 8, earlyStoppingRounds: 10, validationMetric: 'auc' }, { valid: xor(1000, 12) });
    expect(result.validationMetric).toBe('auc');
    const best = Math.max(...result.history.map((h) => h.validMetric!));
    expect(result.history[result.bestIteration - 1]!.validMetric).toBe(best);
    expect(best).toBeGreaterThan(0.95);
  });

  it('requires a validation set for early stopping, and a metric that fits the task', () => {
    expect(() => trainGbdt(xor(100, 1), { earlyStoppingRounds: 5 })).toThrow(/earlyStoppingRounds: needs a validation set/);
    expect(() => trainGbdt(xor(100, 1), { validationMetric: 'rmse' })).toThrow(/rmse does not apply to a binary task/);
  });
});

describe('gbdt: determinism and constraints', () => {
  it('gives the identical model for the same seed, and a different one for another seed', () => {
    const train = xor(3000, 13);
    const params = { nTrees: 15, rowSubsample: 0.7, featureSubsample: 0.67, maxLeaves: 12 };
    const a = JSON.stringify(trainGbdt(train, { ...params, seed: 42 }).model);
    const b = JSON.stringify(trainGbdt(train, { ...params, seed: 42 }).model);
    const c = JSON.stringify(trainGbdt(train, { ...params, seed: 43 }).model);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('gives the identical model with and without the helper thread, for both losses', () => {
    // Big enough that histograms and partitions are cut into two lanes.
    const binary = xor(2 * LANE_MIN_ROWS + 5000, 14);
    const regression = { ...binary, labels: binary.frame.columns.x1!.map((v, i) => 3 * v + binary.labels[i]!) as Float64Array, signature: { ...binary.signature, task: 'regression' as const } };
    for (const train of [binary, regression]) {
      const params = { nTrees: 5, maxLeaves: 16, rowSubsample: 0.9 };
      const one = trainGbdt(train, params, { threads: 1 }).model;
      const two = trainGbdt(train, params, { threads: 2 }).model;
      expect(JSON.stringify(two)).toBe(JSON.stringify(one));
    }
  });

  it('never makes a leaf with fewer rows than minSamplesLeaf, and respects maxLeaves and maxDepth', () => {
    const train = xor(1500, 15);
    const { model } = trainGbdt(train, { nTrees: 10, maxLeaves: 31, minSamplesLeaf: 60, maxDepth: 3 });
    for (const tree of model.trees) {
      const counts = new Map<number, number>();
      for (let r = 0; r < train.frame.rows; r++) {
        const { leaf } = walkTree(tree, model.signature, train.frame, r);
        counts.set(leaf, (counts.get(leaf) ?? 0) + 1);
      }
      for (const count of counts.values()) expect(count).toBeGreaterThanOrEqual(60);
      const leaves = tree.feature.filter((f) => f < 0).length;
      expect(leaves).toBeLessThanOrEqual(8); // depth 3
      const depth = (node: number): number => (tree.feature[node]! < 0 ? 0 : 1 + Math.max(depth(tree.left[node]!), depth(tree.right[node]!)));
      expect(depth(0)).toBeLessThanOrEqual(3);
    }
    const wide = trainGbdt(train, { nTrees: 3, maxLeaves: 5, minSamplesLeaf: 1 }).model;
    for (const tree of wide.trees) expect(tree.feature.filter((f) => f < 0)).toHaveLength(5);
  });

  it('uses real thresholds: midpoints between the distinct training values', () => {
    const x = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4];
    const y = x.map((v) => (v >= 3 ? 1 : 0));
    const { model } = trainGbdt(data('binary', [numeric('x')], [x], y), { nTrees: 1, maxLeaves: 2, minSamplesLeaf: 1, learningRate: 1 });
    expect(model.trees[0]!.threshold[0]).toBe(2.5);
    expect(model.trees[0]!.value[0]).toBe(0);
    expect(model.trees[0]!.value[1]).toBeLessThan(0);
    expect(model.trees[0]!.value[2]).toBeGreaterThan(0);
  });

  it('applies the learning rate to leaf values', () => {
    const x = [1, 2, 3, 4, 1, 2, 3, 4];
    const y = [0, 0, 10, 10, 0, 0, 10, 10];
    const train = data('regression', [numeric('x')], [x], y);
    const full = trainGbdt(train, { nTrees: 1, maxLeaves: 2, minSamplesLeaf: 1, learningRate: 1 }).model.trees[0]!;
    const tenth = trainGbdt(train, { nTrees: 1, maxLeaves: 2, minSamplesLeaf: 1, learningRate: 0.1 }).model.trees[0]!;
    expect(full.value[1]).toBeCloseTo(-5, 12);
    expect(full.value[2]).toBeCloseTo(5, 12);
    expect(tenth.value[2]).toBeCloseTo(0.5, 12);
  });

  it('rejects bad parameters, naming each one', () => {
    try {
      trainGbdt(xor(50, 1), { learningRate: 0, maxLeaves: 1, rowSubsample: 1.5, maxBins: 300, bogus: 1 } as never);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CairnError);
      const paths = ((err as CairnError).details.errors as { path: string }[]).map((e) => e.path).sort();
      expect(paths).toEqual(['params.bogus', 'params.learningRate', 'params.maxBins', 'params.maxLeaves', 'params.rowSubsample']);
    }
  });

  it('rejects labels that are not 0/1 for a binary task', () => {
    expect(() => trainGbdt(data('binary', [numeric('x')], [[1, 2]], [0, 2]))).toThrow(/row 1: expected 0 or 1, got 2/);
  });
});

describe('gbdt: missing values', () => {
  it('routes missing numeric values to the side that fits them', () => {
    // Missing x means y = 1; otherwise y = 1 iff x > 0.5.
    const rand = lcg(16);
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const missing = rand() < 0.2;
      const v = rand();
      x.push(missing ? NaN : v);
      y.push(missing || v > 0.5 ? 1 : 0);
    }
    const { model } = trainGbdt(data('binary', [numeric('x')], [x], y), { nTrees: 20, maxLeaves: 4, minSamplesLeaf: 5 });
    const probe = data('binary', [numeric('x')], [[NaN, 0.1, 0.9]], [1, 0, 1]);
    const [pMissing, pLow, pHigh] = predict(model, probe.frame);
    expect(pMissing).toBeGreaterThan(0.9);
    expect(pLow).toBeLessThan(0.1);
    expect(pHigh).toBeGreaterThan(0.9);
  });

  it('routes missing and unseen categories like the missing rows of training', () => {
    const rand = lcg(17);
    const codes: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const c = rand() < 0.25 ? -1 : Math.floor(rand() * 6);
      codes.push(c);
      y.push(c === -1 || c === 2 ? 1 : 0);
    }
    const { model } = trainGbdt(data('binary', [categorical('k', 6)], [codes], y), { nTrees: 20, maxLeaves: 4, minSamplesLeaf: 5 });
    const probe = data('binary', [categorical('k', 6)], [[-1, 99, 2, 3]], [1, 1, 1, 0]);
    const [pMissing, pUnseen, pTwo, pThree] = predict(model, probe.frame);
    expect(pMissing).toBeGreaterThan(0.9);
    expect(pUnseen).toBeCloseTo(pMissing!, 12);
    expect(pTwo).toBeGreaterThan(0.9);
    expect(pThree).toBeLessThan(0.1);
  });

  it('sends missing values to the larger child when training had none', () => {
    const x = Array.from({ length: 100 }, (_, i) => i);
    const y = x.map((v) => (v >= 80 ? 1 : 0));
    const { model } = trainGbdt(data('binary', [numeric('x')], [x], y), { nTrees: 1, maxLeaves: 2, minSamplesLeaf: 1 });
    const tree = model.trees[0]!;
    expect(tree.threshold[0]).toBe(79.5);
    expect(tree.missingLeft[0]).toBe(true); // 80 rows left, 20 right
  });
});

describe('gbdt: predictions', () => {
  it('handles more categories than bins: the rarest share a bin, and their codes split together', () => {
    const rand = lcg(19);
    const codes: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 6000; i++) {
      // Codes 0..299, the low ones far more frequent; y depends on the code's parity.
      const c = Math.min(299, Math.floor(-Math.log(1 - rand()) * 60));
      codes.push(c);
      y.push(c % 2 === 0 !== rand() < 0.05 ? 1 : 0);
    }
    const train = data('binary', [categorical('k', 300)], [codes], y);
    const { model } = trainGbdt(train, { nTrees: 10, maxLeaves: 8, minSamplesLeaf: 5, maxBins: 32 });
    const allCodes = Array.from({ length: 300 }, (_, c) => c);
    const probe = data('binary', train.signature.inputs, [allCodes], allCodes.map(() => 0));
    const brute = bruteForceRaw(model, probe.frame);
    predictRaw(model, probe.frame).forEach((v, c) => expect(v).toBeCloseTo(brute[c]!, 12));
    // Codes beyond the 31 most frequent share the "other" bin, so they always travel together.
    const counts = allCodes.map((c) => codes.filter((k) => k === c).length);
    const byFrequency = [...allCodes].sort((a, b) => counts[b]! - counts[a]! || a - b);
    const raw = predictRaw(model, probe.frame);
    const rare = byFrequency.slice(31);
    expect(rare).toHaveLength(269);
    expect(new Set(rare.map((c) => raw[c])).size).toBe(1);
    expect(new Set(byFrequency.slice(0, 31).map((c) => raw[c])).size).toBeGreaterThan(2);
    // The frequent codes have bins of their own, so their parity is learnt.
    const frequent = new Set(byFrequency.slice(0, 31));
    const rows = codes.flatMap((c, i) => (frequent.has(c) ? [i] : []));
    const p = predict(model, train.frame);
    expect(accuracy(rows.map((i) => train.labels[i]!), rows.map((i) => p[i]!))).toBeGreaterThan(0.9);
  });

  it('predict agrees with a brute-force walk of the model, including missing and unseen values', () => {
    const rand = lcg(18);
    const cols: number[][] = [[], [], []];
    const y: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const a = rand() < 0.1 ? NaN : rand() * 10;
      const b = rand() < 0.1 ? -1 : Math.floor(rand() * 12);
      const c = rand();
      cols[0]!.push(a);
      cols[1]!.push(b);
      cols[2]!.push(c);
      y.push((a > 5 ? 1 : 0) + (b % 3 === 0 ? 1 : 0) + c > 1.2 ? 1 : 0);
    }
    const train = data('binary', [numeric('a'), categorical('b', 12), numeric('c')], cols, y);
    const { model } = trainGbdt(train, { nTrees: 25, maxLeaves: 16, minSamplesLeaf: 3, rowSubsample: 0.8 });
    // Include rows the model never saw: unseen codes and out-of-range numbers.
    const probe = data('binary', train.signature.inputs, [[...cols[0]!, -100, 100, NaN], [...cols[1]!, 12, 57, -1], [...cols[2]!, 0.5, 2, -3]], [...y, 0, 0, 0]);
    const fast = predictRaw(model, probe.frame);
    const brute = bruteForceRaw(model, probe.frame);
    for (let r = 0; r < probe.frame.rows; r++) expect(fast[r]).toBeCloseTo(brute[r]!, 12);
    const p = predict(model, probe.frame);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-brute[0]!)), 14);
  });
});

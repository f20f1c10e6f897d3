import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import type { GbdtModel, LinearModel, Signature } from '../../src/ml/model.js';
import { predict, predictRaw } from '../../src/ml/predict.js';
import { lcg } from '../support/fixtures.js';
import { bruteForceRaw, categorical, data, numeric } from './helpers.js';

const signature: Signature = { task: 'binary', inputs: [numeric('x', 0, 10), categorical('k', 4)], label: 'y' };

/**
 * A hand-written model whose numbering is not breadth-first and whose right child is not left + 1:
 *
 *   node 0: x <= 2.5 (missing → right)
 *     ├ node 1: k ∈ {1, 3} (missing or unseen → left)
 *     │   ├ node 4: leaf 1.0
 *     │   └ node 3: leaf −1.0
 *     └ node 2: leaf 0.25
 * plus a second tree that is a single leaf 0.5.
 */
const model: GbdtModel = {
  type: 'gbdt',
  signature,
  baseScore: -0.25,
  featureImportance: { x: 0.5, k: 0.5 },
  trees: [
    {
      feature: [0, 1, -1, -1, -1],
      threshold: [2.5, 0, 0, 0, 0],
      categories: [null, [1, 3], null, null, null],
      missingLeft: [false, true, false, false, false],
      left: [1, 4, -1, -1, -1],
      right: [2, 3, -1, -1, -1],
      value: [0, 0, 0.25, -1, 1],
    },
    { feature: [-1], threshold: [0], categories: [null], missingLeft: [false], left: [-1], right: [-1], value: [0.5] },
  ],
};

describe('predict', () => {
  it('walks numeric and categorical splits, with missing and unseen values, exactly as the Tree contract says', () => {
    const frame = data('binary', signature.inputs, [
      [1, 1, 1, 2.5, 2.5000001, NaN, 1, 1, 1, -5],
      [1, 3, 0, 2, 1, 1, -1, 4, 99, 2],
    ], new Array(10).fill(0)).frame;
    const raw = predictRaw(model, frame);
    // base −0.25 + tree 1 + 0.5
    const expected = [1, 1, -1, -1, 0.25, 0.25, 1, 1, 1, -1].map((v) => -0.25 + v + 0.5);
    expect(Array.from(raw)).toEqual(expected);
    expect(Array.from(bruteForceRaw(model, frame))).toEqual(expected);
    const p = predict(model, frame);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-1.25)), 15);
  });

  it('agrees with a brute-force walk on random inputs, more rows than one chunk', () => {
    const rand = lcg(31);
    const x: number[] = [];
    const k: number[] = [];
    for (let i = 0; i < 5000; i++) {
      x.push(rand() < 0.1 ? NaN : rand() * 5);
      k.push(Math.floor(rand() * 7) - 1);
    }
    const frame = data('binary', signature.inputs, [x, k], new Array(5000).fill(0)).frame;
    const fast = predictRaw(model, frame);
    const brute = bruteForceRaw(model, frame);
    expect(Array.from(fast)).toEqual(Array.from(brute));
  });

  it('returns raw values for regression', () => {
    const regression: GbdtModel = { ...model, signature: { ...signature, task: 'regression' } };
    const frame = data('regression', signature.inputs, [[1], [1]], [0]).frame;
    expect(Array.from(predict(regression, frame))).toEqual([1.25]);
  });

  it('evaluates a linear model', () => {
    const linear: LinearModel = {
      type: 'linear',
      signature,
      intercept: 0.5,
      terms: [
        { kind: 'numeric', mean: 2, std: 4, weight: 2 },
        { kind: 'categorical', weights: [0.1, 0.2, 0.3, 0.4] },
      ],
    };
    const frame = data('binary', signature.inputs, [[6, NaN, 2], [3, 0, -1]], [0, 0, 0]).frame;
    // 0.5 + 2·(6−2)/4 + 0.4 = 2.9; 0.5 + 0 + 0.1 = 0.6; 0.5 + 0 + 0 = 0.5
    const raw = predictRaw(linear, frame);
    expect(raw[0]).toBeCloseTo(2.9, 14);
    expect(raw[1]).toBeCloseTo(0.6, 14);
    expect(raw[2]).toBeCloseTo(0.5, 14);
    expect(predict(linear, frame)[0]).toBeCloseTo(1 / (1 + Math.exp(-2.9)), 14);
  });

  it('rejects a frame without the model inputs, or with the wrong array types', () => {
    const frame = { rows: 2, columns: { x: new Int32Array(2) } };
    try {
      predict(model, frame);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).message).toMatch(/columns.x: expected Float64Array for a numeric input; columns.k: missing from the frame/);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { trainLinear, type LinearIterationInfo } from '../../src/ml/linear.js';
import { predict, predictRaw } from '../../src/ml/predict.js';
import { lcg } from '../support/fixtures.js';
import { categorical, data, numeric } from './helpers.js';

/** Standard normal from two uniforms (Box–Muller), deterministic. */
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** y = 2 + 3·x1 − 1.5·x2 + effect[k] (+ noise): x1 ~ U(0, 10), x2 ~ N(5, 2²), k ∈ 0..3. */
function synthetic(task: 'binary' | 'regression', rows: number, seed: number) {
  const rand = lcg(seed);
  const effect = [0, 1, -1, 0.5];
  const x1: number[] = [];
  const x2: number[] = [];
  const k: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    const a = rand() * 10;
    const b = 5 + 2 * gaussian(rand);
    const c = Math.floor(rand() * 4);
    x1.push(a);
    x2.push(b);
    k.push(c);
    if (task === 'regression') y.push(2 + 3 * a - 1.5 * b + effect[c]! + 0.1 * gaussian(rand));
    else {
      const eta = -1 + 0.4 * (a - 5) - 0.6 * (b - 5) + effect[c]!;
      y.push(rand() < 1 / (1 + Math.exp(-eta)) ? 1 : 0);
    }
  }
  return data(task, [numeric('x1'), numeric('x2'), categorical('k', 4)], [x1, x2, k], y);
}

/** The coefficient on the raw input: the model's weight divided by the standardization scale. */
function rawSlope(term: { kind: string; std?: number; weight?: number }): number {
  return term.weight! / term.std!;
}

describe('linear regression', () => {
  it('recovers known coefficients (numeric slopes and category offsets)', () => {
    const train = synthetic('regression', 5000, 1);
    const { model, solver, converged } = trainLinear(train, { l2: 1e-6 });
    expect(solver).toBe('newton');
    expect(converged).toBe(true);
    const [t1, t2, tk] = model.terms;
    expect(rawSlope(t1!)).toBeCloseTo(3, 2);
    expect(rawSlope(t2!)).toBeCloseTo(-1.5, 2);
    // One-hot with an intercept is only identified up to a constant: compare differences.
    const w = (tk as { weights: number[] }).weights;
    expect(w[1]! - w[0]!).toBeCloseTo(1, 1);
    expect(w[2]! - w[0]!).toBeCloseTo(-1, 1);
    expect(w[3]! - w[0]!).toBeCloseTo(0.5, 1);
    // Prediction at a point: 2 + 3·4 − 1.5·6 + 1 = 6.
    const probe = data('regression', train.signature.inputs, [[4], [6], [1]], [0]);
    expect(predict(model, probe.frame)[0]).toBeCloseTo(6, 1);
  });

  it('reaches the exact least-squares solution in one Newton step', () => {
    const seen: LinearIterationInfo[] = [];
    trainLinear(synthetic('regression', 500, 2), { l2: 1e-6 }, { onIteration: (i) => seen.push(i) });
    expect(seen.length).toBeLessThanOrEqual(2);
    expect(seen[0]!.loss).toBeLessThan(0.12); // RMSE ≈ the 0.1 noise
  });

  it('standardizes with the training mean and std, and maps missing values to the mean', () => {
    const train = synthetic('regression', 2000, 3);
    const { model } = trainLinear(train);
    const x1 = train.frame.columns.x1 as Float64Array;
    const mean = x1.reduce((s, v) => s + v, 0) / x1.length;
    const term = model.terms[0] as { mean: number; std: number };
    expect(term.mean).toBeCloseTo(mean, 10);
    expect(term.std).toBeCloseTo(Math.sqrt(x1.reduce((s, v) => s + (v - mean) ** 2, 0) / x1.length), 10);
    const probe = data('regression', train.signature.inputs, [[NaN, mean], [5, 5], [0, 0]], [0, 0]);
    const [missing, atMean] = predictRaw(model, probe.frame);
    expect(missing).toBeCloseTo(atMean!, 12);
  });

  it('shrinks weights as the penalty grows', () => {
    const train = synthetic('regression', 1000, 4);
    const small = trainLinear(train, { l2: 1e-3 }).model.terms[0] as { weight: number };
    const large = trainLinear(train, { l2: 1e5 }).model.terms[0] as { weight: number };
    expect(Math.abs(large.weight)).toBeLessThan(0.5 * Math.abs(small.weight));
  });
});

describe('logistic regression', () => {
  it('recovers known coefficients', () => {
    const train = synthetic('binary', 20000, 5);
    const { model, converged, iterations } = trainLinear(train, { l2: 1e-6 });
    expect(converged).toBe(true);
    expect(iterations).toBeLessThan(15);
    expect(rawSlope(model.terms[0]!)).toBeCloseTo(0.4, 1);
    expect(rawSlope(model.terms[1]!)).toBeCloseTo(-0.6, 1);
    const w = (model.terms[2] as { weights: number[] }).weights;
    expect(w[1]! - w[0]!).toBeCloseTo(1, 0);
    expect(Math.abs(w[1]! - w[0]! - 1)).toBeLessThan(0.2);
    expect(Math.abs(w[2]! - w[0]! + 1)).toBeLessThan(0.2);
  });

  it('gets the same model from L-BFGS as from Newton', () => {
    const train = synthetic('binary', 3000, 6);
    const newton = trainLinear(train, { solver: 'newton' });
    const lbfgs = trainLinear(train, { solver: 'lbfgs', maxIterations: 500, tolerance: 1e-10 });
    expect(lbfgs.solver).toBe('lbfgs');
    expect(lbfgs.loss).toBeCloseTo(newton.loss, 6);
    expect(lbfgs.model.intercept).toBeCloseTo(newton.model.intercept, 3);
    expect((lbfgs.model.terms[0] as { weight: number }).weight).toBeCloseTo((newton.model.terms[0] as { weight: number }).weight, 3);
  });

  it('gives an unseen or missing category no contribution', () => {
    const train = synthetic('binary', 2000, 7);
    const { model } = trainLinear(train);
    const probe = data('binary', train.signature.inputs, [[5, 5, 5], [5, 5, 5], [-1, 9, 0]], [0, 0, 0]);
    const [missing, unseen, zero] = predictRaw(model, probe.frame);
    expect(unseen).toBe(missing);
    expect(zero! - missing!).toBeCloseTo((model.terms[2] as { weights: number[] }).weights[0]!, 12);
  });

  it('is deterministic', () => {
    const train = synthetic('binary', 2000, 8);
    expect(JSON.stringify(trainLinear(train).model)).toBe(JSON.stringify(trainLinear(train).model));
  });

  it('rejects bad parameters and labels', () => {
    expect(() => trainLinear(synthetic('binary', 10, 1), { l2: -1, solver: 'sgd' as never })).toThrow(/params.l2: must be a number >= 0; params.solver/);
    expect(() => trainLinear(data('binary', [numeric('x')], [[1, 2]], [0, 0.5]))).toThrow(/row 1: expected 0 or 1/);
  });
});

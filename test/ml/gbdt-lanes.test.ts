import { afterEach, describe, expect, it } from 'vitest';
import { kernelHistogramRange, kernelLogisticGradients, kernelPartition } from '../../src/ml/gbdt/kernels.js';
import { EXP_TABLE, FEATURE_SPLIT_MIN_ROWS, LANE_MIN_ROWS, Lanes, allocateLaneBuffers, type LaneBuffers } from '../../src/ml/gbdt/lanes.js';
import { lcg } from '../support/fixtures.js';

const N = 3 * LANE_MIN_ROWS + 123;
const FEATURES = 3;

function filled(): LaneBuffers {
  const b = allocateLaneBuffers(N, FEATURES);
  const rand = lcg(21);
  for (let i = 0; i < N * FEATURES; i++) b.bins[i] = rand() < 0.05 ? 255 : Math.floor(rand() * 40);
  for (let r = 0; r < N; r++) {
    b.raw[r] = rand() * 8 - 4;
    b.y[r] = rand() < 0.3 ? 1 : 0;
    b.idx[r] = r;
  }
  b.features.set([0, 1, 2]);
  return b;
}

let open: Lanes[] = [];
afterEach(() => {
  for (const lanes of open) lanes.close();
  open = [];
});

function lanes(helper: boolean): Lanes {
  const l = new Lanes(filled(), helper);
  open.push(l);
  return l;
}

describe('gbdt lanes', () => {
  it('runs the second lane on a helper thread (inside the test runner too) with the same results', () => {
    const one = lanes(false);
    const two = lanes(true);
    expect(two.parallel).toBe(true);
    for (const l of [one, two]) l.gradients(true);
    expect(two.parallel).toBe(true); // the helper started and answered
    expect(Array.from(two.buffers.grad)).toEqual(Array.from(one.buffers.grad));

    const h1 = new Float64Array(FEATURES * 768);
    const h2 = new Float64Array(FEATURES * 768);
    one.histogramRange(h1, FEATURES, false, 0, N);
    two.histogramRange(h2, FEATURES, false, 0, N);
    expect(Array.from(h2)).toEqual(Array.from(h1));

    for (const l of [one, two]) for (let b = 0; b < 256; b++) l.buffers.table[b] = b % 3 === 0 ? 1 : 0;
    const left1 = one.partition(1, 5, N - 7);
    const left2 = two.partition(1, 5, N - 7);
    expect(left2).toBe(left1);
    expect(Array.from(two.buffers.idx)).toEqual(Array.from(one.buffers.idx));

    one.histogramIndexed(h1, 2, false, 5, 5 + left1);
    two.histogramIndexed(h2, 2, false, 5, 5 + left2);
    expect(Array.from(h2)).toEqual(Array.from(h1));
  });

  it('shares out the features of a medium histogram with the helper, with the same sums', () => {
    const one = lanes(false);
    const two = lanes(true);
    const h1 = new Float64Array(FEATURES * 768);
    const h2 = new Float64Array(FEATURES * 768);
    for (const l of [one, two]) l.gradients(true);
    one.histogramIndexed(h1, FEATURES, false, 100, 100 + FEATURE_SPLIT_MIN_ROWS + 1000);
    two.histogramIndexed(h2, FEATURES, false, 100, 100 + FEATURE_SPLIT_MIN_ROWS + 1000);
    expect(Array.from(h2)).toEqual(Array.from(h1));
    expect(h1.subarray(0, 768).reduce((s, v, i) => (i % 3 === 2 ? s + v : s), 0)).toBe(FEATURE_SPLIT_MIN_ROWS + 1000);
  });

  it('partitions and histograms one side in one task, like partitioning then histogramming it', () => {
    const one = lanes(false);
    const two = lanes(true);
    const separate = lanes(false);
    for (const l of [one, two, separate]) {
      l.gradients(true);
      for (let bin = 0; bin < 256; bin++) l.buffers.table[bin] = bin % 4 === 1 ? 1 : 0;
    }
    const h1 = new Float64Array(FEATURES * 768);
    const h2 = new Float64Array(FEATURES * 768);
    const h3 = new Float64Array(FEATURES * 768);
    const left1 = one.partitionAndHistogram(0, 0, N, 'right', h1, FEATURES, false);
    const left2 = two.partitionAndHistogram(0, 0, N, 'right', h2, FEATURES, false);
    const left3 = separate.partition(0, 0, N);
    separate.histogramIndexed(h3, FEATURES, false, left3, N);
    expect(left2).toBe(left1);
    expect(left3).toBe(left1);
    expect(Array.from(two.buffers.idx)).toEqual(Array.from(one.buffers.idx));
    expect(Array.from(separate.buffers.idx)).toEqual(Array.from(one.buffers.idx));
    expect(Array.from(h2)).toEqual(Array.from(h1)); // with or without the helper: bit for bit
    h1.forEach((v, i) => (i % 3 === 2 ? expect(v).toBe(h3[i]) : expect(v).toBeCloseTo(h3[i]!, 9)));
  });

  it('partitions stably: the same as filtering each side in order', () => {
    const l = lanes(true);
    const b = l.buffers;
    for (let bin = 0; bin < 256; bin++) b.table[bin] = bin < 17 ? 1 : 0;
    const before = Array.from(b.idx.subarray(100, N - 100));
    const goesLeft = (r: number) => b.table[b.bins[2 * N + r]!] === 1;
    const left = l.partition(2, 100, N - 100);
    const expected = [...before.filter(goesLeft), ...before.filter((r) => !goesLeft(r))];
    expect(left).toBe(before.filter(goesLeft).length);
    expect(Array.from(b.idx.subarray(100, N - 100))).toEqual(expected);
  });

  it('computes histograms that sum to the gradient totals, counts exact', () => {
    const l = lanes(false);
    l.gradients(true);
    const hist = new Float64Array(FEATURES * 768);
    l.histogramRange(hist, FEATURES, false, 0, N);
    let count = 0;
    let g = 0;
    for (let bin = 0; bin < 256; bin++) {
      count += hist[768 + bin * 3 + 2]!;
      g += hist[768 + bin * 3]!;
    }
    let total = 0;
    for (let r = 0; r < N; r++) total += l.buffers.grad[r]!;
    expect(count).toBe(N);
    expect(g).toBeCloseTo(total, 6);
  });
});

describe('gbdt kernels', () => {
  it('computes logistic gradients to float32 precision without Math.exp, and the log loss to 1e-7', () => {
    const raw = Float64Array.from([-70, -20, -3.3, -0.001, 0, 0.5, 7.25, 20, 70]);
    const y = Float64Array.from([0, 1, 0, 1, 0, 1, 0, 1, 1]);
    const grad = new Float32Array(raw.length);
    const hess = new Float32Array(raw.length);
    const loss = new Float64Array(1);
    kernelLogisticGradients(raw, y, grad, hess, EXP_TABLE, loss, 0, 1, 0, raw.length);
    let expected = 0;
    raw.forEach((z, i) => {
      expected += Math.max(z, 0) - y[i]! * z + Math.log1p(Math.exp(-Math.abs(z)));
      const p = 1 / (1 + Math.exp(-z));
      expect(grad[i]).toBeCloseTo(Math.fround(p - y[i]!), 7);
      expect(hess[i]! / Math.fround(Math.max(p * (1 - p), 1e-16))).toBeCloseTo(1, 5);
    });
    expect(loss[0]).toBeCloseTo(expected, 6);
  });

  it('are self-contained, so the helper thread can run their source', () => {
    for (const kernel of [kernelHistogramRange, kernelLogisticGradients, kernelPartition]) {
      const rebuilt = new Function(`return (${kernel.toString()});`)() as typeof kernel;
      expect(typeof rebuilt).toBe('function');
    }
    const idx = Uint32Array.from([0, 1, 2, 3]);
    const tmp = new Uint32Array(4);
    const bins = Uint8Array.from([1, 0, 1, 0]);
    const table = new Uint8Array(256);
    table[1] = 1;
    const partition = new Function(`return (${kernelPartition.toString()});`)() as typeof kernelPartition;
    expect(partition(idx, tmp, bins, 4, 0, table, 0, 4)).toBe(2);
    expect(Array.from(idx)).toEqual([0, 2, 1, 3]);
  });
});

import { describe, expect, it } from 'vitest';
import { PROFILE_TOP_CATEGORIES, profileFrame } from '../../src/ml/profile.js';
import { categorical, data, numeric } from './helpers.js';

describe('profileFrame', () => {
  // numpy: quantile(v, [0, .1, …, 1]), mean, std (ddof 0), histogram(v, bins=20, range=(min, max)).
  const values = [3.5, -1.0, 2.0, 8.0, 0.25, 5.0, 5.0, 13.0, 7.5, 1.0, 4.0];

  it('profiles a numeric input: quantiles, histogram, mean, std, missing', () => {
    const train = data('regression', [numeric('v')], [[...values, NaN, NaN]], [...values, 0, 0]);
    const profile = profileFrame(train.frame, train.signature, train.labels);
    const v = profile.inputs[0]!;
    expect(v.kind).toBe('numeric');
    if (v.kind !== 'numeric') return;
    expect(v).toMatchObject({ name: 'v', count: 11, missing: 2, min: -1, max: 13 });
    expect(v.quantiles.map((q) => q.value)).toEqual([-1.0, 0.25, 1.0, 2.0, 3.5, 4.0, 5.0, 5.0, 7.5, 8.0, 13.0]);
    expect(v.quantiles.map((q) => q.p)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(v.mean).toBeCloseTo(4.386363636363637, 12);
    expect(v.std).toBeCloseTo(3.83667060383271, 12);
    expect(v.histogram.counts).toEqual([1, 1, 1, 0, 1, 0, 1, 1, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1]);
    expect(v.histogram.edges).toHaveLength(21);
    expect(v.histogram.edges[0]).toBe(-1);
    expect(v.histogram.edges[20]).toBe(13);
    expect(v.histogram.edges[5]).toBeCloseTo(2.5, 12);
    expect(profile.rows).toBe(13);
  });

  it('interpolates quantiles between order statistics', () => {
    const train = data('binary', [numeric('v')], [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], new Array(10).fill(0));
    const v = profileFrame(train.frame, train.signature).inputs[0]!;
    if (v.kind !== 'numeric') throw new Error('numeric expected');
    const expected = [1, 1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1, 10];
    v.quantiles.forEach((q, i) => expect(q.value).toBeCloseTo(expected[i]!, 12));
  });

  it('gives null statistics, not NaN, for a column with no values', () => {
    const train = data('binary', [numeric('v')], [[NaN, NaN]], [0, 1]);
    const profile = profileFrame(train.frame, train.signature, train.labels);
    expect(profile.inputs[0]).toMatchObject({ count: 0, missing: 2, mean: null, std: null, min: null, max: null, quantiles: [] });
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
  });

  it('profiles a categorical input: top categories by count then value, the rest as other, missing', () => {
    const size = 150;
    const codes: number[] = [];
    // Category i appears (i % 7) + 1 times; plus 3 missing and 2 out-of-vocabulary codes.
    for (let c = 0; c < size; c++) for (let k = 0; k <= c % 7; k++) codes.push(c);
    codes.push(-1, -1, -1, 150, 400);
    const train = data('binary', [categorical('k', size)], [codes], codes.map(() => 0));
    const k = profileFrame(train.frame, train.signature).inputs[0]!;
    if (k.kind !== 'categorical') throw new Error('categorical expected');
    expect(k.missing).toBe(5);
    expect(k.distinct).toBe(size);
    expect(k.categories).toHaveLength(PROFILE_TOP_CATEGORIES);
    // 21 categories appear 7 times (6, 13, …, 146); ties sorted by value as strings.
    expect(k.categories[0]).toEqual({ value: 'c104', count: 7 });
    expect(k.categories.slice(0, 21).every((c) => c.count === 7)).toBe(true);
    const total = codes.length - 5;
    expect(k.count).toBe(total);
    expect(k.otherCount).toBe(total - k.categories.reduce((s, c) => s + c.count, 0));
    expect(k.otherCount).toBeGreaterThan(0);
  });

  it('profiles the label: class balance for binary, distribution for regression', () => {
    const binary = data('binary', [numeric('v')], [[1, 2, 3, 4]], [1, 0, 0, 1]);
    expect(profileFrame(binary.frame, binary.signature, binary.labels).label).toEqual({
      name: 'y',
      task: 'binary',
      count: 4,
      positives: 2,
      negatives: 2,
      positiveRate: 0.5,
    });
    const regression = data('regression', [numeric('v')], [[1, 2, 3]], [2, 4, 9]);
    expect(profileFrame(regression.frame, regression.signature, regression.labels).label).toMatchObject({ task: 'regression', mean: 5, min: 2, max: 9 });
    expect(profileFrame(regression.frame, regression.signature).label).toBeNull();
  });
});

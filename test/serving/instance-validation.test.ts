/**
 * Request validation against a model's signature: every rule, every problem reported at once with
 * its path, and rows that pass ready for the runner.
 */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../src/core/errors.js';
import type { Signature } from '../../src/ml/index.js';
import { buildInputPlan, checkInstances, instancePath, type FillGroup } from '../../src/serving/instance-validation.js';

const SIGNATURE: Signature = {
  task: 'binary',
  label: 'delayed',
  inputs: [
    { name: 'dep_hour', kind: 'numeric', min: 0, max: 23 },
    { name: 'distance', kind: 'numeric', min: 100, max: 2100 },
    { name: 'origin', kind: 'categorical', vocabulary: ['ATL', 'BOS', 'DEN', 'SFO'] },
    { name: 'day_of_week', kind: 'categorical', vocabulary: ['1', '2', '3'] },
    { name: 'origin_delay_rate', kind: 'numeric', min: 0, max: 1 },
  ],
};
/** distance and day_of_week were never missing in training; the others were. */
const MISSING = new Map([
  ['dep_hour', true],
  ['distance', false],
  ['origin', true],
  ['day_of_week', false],
  ['origin_delay_rate', true],
]);
const FILL: FillGroup[] = [{ entity: 'airport', keyColumns: ['origin'], uses: [{ input: 'origin_delay_rate', ref: 'airport_delay_rate@2' }] }];
const plan = buildInputPlan(SIGNATURE, MISSING, FILL);
const good = { dep_hour: 7, distance: 500, origin: 'ATL', day_of_week: '2', origin_delay_rate: 0.2 };

function check(instances: unknown[], strict = true) {
  const errors: FieldError[] = [];
  const checked = checkInstances(plan, instances, strict, instancePath('instances', false), errors);
  return { checked, errors };
}

describe('instance validation', () => {
  it('passes a complete instance through unchanged, as the row itself', () => {
    const instance = { ...good };
    const { checked, errors } = check([instance]);
    expect(errors).toEqual([]);
    // origin is an input and also the key of the airport features: it is recorded as an entity.
    expect(checked[0]).toEqual({ row: instance, lookups: null, entities: { origin: 'ATL' } });
    expect(checked[0]!.row).toBe(instance);
  });

  it('reports every problem of every instance at once, each with its path', () => {
    const { checked, errors } = check([
      { ...good, distnace: 500, distance: undefined },
      { ...good, dep_hour: '7' },
      'not an object',
      { ...good, distance: null, day_of_week: null, dep_hour: null },
    ]);
    expect(checked).toEqual([null, null, null, null]);
    expect(errors).toEqual([
      { path: 'instances[0].distance', reason: 'null is not allowed: the model never saw distance missing in training' },
      { path: 'instances[0].distnace', reason: 'unknown field (did you mean distance?); the model takes dep_hour, distance, origin, day_of_week, origin_delay_rate' },
      { path: 'instances[1].dep_hour', reason: 'expected a number, got "7"' },
      { path: 'instances[2]', reason: 'expected an object of features, got "not an object"' },
      { path: 'instances[3].distance', reason: 'null is not allowed: the model never saw distance missing in training' },
      { path: 'instances[3].day_of_week', reason: 'null is not allowed: the model never saw day_of_week missing in training' },
    ]);
  });

  it('accepts null for an input seen missing in training, and without a profile for any input', () => {
    expect(check([{ ...good, dep_hour: null }]).errors).toEqual([]);
    const lenient = buildInputPlan(SIGNATURE, null, []);
    const errors: FieldError[] = [];
    checkInstances(lenient, [{ ...good, distance: null }], true, instancePath('instances', false), errors);
    expect(errors).toEqual([]);
  });

  it('names a missing feature, and how the online store could fill it', () => {
    const { distance: _d, origin: _o, origin_delay_rate: _r, ...rest } = good;
    expect(check([rest]).errors).toEqual([
      { path: 'instances[0].distance', reason: 'missing: the model needs distance' },
      { path: 'instances[0].origin', reason: 'missing: the model needs origin' },
      { path: 'instances[0].origin_delay_rate', reason: 'missing: the model needs origin_delay_rate (or give origin to read it from the online store)' },
    ]);
  });

  it('refuses categories and numbers outside the training data in strict mode, with a suggestion', () => {
    const { errors } = check([{ ...good, origin: 'ATl', distance: 5000, dep_hour: -1 }]);
    expect(errors).toEqual([
      { path: 'instances[0].dep_hour', reason: '-1 is outside the range seen in training, [0, 23]' },
      { path: 'instances[0].distance', reason: '5000 is outside the range seen in training, [100, 2100]' },
      { path: 'instances[0].origin', reason: '"ATl" is not a category the model knows (did you mean "ATL"?); known: ATL, BOS, DEN, SFO' },
    ]);
    expect(check([{ ...good, origin: 'ORD', distance: 5000 }], false).errors).toEqual([]);
  });

  it('refuses values of the wrong type and non-finite numbers', () => {
    const { errors } = check([{ ...good, distance: true, origin: 12, dep_hour: NaN, day_of_week: ['1'] }]);
    expect(errors).toEqual([
      { path: 'instances[0].dep_hour', reason: 'expected a finite number, got NaN' },
      { path: 'instances[0].distance', reason: 'expected a number, got boolean true' },
      { path: 'instances[0].origin', reason: 'expected a string (a category), got number 12' },
      { path: 'instances[0].day_of_week', reason: 'expected a string (a category), got an array' },
    ]);
  });

  it('takes a category given as a number when its text is in the vocabulary', () => {
    const { checked, errors } = check([{ ...good, day_of_week: 3 }]);
    expect(errors).toEqual([]);
    expect(checked[0]!.row.day_of_week).toBe('3');
  });

  it('leaves inputs with an entity key to the online store, keeping the keys apart from the row', () => {
    const { origin_delay_rate: _r, ...rest } = good;
    const { checked, errors } = check([rest, { ...good }]);
    expect(errors).toEqual([]);
    expect(checked[0]).toEqual({ row: rest, lookups: FILL, entities: { origin: 'ATL' } });
    // Given explicitly, the value is used and nothing is looked up.
    expect(checked[1]!.lookups).toBeNull();
  });

  it('names one instance of a single-instance request without an index', () => {
    const errors: FieldError[] = [];
    checkInstances(plan, [{ ...good, bogus: 1 }], true, instancePath('instance', true), errors);
    expect(errors.map((e) => e.path)).toEqual(['instance.bogus']);
  });
});

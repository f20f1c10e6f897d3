import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import { coerceValue, parseFeatureUse, parseNameVersion, parsePairs, parseRefList, parseRow, positiveInt } from '../../src/cli/parse.js';

/** The field errors of the CairnError `fn` throws. */
function fieldErrors(fn: () => unknown): { path: string; reason: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe('VALIDATION_FAILED');
    return (err as CairnError).details.errors as { path: string; reason: string }[];
  }
  throw new Error('expected a CairnError');
}

describe('parseFeatureUse', () => {
  it('returns a plain reference as a string', () => {
    expect(parseFeatureUse('delay_rate@1')).toBe('delay_rate@1');
    expect(parseFeatureUse('delay_rate')).toBe('delay_rate');
    expect(parseFeatureUse('delay_rate@latest')).toBe('delay_rate@latest');
  });

  it('reads join-key mappings and the alias', () => {
    expect(parseFeatureUse('origin_delay_rate_7d@1,airport=origin,as=origin_rate')).toEqual({
      ref: 'origin_delay_rate_7d@1',
      joinOn: { airport: 'origin' },
      as: 'origin_rate',
    });
    expect(parseFeatureUse('route_delay@2,from=origin,to=dest')).toEqual({ ref: 'route_delay@2', joinOn: { from: 'origin', to: 'dest' } });
    expect(parseFeatureUse('delay@1,as=d')).toEqual({ ref: 'delay@1', as: 'd' });
  });

  it('trims spaces around parts', () => {
    expect(parseFeatureUse(' delay@1 , airport = origin ')).toEqual({ ref: 'delay@1', joinOn: { airport: 'origin' } });
  });

  it('names the option in its errors', () => {
    expect(fieldErrors(() => parseFeatureUse('', '--feature'))).toEqual([
      { path: '--feature', reason: expect.stringContaining('feature reference') },
    ]);
    expect(fieldErrors(() => parseFeatureUse('x,a', '-f'))[0]!.path).toBe('-f');
  });

  it.each([
    ['', 'does not start with a feature reference'],
    [',airport=origin', 'does not start with a feature reference'],
    ['airport=origin', 'is not a feature reference'],
    ['delay rate@1', 'is not a feature reference'],
    ['delay@1,airport', 'is not joinKey=value'],
    ['delay@1,=origin', 'has no joinKey before ='],
    ['delay@1,airport=', 'has no value after ='],
    ['delay@1,airport=a,airport=b', 'mapped twice'],
    ['delay@1,as=a,as=b', 'as= is given twice'],
    ['delay@1,', 'is not joinKey=value'],
  ])('refuses %j', (text, reason) => {
    expect(fieldErrors(() => parseFeatureUse(text))[0]!.reason).toContain(reason);
  });
});

describe('parseRow', () => {
  it('sends numeric-looking values as numbers and the rest as text', () => {
    expect(parseRow('origin=BOS,flight_id=42,ratio=-1.5,zero=0')).toEqual({ origin: 'BOS', flight_id: 42, ratio: -1.5, zero: 0 });
  });

  it('keeps the text of values a number would change', () => {
    expect(parseRow('zip=02134,code=1e3,big=12345678901234567890,plus=+1,dot=1.,hex=0x1f')).toEqual({
      zip: '02134',
      code: '1e3',
      big: '12345678901234567890',
      plus: '+1',
      dot: '1.',
      hex: '0x1f',
    });
  });

  it('allows = inside a value', () => {
    expect(parseRow('expr=a=b')).toEqual({ expr: 'a=b' });
  });

  it.each([
    ['', 'expected col=value'],
    ['   ', 'expected col=value'],
    ['origin', 'is not column=value'],
    ['origin=BOS,', 'is not column=value'],
    ['=BOS', 'has no column before ='],
    ['origin=', 'has no value after ='],
    ['origin=BOS,origin=SFO', 'given twice'],
  ])('refuses %j', (text, reason) => {
    const errors = fieldErrors(() => parseRow(text));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('--row');
    expect(errors[0]!.reason).toContain(reason);
  });
});

describe('coerceValue', () => {
  it.each([
    ['7', 7],
    ['-7', -7],
    ['3.25', 3.25],
    ['0.5', 0.5],
    ['9007199254740991', 9007199254740991],
    ['9007199254740993', '9007199254740993'],
    ['007', '007'],
    ['-', '-'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['1_000', '1_000'],
  ])('%j → %j', (text, value) => {
    expect(coerceValue(text)).toBe(value);
  });
});

describe('parsePairs', () => {
  it('merges repeated and comma-separated pairs', () => {
    expect(parsePairs(['team=ops', 'tier=1,owner=ana'], '--tag')).toEqual({ team: 'ops', tier: '1', owner: 'ana' });
  });

  it('refuses a key given twice, across options too', () => {
    expect(fieldErrors(() => parsePairs(['a=1', 'a=2'], '--tag'))).toEqual([{ path: '--tag', reason: 'a is given twice' }]);
  });
});

describe('parseRefList', () => {
  it('splits a comma-separated list', () => {
    expect(parseRefList('a@1,b, c@latest', '--features')).toEqual(['a@1', 'b', 'c@latest']);
  });

  it.each(['', 'a,,b', 'a@1,b=c'])('refuses %j', (text) => {
    expect(fieldErrors(() => parseRefList(text, '--features'))[0]!.path).toBe('--features');
  });
});

describe('parseNameVersion', () => {
  it('reads the version, latest or none', () => {
    expect(parseNameVersion('flights@3', 'dataset')).toEqual({ name: 'flights', version: 3 });
    expect(parseNameVersion('flights@latest', 'dataset')).toEqual({ name: 'flights', version: null });
    expect(parseNameVersion('flights', 'dataset')).toEqual({ name: 'flights', version: null });
  });

  it('demands a version when asked', () => {
    expect(fieldErrors(() => parseNameVersion('flights', 'dataset', true))[0]!.reason).toContain('explicit version');
    expect(fieldErrors(() => parseNameVersion('flights@latest', 'dataset', true))[0]!.reason).toContain('explicit version');
  });

  it.each(['flights@0', 'flights@x', 'a@1@2', '@1', ''])('refuses %j', (text) => {
    expect(fieldErrors(() => parseNameVersion(text, 'dataset'))[0]!.path).toBe('dataset');
  });
});

describe('positiveInt', () => {
  it('parses positive integers and refuses the rest', () => {
    const parse = positiveInt('--limit');
    expect(parse('25')).toBe(25);
    for (const bad of ['0', '-1', '1.5', 'ten', '']) expect(fieldErrors(() => parse(bad))[0]!.path).toBe('--limit');
  });
});

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isDuration, parseDuration } from '../../src/core/duration.js';
import { EventBus, type CairnEvent } from '../../src/core/event-bus.js';
import { decodeCursor, encodeCursor, pageSize, toPage } from '../../src/core/pagination.js';
import { ajvToFieldErrors, jsonPointerToPath } from '../../src/server/error-handler.js';

describe('durations', () => {
  it('parse to seconds', () => {
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('24h')).toBe(86_400);
    expect(parseDuration('90s')).toBe(90);
    expect(isDuration('2w')).toBe(true);
    expect(isDuration('0d')).toBe(false);
    expect(() => parseDuration('7 days', 'window')).toThrow(/window: expected a duration/);
    expect(() => parseDuration('0m', 'ttl')).toThrow(/ttl: must be greater than zero/);
  });
});

describe('pagination', () => {
  it('round-trips cursors and refuses forged ones', () => {
    expect(decodeCursor(encodeCursor('airport'))).toBe('airport');
    expect(decodeCursor(undefined)).toBeNull();
    expect(() => decodeCursor('***')).toThrow(/cursor/);
    expect(() => pageSize(0)).toThrow(/limit/);
    expect(pageSize(undefined)).toBe(100);
  });

  it('gives a next cursor only when more rows exist', () => {
    expect(toPage(['a', 'b', 'c'], 2, (x) => x)).toEqual({ items: ['a', 'b'], nextCursor: encodeCursor('b') });
    expect(toPage(['a', 'b'], 2, (x) => x)).toEqual({ items: ['a', 'b'], nextCursor: null });
  });
});

describe('event bus', () => {
  it('delivers to type and wildcard subscribers and isolates failing handlers', async () => {
    const errors: unknown[] = [];
    const bus = new EventBus((err) => errors.push(err));
    const seen: string[] = [];
    bus.on('a', (e) => void seen.push(`a:${e.type}`));
    const off = bus.on('*', (e) => void seen.push(`*:${e.type}`));
    bus.on('a', () => {
      throw new Error('boom');
    });
    bus.on('a', async () => Promise.reject(new Error('async boom')));
    const event: CairnEvent = { type: 'a', at: new ManualClock().now().toISOString(), actor: 'x', payload: {} };
    bus.publish(event);
    off();
    bus.publish({ ...event, type: 'b' });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a:a', '*:a']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom', 'async boom']);
  });
});

describe('validation error paths', () => {
  it('turn JSON pointers into dotted paths with indexes', () => {
    expect(jsonPointerToPath('/features/0/ref')).toBe('features[0].ref');
    expect(jsonPointerToPath('/rows/2/origin', 'body')).toBe('body.rows[2].origin');
    expect(
      ajvToFieldErrors(
        [
          { instancePath: '/joinKeys/1', keyword: 'type', message: 'must be string', params: { type: 'string' }, data: 5 } as never,
          { instancePath: '/rows/0/x', keyword: 'type', message: 'must be string', params: { type: 'string' } },
          { instancePath: '/rows/0/x', keyword: 'type', message: 'must be number', params: { type: 'number' } },
          { instancePath: '/rows/0/x', keyword: 'anyOf', message: 'must match a schema in anyOf' },
          { instancePath: '', keyword: 'required', message: "must have required property 'name'", params: { missingProperty: 'name' } },
          { instancePath: '', keyword: 'additionalProperties', message: 'x', params: { additionalProperty: 'colour' } },
        ],
        'body',
      ),
    ).toEqual([
      { path: 'joinKeys[1]', reason: 'expected string, got number 5' },
      { path: 'rows[0].x', reason: 'expected string or number' },
      { path: 'name', reason: 'required' },
      { path: 'colour', reason: 'unknown field' },
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { PredictionIds } from '../../src/serving/prediction-ids.js';

describe('prediction ids', () => {
  it('look like every other id and are unique', () => {
    const ids = new PredictionIds();
    const many = Array.from({ length: 5000 }, () => ids.next());
    for (const id of many.slice(0, 10)) expect(id).toMatch(/^pred_[0-9a-f]{24}$/);
    expect(new Set(many).size).toBe(many.length);
  });

  it('sort by the millisecond they were made in, so the store appends to its index', () => {
    let t = Date.parse('2026-11-28T00:00:00.000Z');
    const ids = new PredictionIds(() => t);
    const made: string[] = [];
    for (let i = 0; i < 2000; i++) {
      made.push(ids.next());
      if (i % 3 === 0) t += 1;
    }
    const byTime = made.map((id, i) => ({ id, ms: Number.parseInt(id.slice(5, 17), 16), i }));
    expect(byTime[0]!.ms).toBe(Date.parse('2026-11-28T00:00:00.000Z'));
    // across milliseconds the order of the text is the order of making
    for (let i = 1; i < byTime.length; i++) if (byTime[i]!.ms > byTime[i - 1]!.ms) expect(byTime[i]!.id > byTime[i - 1]!.id).toBe(true);
  });
});

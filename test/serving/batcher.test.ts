/**
 * The micro-batcher on its own: concurrent requests merge into one run, runs respect the row
 * bound, results go back to the right request, and a failing request fails alone.
 */
import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/serving/batcher.js';

type Row = { x: number; bad?: boolean };

/** A model that doubles x, remembers each run's rows, and refuses any run holding a bad row. */
function doubler() {
  const runs: number[][] = [];
  const run = async (rows: Row[]) => {
    runs.push(rows.map((r) => r.x));
    await new Promise((resolve) => setImmediate(resolve));
    if (rows.some((r) => r.bad)) throw new Error('bad row');
    return Float64Array.from(rows, (r) => r.x * 2);
  };
  return { runs, run };
}

describe('MicroBatcher', () => {
  it('merges concurrent requests into one run and splits the results back', async () => {
    const m = doubler();
    const batcher = new MicroBatcher<Row>(m.run, { maxRows: 64, maxWaitMs: 5 });
    const results = await Promise.all([[{ x: 1 }], [{ x: 2 }, { x: 3 }], [{ x: 4 }]].map((rows) => batcher.submit(rows)));
    expect(results.map((r) => Array.from(r))).toEqual([[2], [4, 6], [8]]);
    expect(m.runs).toEqual([[1, 2, 3, 4]]);
  });

  it('never puts more than maxRows rows in a run, and never splits a request', async () => {
    const m = doubler();
    const sizes: number[] = [];
    const batcher = new MicroBatcher<Row>(m.run, { maxRows: 4, maxWaitMs: 1, onBatch: (n) => sizes.push(n) });
    const requests = Array.from({ length: 10 }, (_, i) => Array.from({ length: (i % 3) + 1 }, (__, k) => ({ x: i * 10 + k })));
    const results = await Promise.all(requests.map((rows) => batcher.submit(rows)));
    results.forEach((r, i) => expect(Array.from(r)).toEqual(requests[i]!.map((row) => row.x * 2)));
    expect(sizes.every((n) => n <= 4)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(requests.flat().length);
    expect(m.runs.length).toBeGreaterThan(1);
    // Every run is made of whole requests.
    const firstRowOf = new Set(requests.map((rows) => rows[0]!.x));
    for (const run of m.runs) expect(firstRowOf.has(run[0]!)).toBe(true);
  });

  it('runs a request larger than maxRows alone', async () => {
    const m = doubler();
    const batcher = new MicroBatcher<Row>(m.run, { maxRows: 2, maxWaitMs: 1 });
    const big = Array.from({ length: 5 }, (_, i) => ({ x: i }));
    const [a, b] = await Promise.all([batcher.submit(big), batcher.submit([{ x: 9 }])]);
    expect(Array.from(a)).toEqual([0, 2, 4, 6, 8]);
    expect(Array.from(b)).toEqual([18]);
    expect(m.runs).toEqual([[0, 1, 2, 3, 4], [9]]);
  });

  it('fails only the request whose rows make the run fail', async () => {
    const m = doubler();
    const batcher = new MicroBatcher<Row>(m.run, { maxRows: 64, maxWaitMs: 5 });
    const outcomes = await Promise.allSettled([batcher.submit([{ x: 1 }]), batcher.submit([{ x: 2, bad: true }]), batcher.submit([{ x: 3 }])]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(Array.from((outcomes[2] as PromiseFulfilledResult<Float64Array>).value)).toEqual([6]);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe('bad row');
  });

  it('queues requests that arrive during a run for the next run, and reports when drained', async () => {
    const m = doubler();
    const batcher = new MicroBatcher<Row>(m.run, { maxRows: 64, maxWaitMs: 0 });
    const first = batcher.submit([{ x: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 2)); // the first run is under way
    const later = [batcher.submit([{ x: 2 }]), batcher.submit([{ x: 3 }])];
    let drained = false;
    const done = batcher.drained().then(() => (drained = true));
    await first;
    expect(drained).toBe(false);
    await Promise.all([...later, done]);
    expect(drained).toBe(true);
    expect(batcher.pending).toBe(0);
    expect(m.runs).toEqual([[1], [2, 3]]);
  });

  it('refuses a model answer of the wrong length', async () => {
    const batcher = new MicroBatcher<Row>(async () => new Float64Array(1), { maxRows: 8, maxWaitMs: 0 });
    await expect(batcher.submit([{ x: 1 }, { x: 2 }])).rejects.toThrow('the model returned 1 values for 2 rows');
  });
});

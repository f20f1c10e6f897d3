/**
 * The contract every TuningStore backend meets; run on SQLite and PostgreSQL by
 * test/tuning/tuning-store.test.ts. Claims race from many concurrent callers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Study } from '../../src/tuning/model.js';
import { canonicalKey } from '../../src/tuning/space.js';
import type { TuningStore } from '../../src/tuning/store.js';

const T0 = '2026-01-01T00:00:00.000Z';

export function study(name: string, runId: string, over: Partial<Study> = {}): Study {
  return {
    name,
    experiment: 'exp',
    metric: 'loss',
    direction: 'minimize',
    space: { x: { type: 'int', low: 0, high: 9 } },
    fixedParams: {},
    target: { type: 'function' },
    sampler: { type: 'random' },
    pruner: { type: 'none' },
    budget: { trials: 5 },
    convergence: null,
    seed: 1,
    heartbeatTimeoutSeconds: 60,
    status: 'running',
    stopReason: null,
    runId,
    createdAt: T0,
    createdBy: 'ada',
    endedAt: null,
    resumedAt: null,
    elapsedBeforeResume: 0,
    ...over,
  };
}

export function describeTuningStoreContract(name: string, open: () => Promise<{ store: TuningStore; runId: string; cleanup(): Promise<void> }>): void {
  describe(`TuningStore contract on ${name}`, () => {
    let store: TuningStore;
    let runId: string;
    let cleanup: () => Promise<void>;
    beforeAll(async () => ({ store, runId, cleanup } = await open()));
    afterAll(async () => cleanup?.());

    const claim = (s: string, x: number, id: string, maxTrials: number | null = 5, now = T0) =>
      store.claimTrial({ study: s, trialId: id, params: { x }, claimKey: canonicalKey({ x }), worker: 'w', now, maxTrials });

    it('stores and reads a study back', async () => {
      const s = study('s1', runId);
      await store.insertStudy(s);
      expect(await store.getStudy('s1')).toEqual(s);
      await expect(store.insertStudy(s)).rejects.toThrow();
    });

    it('claims atomically: a point once, numbers in order, within the budget', async () => {
      await store.insertStudy(study('s2', runId));
      const a = await claim('s2', 1, 'a');
      expect(a.kind === 'claimed' && a.trial.number).toBe(0);
      expect((await claim('s2', 1, 'b')).kind).toBe('collision');
      // 20 racing claims over 3 points with a budget of 5: exactly 3 new, the rest collide or hit the budget.
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim('s2', 2 + (i % 3), `r${i}`)));
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(3);
      const more = await Promise.all([claim('s2', 7, 'm1'), claim('s2', 8, 'm2')]);
      expect(more.filter((r) => r.kind === 'claimed')).toHaveLength(1);
      expect(more.filter((r) => r.kind === 'budget')).toHaveLength(1);
      const trials = await store.listTrials('s2');
      expect(trials).toHaveLength(5);
      expect(new Set(trials.map((t) => t.number)).size).toBe(5);
      expect(new Set(trials.map((t) => canonicalKey(t.params))).size).toBe(5);
    });

    it('refuses claims on a stopped study', async () => {
      await store.insertStudy(study('s3', runId));
      expect(await store.endStudy('s3', 'cancelled', 'cancelled', '2026-01-01T00:00:30.000Z')).toBe(true);
      expect(await store.endStudy('s3', 'completed', 'budget', T0)).toBe(false);
      expect((await claim('s3', 1, 's3a')).kind).toBe('stopped');
      await store.reopenStudy('s3', { budget: { trials: 9 }, resumedAt: '2026-01-01T00:05:00.000Z' });
      // The 30 s it ran are kept; the time budget's clock restarts at the resume.
      expect(await store.getStudy('s3')).toMatchObject({ status: 'running', endedAt: null, budget: { trials: 9 }, resumedAt: '2026-01-01T00:05:00.000Z', elapsedBeforeResume: 30 });
      expect((await claim('s3', 1, 's3b')).kind).toBe('claimed');
    });

    it('updates and finishes only running trials', async () => {
      await store.insertStudy(study('s4', runId));
      await claim('s4', 1, 's4a');
      expect(await store.updateTrial('s4a', { intermediate: { '0': 3, '1': 2 }, heartbeatAt: '2026-01-01T00:00:05.000Z', runId: 'run_x' })).toBe(true);
      const t = (await store.getTrial('s4a'))!;
      expect(t.intermediate).toEqual({ '0': 3, '1': 2 });
      expect(t.runId).toBe('run_x');
      expect(await store.finishTrial('s4a', { state: 'complete', value: 1.5, error: null, endedAt: T0 })).toBe(true);
      expect(await store.finishTrial('s4a', { state: 'failed', value: null, error: 'x', endedAt: T0 })).toBe(false);
      expect(await store.updateTrial('s4a', { heartbeatAt: T0 })).toBe(false);
      expect((await store.getTrial('s4a'))!.value).toBe(1.5);
    });

    it('fails a trial with a stale heartbeat and retries its point once, outside the budget', async () => {
      await store.insertStudy(study('s5', runId, { budget: { trials: 2 } }));
      await claim('s5', 1, 'old', 2, '2026-01-01T00:00:00.000Z');
      await claim('s5', 2, 'fresh', 2, '2026-01-01T00:10:00.000Z');
      const staleBefore = '2026-01-01T00:05:00.000Z';
      const racing = await Promise.all([
        store.retryStaleTrial('s5', staleBefore, 'retry1', 'w2', '2026-01-01T00:10:00.000Z'),
        store.retryStaleTrial('s5', staleBefore, 'retry2', 'w3', '2026-01-01T00:10:00.000Z'),
      ]);
      const won = racing.filter((r) => r !== null);
      expect(won).toHaveLength(1);
      expect(won[0]!.failed.id).toBe('old');
      expect(won[0]!.retry.params).toEqual({ x: 1 });
      const trials = await store.listTrials('s5');
      expect(trials.find((t) => t.id === 'old')).toMatchObject({ state: 'failed', retriedBy: won[0]!.retry.id });
      expect(trials.filter((t) => t.state === 'running')).toHaveLength(2);
      // the retried failure does not count: the budget of 2 is full with fresh + retry
      expect((await claim('s5', 3, 'over', 2)).kind).toBe('budget');
      // and the point stays taken
      expect((await claim('s5', 1, 'dup', 9)).kind).toBe('collision');
    });
  });
}

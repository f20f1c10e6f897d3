import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CairnError } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/event-bus.js';
import type { Actor } from '../../src/identity/index.js';
import { LocalArtifactStore } from '../../src/storage/local-artifact-store.js';
import { SqlTrackingStore, TrackingService } from '../../src/tracking/index.js';
import { SqlTuningStore, TrialPruned, TuningService, canonicalKey, runStudy, type CreateStudyInput, type Params } from '../../src/tuning/index.js';
import { METADATA_BACKENDS, tempDir, type TestDatabase } from '../support/backends.js';

const editor: Actor = { user: 'ed', role: 'editor', tokenId: null };
const viewer: Actor = { user: 'vera', role: 'viewer', tokenId: null };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quadratic = (p: Params) => ((p.x as number) - 2) ** 2 + ((p.y as number) + 1) ** 2;
const SPACE = { x: { type: 'float' as const, low: -5, high: 5 }, y: { type: 'float' as const, low: -5, high: 5 } };

for (const backend of METADATA_BACKENDS) {
  describe(`TuningService on ${backend.name}`, () => {
    let t: TestDatabase;
    let tracking: TrackingService;
    let tuning: TuningService;
    beforeAll(async () => {
      t = await backend.open();
      const { db, dialect } = t.database;
      tracking = new TrackingService(new SqlTrackingStore(db, dialect), await LocalArtifactStore.open(tempDir()), new EventBus());
      tuning = new TuningService(new SqlTuningStore(db, dialect), tracking);
    });
    afterAll(async () => t?.cleanup());
    const create = (over: Partial<CreateStudyInput> & { name: string }) => tuning.createStudy({ metric: 'loss', space: SPACE, budget: { trials: 20 }, ...over }, editor);

    it('validates a study and needs the editor role', async () => {
      const err = await tuning.createStudy({ name: 'bad name!', metric: '', space: { x: { type: 'float', low: 1, high: 0 } }, direction: 'up' as 'minimize' }, editor).catch((e: unknown) => e as CairnError);
      expect((err as CairnError).code).toBe('VALIDATION_FAILED');
      expect(((err as CairnError).details.errors as { path: string }[]).map((e) => e.path)).toEqual(['name', 'metric', 'direction', 'space.x.high', 'budget']);
      await expect(tuning.createStudy({ name: 'v', metric: 'm', space: SPACE, budget: { trials: 1 } }, viewer)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    });

    it('logs every trial as a child run of the study run and reports the best', async () => {
      const study = await create({ name: 'tpe-seq', sampler: { type: 'tpe' }, fixedParams: { booster: 'gbdt' } });
      const result = await runStudy(tuning.backend(editor), 'tpe-seq', async (p, trial) => {
        expect(p.booster).toBe('gbdt');
        await trial.report(0, quadratic(p) * 2);
        return quadratic(p);
      });
      expect(result).toEqual({ reason: 'budget', trials: 20 });
      const progress = await tuning.progress('tpe-seq');
      expect(progress.study.status).toBe('completed');
      expect(progress.study.stopReason).toBe('budget');
      expect(progress.done).toBe(20);
      expect(progress.counts.complete).toBe(20);
      const trials = await tuning.listTrials('tpe-seq');
      const best = trials.reduce((a, b) => (a.value! < b.value! ? a : b));
      expect(progress.best).toMatchObject({ trial: best.number, value: best.value, params: best.params });
      const page = await tracking.searchRuns({ experiments: ['tpe-seq'], filter: `attributes.parent_run_id = '${study.runId}'`, limit: 100 });
      expect(page.items).toHaveLength(20);
      for (const run of page.items) {
        expect(run.status).toBe('finished');
        expect(run.params.booster).toBe('gbdt');
        expect(run.metrics.loss).toBeDefined();
        expect(run.tags['cairn.trial_state']).toBe('complete');
      }
      const parent = await tracking.getRun(study.runId);
      expect(parent.status).toBe('finished');
      expect(parent.metrics.best_loss!.value).toBe(best.value);
    });

    it('never repeats a combination when parallel workers race (random, TPE with constant liar, grid)', async () => {
      const discrete = { a: { type: 'int' as const, low: 0, high: 5 }, b: { type: 'categorical' as const, choices: ['p', 'q', 'r'] } };
      await create({ name: 'race-tpe', space: discrete, sampler: { type: 'tpe', nStartupTrials: 3 }, budget: { trials: 15 } });
      await create({ name: 'race-random', space: discrete, sampler: { type: 'random' }, budget: { trials: 15 } });
      await create({ name: 'race-grid', space: discrete, sampler: { type: 'grid' }, budget: {} });
      const objective = async (p: Params) => {
        await sleep(1);
        return (p.a as number) + (p.b === 'q' ? 0 : 1);
      };
      const [tpe, random, grid] = await Promise.all(['race-tpe', 'race-random', 'race-grid'].map((n) => runStudy(tuning.backend(editor), n, objective, { workers: 4 })));
      expect(tpe!.trials).toBe(15);
      expect(random!.trials).toBe(15);
      expect(grid).toEqual({ reason: 'exhausted', trials: 18 });
      for (const n of ['race-tpe', 'race-random', 'race-grid']) {
        const trials = await tuning.listTrials(n);
        expect(new Set(trials.map((tr) => canonicalKey(tr.params))).size).toBe(trials.length);
        expect(new Set(trials.map((tr) => tr.worker)).size).toBeGreaterThan(1);
      }
      expect((await tuning.progress('race-grid')).study.stopReason).toBe('exhausted');
    });

    it('prunes hopeless trials with the median pruner and marks them pruned', async () => {
      await create({ name: 'prune', sampler: { type: 'random' }, pruner: { type: 'median', nStartupTrials: 3 }, budget: { trials: 16 } });
      let stoppedEarly = 0;
      await runStudy(tuning.backend(editor), 'prune', async (p, trial) => {
        const final = quadratic(p);
        for (let step = 0; step < 10; step++) {
          await trial.report(step, final + 10 - step);
          if (trial.shouldPrune()) {
            stoppedEarly++;
            throw new TrialPruned();
          }
        }
        return final;
      });
      const trials = await tuning.listTrials('prune');
      const pruned = trials.filter((tr) => tr.state === 'pruned');
      expect(pruned.length).toBeGreaterThan(0);
      expect(pruned.length).toBe(stoppedEarly);
      for (const tr of pruned) {
        expect(Object.keys(tr.intermediate).length).toBeLessThan(10);
        const run = await tracking.getRun(tr.runId!);
        expect(run.status).toBe('killed');
        expect(run.tags['cairn.trial_state']).toBe('pruned');
      }
      // pruned trials do not beat the complete ones they were compared with
      expect(trials.filter((tr) => tr.state === 'complete').length).toBeGreaterThanOrEqual(3);
    });

    it('prunes with successive halving', async () => {
      await create({ name: 'asha', sampler: { type: 'random' }, pruner: { type: 'successive-halving', minResource: 1, reductionFactor: 3 }, budget: { trials: 12 } });
      await runStudy(tuning.backend(editor), 'asha', async (p, trial) => {
        for (let step = 0; step < 9; step++) {
          await trial.report(step, quadratic(p) + 9 - step);
          if (trial.shouldPrune()) throw new TrialPruned();
        }
        return quadratic(p);
      });
      const states = (await tuning.listTrials('asha')).map((tr) => tr.state);
      expect(states.filter((s) => s === 'pruned').length).toBeGreaterThan(3);
      expect(states.filter((s) => s === 'complete').length).toBeGreaterThan(0);
    });

    it('stops when the best value has converged', async () => {
      await create({ name: 'flat', sampler: { type: 'random' }, convergence: { patience: 5, minDelta: 0.01 }, budget: { trials: 100 } });
      let n = 0;
      const result = await runStudy(tuning.backend(editor), 'flat', async () => (n++ === 0 ? 1 : 2));
      expect(result.reason).toBe('converged');
      expect(result.trials).toBe(6);
      expect((await tuning.progress('flat')).study).toMatchObject({ status: 'completed', stopReason: 'converged' });
    });

    it('stops on the wall-time budget', async () => {
      await create({ name: 'timed', sampler: { type: 'random' }, budget: { seconds: 0.3 } });
      const result = await runStudy(tuning.backend(editor), 'timed', async () => {
        await sleep(50);
        return 1;
      });
      expect(result.reason).toBe('time');
      expect(result.trials).toBeGreaterThan(1);
      expect(result.trials).toBeLessThan(10);
    });

    it('counts the time budget of a resumed study from its resume', async () => {
      await create({ name: 'timed-again', sampler: { type: 'random' }, budget: { seconds: 0.2 } });
      const slow = async () => {
        await sleep(40);
        return 1;
      };
      expect((await runStudy(tuning.backend(editor), 'timed-again', slow)).reason).toBe('time');
      // Longer ago than the new budget: counted from creation, the resumed study would stop at once.
      await sleep(150);
      const resumed = await tuning.resumeStudy('timed-again', { seconds: 0.2 }, editor);
      expect(resumed.resumedAt).not.toBeNull();
      expect(resumed.elapsedBeforeResume).toBeGreaterThan(0);
      const again = await runStudy(tuning.backend(editor), 'timed-again', slow);
      expect(again.reason).toBe('time');
      expect(again.trials).toBeGreaterThan(1);
    });

    it('cancels cleanly: running trials are told to stop, no new ones start', async () => {
      await create({ name: 'cancel', sampler: { type: 'random' }, budget: { trials: 50 } });
      const running = runStudy(tuning.backend(editor), 'cancel', async (p, trial) => {
        for (let step = 0; step < 100; step++) {
          await sleep(5);
          await trial.report(step, quadratic(p));
          if (trial.shouldPrune()) throw new TrialPruned();
        }
        return quadratic(p);
      }, { workers: 2 });
      await sleep(150);
      const cancelled = await tuning.cancelStudy('cancel', editor);
      expect(cancelled.status).toBe('cancelled');
      const result = await running;
      expect(result.reason).toBe('cancelled');
      const trials = await tuning.listTrials('cancel');
      expect(trials.every((tr) => tr.state !== 'running')).toBe(true);
      expect((await tracking.getRun(cancelled.runId)).status).toBe('killed');
      expect((await tuning.claimTrial('cancel', 'late', editor)).trial).toBeNull();
    });

    it('retries the trial of a worker that died, and resumes after every worker stopped', async () => {
      await create({ name: 'dead', sampler: { type: 'random' }, budget: { trials: 4 }, heartbeatTimeoutSeconds: 0.2 });
      // A worker claims a trial and dies: no heartbeat, no finish.
      const { trial: orphan } = await tuning.claimTrial('dead', 'doomed', editor);
      expect(orphan).not.toBeNull();
      await sleep(300);
      const result = await runStudy(tuning.backend(editor), 'dead', async (p) => quadratic(p), { workerId: 'rescuer' });
      expect(result.reason).toBe('budget');
      const trials = await tuning.listTrials('dead');
      const failed = trials.find((tr) => tr.id === orphan!.id)!;
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/heartbeat/);
      const retry = trials.find((tr) => tr.id === failed.retriedBy)!;
      expect(retry).toMatchObject({ state: 'complete', worker: 'rescuer', params: orphan!.params });
      expect(trials.filter((tr) => tr.state === 'complete')).toHaveLength(4);
      expect((await tracking.getRun(orphan!.runId!)).status).toBe('failed');
      // resume with a bigger budget: the study continues from its trials
      await tuning.resumeStudy('dead', { trials: 6 }, editor);
      const more = await runStudy(tuning.backend(editor), 'dead', async (p) => quadratic(p));
      expect(more).toEqual({ reason: 'budget', trials: 2 });
      expect((await tuning.progress('dead')).done).toBe(6);
    });

    it('fails a trial whose objective throws, with the error on its run', async () => {
      await create({ name: 'boom', sampler: { type: 'random' }, budget: { trials: 2 } });
      await runStudy(tuning.backend(editor), 'boom', async () => {
        throw new Error('out of memory');
      });
      const trials = await tuning.listTrials('boom');
      expect(trials.map((tr) => tr.state)).toEqual(['failed', 'failed']);
      const run = await tracking.getRun(trials[0]!.runId!);
      expect(run.status).toBe('failed');
      expect(run.tags['cairn.error']).toBe('out of memory');
    });
  });
}

/**
 * Stopping a training mid-fit: the trainers' stop hook, and TrainingService.stop, which ends the
 * run `killed` with its reason and no model, while an iteration listener hears every round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/identity/index.js';
import { trainGbdt, trainLinear } from '../../src/ml/index.js';
import type { IterationReport } from '../../src/training/index.js';
import { categorical, data, numeric } from '../ml/helpers.js';
import { lcg } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { FLIGHT_FEATURES, createFlightDatasets } from '../support/tuning-datasets.js';

const actor: Actor = { user: 'tester', role: 'admin', tokenId: null };

function sample(rows: number) {
  const rand = lcg(5);
  const x: number[] = [];
  const k: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    x.push(rand() * 10);
    k.push(Math.floor(rand() * 3));
    y.push(rand() < (x[i]! + k[i]!) / 12 ? 1 : 0);
  }
  return data('binary', [numeric('x', 0, 10), categorical('k', 3)], [x, k], y);
}

describe('the trainers’ stop hook', () => {
  const train = sample(400);

  it('ends a gbdt fit after the iteration at which it says stop, keeping those trees', () => {
    let rounds = 0;
    const stopped = trainGbdt(train, { nTrees: 50, minSamplesLeaf: 5 }, { onIteration: () => rounds++, shouldStop: () => rounds >= 3 });
    expect(stopped).toMatchObject({ stopped: true, iterations: 3 });
    expect(stopped.history).toHaveLength(3);
    expect(stopped.model.trees).toHaveLength(3);
    expect(trainGbdt(train, { nTrees: 5, minSamplesLeaf: 5 }, { shouldStop: () => false })).toMatchObject({ stopped: false, iterations: 5 });
  });

  it('ends a linear solve after the iteration at which it says stop', () => {
    for (const solver of ['newton', 'lbfgs'] as const) {
      expect(trainLinear(train, { solver }, { shouldStop: () => true })).toMatchObject({ stopped: true, iterations: 1, converged: false });
      expect(trainLinear(train, { solver })).toMatchObject({ stopped: false, converged: true });
    }
  });
});

describe('TrainingService.stop', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await createFlightDatasets(s, { days: 15 });
  });
  afterAll(async () => s?.close());

  const request = (trainer: 'gbdt' | 'linear', params: Record<string, number>) => ({
    experiment: 'stops',
    trainer,
    dataset: 'flights_a@1',
    validation: { dataset: 'flights_b@1' },
    label: 'delayed',
    features: FLIGHT_FEATURES,
    params,
  });

  it('stops a gbdt mid-fit from its iteration listener: the run ends killed with the reason and no model', async () => {
    const heard: IterationReport[] = [];
    const training = s.platform.training;
    const run = await training.start(request('gbdt', { n_trees: 100_000, max_leaves: 4 }), actor, {
      onIteration: (report) => {
        heard.push(report);
        if (report.iteration === 3) training.stop(run.id, 'pruned at iteration 3');
      },
    });
    const outcome = (await training.wait(run.id))!;
    expect(outcome.error).toBeNull();
    expect(outcome.result).toBeNull();
    expect(outcome.stopped!.reason).toBe('pruned at iteration 3');
    expect(outcome.stopped!.iterations).toBeGreaterThanOrEqual(3);
    expect(outcome.stopped!.iterations).toBeLessThan(100_000);
    expect(heard.map((r) => r.iteration)).toEqual(Array.from({ length: outcome.stopped!.iterations }, (_, i) => i + 1));
    expect(Object.keys(heard[0]!.metrics).sort()).toEqual(['train_loss', 'valid_loss']);

    const ended = await s.platform.tracking.getRun(run.id);
    expect(ended.status).toBe('killed');
    expect(ended.tags['cairn.stopped']).toBe('pruned at iteration 3');
    expect(ended.metrics.iterations!.value).toBe(outcome.stopped!.iterations);
    expect(ended.metrics.valid_auc).toBeUndefined();
    expect(await s.platform.tracking.listArtifacts(run.id)).toEqual([]);
    expect(training.stop(run.id, 'again')).toBe(false); // it has ended
    expect(training.stop('run_nope', 'x')).toBe(false);
  });

  it('stops a training asked to stop before its first iteration, gbdt and linear alike', async () => {
    for (const trainer of ['gbdt', 'linear'] as const) {
      const run = await s.platform.training.start(request(trainer, trainer === 'gbdt' ? { n_trees: 100_000 } : {}), actor);
      expect(s.platform.training.stop(run.id, 'cancelled')).toBe(true);
      const outcome = (await s.platform.training.wait(run.id))!;
      expect(outcome.stopped).toEqual({ reason: 'cancelled', iterations: 1 });
      expect((await s.platform.tracking.getRun(run.id)).status).toBe('killed');
    }
  });
});

/**
 * The objectives that need no user code, on a whole platform: a built-in trainer (each trial a
 * training run, child of the study's run, pruned mid-fit by the median pruner) and an external
 * command (its value printed, or logged to its run through the API).
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/identity/index.js';
import { runStudy, targetObjective, type CreateStudyInput } from '../../src/tuning/index.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { FLIGHT_FEATURES, createFlightDatasets } from '../support/tuning-datasets.js';

const actor: Actor = { user: 'tester', role: 'admin', tokenId: null };
const TRAINER = { type: 'trainer' as const, trainer: 'gbdt' as const, dataset: 'flights_a@1', validation: { dataset: 'flights_b@1' }, label: 'delayed', features: FLIGHT_FEATURES };

describe('study objectives', () => {
  let s: TestServer;
  let url: string;

  beforeAll(async () => {
    s = await startTestServer();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
    await createFlightDatasets(s);
  });
  afterAll(async () => s?.close());

  async function tune(input: CreateStudyInput) {
    const study = await s.platform.tuning.createStudy(input, actor);
    const objective = targetObjective(study, { training: s.platform.training, tracking: s.platform.tracking, actor, env: { CAIRN_URL: url } });
    const result = await runStudy(s.platform, study.name, objective);
    return { study, result, trials: await s.platform.tuning.listTrials(study.name) };
  }

  it('trains each trial as a child run of the study, and the median pruner stops a hopeless one mid-fit', async () => {
    // Good learning rates stop early on the validation loss; the tiny one would improve a little
    // every round for all 2,000 trees, unless the pruner stops it.
    const { study, result, trials } = await tune({
      name: 'lr',
      metric: 'valid_log_loss',
      direction: 'minimize',
      space: { learning_rate: { type: 'categorical', choices: [0.3, 0.2, 0.0001] } },
      fixedParams: { n_trees: 2000, max_leaves: 8, min_samples_leaf: 5, early_stopping_rounds: 10 },
      target: TRAINER,
      sampler: { type: 'grid' },
      pruner: { type: 'median', nStartupTrials: 2 },
      budget: { trials: 3 },
    });
    expect(result).toEqual({ reason: 'budget', trials: 3 });
    expect(trials.map((t) => [t.params.learning_rate, t.state])).toEqual([
      [0.3, 'complete'],
      [0.2, 'complete'],
      [0.0001, 'pruned'],
    ]);
    const tracking = s.platform.tracking;
    for (const t of trials) {
      const run = await tracking.getRun(t.runId!);
      expect(run).toMatchObject({ parentRunId: study.runId, experiment: 'lr', params: { trainer: 'gbdt', learning_rate: String(t.params.learning_rate), n_trees: '2000' } });
      expect(run.tags).toMatchObject({ 'cairn.study': 'lr', 'cairn.trial': String(t.number) });
    }
    for (const t of trials.slice(0, 2)) {
      const run = await tracking.getRun(t.runId!);
      expect(run.status).toBe('finished');
      expect(t.value).toBe(run.metrics.valid_log_loss!.value);
      // Every round's validation loss is the trial's intermediate value, although reports were coalesced.
      const history = await tracking.getMetricHistory(run.id, 'valid_loss');
      expect(history.length).toBeLessThan(2000);
      expect(Object.fromEntries(history.map((p) => [String(p.step), p.value]))).toEqual(t.intermediate);
    }

    const pruned = trials[2]!;
    const run = await tracking.getRun(pruned.runId!);
    expect(run.status).toBe('killed');
    const at = /^pruned at iteration (\d+)$/.exec(run.tags['cairn.stopped'] ?? '');
    expect(at, JSON.stringify(run.tags)).not.toBeNull();
    const trained = (await tracking.getMetricHistory(run.id, 'valid_loss')).length;
    expect(trained).toBeGreaterThanOrEqual(Number(at![1]));
    expect(trained).toBeLessThan(2000);
    expect(run.metrics.iterations!.value).toBe(trained);
    expect(Object.keys(pruned.intermediate).length).toBeGreaterThan(0);
    expect(await tracking.listArtifacts(run.id, 'model')).toEqual([]); // no half-written model

    const progress = await s.platform.tuning.progress('lr');
    expect(progress.counts).toMatchObject({ complete: 2, pruned: 1, running: 0 });
    expect(progress.best!.value).toBe(Math.min(trials[0]!.value!, trials[1]!.value!));
  });

  it('prunes on the AUC per round when the study maximizes valid_auc', async () => {
    const { trials } = await tune({
      name: 'auc',
      metric: 'valid_auc',
      direction: 'maximize',
      space: { max_leaves: { type: 'categorical', choices: [4, 8] } },
      fixedParams: { n_trees: 8 },
      target: TRAINER,
      sampler: { type: 'grid' },
      budget: { trials: 2 },
    });
    for (const t of trials) {
      expect(t.state).toBe('complete');
      const run = await s.platform.tracking.getRun(t.runId!);
      expect(run.params.validation_metric).toBe('auc');
      const auc = await s.platform.tracking.getMetricHistory(run.id, 'valid_metric');
      expect(auc).toHaveLength(8);
      expect(auc[7]!.value).toBe(run.metrics.valid_auc!.value);
      expect(Object.values(t.intermediate)).toEqual(auc.map((p) => p.value));
    }
  });

  it('refuses an intermediate metric that no trainer reports', async () => {
    const input = { name: 'bad-im', metric: 'valid_auc', space: { l2: { type: 'float' as const, low: 0, high: 1 } }, budget: { trials: 1 } };
    await expect(s.platform.tuning.createStudy({ ...input, target: { ...TRAINER, intermediateMetric: 'valid_auc' } }, actor)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { errors: [{ path: 'target.intermediateMetric', reason: expect.stringContaining('valid_loss, valid_metric, train_loss') }] },
    });
  });

  it('runs a command per trial: its printed value, or the metric it logged to its run', async () => {
    const space = { x: { type: 'int' as const, low: -2, high: 2 } };
    const printed = await tune({
      name: 'cmd-print',
      metric: 'loss',
      space,
      sampler: { type: 'grid' },
      budget: { trials: 3 },
      target: { type: 'command', command: `node -e "const p = JSON.parse(process.env.CAIRN_PARAMS); console.log('x is', process.env.CAIRN_PARAM_X); console.log((p.x - 1) ** 2)"` },
    });
    expect(printed.trials.map((t) => [t.params.x, t.state, t.value])).toEqual([
      [-2, 'complete', 9],
      [-1, 'complete', 4],
      [0, 'complete', 1],
    ]);
    expect((await s.platform.tracking.getRun(printed.trials[0]!.runId!)).metrics.loss!.value).toBe(9);

    // This one prints nothing: it logs `loss` to its run through the REST API.
    const script = path.join(s.home, 'log-metric.mjs');
    fs.writeFileSync(
      script,
      `const x = Number(process.env.CAIRN_PARAM_X);
const res = await fetch(process.env.CAIRN_URL + '/api/v1/runs/' + process.env.CAIRN_RUN_ID + '/batch', {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metrics: [{ key: 'loss', value: 10 * x }] }),
});
if (!res.ok) { console.error(await res.text()); process.exit(1); }
`,
    );
    const logged = await tune({ name: 'cmd-log', metric: 'loss', space, sampler: { type: 'grid' }, budget: { trials: 2 }, target: { type: 'command', command: `node ${script}` } });
    expect(logged.trials.map((t) => [t.params.x, t.state, t.value])).toEqual([
      [-2, 'complete', -20],
      [-1, 'complete', -10],
    ]);

    const failing = await tune({ name: 'cmd-fail', metric: 'loss', space, budget: { trials: 1 }, target: { type: 'command', command: 'node -e "console.error(\'no GPU\'); process.exit(3)"' } });
    expect(failing.trials[0]).toMatchObject({ state: 'failed', error: 'command exited with 3: no GPU' });
    const silent = await tune({ name: 'cmd-silent', metric: 'loss', space, budget: { trials: 1 }, target: { type: 'command', command: 'node -e "console.log(\'done\')"' } });
    expect(silent.trials[0]!.error).toBe('the command printed no value as its last line and logged no loss to its run: "done"');
  });
});

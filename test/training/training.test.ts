/**
 * Training with the built-in trainers through the API: a tracked run with its parameters, inputs,
 * per-iteration and final metrics, and an ONNX model that onnxruntime serves exactly like the
 * TypeScript model predicts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxModelRunner, predict, type Frame, type TrainedModel } from '../../src/ml/index.js';
import { makeFlights, writeCsv } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/platform.js';

const API = '/api/v1';

describe('training runs', () => {
  let s: TestServer;
  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await s.app.inject({ method, url: API + url, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, body: res.json() };
  };
  const artifact = async (runId: string, p: string) => (await s.app.inject({ url: `${API}/runs/${runId}/artifacts/${p}` })).rawPayload;

  beforeAll(async () => {
    s = await startTestServer();
    const csv = writeCsv(s.home, 'flights.csv', makeFlights({ days: 30, stepMinutes: 20 }));
    for (const [url, body] of [
      ['/entities', { name: 'flight', joinKeys: ['flight_id'] }],
      ['/sources', { name: 'flights', path: csv, timestampColumn: 'date' }],
      ['/features', { name: 'dep_hour', entity: 'flight', source: 'flights', valueType: 'int64', expression: 'hour(date)' }],
      ['/features', { name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' }],
    ] as const) {
      expect((await call('POST', url, body)).status).toBe(201);
    }
    const entityQuery = (from: string, to: string) =>
      `SELECT flight_id, origin, date AS t, delay > 15 AS delayed, delay FROM read_csv('${csv}') WHERE date >= '${from}' AND date < '${to}'`;
    for (const [name, from, to] of [
      ['jan_a', '2001-01-01', '2001-01-21'],
      ['jan_b', '2001-01-21', '2001-02-01'],
    ]) {
      const res = await call('POST', '/training-sets', { name, entityTable: { query: entityQuery(from!, to!) }, eventTimeColumn: 't', features: ['dep_hour@1', 'distance@1'] });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => s?.close());

  it('lists the trainers and their parameters', async () => {
    const { body } = await call('GET', '/trainers');
    expect(body.items.map((t: { name: string }) => t.name)).toEqual(['gbdt', 'linear']);
    expect(body.items[0].params).toMatchObject({ n_trees: 100, learning_rate: 0.1 });
  });

  it('trains a gbdt as a tracked run with lineage, metrics and an ONNX model', async () => {
    const res = await call('POST', '/training-runs?wait=true', {
      experiment: 'flight-delay',
      trainer: 'gbdt',
      dataset: 'jan_a@1',
      validation: { dataset: 'jan_b@1' },
      label: 'delayed',
      features: ['dep_hour', 'distance', 'origin'],
      params: { n_trees: 30, learning_rate: 0.2, max_leaves: 8, min_samples_leaf: 5, seed: 3 },
    });
    expect(res.status).toBe(201);
    expect(res.body.error).toBeNull();
    const run = res.body.run;
    expect(run).toMatchObject({
      experiment: 'flight-delay',
      status: 'finished',
      author: 'tester',
      params: { trainer: 'gbdt', label: 'delayed', features: 'dep_hour,distance,origin', validation: 'jan_b@1', n_trees: '30' },
      inputs: { dataset: { ref: 'jan_a@1' }, features: ['dep_hour@1', 'distance@1'] },
    });
    expect(run.inputs.dataset.contentHash).toMatch(/^sha256:/);
    for (const key of ['valid_auc', 'valid_log_loss', 'valid_accuracy', 'train_auc', 'fit_seconds']) expect(run.metrics[key]).toBeDefined();
    expect(run.metrics.valid_auc.value).toBeGreaterThan(0.3);
    const history = (await call('GET', `/runs/${run.id}/metrics/valid_loss`)).body.points;
    expect(history.map((p: { step: number }) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    const files = (await call('GET', `/runs/${run.id}/artifacts?prefix=model`)).body.items.map((a: { path: string }) => a.path);
    expect(files.sort()).toEqual(['model/feature_importance.json', 'model/model.json', 'model/model.onnx', 'model/profile.json', 'model/signature.json']);
    const signature = JSON.parse((await artifact(run.id, 'model/signature.json')).toString());
    expect(signature.inputs.map((i: { name: string; kind: string }) => `${i.name}:${i.kind}`)).toEqual(['dep_hour:numeric', 'distance:numeric', 'origin:categorical']);
    const profile = JSON.parse((await artifact(run.id, 'model/profile.json')).toString());
    expect(profile.rows).toBe(Number(run.tags['cairn.train_rows']));

    // onnxruntime serves the exported model exactly as the TypeScript model predicts.
    const model = JSON.parse((await artifact(run.id, 'model/model.json')).toString()) as TrainedModel;
    const runner = await OnnxModelRunner.load(await artifact(run.id, 'model/model.onnx'));
    const frame: Frame = {
      rows: 4,
      columns: {
        dep_hour: Float64Array.from([0, 7, 13, NaN]),
        distance: Float64Array.from([150, 900, 1800, 400]),
        origin: Int32Array.from([0, 1, -1, 2]),
      },
    };
    const ours = predict(model, frame);
    const theirs = await runner.run(frame);
    ours.forEach((p, i) => expect(theirs[i]).toBeCloseTo(p, 5));
    await runner.close();
  });

  it('trains a linear model on a held-out fraction', async () => {
    const res = await call('POST', '/training-runs?wait=true', {
      experiment: 'flight-delay',
      trainer: 'linear',
      dataset: 'jan_a',
      validation: { fraction: 0.25 },
      label: 'delayed',
      features: ['dep_hour', 'distance', 'origin'],
      params: { l2: 0.5 },
    });
    expect(res.body.run).toMatchObject({ status: 'finished', params: { trainer: 'linear', validation: 'fraction 0.25', l2: '0.5' } });
    const total = Number(res.body.run.tags['cairn.train_rows']) + Number(res.body.run.tags['cairn.valid_rows']);
    expect(Number(res.body.run.tags['cairn.valid_rows'])).toBe(Math.round(total * 0.25));
  });

  it('runs in the background and can be followed', async () => {
    const res = await call('POST', '/training-runs', { experiment: 'bg', trainer: 'gbdt', dataset: 'jan_a@1', label: 'delay', features: ['dep_hour', 'distance'], params: { n_trees: 5 } });
    expect(res.status).toBe(202);
    expect(res.body.run.status).toBe('running');
    const outcome = await s.platform.training.wait(res.body.run.id);
    expect(outcome?.run.status).toBe('finished');
    expect(outcome?.run.metrics.valid_rmse).toBeDefined(); // a numeric label trains a regression
  });

  it('refuses bad requests, naming every problem, before creating a run', async () => {
    const bad = await call('POST', '/training-runs', {
      experiment: 'nope',
      trainer: 'gbdt',
      dataset: 'jan_a@1',
      label: 'delayed',
      features: ['dep_hour', 'ghost'],
      categorical: ['origin'],
      params: { n_tree: 10, learning_rate: -1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.errors).toEqual([{ path: 'params.n_tree', reason: expect.stringContaining('did you mean n_trees?') }]);
    const values = await call('POST', '/training-runs', { experiment: 'nope', trainer: 'gbdt', dataset: 'jan_a@1', label: 'delayed', params: { learning_rate: -1 } });
    expect(values.body.error.details.errors).toEqual([{ path: 'params.learning_rate', reason: expect.any(String) }]);
    const columns = await call('POST', '/training-runs', { experiment: 'nope', trainer: 'gbdt', dataset: 'jan_a@1', label: 'late', features: ['dep_hour', 'ghost'], categorical: ['origin'] });
    expect(columns.body.error.details.errors.map((e: { path: string }) => e.path)).toEqual(['label', 'features[1]', 'categorical[0]']);
    expect((await call('POST', '/training-runs', { experiment: 'nope', trainer: 'gbdt', dataset: 'ghost@1', label: 'x' })).body.error.code).toBe('DATASET_NOT_FOUND');
    expect((await call('POST', '/training-runs', { experiment: 'nope', trainer: 'forest', dataset: 'jan_a@1', label: 'x' })).status).toBe(400);
    expect((await call('GET', '/experiments/nope')).status).toBe(404);
  });

  it('marks the run failed with the reason when training fails', async () => {
    // A categorical label cannot be trained on: the worker fails and the run records why.
    const res = await call('POST', '/training-runs?wait=true', { experiment: 'failing', trainer: 'gbdt', dataset: 'jan_a@1', label: 'origin', features: ['dep_hour'] });
    expect(res.status).toBe(201);
    expect(res.body.run.status).toBe('failed');
    expect(res.body.error).toBeTruthy();
    expect(res.body.run.tags['cairn.error']).toBe(res.body.error);
  });
});

describe('training interrupted by a stop', () => {
  it('is marked failed with the reason when the server starts again', async () => {
    const { loadConfig } = await import('../../src/core/config.js');
    const { createLogger } = await import('../../src/core/logger.js');
    const { openPlatform } = await import('../../src/server/platform.js');
    const { default: os } = await import('node:os');
    const s = await startTestServer();
    const actor = { user: 'ada', role: 'editor' as const, tokenId: null };
    await s.platform.tracking.createExperiment({ name: 'x' }, actor);
    // A run as a dead process leaves it: running, tagged with this machine.
    const orphan = await s.platform.tracking.createRun({ experiment: 'x', tags: { 'cairn.trainer': 'gbdt', 'cairn.server': os.hostname() } }, actor);
    const elsewhere = await s.platform.tracking.createRun({ experiment: 'x', tags: { 'cairn.trainer': 'gbdt', 'cairn.server': 'another-host' } }, actor);
    // A training of another process on this machine that still runs (a tune worker) is its own.
    const { spawn } = await import('node:child_process');
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.once('exit', resolve));
    const tagged = (pid: number) => ({ experiment: 'x', tags: { 'cairn.trainer': 'gbdt', 'cairn.server': os.hostname(), 'cairn.pid': String(pid) } });
    const ofLiveProcess = await s.platform.tracking.createRun(tagged(alive.pid!), actor);
    const ofDeadProcess = await s.platform.tracking.createRun(tagged(dead.pid!), actor);
    await s.app.close();
    await s.platform.close();
    const again = await openPlatform(loadConfig({ CAIRN_HOME: s.home, CAIRN_LOG_LEVEL: 'silent' }), createLogger('silent'));
    try {
      expect(await again.tracking.getRun(orphan.id)).toMatchObject({ status: 'failed', tags: { 'cairn.error': expect.stringContaining('interrupted') } });
      expect((await again.tracking.getRun(elsewhere.id)).status).toBe('running');
      expect((await again.tracking.getRun(ofLiveProcess.id)).status).toBe('running');
      expect((await again.tracking.getRun(ofDeadProcess.id)).status).toBe('failed');
    } finally {
      alive.kill();
      await again.close();
      (await import('node:fs')).rmSync(s.home, { recursive: true, force: true });
    }
  });
});

/**
 * The prediction endpoints in process, on a real model trained by the training service,
 * registered and promoted: Cairn's /v1 routes and the Open Inference Protocol v2, every error
 * case, the prediction log and the metrics.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError } from '../../src/sdk/index.js';
import { OnnxModelRunner } from '../../src/ml/index.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { eventually, promote, seedFlights, trainVersion } from './helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FLIGHTS = [
  { dep_hour: 7, distance: 500, origin: 'ATL' },
  { dep_hour: 18, distance: 1800, origin: 'SFO' },
  { dep_hour: 12, distance: 950, origin: 'BOS' },
];

describe('prediction routes', () => {
  let s: TestServer;
  const post = async (url: string, payload: unknown) => {
    const res = await s.app.inject({ method: 'POST', url, payload: payload as object });
    return { status: res.statusCode, body: res.json() as Json };
  };
  const get = async (url: string) => {
    const res = await s.app.inject({ url });
    return { status: res.statusCode, body: res.body ? (res.json() as Json) : null };
  };
  const paths = (body: Json) => (body.error.details.errors as { path: string }[]).map((e) => e.path);
  /** What onnxruntime says for the rows, run directly on the version's model file. */
  const direct = async (version: number, rows: Record<string, unknown>[]) => {
    const { stream } = await s.platform.registry.openArtifact('delay', version, 'model.onnx');
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const runner = await OnnxModelRunner.load(Buffer.concat(chunks));
    try {
      return Array.from(await runner.run(rows));
    } finally {
      await runner.close();
    }
  };

  beforeAll(async () => {
    s = await startTestServer();
    await seedFlights(s.platform, s.home);
    await promote(s.platform, 'delay', await trainVersion(s.platform, 'delay', 1));
    // The app was built before the promotion: the event bus brings version 1 in.
    await eventually(async () => (await post('/v1/models/delay/predict', { instance: FLIGHTS[0] })).status === 200);
  }, 120_000);
  afterAll(async () => s?.close());

  it('predicts with the Production version: probability, label and an id per instance', async () => {
    const res = await post('/v1/models/delay/predict', { instances: FLIGHTS });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model: 'delay', version: 1, stage: 'Production' });
    const expected = await direct(1, FLIGHTS);
    expect(res.body.predictions).toHaveLength(3);
    res.body.predictions.forEach((p: Json, i: number) => {
      expect(p.id).toMatch(/^pred_[0-9a-f]{24}$/);
      expect(p.probability).toBe(p.value);
      expect(p.value).toBeCloseTo(expected[i]!, 6);
      expect(p.label).toBe(p.value > 0.5 ? 1 : 0);
    });
    expect(new Set(res.body.predictions.map((p: Json) => p.id)).size).toBe(3);

    const one = await post('/v1/models/delay/predict', { instance: FLIGHTS[1] });
    expect(one.body.predictions).toHaveLength(1);
    expect(one.body.predictions[0].value).toBeCloseTo(expected[1]!, 6);
  });

  it('records every served prediction in the prediction log', async () => {
    const res = await post('/v1/models/delay/predict', { instances: FLIGHTS });
    await s.platform.predictionLog.flush();
    for (const [i, p] of res.body.predictions.entries()) {
      const logged = await s.platform.feedback.getPrediction(p.id);
      expect(logged).toMatchObject({ id: p.id, model: 'delay', version: 1, stage: 'Production', features: FLIGHTS[i], output: { value: p.value, probability: p.value, label: p.label } });
      expect(logged.latencyMs).toBeGreaterThan(0);
    }
  });

  it('addresses a version by number and a stage by name', async () => {
    const byVersion = await post('/v1/models/delay/versions/1/predict', { instance: FLIGHTS[0] });
    expect(byVersion.body).toMatchObject({ model: 'delay', version: 1, stage: null });
    expect((await post('/v1/models/delay/stages/production/predict', { instance: FLIGHTS[0] })).body).toMatchObject({ version: 1, stage: 'Production' });
    expect(await post('/v1/models/delay/stages/staging/predict', { instance: FLIGHTS[0] })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_VERSION_NOT_FOUND' } } });
    expect(await post('/v1/models/delay/versions/9/predict', { instance: FLIGHTS[0] })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_VERSION_NOT_FOUND' } } });
    expect(await post('/v1/models/nope/predict', { instance: FLIGHTS[0] })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_NOT_FOUND' } } });
    expect(paths((await post('/v1/models/delay/stages/archived/predict', { instance: FLIGHTS[0] })).body)).toEqual(['params.stage']);
    expect(paths((await post('/v1/models/delay/versions/zero/predict', { instance: FLIGHTS[0] })).body)).toEqual(['params.version']);
    expect(paths((await post('/v1/models/delay/versions/0/predict', { instance: FLIGHTS[0] })).body)).toEqual(['params.version']);
  });

  it('refuses a request whole, naming every problem with its path, and counts the refusal', async () => {
    const bad = await post('/v1/models/delay/predict', {
      instances: [FLIGHTS[0], { dep_hour: '7', distance: 500, origin: 'ATL' }, { dep_hour: 7, distnce: 500, origin: 'ATX' }, { dep_hour: null, distance: 99999, origin: 'ATL' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.details.errors).toEqual([
      { path: 'instances[1].dep_hour', reason: 'expected a number, got "7"' },
      { path: 'instances[2].distnce', reason: expect.stringContaining('unknown field (did you mean distance?)') },
      { path: 'instances[2].origin', reason: expect.stringContaining('"ATX" is not a category the model knows (did you mean "ATL"?)') },
      { path: 'instances[2].distance', reason: 'missing: the model needs distance (or give flight_id to read it from the online store)' },
      { path: 'instances[3].dep_hour', reason: 'null is not allowed: the model never saw dep_hour missing in training' },
      { path: 'instances[3].distance', reason: expect.stringMatching(/^99999 is outside the range seen in training, \[\d+, \d+\]$/) },
    ]);
    await s.platform.predictionLog.flush();
    expect(s.platform.predictionLog.stats().refusals).toContainEqual({ model: 'delay', reason: 'validation_failed', count: expect.any(Number) });
    const metrics = (await s.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/cairn_predict_errors_total\{model="delay",version="1",reason="validation_failed"\} [1-9]/);
  });

  it('refuses malformed bodies and too many instances', async () => {
    expect(paths((await post('/v1/models/delay/predict', {})).body)).toEqual(['instances']);
    expect(paths((await post('/v1/models/delay/predict', { instances: [FLIGHTS[0]], instance: FLIGHTS[0] })).body)).toEqual(['instance']);
    expect(paths((await post('/v1/models/delay/predict', { instances: FLIGHTS[0] })).body)).toEqual(['instances']);
    expect(paths((await post('/v1/models/delay/predict', { rows: [] , instances: [FLIGHTS[0]] })).body)).toEqual(['rows']);
    expect(paths((await post('/v1/models/delay/predict', { instances: [] })).body)).toEqual(['instances']);
    expect(paths((await post('/v1/models/delay/predict', { instances: ['x'] })).body)).toEqual(['instances[0]']);
    expect(paths((await post('/v1/models/delay/predict', { instance: 3 })).body)).toEqual(['instance']);
    const tooMany = await post('/v1/models/delay/predict', { instances: Array.from({ length: 1001 }, () => FLIGHTS[0]) });
    expect(tooMany.body.error.details.errors).toEqual([{ path: 'instances', reason: 'at most 1000 instances per request, got 1001' }]);
    const notJson = await s.app.inject({ method: 'POST', url: '/v1/models/delay/predict', headers: { 'content-type': 'application/json' }, payload: '{"instances": [' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('BAD_REQUEST');
  });

  it('exposes per-version metrics: requests, latency, batch sizes and the log queue', async () => {
    const metrics = (await s.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/cairn_predict_requests_total\{model="delay",version="1"\} [1-9]/);
    expect(metrics).toMatch(/cairn_predict_instances_total\{model="delay",version="1"\} [1-9]/);
    expect(metrics).toMatch(/cairn_predict_latency_seconds_count\{model="delay",version="1"\} [1-9]/);
    expect(metrics).toMatch(/cairn_predict_batch_rows_bucket\{le="1",model="delay",version="1"\} \d+/);
    expect(metrics).toMatch(/cairn_prediction_log_queue_depth \d+/);
  });

  describe('Open Inference Protocol v2', () => {
    const tensors = (rows: typeof FLIGHTS) => [
      { name: 'dep_hour', datatype: 'FP64', shape: [rows.length, 1], data: rows.map((r) => r.dep_hour) },
      { name: 'distance', datatype: 'INT64', shape: [rows.length], data: rows.map((r) => r.distance) },
      { name: 'origin', datatype: 'BYTES', shape: [rows.length], data: rows.map((r) => r.origin) },
    ];

    it('answers the health and metadata endpoints', async () => {
      expect(await get('/v2/health/live')).toEqual({ status: 200, body: { live: true } });
      expect(await get('/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
      expect(await get('/v2/models/delay')).toEqual({
        status: 200,
        body: {
          name: 'delay',
          versions: ['1'],
          platform: 'onnxruntime_onnx',
          inputs: [
            { name: 'dep_hour', datatype: 'FP64', shape: [-1, 1] },
            { name: 'distance', datatype: 'FP64', shape: [-1, 1] },
            { name: 'origin', datatype: 'BYTES', shape: [-1, 1] },
          ],
          outputs: [
            { name: 'probability', datatype: 'FP64', shape: [-1] },
            { name: 'label', datatype: 'INT64', shape: [-1] },
            { name: 'prediction_id', datatype: 'BYTES', shape: [-1] },
          ],
        },
      });
      expect((await get('/v2/models/delay/versions/1')).body).toMatchObject({ name: 'delay', versions: ['1'] });
      expect(await get('/v2/models/delay/ready')).toEqual({ status: 200, body: { name: 'delay', ready: true } });
      expect(await get('/v2/models/delay/versions/1/ready')).toEqual({ status: 200, body: { name: 'delay', ready: true } });
      expect(await get('/v2/models/nope')).toEqual({ status: 404, body: { error: 'model nope not found' } });
      expect(await get('/v2/models/nope/ready')).toMatchObject({ status: 404, body: { error: expect.any(String) } });
    });

    it('infers from named tensors and answers tensors', async () => {
      const res = await post('/v2/models/delay/infer', { id: 'req-1', inputs: tensors(FLIGHTS) });
      expect(res.status).toBe(200);
      const expected = await direct(1, FLIGHTS);
      expect(res.body).toMatchObject({ model_name: 'delay', model_version: '1', id: 'req-1' });
      const [probability, label, ids] = res.body.outputs;
      expect(probability).toMatchObject({ name: 'probability', datatype: 'FP64', shape: [3] });
      probability.data.forEach((p: number, i: number) => expect(p).toBeCloseTo(expected[i]!, 6));
      expect(label).toEqual({ name: 'label', datatype: 'INT64', shape: [3], data: probability.data.map((p: number) => (p > 0.5 ? 1 : 0)) });
      expect(ids).toMatchObject({ name: 'prediction_id', datatype: 'BYTES', shape: [3] });
      ids.data.forEach((id: string) => expect(id).toMatch(/^pred_/));

      const only = await post('/v2/models/delay/versions/1/infer', { inputs: tensors(FLIGHTS.slice(0, 1)), outputs: [{ name: 'probability' }] });
      expect(only.body.outputs.map((o: Json) => o.name)).toEqual(['probability']);
      expect(only.body.id).toBeUndefined();
    });

    it('refuses bad inference requests with the protocol error shape, naming every problem', async () => {
      const [hour, distance, origin] = tensors(FLIGHTS);
      const bad = await post('/v2/models/delay/infer', {
        inputs: [
          { ...hour, name: 'dep_huor' },
          { ...distance, datatype: 'BYTES' },
          { ...origin, shape: [2] },
        ],
      });
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.body)).toEqual(['error']);
      expect(bad.body.error).toContain('inputs[0].name: unknown input "dep_huor" (did you mean dep_hour?)');
      expect(bad.body.error).toContain('inputs[1].datatype: distance is numeric: expected FP64, FP32 or an integer type, got BYTES');
      expect(bad.body.error).toContain('inputs[2].data: has 3 values for shape [2]');

      const missing = await post('/v2/models/delay/infer', { inputs: [hour, origin] });
      expect(missing.body).toEqual({ error: 'inputs.distance: missing: the model needs distance (or give flight_id to read it from the online store)' });
      const values = await post('/v2/models/delay/infer', { inputs: [hour, { ...distance, data: [500, 'far', 800] }, origin] });
      expect(values.body.error).toBe('inputs[1].data[1]: expected a number, got "far"');
      expect((await post('/v2/models/delay/infer', { inputs: tensors(FLIGHTS), outputs: [{ name: 'score' }] })).body.error).toContain('outputs[0].name: unknown output "score"');
      expect((await post('/v2/models/delay/infer', { inputs: [] })).body).toEqual({ error: 'inputs: expected a non-empty array of input tensors' });
      expect(await post('/v2/models/nope/infer', { inputs: tensors(FLIGHTS) })).toEqual({ status: 404, body: { error: 'model nope not found' } });
    });
  });
});

describe('prediction routes with auth on', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on' });
  });
  afterAll(async () => s?.close());

  it('lets any token predict (viewer), refuses requests without one, and leaves the OIP health probes open', async () => {
    const { secret } = await s.platform.tokens.create({ user: 'app', role: 'viewer' }, { user: 'root', role: 'admin', tokenId: null });
    const predict = (headers: Record<string, string>) =>
      s.app.inject({ method: 'POST', url: '/v1/models/delay/predict', headers, payload: { instance: FLIGHTS[0] } });
    const anonymous = await predict({});
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().error.code).toBe('UNAUTHENTICATED');
    // Authorized: the model simply does not exist on this server.
    const viewer = await predict({ authorization: `Bearer ${secret}` });
    expect(viewer.statusCode).toBe(404);
    expect(viewer.json().error.code).toBe('MODEL_NOT_FOUND');
    expect((await s.app.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
    expect((await s.app.inject({ url: '/v2/models/delay' })).statusCode).toBe(401);
  });
});

describe('predictions through the SDK', () => {
  let s: TestServer;
  let sdk: CairnClient;
  beforeAll(async () => {
    s = await startTestServer();
    await seedFlights(s.platform, s.home);
    await promote(s.platform, 'delay', await trainVersion(s.platform, 'delay', 1));
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    sdk = new CairnClient({ url: `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}` });
    await eventually(async () => (await sdk.predictions.predict('delay', [FLIGHTS[0]!]).catch(() => null)) !== null);
  }, 120_000);
  afterAll(async () => s?.close());

  it('predicts by stage and by version, and refuses bad instances with their paths', async () => {
    const byStage = await sdk.predictions.predict('delay', FLIGHTS);
    expect(byStage).toMatchObject({ model: 'delay', version: 1, stage: 'Production' });
    expect(byStage.predictions).toHaveLength(3);
    const byVersion = await sdk.predictions.predict('delay', FLIGHTS, { version: 1 });
    expect(byVersion.stage).toBeNull();
    expect(byVersion.predictions.map((p) => p.value)).toEqual(byStage.predictions.map((p) => p.value));
    const staging = await sdk.predictions.predict('delay', FLIGHTS, { stage: 'staging' }).catch((e: unknown) => e);
    expect(staging).toBeInstanceOf(CairnError);
    const bad = await sdk.predictions.predict('delay', [FLIGHTS[0]!, { ...FLIGHTS[1]!, distanse: 3 }]).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CairnError);
    expect((bad as CairnError).code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify((bad as CairnError).details)).toContain('instances[1].distanse');
  });
});

/**
 * Every experiment-tracking route through the HTTP layer, in process, with its error cases. The
 * main flow runs on SQLite and on PostgreSQL; auth and body limits on SQLite.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_BACKENDS } from '../support/backends.js';
import { apiCaller, errorPaths, startTestServer, startTestServerOn, type Method, type TestServer } from '../support/platform.js';

const API = '/api/v1';

describe.each(METADATA_BACKENDS)('tracking API on $name', ({ name: backend }) => {
  let s: TestServer;
  let runA: string;
  let runB: string;

  const call = apiCaller(() => s.app);
  const upload = async (runId: string, path: string, data: Buffer | string, contentType = 'application/octet-stream') => {
    const res = await s.app.inject({ method: 'PUT', url: `${API}/runs/${runId}/artifacts/${path}`, headers: { 'content-type': contentType }, payload: data });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    s = await startTestServerOn(backend);
  });
  afterAll(async () => {
    await s?.close();
  });

  describe('experiments', () => {
    it('creates, reads and pages experiments', async () => {
      const created = await call('POST', '/experiments', { name: 'flights', description: 'delay models', tags: { team: 'ml' } });
      expect(created).toMatchObject({ status: 201, body: { name: 'flights', description: 'delay models', tags: { team: 'ml' }, createdBy: 'tester' } });
      expect((await call('POST', '/experiments', { name: 'weather' })).status).toBe(201);
      expect((await call('GET', '/experiments/flights')).body).toMatchObject({ name: 'flights' });
      const page = await call('GET', '/experiments?limit=1');
      expect(page.body.items.map((e: { name: string }) => e.name)).toEqual(['flights']);
      expect((await call('GET', `/experiments?limit=1&cursor=${page.body.nextCursor}`)).body).toMatchObject({ items: [{ name: 'weather' }], nextCursor: null });
    });

    it('refuses bad input, duplicates and unknown names', async () => {
      const bad = await call('POST', '/experiments', { name: 'has space', tags: { t: 1 }, colour: 'red' });
      expect(bad.status).toBe(400);
      expect(errorPaths(bad.body).sort()).toEqual(['colour', 'tags.t']);
      expect((await call('POST', '/experiments', { name: 'has space' })).body.error.details.errors).toEqual([
        { path: 'name', reason: 'must start with a letter or digit and hold only letters, digits, _ . - (at most 128)' },
      ]);
      expect(await call('POST', '/experiments', { name: 'flights' })).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_EXISTS' } } });
      expect(await call('GET', '/experiments/nope')).toMatchObject({ status: 404, body: { error: { code: 'EXPERIMENT_NOT_FOUND' } } });
    });
  });

  describe('runs', () => {
    it('starts runs with params, tags, inputs and source', async () => {
      const a = await call('POST', '/runs', {
        experiment: 'flights',
        name: 'gbdt baseline',
        params: { lr: 0.1, trainer: 'gbdt', depth: 6 },
        tags: { team: 'ops' },
        source: { command: 'cairn train', codeVersion: 'abc123' },
      });
      expect(a).toMatchObject({ status: 201, body: { name: 'gbdt baseline', status: 'running', author: 'tester', params: { lr: '0.1', depth: '6' } } });
      runA = a.body.id;
      const b = await call('POST', '/runs', { experiment: 'flights', params: { lr: 0.2, trainer: 'linear', depth: 6 }, parentRunId: runA });
      expect(b).toMatchObject({ status: 201, body: { parentRunId: runA } });
      runB = b.body.id;
      expect((await call('GET', `/runs/${runA}`)).body).toMatchObject({ id: runA, source: { command: 'cairn train', codeVersion: 'abc123' } });
    });

    it('refuses bad runs, unknown experiments, unknown runs and unknown inputs', async () => {
      const bad = await call('POST', '/runs', { experiment: 'flights', params: { lr: [1] }, startTime: 5 });
      expect(bad.status).toBe(400);
      expect(errorPaths(bad.body).sort()).toEqual(['params.lr', 'startTime']);
      const inputs = await call('POST', '/runs', { experiment: 'flights', inputs: { dataset: { ref: 'jan@1' }, features: ['nope@2'] } });
      expect(inputs.body.error.details.errors).toEqual([
        { path: 'inputs.dataset.ref', reason: 'dataset version jan@1 not found' },
        { path: 'inputs.features[0]', reason: 'feature version nope@2 not found' },
      ]);
      expect(await call('POST', '/runs', { experiment: 'nope' })).toMatchObject({ status: 404, body: { error: { code: 'EXPERIMENT_NOT_FOUND' } } });
      expect(await call('GET', '/runs/run_nope')).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
    });

    it('logs a batch of params, metrics and tags and keeps every metric point', async () => {
      const res = await call('POST', `/runs/${runA}/batch`, {
        params: [{ key: 'seed', value: 7 }],
        metrics: [
          { key: 'auc', value: 0.7, step: 1 },
          { key: 'auc', value: 0.8, step: 2 },
          { key: 'train/loss', value: 0.5, step: 2 },
        ],
        tags: [{ key: 'stage', value: 'dev' }],
      });
      expect(res).toEqual({ status: 200, body: { params: 1, metrics: 3, tags: 1 } });
      await call('POST', `/runs/${runB}/batch`, { metrics: [{ key: 'auc', value: 0.6, step: 1 }, { key: 'auc', value: 0.9, step: 3 }] });
      expect((await call('GET', `/runs/${runA}`)).body).toMatchObject({ params: { seed: '7' }, tags: { team: 'ops', stage: 'dev' }, metrics: { auc: { value: 0.8, step: 2 } } });
      const history = await call('GET', `/runs/${runA}/metrics/${encodeURIComponent('train/loss')}`);
      expect(history.body).toMatchObject({ runId: runA, key: 'train/loss', points: [{ value: 0.5, step: 2 }] });
      expect(await call('GET', '/runs/run_nope/metrics/auc')).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
    });

    it('refuses a bad batch naming every entry, and a param conflict naming the key and both values', async () => {
      const bad = await call('POST', `/runs/${runA}/batch`, {
        metrics: [{ key: 'a', value: 1 }, { key: 'b', value: 'x' }, { key: 'c', value: 1, step: -1 }, { key: 'd' }],
        params: [{ key: 'p', value: null }],
        colour: 1,
      });
      expect(bad.status).toBe(400);
      expect(errorPaths(bad.body).sort()).toEqual(['colour', 'metrics[1].value', 'metrics[2].step', 'metrics[3].value', 'params[0].value']);
      const semantic = await call('POST', `/runs/${runA}/batch`, { metrics: [{ key: 'ok', value: 1 }, { key: 'bad key!', value: 1 }], tags: [{ key: '', value: 'x' }] });
      expect(errorPaths(semantic.body)).toEqual(['metrics[1].key', 'tags[0].key']);
      const conflict = await call('POST', `/runs/${runA}/batch`, { params: [{ key: 'lr', value: 0.5 }], metrics: [{ key: 'auc', value: 1, step: 9 }] });
      expect(conflict).toMatchObject({
        status: 409,
        body: { error: { code: 'CONFLICT', message: 'params are logged once: lr is "0.1", not "0.5"', details: { conflicts: [{ key: 'lr', oldValue: '0.1', newValue: '0.5' }] } } },
      });
      expect((await call('GET', `/runs/${runA}`)).body.metrics.auc.step).toBe(2); // nothing of the batch was written
      expect((await call('POST', `/runs/${runA}/batch`, { params: [{ key: 'lr', value: '0.1' }] })).status).toBe(200);
      expect(await call('POST', '/runs/run_nope/batch', { metrics: [] })).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
    });
  });

  describe('search', () => {
    it('filters, orders and pages runs through GET and POST', async () => {
      const q = new URLSearchParams({ experiment: 'flights', filter: "metrics.auc > 0.75 AND params.depth = 6", orderBy: 'metrics.auc DESC', limit: '1' });
      const first = await call('GET', `/runs?${q}`);
      expect(first.body.items.map((r: { id: string }) => r.id)).toEqual([runB]);
      q.set('cursor', first.body.nextCursor);
      expect((await call('GET', `/runs?${q}`)).body).toMatchObject({ items: [{ id: runA }], nextCursor: null });
      const posted = await call('POST', '/runs/search', { experiments: ['flights'], filter: "tags.team = 'ops' OR attributes.parent_run_id IS NOT NULL", orderBy: ['params.lr DESC'] });
      expect(posted.body.items.map((r: { id: string }) => r.id)).toEqual([runB, runA]);
      expect((await call('GET', '/runs?experiment=weather')).body).toEqual({ items: [], nextCursor: null });
      const both = await call('GET', `/runs?experiment=weather&experiment=flights&orderBy=${encodeURIComponent('attributes.name')}`);
      expect(both.body.items.map((r: { id: string }) => r.id)).toEqual([runA, runB]); // 'gbdt baseline' < 'run-…'
    });

    it('refuses a malformed filter with the position, bad sorts and unknown experiments', async () => {
      const res = await call('GET', `/runs?filter=${encodeURIComponent('metrics.auc > 0.6 AND params.x >')}`);
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: "invalid filter: position 33: expected a value after '>'" } } });
      expect(res.body.error.details.errors).toEqual([{ path: 'filter', reason: "position 33: expected a value after '>'" }]);
      const sort = await call('POST', '/runs/search', { orderBy: 'metrics.auc sideways' });
      expect(sort.body.error.details.errors[0].path).toBe('orderBy');
      expect(await call('GET', '/runs?experiment=nope')).toMatchObject({ status: 404, body: { error: { code: 'EXPERIMENT_NOT_FOUND' } } });
      expect((await call('GET', '/runs?cursor=abc')).status).toBe(400);
    });
  });

  describe('compare', () => {
    it('puts runs side by side through GET and POST', async () => {
      const res = await call('GET', `/runs/compare?ids=${runA},${runB}`);
      expect(res.status).toBe(200);
      expect(res.body.params).toContainEqual({ key: 'trainer', values: ['gbdt', 'linear'], differs: true });
      expect(res.body.params).toContainEqual({ key: 'depth', values: ['6', '6'], differs: false });
      expect(res.body.metrics).toContainEqual({ key: 'auc', values: [0.8, 0.9], differs: true });
      expect(res.body.histories).toContainEqual({ key: 'auc', steps: [1, 2, 3], values: [[0.7, 0.8, null], [0.6, null, 0.9]] });
      const posted = await call('POST', '/runs/compare', { ids: [runB, runA], history: false });
      expect(posted.body.runs.map((r: { id: string }) => r.id)).toEqual([runB, runA]);
      expect(posted.body.histories).toEqual([]);
    });

    it('names missing runs and refuses repeated ones', async () => {
      expect(await call('GET', `/runs/compare?ids=${runA},run_gone`)).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND', details: { runIds: ['run_gone'] } } } });
      expect((await call('POST', '/runs/compare', { ids: [runA, runA] })).body.error.details.errors).toEqual([{ path: 'ids[1]', reason: `${runA} is given twice` }]);
      expect((await call('POST', '/runs/compare', { ids: [] })).status).toBe(400);
      expect((await call('GET', '/runs/compare')).status).toBe(400);
    });
  });

  describe('artifacts', () => {
    const model = Buffer.from('model bytes \u0000\u00ff');

    it('uploads raw bytes, lists folders and streams files back with their digest', async () => {
      const put = await upload(runA, 'model/model.onnx', model);
      const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
      expect(put).toMatchObject({ status: 201, body: { runId: runA, path: 'model/model.onnx', digest, size: model.length, createdBy: 'tester', created: true } });
      expect(await upload(runA, 'model/model.onnx', model)).toMatchObject({ status: 200, body: { created: false } });
      expect((await upload(runA, 'notes/read%20me%20%C3%BC.txt', 'hello')).body.path).toBe('notes/read me ü.txt');
      expect((await upload(runA, 'empty.bin', Buffer.alloc(0))).body.size).toBe(0);

      expect((await call('GET', `/runs/${runA}/artifacts`)).body.items.map((a: { path: string }) => a.path)).toEqual(['empty.bin', 'model/model.onnx', 'notes/read me ü.txt']);
      expect((await call('GET', `/runs/${runA}/artifacts?prefix=model`)).body.items).toHaveLength(1);

      const res = await s.app.inject({ url: `${API}/runs/${runA}/artifacts/model/model.onnx` });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(model)).toBe(true);
      expect(res.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'x-content-sha256': digest, 'content-length': String(model.length) });
      const named = await s.app.inject({ url: `${API}/runs/${runA}/artifacts/notes/read%20me%20%C3%BC.txt` });
      expect(named.headers['content-disposition']).toBe(`attachment; filename="read me _.txt"; filename*=UTF-8''read%20me%20%C3%BC.txt`);
    });

    it('refuses path traversal, other content at a path, files as folders, and unknown files', async () => {
      for (const p of ['..%2F..%2Fetc%2Fpasswd', 'a%2F..%2F..%2Fb', '%2Fetc%2Fpasswd', 'a//b']) {
        const res = await upload(runA, p, 'x');
        expect(res.status, p).toBe(400);
        expect(res.body.error.details.errors[0].path).toBe('path');
      }
      expect(await upload(runA, 'model/model.onnx', 'other')).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      expect(await upload(runA, 'model', 'x')).toMatchObject({ status: 409 });
      expect(await call('GET', `/runs/${runA}/artifacts/nope.txt`)).toMatchObject({ status: 404, body: { error: { code: 'RUN_ARTIFACT_NOT_FOUND' } } });
      expect(await call('GET', `/runs/${runA}/artifacts/model`)).toMatchObject({ status: 404, body: { error: { code: 'RUN_ARTIFACT_NOT_FOUND', details: { folder: true } } } });
      expect((await call('GET', `/runs/${runA}/artifacts?prefix=..`)).status).toBe(400);
      expect(await upload('run_nope', 'x.txt', 'x')).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
      expect(await call('GET', '/runs/run_nope/artifacts')).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
    });

    it('wants raw bytes, not JSON', async () => {
      const res = await upload(runA, 'x.json', JSON.stringify({ a: 1 }), 'application/json');
      expect(res).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    });
  });

  describe('ending a run', () => {
    it('ends a run with a status once, then refuses logging and artifacts with 409', async () => {
      expect((await call('POST', `/runs/${runB}/end`, { status: 'nope' })).status).toBe(400);
      const ended = await call('POST', `/runs/${runB}/end`, { status: 'failed' });
      expect(ended).toMatchObject({ status: 200, body: { status: 'failed', endedBy: 'tester' } });
      expect(Date.parse(ended.body.endTime)).not.toBeNaN();
      expect(await call('POST', `/runs/${runB}/end`, {})).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      const log = await call('POST', `/runs/${runB}/batch`, { metrics: [{ key: 'auc', value: 1 }] });
      expect(log).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', details: { status: 'failed' } } } });
      expect(await upload(runB, 'late.txt', 'x')).toMatchObject({ status: 409 });
      expect((await call('POST', `/runs/${runA}/end`, {})).body.status).toBe('finished');
      expect(await call('POST', '/runs/run_nope/end', {})).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
    });
  });

  it('describes every tracking route in the OpenAPI document', async () => {
    const doc = (await s.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    for (const p of ['/api/v1/experiments', '/api/v1/runs', '/api/v1/runs/search', '/api/v1/runs/compare', '/api/v1/runs/{id}/batch', '/api/v1/runs/{id}/end', '/api/v1/runs/{id}/artifacts/{*}']) {
      expect(Object.keys(doc.paths), p).toContain(p);
    }
  });
});

describe('tracking API with auth on and a small body limit', () => {
  let s: TestServer;
  let viewer: Record<string, string>;
  let editor: Record<string, string>;
  let runId: string;

  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on', CAIRN_BODY_LIMIT_MB: '0.01' });
    const root = { user: 'root', role: 'admin' as const, tokenId: null };
    viewer = { authorization: `Bearer ${(await s.platform.tokens.create({ user: 'vera', role: 'viewer' }, root)).secret}` };
    editor = { authorization: `Bearer ${(await s.platform.tokens.create({ user: 'ed', role: 'editor' }, root)).secret}` };
    await s.platform.tracking.createExperiment({ name: 'flights' }, root);
    runId = (await s.platform.tracking.createRun({ experiment: 'flights' }, root)).id;
  });
  afterAll(async () => s?.close());

  it('lets viewers read but not write, naming the missing role', async () => {
    const as = (headers: Record<string, string>, method: Method, url: string, payload?: object) => s.app.inject({ method, url: API + url, headers, ...(payload ? { payload } : {}) });
    for (const [method, url, payload] of [
      ['POST', '/experiments', { name: 'x' }],
      ['POST', '/runs', { experiment: 'flights' }],
      ['POST', `/runs/${runId}/batch`, { metrics: [{ key: 'a', value: 1 }] }],
      ['POST', `/runs/${runId}/end`, {}],
    ] as const) {
      const res = await as(viewer, method, url, payload);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error).toMatchObject({ code: 'FORBIDDEN', details: { requiredRole: 'editor', role: 'viewer' } });
    }
    const put = await s.app.inject({ method: 'PUT', url: `${API}/runs/${runId}/artifacts/a.txt`, headers: { ...viewer, 'content-type': 'application/octet-stream' }, payload: 'x' });
    expect(put.statusCode).toBe(403);
    for (const url of ['/experiments', '/runs', `/runs/${runId}`, `/runs/${runId}/artifacts`, `/runs/compare?ids=${runId}`]) {
      expect((await as(viewer, 'GET', url)).statusCode, url).toBe(200);
    }
    expect((await s.app.inject({ url: `${API}/runs` })).statusCode).toBe(401);
  });

  it('records the token user as the author of runs and artifacts', async () => {
    const run = await s.app.inject({ method: 'POST', url: `${API}/runs`, headers: editor, payload: { experiment: 'flights' } });
    expect(run.json()).toMatchObject({ author: 'ed' });
    const put = await s.app.inject({ method: 'PUT', url: `${API}/runs/${run.json().id}/artifacts/a.txt`, headers: { ...editor, 'content-type': 'application/octet-stream' }, payload: 'x' });
    expect(put.json()).toMatchObject({ createdBy: 'ed' });
    const end = await s.app.inject({ method: 'POST', url: `${API}/runs/${run.json().id}/end`, headers: editor, payload: {} });
    expect(end.json()).toMatchObject({ endedBy: 'ed' });
  });

  it('refuses artifacts over the body limit, announced or streamed, and stores nothing', async () => {
    const big = Buffer.alloc(20_000, 1);
    const announced = await s.app.inject({ method: 'PUT', url: `${API}/runs/${runId}/artifacts/big.bin`, headers: { ...editor, 'content-type': 'application/octet-stream' }, payload: big });
    expect(announced.statusCode).toBe(413);
    expect(announced.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const streamed = await s.app.inject({
      method: 'PUT',
      url: `${API}/runs/${runId}/artifacts/big.bin`,
      headers: { ...editor, 'content-type': 'application/octet-stream' },
      payload: Readable.from([big.subarray(0, 8000), big.subarray(8000)]),
    });
    expect(streamed.statusCode).toBe(413);
    const list = await s.app.inject({ url: `${API}/runs/${runId}/artifacts`, headers: editor });
    expect(list.json().items).toEqual([]);
  });
});

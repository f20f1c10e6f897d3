/**
 * Every tuning route through the HTTP layer, in process, with its error cases: studies, progress,
 * trials, cancel and resume, and the worker protocol (claim, run, intermediate, heartbeat,
 * finish). The main flow runs on SQLite and on PostgreSQL; auth on SQLite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_BACKENDS } from '../support/backends.js';
import { apiCaller, errorPaths, startTestServer, startTestServerOn, type Method, type TestServer } from '../support/platform.js';

const API = '/api/v1';

const SPACE = { x: { type: 'int', low: 0, high: 3 }, color: { type: 'categorical', choices: ['red', 'blue'] } };

describe.each(METADATA_BACKENDS)('tuning API on $name', ({ name: backend }) => {
  let s: TestServer;

  const call = apiCaller(() => s.app);
  const claim = async (study: string, worker = 'w1') => call('POST', `/studies/${study}/claims`, { worker });

  beforeAll(async () => {
    s = await startTestServerOn(backend);
  });
  afterAll(async () => {
    await s?.close();
  });

  describe('studies', () => {
    it('creates a study with its defaults and a tracking run, and reads and pages studies', async () => {
      const created = await call('POST', '/studies', { name: 'quad', metric: 'loss', space: SPACE, sampler: { type: 'random' }, budget: { trials: 3 }, seed: 7 });
      expect(created).toMatchObject({
        status: 201,
        body: { name: 'quad', experiment: 'quad', metric: 'loss', direction: 'minimize', status: 'running', target: { type: 'function' }, pruner: { type: 'none' }, createdBy: 'tester' },
      });
      const run = await call('GET', `/runs/${created.body.runId}`);
      expect(run.body).toMatchObject({ name: 'study-quad', tags: { 'cairn.study': 'quad' } });
      expect((await call('POST', '/studies', { name: 'grid1', metric: 'acc', direction: 'maximize', space: SPACE, sampler: { type: 'grid' } })).status).toBe(201);

      const progress = await call('GET', '/studies/quad');
      expect(progress).toMatchObject({ status: 200, body: { study: { name: 'quad' }, done: 0, budget: 3, best: null, counts: { running: 0, complete: 0 }, etaSeconds: null } });
      expect((await call('GET', '/studies/grid1')).body).toMatchObject({ budget: 8 });

      const page = await call('GET', '/studies?limit=1');
      expect(page.status).toBe(200);
      expect(page.body.items.map((x: { name: string }) => x.name)).toEqual(['grid1']);
      expect((await call('GET', `/studies?limit=1&cursor=${page.body.nextCursor}`)).body).toMatchObject({ items: [{ name: 'quad' }], nextCursor: null });
      expect(await call('GET', '/studies/quad/trials')).toEqual({ status: 200, body: { items: [] } });
    });

    it('refuses a bad study naming every bad field', async () => {
      const bad = await call('POST', '/studies', {
        name: 'bad name',
        metric: '',
        direction: 'up',
        space: { x: { type: 'float', low: 2, high: 1 }, n: { type: 'int', low: 0.5, high: 3, step: 0 }, c: { type: 'categorical', choices: [] }, z: { type: 'weird' } },
        budget: { trials: 0 },
        fixedParams: { x: 1 },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(errorPaths(bad.body).sort()).toEqual(['direction', 'fixedParams.x', 'metric', 'name', 'space.c.choices', 'space.n.low', 'space.n.step', 'space.x.high', 'space.z.type', 'budget.trials'].sort());
      const empty = await call('POST', '/studies', { name: 'e', metric: 'loss', space: {} });
      expect(errorPaths(empty.body).sort()).toEqual(['budget', 'space']);
      const schema = await call('POST', '/studies', { name: 'e', space: 'x' });
      expect(schema.status).toBe(400);
      expect(errorPaths(schema.body)).toEqual(expect.arrayContaining(['metric', 'space']));
      expect(await call('POST', '/studies', { name: 'quad', metric: 'loss', space: SPACE, budget: { trials: 1 } })).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_EXISTS' } } });
    });

    it('answers 404 for an unknown study on every study route', async () => {
      for (const [method, url, payload] of [
        ['GET', '/studies/nope', undefined],
        ['GET', '/studies/nope/trials', undefined],
        ['POST', '/studies/nope/cancel', {}],
        ['POST', '/studies/nope/resume', { trials: 3 }],
        ['POST', '/studies/nope/claims', { worker: 'w' }],
      ] as const) {
        const res = await call(method, url, payload);
        expect(res.status, url).toBe(404);
        expect(res.body.error, url).toMatchObject({ code: 'NOT_FOUND', details: { study: 'nope' } });
      }
    });
  });

  describe('the worker protocol', () => {
    it('claims distinct trials, reports, heartbeats, attaches a run and finishes until the budget is spent', async () => {
      const a = await claim('quad', 'w1');
      const b = await claim('quad', 'w2');
      expect(a).toMatchObject({ status: 200, body: { reason: null, trial: { study: 'quad', number: 0, state: 'running', worker: 'w1' } } });
      expect(b.body.trial).toMatchObject({ number: 1, worker: 'w2' });
      expect(a.body.trial.params).not.toEqual(b.body.trial.params);
      expect(a.body.trial.runId).toEqual(expect.any(String));
      const ta = a.body.trial.id as string;
      const tb = b.body.trial.id as string;

      expect(await call('POST', `/trials/${ta}/intermediate`, { step: 1, value: 4.5 })).toEqual({ status: 200, body: { prune: false } });
      expect(await call('POST', `/trials/${ta}/heartbeat`)).toEqual({ status: 200, body: { stop: false } });
      const other = await call('POST', '/runs', { experiment: 'quad', name: 'own run' });
      expect(await call('POST', `/trials/${tb}/run`, { runId: other.body.id })).toEqual({ status: 200, body: { ok: true } });

      const finished = await call('POST', `/trials/${ta}/finish`, { state: 'complete', value: 2 });
      expect(finished).toMatchObject({ status: 200, body: { id: ta, state: 'complete', value: 2, intermediate: { '1': 4.5 } } });
      expect((await call('GET', `/runs/${a.body.trial.runId}`)).body).toMatchObject({ status: 'finished', metrics: { loss: { value: 2 } } });
      expect(await call('POST', `/trials/${tb}/finish`, { state: 'pruned' })).toMatchObject({ status: 200, body: { state: 'pruned', runId: other.body.id } });

      const c = await claim('quad', 'w1');
      expect(c.body.trial.number).toBe(2);
      // The budget is taken: no trial, though the study runs until its last trial ends.
      expect(await claim('quad', 'w2')).toMatchObject({ status: 200, body: { trial: null, reason: 'budget' } });
      expect((await call('GET', '/studies/quad')).body.study.status).toBe('running');
      await call('POST', `/trials/${c.body.trial.id}/finish`, { state: 'complete', value: 1 });

      const p = await call('GET', '/studies/quad');
      expect(p.body).toMatchObject({ study: { status: 'completed', stopReason: 'budget' }, done: 3, budget: 3, counts: { complete: 2, pruned: 1, running: 0 }, best: { trial: 2, value: 1 } });
      expect(p.body.best.params).toEqual(c.body.trial.params);
      const trials = await call('GET', '/studies/quad/trials');
      expect(trials.body.items.map((t: { number: number; state: string }) => [t.number, t.state])).toEqual([[0, 'complete'], [1, 'pruned'], [2, 'complete']]);
      // A completed study hands out no work.
      expect(await claim('quad')).toMatchObject({ status: 200, body: { trial: null, reason: 'budget' } });
    });

    it('refuses bad reports and finishes, and work on an ended trial', async () => {
      const t = (await claim('grid1')).body.trial;
      const badStep = await call('POST', `/trials/${t.id}/intermediate`, { step: -1, value: 1 });
      expect(badStep.status).toBe(400);
      expect(errorPaths(badStep.body)).toEqual(['step']);
      const badBody = await call('POST', `/trials/${t.id}/intermediate`, { step: 'one' });
      expect(badBody.status).toBe(400);
      expect(errorPaths(badBody.body)).toEqual(expect.arrayContaining(['step', 'value']));
      const noValue = await call('POST', `/trials/${t.id}/finish`, { state: 'complete' });
      expect(noValue.status).toBe(400);
      expect(errorPaths(noValue.body)).toEqual(['value']);
      expect((await call('POST', `/trials/${t.id}/finish`, { state: 'done', value: 1 })).status).toBe(400);
      expect(await call('POST', `/trials/${t.id}/finish`, { state: 'failed', error: 'boom' })).toMatchObject({ status: 200, body: { state: 'failed', error: 'boom' } });

      expect(await call('POST', `/trials/${t.id}/finish`, { state: 'complete', value: 1 })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      expect(await call('POST', `/trials/${t.id}/intermediate`, { step: 2, value: 1 })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      expect(await call('POST', `/trials/${t.id}/heartbeat`)).toEqual({ status: 200, body: { stop: true } });
      const run = await call('POST', '/runs', { experiment: 'grid1' });
      expect(await call('POST', `/trials/${t.id}/run`, { runId: run.body.id })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    });

    it('answers 404 for an unknown trial on every trial route, and for an unknown run', async () => {
      const run = await call('POST', '/runs', { experiment: 'grid1' });
      for (const [url, payload] of [
        ['/trials/trial_nope/run', { runId: run.body.id }],
        ['/trials/trial_nope/intermediate', { step: 1, value: 1 }],
        ['/trials/trial_nope/heartbeat', undefined],
        ['/trials/trial_nope/finish', { state: 'complete', value: 1 }],
      ] as const) {
        const res = await call('POST', url, payload);
        expect(res.status, url).toBe(404);
        expect(res.body.error, url).toMatchObject({ code: 'NOT_FOUND', details: { trialId: 'trial_nope' } });
      }
      const t = (await claim('grid1')).body.trial;
      expect(await call('POST', `/trials/${t.id}/run`, { runId: 'run_nope' })).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
      expect((await call('POST', `/trials/${t.id}/run`, {})).status).toBe(400);
      expect((await call('POST', '/studies/grid1/claims', { worker: '' })).status).toBe(400);
      await call('POST', `/trials/${t.id}/finish`, { state: 'complete', value: 0.5 });
    });

    it('cancels a study: running trials are told to stop and no work is handed out; resume is refused', async () => {
      const t = (await claim('grid1')).body.trial;
      const cancelled = await call('POST', '/studies/grid1/cancel', {});
      expect(cancelled).toMatchObject({ status: 200, body: { name: 'grid1', status: 'cancelled', stopReason: 'cancelled' } });
      expect((await call('GET', `/runs/${cancelled.body.runId}`)).body).toMatchObject({ status: 'killed' });
      expect(await call('POST', `/trials/${t.id}/heartbeat`)).toEqual({ status: 200, body: { stop: true } });
      expect(await call('POST', `/trials/${t.id}/intermediate`, { step: 1, value: 1 })).toEqual({ status: 200, body: { prune: true } });
      expect(await claim('grid1')).toEqual({ status: 200, body: { trial: null, reason: 'cancelled' } });
      // Cancelling twice is harmless; a cancelled study cannot be resumed.
      expect((await call('POST', '/studies/grid1/cancel', {})).body.status).toBe('cancelled');
      expect(await call('POST', '/studies/grid1/resume', { trials: 20 })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      expect(await call('POST', `/trials/${t.id}/finish`, { state: 'pruned' })).toMatchObject({ status: 200, body: { state: 'pruned' } });
    });

    it('resumes a completed study with a bigger budget, and refuses a bad one', async () => {
      const bad = await call('POST', '/studies/quad/resume', { trials: 0 });
      expect(bad.status).toBe(400);
      expect(errorPaths(bad.body)).toEqual(['trials']);
      expect(errorPaths((await call('POST', '/studies/quad/resume', {})).body)).toEqual(['trials']);
      expect((await call('POST', '/studies/quad/resume', { trials: 4, colour: 1 })).status).toBe(400);
      const resumed = await call('POST', '/studies/quad/resume', { trials: 4 });
      expect(resumed).toMatchObject({ status: 200, body: { status: 'running', stopReason: null, budget: { trials: 4 } } });
      const t = await claim('quad');
      expect(t.body.trial.number).toBe(3);
      await call('POST', `/trials/${t.body.trial.id}/finish`, { state: 'complete', value: 5 });
      expect((await call('GET', '/studies/quad')).body).toMatchObject({ study: { status: 'completed' }, done: 4, budget: 4, best: { value: 1 } });
    });
  });

  it('describes every tuning route in the OpenAPI document', async () => {
    const doc = (await s.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    for (const p of ['/api/v1/studies', '/api/v1/studies/{name}', '/api/v1/studies/{name}/trials', '/api/v1/studies/{name}/cancel', '/api/v1/studies/{name}/resume', '/api/v1/studies/{name}/claims', '/api/v1/trials/{id}/run', '/api/v1/trials/{id}/intermediate', '/api/v1/trials/{id}/heartbeat', '/api/v1/trials/{id}/finish']) {
      expect(Object.keys(doc.paths), p).toContain(p);
    }
  });
});

describe('tuning API with auth on', () => {
  let s: TestServer;
  let viewer: Record<string, string>;
  let editor: Record<string, string>;
  let trialId: string;
  const as = (headers: Record<string, string>, method: Method, url: string, payload?: object) => s.app.inject({ method, url: API + url, headers, ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on' });
    const root = { user: 'root', role: 'admin' as const, tokenId: null };
    viewer = { authorization: `Bearer ${(await s.platform.tokens.create({ user: 'vera', role: 'viewer' }, root)).secret}` };
    editor = { authorization: `Bearer ${(await s.platform.tokens.create({ user: 'ed', role: 'editor' }, root)).secret}` };
    await s.platform.tuning.createStudy({ name: 'q', metric: 'loss', space: { x: { type: 'float', low: 0, high: 1 } }, budget: { trials: 5 } }, root);
    trialId = (await s.platform.tuning.claimTrial('q', 'w', root)).trial!.id;
  });
  afterAll(async () => s?.close());

  it('lets viewers read but not write, naming the missing role', async () => {
    const run = (await s.platform.tracking.createRun({ experiment: 'q' }, { user: 'root', role: 'admin', tokenId: null })).id;
    for (const [method, url, payload] of [
      ['POST', '/studies', { name: 'x', metric: 'loss', space: { x: { type: 'float', low: 0, high: 1 } }, budget: { trials: 1 } }],
      ['POST', '/studies/q/claims', { worker: 'w' }],
      ['POST', '/studies/q/cancel', {}],
      ['POST', '/studies/q/resume', { trials: 9 }],
      ['POST', `/trials/${trialId}/run`, { runId: run }],
      ['POST', `/trials/${trialId}/intermediate`, { step: 1, value: 1 }],
      ['POST', `/trials/${trialId}/heartbeat`, undefined],
      ['POST', `/trials/${trialId}/finish`, { state: 'complete', value: 1 }],
    ] as const) {
      const res = await as(viewer, method, url, payload);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error, url).toMatchObject({ code: 'FORBIDDEN', details: { requiredRole: 'editor', role: 'viewer' } });
    }
    for (const url of ['/studies', '/studies/q', '/studies/q/trials']) expect((await as(viewer, 'GET', url)).statusCode, url).toBe(200);
    expect((await s.app.inject({ url: `${API}/studies` })).statusCode).toBe(401);
    expect((await as(viewer, 'GET', '/studies/q/trials')).json().items).toMatchObject([{ state: 'running' }]);
  });

  it('records the token user as the creator of a study and lets editors run trials', async () => {
    const created = await as(editor, 'POST', '/studies', { name: 'mine', metric: 'loss', space: { x: { type: 'float', low: 0, high: 1 } }, budget: { trials: 1 } });
    expect(created.json()).toMatchObject({ name: 'mine', createdBy: 'ed' });
    const t = (await as(editor, 'POST', '/studies/mine/claims', { worker: 'w' })).json().trial;
    expect((await as(editor, 'POST', `/trials/${t.id}/heartbeat`)).json()).toEqual({ stop: false });
    expect((await as(editor, 'POST', `/trials/${t.id}/finish`, { state: 'complete', value: 0.5 })).json()).toMatchObject({ state: 'complete' });
    expect((await as(viewer, 'GET', '/studies/mine')).json()).toMatchObject({ study: { status: 'completed' }, best: { value: 0.5 } });
  });
});

/**
 * Every model-registry route through the HTTP layer, in process, with its error cases. The main
 * flow runs on SQLite and on PostgreSQL; role refusals with auth on, on SQLite.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_BACKENDS } from '../support/backends.js';
import { apiCaller, errorPaths, startTestServer, startTestServerOn, type Method, type TestServer } from '../support/platform.js';
import { COMPLETE_CARD, MINIMAL_CARD, ROOT, foreignOnnx, handmadeRun, seedFeatureStore } from '../support/registry.js';

const API = '/api/v1';


describe.each(METADATA_BACKENDS)('registry API on $name', ({ name: backend }) => {
  let s: TestServer;
  let runId: string;

  const call = apiCaller(() => s.app);
  const upload = async (model: string, data: Uint8Array | string, contentType = 'application/octet-stream') => {
    const res = await s.app.inject({ method: 'POST', url: `${API}/models/${model}/files`, headers: { 'content-type': contentType }, payload: Buffer.from(data) });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    s = await startTestServerOn(backend);
    await seedFeatureStore(s.platform, s.home);
    runId = (await handmadeRun(s.platform)).id;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('creates, reads, updates and pages models', async () => {
    expect(await call('POST', '/models', { name: 'delay', description: 'delay risk', tags: { team: 'ops' } })).toMatchObject({
      status: 201,
      body: { name: 'delay', owner: 'tester', latestVersion: 0, createdBy: 'tester' },
    });
    expect((await call('POST', '/models', { name: 'churn' })).status).toBe(201);
    expect(await call('POST', '/models', { name: 'delay' })).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_EXISTS' } } });
    const bad = await call('POST', '/models', { name: 'no spaces', colour: 'red' });
    expect(bad.status).toBe(400);
    expect(errorPaths(bad.body)).toEqual(['colour']);
    expect(errorPaths((await call('POST', '/models', { name: 'no spaces' })).body)).toEqual(['name']);
    expect(await call('PATCH', '/models/churn', { description: 'who leaves', owner: 'bob' })).toMatchObject({ status: 200, body: { description: 'who leaves', owner: 'bob' } });
    expect(await call('GET', '/models/delay')).toMatchObject({ status: 200, body: { name: 'delay', tags: { team: 'ops' } } });
    expect(await call('GET', '/models/nope')).toMatchObject({ status: 404, body: { error: { code: 'MODEL_NOT_FOUND' } } });
    const page = await call('GET', '/models?limit=1');
    expect(page.body.items.map((m: { name: string }) => m.name)).toEqual(['churn']);
    expect((await call('GET', `/models?limit=1&cursor=${page.body.nextCursor}`)).body).toMatchObject({ items: [{ name: 'delay' }], nextCursor: null });
  });

  it("registers a run's model with its card, refusing missing card fields by name", async () => {
    const missing = await call('POST', '/models/delay/versions', { runId, card: { description: 'x' } });
    expect(missing).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(errorPaths(missing.body)).toEqual(['card.intendedUse', 'card.trainingData']);
    expect(errorPaths((await call('POST', '/models/delay/versions', { runId })).body)).toEqual(['card']);
    expect(errorPaths((await call('POST', '/models/delay/versions', { runId, card: { ...MINIMAL_CARD, limitations: 3 } })).body)).toEqual(['card.limitations']);
    expect(await call('POST', '/models/nope/versions', { runId, card: MINIMAL_CARD })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_NOT_FOUND' } } });
    const created = await call('POST', '/models/delay/versions', { runId, card: MINIMAL_CARD });
    expect(created).toMatchObject({ status: 201, body: { model: 'delay', version: 1, stage: 'None', card: { revision: 1, status: 'pending', complete: false } } });
    expect(created.body.card.card.quantitativeAnalysis.performanceMetrics).toContainEqual({ type: 'valid_auc', value: 0.71, slice: 'validation', source: 'run' });
    expect((await call('POST', '/models/delay/versions', { runId, card: COMPLETE_CARD })).body.version).toBe(2);
  });

  it('takes an uploaded ONNX file in two steps, refusing anything else', async () => {
    expect(await upload('churn', 'definitely not onnx')).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', details: { errors: [{ path: 'file' }] } } } });
    expect(await upload('churn', '{"a": 1}', 'application/json')).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    expect(await upload('nope', foreignOnnx())).toMatchObject({ status: 404 });
    const file = await upload('churn', foreignOnnx());
    expect(file).toMatchObject({ status: 201, body: { digest: expect.stringMatching(/^sha256:/), signature: { producer: 'skl2onnx', cairn: null } } });
    const v = await call('POST', '/models/churn/versions', { file: file.body.digest, lineage: { dataset: 'flights_jan@1', features: ['distance@1'], trainer: 'sklearn' }, card: MINIMAL_CARD });
    expect(v).toMatchObject({ status: 201, body: { version: 1, source: { kind: 'upload' }, lineage: { features: ['distance@1'], trainer: 'sklearn' } } });
    const both = await call('POST', '/models/churn/versions', { runId, file: file.body.digest, card: MINIMAL_CARD });
    expect(both.body.error.details.errors).toEqual([{ path: 'file', reason: 'give either runId (a run’s model) or file (an uploaded model), not both' }]);
  });

  it('reads versions, their files and their lineage', async () => {
    const list = await call('GET', '/models/delay/versions?limit=1');
    expect(list.body.items.map((v: { version: number }) => v.version)).toEqual([2]);
    expect((await call('GET', `/models/delay/versions?cursor=${list.body.nextCursor}`)).body.items.map((v: { version: number }) => v.version)).toEqual([1]);
    expect((await call('GET', '/models/delay/versions?stage=bogus')).status).toBe(400);
    expect(await call('GET', '/models/delay/versions/1')).toMatchObject({ status: 200, body: { version: 1, card: { card: { modelDetails: { name: 'delay', version: 1 } } } } });
    expect(await call('GET', '/models/delay/versions/9')).toMatchObject({ status: 404, body: { error: { code: 'MODEL_VERSION_NOT_FOUND' } } });
    expect((await call('GET', '/models/delay/versions/zero')).status).toBe(400);
    expect(errorPaths((await call('GET', '/models/delay/versions/99999999999')).body)).toEqual(['params.version']);
    expect(errorPaths((await call('GET', '/models/delay/versions?cursor=bm9wZQ')).body)).toEqual(['cursor']);
    const onnx = await s.app.inject({ url: `${API}/models/delay/versions/1/artifacts/model.onnx` });
    expect(onnx.statusCode).toBe(200);
    expect(onnx.headers['x-content-sha256']).toBe(`sha256:${createHash('sha256').update(onnx.rawPayload).digest('hex')}`);
    expect(onnx.headers['x-content-sha256']).toBe((await call('GET', '/models/delay/versions/1')).body.modelDigest);
    expect(await call('GET', '/models/delay/versions/1/artifacts/nope.bin')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    const lineage = await call('GET', '/models/delay/versions/1/lineage');
    expect(lineage.body).toMatchObject({ run: { id: runId }, dataset: { ref: 'flights_jan@1', contentHash: expect.stringMatching(/^sha256:/) }, trainer: 'linear', codeVersion: 'abc123' });
    expect(lineage.body.features.map((f: { ref: string; entity: string; expression: string }) => [f.ref, f.entity, f.expression])).toEqual([
      ['dep_hour@1', 'flight', 'hour(date)'],
      ['distance@1', 'flight', 'distance'],
    ]);
  });

  it('finds the model versions of a feature or dataset version', async () => {
    const byFeature = await call('GET', '/features/distance/versions/1/models');
    expect(byFeature.body.feature).toBe('distance@1');
    expect(byFeature.body.items.map((v: { model: string; version: number }) => `${v.model}@${v.version}`)).toEqual(['churn@1', 'delay@1', 'delay@2']);
    expect((await call('GET', '/features/dep_hour/versions/1/models')).body.items).toHaveLength(2);
    expect(await call('GET', '/features/dep_hour/versions/5/models')).toMatchObject({ status: 404, body: { error: { code: 'FEATURE_VERSION_NOT_FOUND' } } });
    expect((await call('GET', '/datasets/flights_jan/versions/1/models')).body.items).toHaveLength(3);
    expect(await call('GET', '/datasets/nope/versions/1/models')).toMatchObject({ status: 404, body: { error: { code: 'DATASET_NOT_FOUND' } } });
    // The feature store's own routes are untouched.
    expect(await call('GET', '/features/distance/versions/1')).toMatchObject({ status: 200, body: { name: 'distance' } });
  });

  it('edits, reviews and gates cards on the way to Production', async () => {
    expect(await call('POST', '/models/delay/versions/1/transitions', { stage: 'staging', comment: 'shadow' })).toMatchObject({
      status: 200,
      body: { version: { stage: 'Staging' }, transitions: [{ from: 'None', to: 'Staging', comment: 'shadow', actor: 'tester' }] },
    });
    const incomplete = await call('POST', '/models/delay/versions/1/transitions', { stage: 'Production' });
    expect(incomplete).toMatchObject({ status: 409, body: { error: { code: 'CARD_INCOMPLETE', details: { missing: ['card.limitations', 'card.ethicalConsiderations', 'card.owners', 'card.license'] } } } });
    const edited = await call('PATCH', '/models/delay/versions/1/card', { limitations: 'one month', ethicalConsiderations: 'bias', owners: ['Ada'], license: 'MIT', evaluationData: null });
    expect(edited).toMatchObject({ status: 201, body: { revision: 2, created: true, complete: true, status: 'pending' } });
    expect(await call('PATCH', '/models/delay/versions/1/card', { license: 'MIT' })).toMatchObject({ status: 200, body: { revision: 2, created: false } });
    expect(errorPaths((await call('PATCH', '/models/delay/versions/1/card', { license: 5, colour: 'red' })).body).sort()).toEqual(['colour', 'license']);
    expect(errorPaths((await call('PATCH', '/models/delay/versions/1/card', { trainingData: null })).body)).toEqual(['card.trainingData']);
    expect(await call('POST', '/models/delay/versions/1/transitions', { stage: 'Production' })).toMatchObject({ status: 409, body: { error: { code: 'CARD_NOT_APPROVED' } } });
    expect(errorPaths((await call('POST', '/models/delay/versions/1/card/reject', {})).body)).toEqual(['comment']);
    expect(await call('POST', '/models/delay/versions/1/card/approve', { revision: 1 })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect(await call('POST', '/models/delay/versions/1/card/approve', { revision: 2, comment: 'good' })).toMatchObject({
      status: 200,
      body: { review: { revision: 2, decision: 'approved', comment: 'good', actor: 'tester' }, card: { status: 'approved' } },
    });
    expect((await call('GET', '/models/delay/versions/1/card?revision=1')).body).toMatchObject({ revision: 1, current: false, status: 'pending', complete: false });
    expect((await call('GET', '/models/delay/versions/1/card')).body).toMatchObject({ revision: 2, current: true, status: 'approved' });
    expect(await call('GET', '/models/delay/versions/1/card?revision=7')).toMatchObject({ status: 404 });
    expect((await call('GET', '/models/delay/versions/1/card/revisions')).body.items.map((r: { revision: number }) => r.revision)).toEqual([1, 2]);
    expect((await call('GET', '/models/delay/versions/1/card/reviews')).body.items).toEqual([expect.objectContaining({ decision: 'approved', revision: 2 })]);

    expect(await call('POST', '/models/delay/versions/1/transitions', { stage: 'Production', comment: 'go' })).toMatchObject({ status: 200, body: { version: { stage: 'Production' } } });
    await call('POST', '/models/delay/versions/2/card/approve', {});
    const second = await call('POST', '/models/delay/versions/2/transitions', { stage: 'Production' });
    expect(second.body.transitions.map((t: { version: number; to: string }) => `${t.version}:${t.to}`)).toEqual(['2:Production', '1:Archived']);
    expect(await call('POST', '/models/delay/versions/2/transitions', { stage: 'Production' })).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect(errorPaths((await call('POST', '/models/delay/versions/2/transitions', { stage: 'Live', keep: true })).body)).toEqual(['keep']);
    expect(errorPaths((await call('POST', '/models/delay/versions/2/transitions', { stage: 'Live' })).body)).toEqual(['stage']);
  });

  it('answers by stage, across models, and with the transition history', async () => {
    expect(await call('GET', '/models/delay/stages/production')).toMatchObject({ status: 200, body: { version: 2, stage: 'Production', card: { status: 'approved' } } });
    expect(await call('GET', '/models/delay/stages/staging')).toMatchObject({ status: 404, body: { error: { code: 'MODEL_VERSION_NOT_FOUND' } } });
    expect(await call('GET', '/models/delay/stages/live')).toMatchObject({ status: 400 });
    expect((await call('GET', '/production-models')).body).toMatchObject({ items: [{ model: 'delay', version: 2 }], nextCursor: null });
    const history = await call('GET', '/models/delay/transitions?limit=3');
    expect(history.body.items.map((t: { version: number; to: string }) => `${t.version}:${t.to}`)).toEqual(['1:Staging', '1:Production', '2:Production']);
    expect((await call('GET', `/models/delay/transitions?cursor=${history.body.nextCursor}`)).body.items).toEqual([expect.objectContaining({ version: 1, from: 'Production', to: 'Archived', automatic: true })]);
    expect((await call('GET', '/models/delay/transitions?version=2')).body.items).toHaveLength(1);
  });

  it('sets, reads, moves and deletes aliases', async () => {
    expect(await call('PUT', '/models/delay/aliases/champion', { version: 1 })).toMatchObject({ status: 200, body: { alias: 'champion', version: 1 } });
    expect(await call('PUT', '/models/delay/aliases/champion', { version: 2 })).toMatchObject({ status: 200, body: { version: 2 } });
    expect(await call('GET', '/models/delay/aliases/champion')).toMatchObject({ status: 200, body: { version: 2, aliases: ['champion'] } });
    expect((await call('GET', '/models/delay/aliases')).body.items.map((a: { alias: string }) => a.alias)).toEqual(['champion']);
    expect(await call('PUT', '/models/delay/aliases/champion', { version: 9 })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_VERSION_NOT_FOUND' } } });
    expect(errorPaths((await call('PUT', '/models/delay/aliases/Champion', { version: 1 })).body)).toEqual(['alias']);
    expect(errorPaths((await call('PUT', '/models/delay/aliases/champion', {})).body)).toEqual(['version']);
    expect(await call('DELETE', '/models/delay/aliases/champion')).toMatchObject({ status: 200, body: { alias: 'champion', version: 2 } });
    expect(await call('GET', '/models/delay/aliases/champion')).toMatchObject({ status: 404, body: { error: { code: 'ALIAS_NOT_FOUND' } } });
    expect(await call('DELETE', '/models/delay/aliases/champion')).toMatchObject({ status: 404, body: { error: { code: 'ALIAS_NOT_FOUND' } } });
  });

  it('renders cards as Markdown and as a standalone, escaped HTML page', async () => {
    await call('PATCH', '/models/delay/versions/2/card', { caveats: '<img src=x onerror=alert(1)>' });
    const md = await s.app.inject({ method: 'GET', url: `${API}/models/delay/versions/2/card.md` });
    expect(md.statusCode).toBe(200);
    expect(md.headers['content-type']).toBe('text/markdown; charset=utf-8');
    expect(md.body).toContain('# Model card: delay version 2');
    expect(md.body).toContain('## Lineage');
    expect(md.body).toContain('| valid_auc | validation | 0.71 | run |');
    const html = await s.app.inject({ method: 'GET', url: `${API}/models/delay/versions/2/card.html` });
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    expect(html.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html.body).not.toContain('<img');
    expect(html.body).toContain('revision 2: pending review');
    // The approved revision stays readable and rendered as it was.
    const approved = (await call('GET', '/models/delay/versions/2/card.html?revision=1')).body;
    expect(approved).toContain('revision 1: approved by tester');
    expect(approved).not.toContain('onerror');
    expect(await call('GET', '/models/delay/versions/2/card.md?revision=9')).toMatchObject({ status: 404 });
  });

  it('reads the durable event log by type from a sequence number', async () => {
    const all = await call('GET', '/events?limit=1000');
    expect(all.body.hasMore).toBe(false);
    const types = all.body.items.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['model.created', 'model_version.created', 'model_version.transitioned', 'model_card.approved', 'model_version.alias_set', 'model_version.alias_deleted']));
    const first = await call('GET', '/events?type=model_version.transitioned&limit=2');
    expect(first.body).toMatchObject({ hasMore: true, items: [{ payload: { model: 'delay', version: 1, to: 'Staging' } }, { payload: { to: 'Production' } }] });
    const next = await call('GET', `/events?type=model_version.transitioned,model_card.approved&after=${first.body.lastSeq}`);
    expect(next.body.items[0].seq).toBeGreaterThan(first.body.lastSeq);
    expect(next.body.items.every((e: { type: string }) => ['model_version.transitioned', 'model_card.approved'].includes(e.type))).toBe(true);
    expect((await call('GET', `/events?after=${all.body.lastSeq}`)).body).toEqual({ items: [], lastSeq: all.body.lastSeq, hasMore: false });
    expect((await call('GET', '/events?after=-1')).status).toBe(400);
  });

  it('describes the registry in the OpenAPI document', async () => {
    const paths = Object.keys((await s.app.inject({ url: '/openapi.json' })).json().paths as object);
    for (const p of ['/api/v1/models', '/api/v1/models/{name}/versions/{version}/card.html', '/api/v1/production-models', '/api/v1/events', '/api/v1/features/{name}/versions/{version}/models']) {
      expect(paths).toContain(p);
    }
  });
});

describe('registry API with auth on', () => {
  let s: TestServer;
  let runId: string;
  const headers: Record<string, { authorization: string }> = {};
  const as = async (who: string, method: Method, url: string, payload?: unknown) => {
    const res = await s.app.inject({ method, url: API + url, headers: headers[who] ?? {}, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on' });
    for (const [user, role] of [['vera', 'viewer'], ['ed', 'editor'], ['april', 'approver']] as const) {
      headers[user] = { authorization: `Bearer ${(await s.platform.tokens.create({ user, role }, ROOT)).secret}` };
    }
    await seedFeatureStore(s.platform, s.home);
    runId = (await handmadeRun(s.platform)).id;
  });
  afterAll(async () => s?.close());

  it('needs a token, and the editor role to register and edit', async () => {
    expect(await as('nobody', 'GET', '/models')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await as('vera', 'POST', '/models', { name: 'delay' })).toMatchObject({
      status: 403,
      body: { error: { code: 'FORBIDDEN', message: 'registering a model needs the editor role; vera has viewer', details: { requiredRole: 'editor' } } },
    });
    expect(await as('ed', 'POST', '/models', { name: 'delay' })).toMatchObject({ status: 201, body: { owner: 'ed', createdBy: 'ed' } });
    expect((await as('vera', 'POST', '/models/delay/versions', { runId, card: COMPLETE_CARD })).body.error.message).toBe('registering a model version needs the editor role; vera has viewer');
    expect(await as('ed', 'POST', '/models/delay/versions', { runId, card: COMPLETE_CARD })).toMatchObject({ status: 201, body: { createdBy: 'ed' } });
    expect((await as('vera', 'PATCH', '/models/delay/versions/1/card', { caveats: 'x' })).body.error.message).toBe('editing a model card needs the editor role; vera has viewer');
    expect((await as('vera', 'PUT', '/models/delay/aliases/champion', { version: 1 })).status).toBe(403);
    const upload = await s.app.inject({ method: 'POST', url: `${API}/models/delay/files`, headers: { ...headers.vera, 'content-type': 'application/octet-stream' }, payload: Buffer.from(foreignOnnx()) });
    expect(upload.json().error.message).toBe('uploading a model file needs the editor role; vera has viewer');
    expect(await as('vera', 'GET', '/models/delay/versions/1')).toMatchObject({ status: 200, body: { version: 1 } });
  });

  it('needs the approver role to approve cards and to move versions into or out of Production', async () => {
    expect((await as('ed', 'POST', '/models/delay/versions/1/card/approve', {})).body.error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'approving a model card needs the approver role; ed has editor',
      details: { requiredRole: 'approver' },
    });
    expect((await as('ed', 'POST', '/models/delay/versions/1/card/reject', { comment: 'no' })).body.error.message).toBe('rejecting a model card needs the approver role; ed has editor');
    expect(await as('ed', 'POST', '/models/delay/versions/1/transitions', { stage: 'Staging' })).toMatchObject({ status: 200 });
    expect((await as('ed', 'POST', '/models/delay/versions/1/transitions', { stage: 'Production' })).body.error.message).toBe(
      'moving a model version to Production needs the approver role; ed has editor',
    );
    expect(await as('april', 'POST', '/models/delay/versions/1/card/approve', { comment: 'ok' })).toMatchObject({ status: 200, body: { review: { actor: 'april' } } });
    expect(await as('april', 'POST', '/models/delay/versions/1/transitions', { stage: 'Production' })).toMatchObject({ status: 200, body: { transitions: [{ actor: 'april' }] } });
    expect((await as('ed', 'POST', '/models/delay/versions/1/transitions', { stage: 'Archived' })).body.error.message).toBe(
      'moving a model version out of Production needs the approver role; ed has editor',
    );
    const events = (await as('vera', 'GET', '/events?type=model_card.approved,model_version.transitioned')).body.items;
    expect(events.map((e: { type: string; actor: string }) => `${e.type}:${e.actor}`)).toEqual(['model_version.transitioned:ed', 'model_card.approved:april', 'model_version.transitioned:april']);
  });
});

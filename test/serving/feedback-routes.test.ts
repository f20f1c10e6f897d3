/**
 * Feedback (`POST /v1/feedback`) and the prediction log's reading API (`/api/v1/predictions`,
 * `/api/v1/models/{name}/performance`, `/api/v1/refusals`) on a whole in-process server: every
 * answer, every error with its field path, feedback that arrives before its prediction was
 * flushed, the performance join, and roles with auth on. The main flow runs on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/identity/index.js';
import type { PredictionRecord } from '../../src/serving/log-model.js';
import { predictionRecord } from '../contract/prediction-log-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';
import { errorPaths, startTestServer, startTestServerOn, type TestServer } from '../support/platform.js';

const ROOT: Actor = { user: 'root', role: 'admin', tokenId: null };
const T0 = Date.parse('2026-02-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function requester(s: () => TestServer) {
  return async (method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await s().app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, body: res.json() };
  };
}

/** Logs predictions the way the serving core does, and waits until they are stored. */
async function logged(s: TestServer, records: PredictionRecord[]): Promise<void> {
  s.platform.predictionLog.record(records);
  await s.platform.predictionLog.flush();
}

for (const backend of METADATA_BACKENDS) {
  describe(`feedback and the prediction log API on ${backend.name}`, () => {
    let s: TestServer;
    const call = requester(() => s);
    beforeAll(async () => {
      s = await startTestServerOn(backend.name);
      await logged(s, [
        predictionRecord('c-1', { model: 'clf', version: 1, at: at(1), output: { value: 0.9, label: 1, probability: 0.9 } }),
        predictionRecord('c-2', { model: 'clf', version: 1, at: at(2), output: { value: 0.8, label: 1, probability: 0.8 } }),
        predictionRecord('c-3', { model: 'clf', version: 1, at: at(3), output: { value: 0.3, label: 0, probability: 0.3 } }),
        predictionRecord('c-4', { model: 'clf', version: 2, at: at(4), output: { value: 0.6, label: 1, probability: 0.6 } }),
        predictionRecord('c-5', { model: 'clf', version: 2, at: at(5), output: { value: 0.4, label: 0, probability: 0.4 } }),
        predictionRecord('r-1', { model: 'reg', version: 3, at: at(6), output: { value: 10 } }),
        predictionRecord('r-2', { model: 'reg', version: 3, at: at(7), output: { value: 20 } }),
      ]);
    });
    afterAll(async () => s?.close());

    it('records one outcome and shows it with the prediction', async () => {
      expect(await call('POST', '/v1/feedback', { predictionId: 'c-1', actual: 1 })).toEqual({ status: 200, body: { recorded: 1, replaced: [], unknown: [] } });
      const { status, body } = await call('GET', '/api/v1/predictions/c-1');
      expect(status).toBe(200);
      expect(body).toMatchObject({
        id: 'c-1',
        model: 'clf',
        version: 1,
        stage: 'Production',
        features: { distance: 812, origin: 'ATL' },
        entities: { origin: 'ATL' },
        output: { value: 0.9, label: 1, probability: 0.9 },
        latencyMs: 1.5,
        feedback: { actual: 1, by: 'tester' },
      });
    });

    it('records many, reports unknown ids, and replaces a second outcome for the same id', async () => {
      expect(
        await call('POST', '/v1/feedback', {
          items: [
            { predictionId: 'c-2', actual: false },
            { predictionId: 'c-3', actual: 0 },
            { predictionId: 'nope-1', actual: 1 },
          ],
        }),
      ).toEqual({ status: 200, body: { recorded: 2, replaced: [], unknown: ['nope-1'] } });
      expect(await call('POST', '/v1/feedback', { items: [{ predictionId: 'c-2', actual: true }, { predictionId: 'c-4', actual: 1 }, { predictionId: 'c-5', actual: 1 }] })).toEqual({
        status: 200,
        body: { recorded: 3, replaced: ['c-2'], unknown: [] },
      });
      expect((await call('GET', '/api/v1/predictions/c-2')).body.feedback.actual).toBe(true);
    });

    it('answers 404 naming the ids when none is known', async () => {
      const one = await call('POST', '/v1/feedback', { predictionId: 'nope-2', actual: 1 });
      expect(one).toMatchObject({ status: 404, body: { error: { code: 'PREDICTION_NOT_FOUND', details: { unknown: ['nope-2'] } } } });
      const many = await call('POST', '/v1/feedback', { items: [{ predictionId: 'nope-3', actual: 1 }, { predictionId: 'nope-4', actual: 0 }] });
      expect(many).toMatchObject({ status: 404, body: { error: { code: 'PREDICTION_NOT_FOUND', details: { unknown: ['nope-3', 'nope-4'] } } } });
      expect(await call('GET', '/api/v1/predictions/nope-2')).toMatchObject({ status: 404, body: { error: { code: 'PREDICTION_NOT_FOUND' } } });
    });

    it('accepts feedback for a prediction still waiting in memory', async () => {
      s.platform.predictionLog.record([predictionRecord('fresh-1', { model: 'fresh', at: at(9) })]);
      expect(s.platform.predictionLog.queueDepth()).toBe(1);
      expect(await call('POST', '/v1/feedback', { predictionId: 'fresh-1', actual: 0 })).toEqual({ status: 200, body: { recorded: 1, replaced: [], unknown: [] } });
    });

    it('reads a prediction still waiting in memory', async () => {
      s.platform.predictionLog.record([predictionRecord('fresh-2', { model: 'fresh', at: at(10) })]);
      expect((await call('GET', '/api/v1/predictions/fresh-2')).status).toBe(200);
    });

    it('lists predictions newest first, filtered, in pages', async () => {
      const page1 = await call('GET', '/api/v1/predictions?model=clf&limit=2');
      expect(page1.status).toBe(200);
      expect(page1.body.items.map((p: { id: string }) => p.id)).toEqual(['c-5', 'c-4']);
      const page2 = await call('GET', `/api/v1/predictions?model=clf&limit=2&cursor=${page1.body.nextCursor}`);
      expect(page2.body.items.map((p: { id: string }) => p.id)).toEqual(['c-3', 'c-2']);
      const page3 = await call('GET', `/api/v1/predictions?model=clf&limit=2&cursor=${page2.body.nextCursor}`);
      expect(page3.body).toMatchObject({ items: [{ id: 'c-1', feedback: { actual: 1 } }], nextCursor: null });
      const v2 = await call('GET', '/api/v1/predictions?model=clf&version=2');
      expect(v2.body.items.map((p: { id: string }) => p.id)).toEqual(['c-5', 'c-4']);
      const window = await call('GET', `/api/v1/predictions?since=${encodeURIComponent(at(2))}&until=${encodeURIComponent(at(4))}`);
      expect(window.body.items.map((p: { id: string }) => p.id)).toEqual(['c-3', 'c-2']);
    });

    it('computes per-version performance from predictions joined with feedback', async () => {
      const { status, body } = await call('GET', '/api/v1/models/clf/performance');
      expect(status).toBe(200);
      // v1: c-1 (0.9 → 1), c-2 (0.8 → true), c-3 (0.3 → 0): all right, AUC 1. v2: c-4 (0.6 → 1), c-5 (0.4 → 1).
      expect(body.model).toBe('clf');
      const [v1, v2] = body.versions;
      expect(v1).toMatchObject({ version: 1, predictions: 3, withFeedback: 3, metrics: { task: 'classification', accuracy: 1, auc: 1 } });
      expect(v1.metrics.logLoss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.7)) / 3, 10);
      expect(v2).toMatchObject({ version: 2, predictions: 2, withFeedback: 2, metrics: { task: 'classification', accuracy: 0.5, auc: null } });
      expect(v2.metrics.logLoss).toBeCloseTo(-(Math.log(0.6) + Math.log(0.4)) / 2, 10);

      await call('POST', '/v1/feedback', { items: [{ predictionId: 'r-1', actual: 13 }, { predictionId: 'r-2', actual: 16 }] });
      const reg = await call('GET', '/api/v1/models/reg/performance');
      expect(reg.body.versions).toEqual([{ version: 3, predictions: 2, withFeedback: 2, metrics: { task: 'regression', rmse: 3.5355339059327378, mae: 3.5 } }]);

      const early = await call('GET', `/api/v1/models/clf/performance?until=${encodeURIComponent(at(2))}`);
      expect(early.body).toMatchObject({ until: at(2), versions: [{ version: 1, predictions: 1, withFeedback: 1 }] });
    });

    it('knows registered models without predictions, and refuses unknown ones', async () => {
      await s.platform.registry.createModel({ name: 'quiet' }, ROOT);
      expect(await call('GET', '/api/v1/models/quiet/performance')).toEqual({ status: 200, body: { model: 'quiet', since: null, until: null, versions: [] } });
      expect(await call('GET', '/api/v1/models/ghost/performance')).toMatchObject({ status: 404, body: { error: { code: 'MODEL_NOT_FOUND' } } });
    });

    it('counts refused requests per minute, model and reason', async () => {
      s.platform.predictionLog.refused('clf', 'validation', 2);
      s.platform.predictionLog.refused('clf', 'validation');
      await s.platform.predictionLog.flush();
      const { status, body } = await call('GET', '/api/v1/refusals?model=clf');
      expect(status).toBe(200);
      expect(body.items).toEqual([{ minute: expect.stringMatching(/:00\.000Z$/), model: 'clf', reason: 'validation', count: 3 }]);
    });
  });
}

describe('feedback and prediction log API: bad input', () => {
  let s: TestServer;
  const call = requester(() => s);
  beforeAll(async () => {
    s = await startTestServer();
    await logged(s, [predictionRecord('x-1')]);
  });
  afterAll(async () => s?.close());

  const bad = async (payload: unknown) => {
    const res = await call('POST', '/v1/feedback', payload);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    return errorPaths(res.body);
  };

  it('names every bad field of a feedback body', async () => {
    expect(await bad({})).toEqual(['predictionId', 'actual']);
    expect(await bad({ predictionId: 5, actual: null, extra: 1 })).toEqual(['extra', 'predictionId', 'actual']);
    expect(await bad({ predictionId: 'x-1', actual: '' })).toEqual(['actual']);
    expect(await bad({ predictionId: 'x-1', actual: { value: 1 } })).toEqual(['actual']);
    expect(await bad({ items: [] })).toEqual(['items']);
    expect(await bad({ items: 'x-1' })).toEqual(['items']);
    expect(await bad({ items: [{ predictionId: 'x-1', actual: 1 }], predictionId: 'x-1' })).toEqual(['predictionId']);
    expect(await bad({ items: [{ predictionId: 'x-1', actual: 1 }, { predictionId: 'x-1', actual: 0 }, 'x-2', { predictionId: 'x-3' }, { predictionId: 'x-4', actual: 1, at: 'now' }] })).toEqual([
      'items[1].predictionId',
      'items[2]',
      'items[3].actual',
      'items[4].at',
    ]);
    expect(await bad([{ predictionId: 'x-1', actual: 1 }])).toEqual(['body']);
    // Nothing of a refused request is stored.
    expect((await call('GET', '/api/v1/predictions/x-1')).body.feedback).toBeNull();
  });

  it('refuses a body that is not JSON', async () => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: { 'content-type': 'application/json' }, payload: '{"predictionId":' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('refuses more than 10,000 items', async () => {
    const items = Array.from({ length: 10_001 }, (_, i) => ({ predictionId: `id-${i}`, actual: 1 }));
    expect(await bad({ items })).toEqual(['items']);
  });

  it('names every bad query parameter', async () => {
    const paths = async (url: string) => {
      const res = await call('GET', url);
      expect(res.status).toBe(400);
      return errorPaths(res.body);
    };
    expect(await paths('/api/v1/predictions?version=two')).toEqual(['querystring.version']);
    expect(await paths('/api/v1/predictions?modle=clf')).toEqual(['querystring.modle']);
    expect(await paths('/api/v1/predictions?since=yesterday&until=2026-01-01T00:00:00Z&cursor=zzz')).toEqual(['since', 'cursor']);
    expect(await paths('/api/v1/predictions?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z&limit=0')).toEqual(['until', 'limit']);
    expect(await paths('/api/v1/models/clf/performance?since=soon')).toEqual(['since']);
    expect(await paths('/api/v1/refusals?until=later')).toEqual(['until']);
  });
});

describe('feedback and prediction log API with auth on', () => {
  let s: TestServer;
  const call = requester(() => s);
  const tokens: Record<string, Record<string, string>> = {};
  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on' });
    for (const [user, role] of [['vera', 'viewer'], ['ed', 'editor']] as const) {
      tokens[user] = { authorization: `Bearer ${(await s.platform.tokens.create({ user, role }, ROOT)).secret}` };
    }
    await logged(s, [predictionRecord('a-1')]);
  });
  afterAll(async () => s?.close());

  it('needs a token for feedback and for reading', async () => {
    expect(await call('POST', '/v1/feedback', { predictionId: 'a-1', actual: 1 })).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await call('GET', '/api/v1/predictions')).toMatchObject({ status: 401 });
  });

  it('needs the editor role to record feedback; a viewer reads', async () => {
    expect(await call('POST', '/v1/feedback', { predictionId: 'a-1', actual: 1 }, tokens.vera)).toMatchObject({
      status: 403,
      body: { error: { code: 'FORBIDDEN', details: { requiredRole: 'editor', role: 'viewer' } } },
    });
    expect(await call('POST', '/v1/feedback', { predictionId: 'a-1', actual: 1 }, tokens.ed)).toMatchObject({ status: 200, body: { recorded: 1 } });
    const read = await call('GET', '/api/v1/predictions/a-1', undefined, tokens.vera);
    expect(read).toMatchObject({ status: 200, body: { feedback: { actual: 1, by: 'ed' } } });
    expect((await call('GET', '/api/v1/predictions', undefined, tokens.vera)).status).toBe(200);
  });
});

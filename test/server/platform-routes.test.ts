/** Routes every Cairn server has: probes, metrics, API description, auth, tokens and error shapes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { startTestServer, type TestServer } from '../support/platform.js';

describe('server basics (auth off)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ CAIRN_BODY_LIMIT_MB: '0.01' });
  });
  afterAll(async () => s?.close());

  it('answers probes', async () => {
    expect((await s.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await s.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { metadata: 'ok', online: 'ok' } });
  });

  it('exposes Prometheus metrics labelled by route pattern', async () => {
    await s.app.inject('/api/v1/entities/some-name');
    const text = (await s.app.inject('/metrics')).payload;
    expect(text).toContain('cairn_http_requests_total{method="GET",route="/api/v1/entities/:name",status="404"}');
    expect(text).toContain('cairn_http_request_duration_seconds_bucket');
    expect(text).toContain('cairn_process_cpu_seconds_total');
  });

  it('describes the API in OpenAPI and serves docs', async () => {
    const spec = (await s.app.inject('/openapi.json')).json();
    expect(spec.openapi).toMatch(/^3\./);
    for (const p of ['/api/v1/features', '/api/v1/features/{name}', '/api/v1/training-sets', '/api/v1/online-features', '/api/v1/tokens']) {
      expect(Object.keys(spec.paths)).toContain(p);
    }
    const docs = await s.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });

  it('attributes writes to the configured local user as admin', async () => {
    expect((await s.app.inject('/api/v1/whoami')).json()).toEqual({ user: 'tester', role: 'admin', authEnabled: false });
  });

  it('gives every error the one JSON shape', async () => {
    const unknown = await s.app.inject('/api/v1/nothing-here');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /api/v1/nothing-here', details: {} } });
    const badJson = await s.app.inject({ method: 'POST', url: '/api/v1/entities', payload: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('BAD_REQUEST');
    const big = await s.app.inject({ method: 'POST', url: '/api/v1/entities', payload: { name: 'x', joinKeys: ['k'], description: 'y'.repeat(20_000) } });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const text = await s.app.inject({ method: 'POST', url: '/api/v1/entities', payload: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(text.statusCode).toBe(415);
  });

  it('turns an unexpected failure into a 500 that leaks nothing', async () => {
    const app = await buildApp(s.platform, { logger: false });
    app.get('/boom', async () => {
      throw new Error('secret connection string postgres://u:pw@db');
    });
    const res = await app.inject('/boom');
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('INTERNAL');
    expect(res.payload).not.toContain('secret');
    await app.close();
  });
});

describe('server with auth on', () => {
  let s: TestServer;
  let secrets: Record<'viewer' | 'editor' | 'admin', string>;
  const as = (token: string | null) => (token ? { authorization: `Bearer ${token}` } : {});

  beforeAll(async () => {
    s = await startTestServer({ CAIRN_AUTH: 'on' });
    const root = { user: 'root', role: 'admin' as const, tokenId: null };
    secrets = {
      viewer: (await s.platform.tokens.create({ user: 'vera', role: 'viewer' }, root)).secret,
      editor: (await s.platform.tokens.create({ user: 'ed', role: 'editor' }, root)).secret,
      admin: (await s.platform.tokens.create({ user: 'ann', role: 'admin' }, root)).secret,
    };
  });
  afterAll(async () => s?.close());

  it('requires a valid token except on probes and docs', async () => {
    const none = await s.app.inject('/api/v1/entities');
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('UNAUTHENTICATED');
    expect((await s.app.inject({ url: '/api/v1/entities', headers: as('cairn_forged') })).statusCode).toBe(401);
    expect((await s.app.inject({ url: '/api/v1/entities', headers: { authorization: 'Basic abc' } })).statusCode).toBe(401);
    expect((await s.app.inject('/healthz')).statusCode).toBe(200);
    expect((await s.app.inject('/openapi.json')).statusCode).toBe(200);
  });

  it('lets viewers read but not write, naming the missing role', async () => {
    expect((await s.app.inject({ url: '/api/v1/entities', headers: as(secrets.viewer) })).statusCode).toBe(200);
    const write = await s.app.inject({ method: 'POST', url: '/api/v1/entities', headers: as(secrets.viewer), payload: { name: 'a', joinKeys: ['a'] } });
    expect(write.statusCode).toBe(403);
    expect(write.json().error).toMatchObject({ code: 'FORBIDDEN', message: 'creating an entity needs the editor role; vera has viewer' });
  });

  it('records the token user as the author of a write', async () => {
    const res = await s.app.inject({ method: 'POST', url: '/api/v1/entities', headers: as(secrets.editor), payload: { name: 'a', joinKeys: ['a'] } });
    expect(res.statusCode).toBe(201);
    expect(res.json().createdBy).toBe('ed');
  });

  it('lets admins manage tokens, and only admins', async () => {
    const denied = await s.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: as(secrets.editor), payload: { user: 'x', role: 'viewer' } });
    expect(denied.statusCode).toBe(403);
    expect((await s.app.inject({ url: '/api/v1/tokens', headers: as(secrets.editor) })).statusCode).toBe(403);
    const bad = await s.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: as(secrets.admin), payload: { user: 'x', role: 'boss' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.errors[0].path).toBe('role');
    const created = await s.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: as(secrets.admin), payload: { user: 'newbie', role: 'approver' } });
    expect(created.statusCode).toBe(201);
    const { id, secret } = created.json();
    expect((await s.app.inject({ url: '/api/v1/whoami', headers: as(secret) })).json()).toMatchObject({ user: 'newbie', role: 'approver' });
    const list = (await s.app.inject({ url: '/api/v1/tokens', headers: as(secrets.admin) })).json();
    expect(list.items.map((t: { user: string }) => t.user)).toContain('newbie');
    expect(JSON.stringify(list)).not.toContain(secret);
    const revoked = await s.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: as(secrets.admin) });
    expect(revoked.json().revokedAt).not.toBeNull();
    expect((await s.app.inject({ url: '/api/v1/whoami', headers: as(secret) })).statusCode).toBe(401);
    expect((await s.app.inject({ method: 'DELETE', url: '/api/v1/tokens/tok_nope', headers: as(secrets.admin) })).statusCode).toBe(404);
  });
});

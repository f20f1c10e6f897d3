/**
 * The SDK against a real server in this process, wired the way `cairn up` wires it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient, CairnError, listAll, type MaterializationProgress } from '../../src/sdk/index.js';
import { tempDir } from '../support/backends.js';
import { startTestServer, type TestServer } from '../support/platform.js';

/** The CairnError a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<CairnError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A bare HTTP server answering every request with `handler`, for answers Cairn itself never gives. */
async function fakeServer(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function listen(server: TestServer): Promise<string> {
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.app.server.address() as net.AddressInfo;
  return `http://127.0.0.1:${port}`;
}

describe('CairnClient against a running server', () => {
  let server: TestServer;
  let client: CairnClient;
  let dataDir: string;

  beforeAll(async () => {
    server = await startTestServer();
    client = new CairnClient({ url: await listen(server) });
    dataDir = tempDir('cairn-sdk-data-');
    fs.writeFileSync(
      path.join(dataDir, 'flights.csv'),
      [
        'flight_id,date,delay,origin',
        '1,2001-01-01 10:00:00,5,BOS',
        '2,2001-01-02 11:00:00,10,BOS',
        '3,2001-01-02 12:00:00,-3,SFO',
        '4,2001-01-03 08:00:00,20,SFO',
      ].join('\n') + '\n',
    );
    fs.writeFileSync(path.join(dataDir, 'labels.csv'), 'flight_id,origin,ts,late\n2,BOS,2001-01-04 00:00:00,1\n4,SFO,2001-01-04 00:00:00,0\n');
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers the probes and whoami', async () => {
    expect(await client.health()).toEqual({ status: 'ok' });
    const ready = await client.ready();
    expect(ready.ready).toBe(true);
    expect(ready.checks).toMatchObject({ metadata: 'ok', online: 'ok' });
    expect(await client.whoami()).toEqual({ user: 'tester', role: 'admin', authEnabled: false });
  });

  it('creates, gets and lists entities, following cursors with listAll', async () => {
    const flight = await client.entities.create({ name: 'flight', joinKeys: ['flight_id'], description: 'one flight' });
    expect(flight).toMatchObject({ name: 'flight', joinKeys: ['flight_id'], description: 'one flight', createdBy: 'tester' });
    await client.entities.create({ name: 'airport', joinKeys: ['airport'] });
    expect(await client.entities.get('flight')).toEqual(flight);

    const firstPage = await client.entities.list({ limit: 1 });
    expect(firstPage.items).toHaveLength(1);
    expect(firstPage.nextCursor).not.toBeNull();
    const names: string[] = [];
    for await (const e of listAll((cursor) => client.entities.list({ limit: 1, cursor }))) names.push(e.name);
    expect(names).toEqual(['airport', 'flight']);
  });

  it('registers a CSV source and reports its columns', async () => {
    const source = await client.sources.create({ name: 'flights', path: path.join(dataDir, 'flights.csv'), timestampColumn: 'date' });
    expect(source.format).toBe('csv');
    expect(source.columns.map((c) => c.name)).toEqual(['flight_id', 'date', 'delay', 'origin']);
    expect((await client.sources.get('flights')).path).toBe(path.join(dataDir, 'flights.csv'));
    expect((await client.sources.list()).items.map((s) => s.name)).toEqual(['flights']);
  });

  it('creates, updates and reads feature versions and feature sets', async () => {
    await client.features.create({ name: 'delay', entity: 'flight', source: 'flights', valueType: 'int64', expression: 'delay' });
    await client.features.create({
      name: 'origin_last_delay',
      entity: 'airport',
      source: 'flights',
      valueType: 'int64',
      expression: 'delay',
      keyColumns: { airport: 'origin' },
    });
    const updated = await client.features.update('delay', { description: 'minutes late' });
    expect(updated).toMatchObject({ name: 'delay', version: 2, created: true, changes: ['description'] });
    expect((await client.features.update('delay', { description: 'minutes late' })).created).toBe(false);

    expect((await client.features.get('delay')).version).toBe(2);
    expect((await client.features.get('delay', 1)).description).toBe('');
    expect((await client.features.versions('delay')).map((f) => f.version)).toEqual([1, 2]);
    expect((await client.features.list({ entity: 'airport' })).items.map((f) => f.name)).toEqual(['origin_last_delay']);

    const set = await client.featureSets.create({
      name: 'delay_inputs',
      features: ['delay@2', { ref: 'origin_last_delay@1', joinOn: { airport: 'origin' }, as: 'origin_rate' }],
    });
    expect(set.features).toEqual([
      { ref: 'delay@2', joinOn: { flight_id: 'flight_id' }, as: 'delay' },
      { ref: 'origin_last_delay@1', joinOn: { airport: 'origin' }, as: 'origin_rate' },
    ]);
    const v2 = await client.featureSets.update('delay_inputs', { description: 'v2' });
    expect(v2).toMatchObject({ version: 2, created: true });
    expect((await client.featureSets.get('delay_inputs', 1)).description).toBe('');
    expect((await client.featureSets.versions('delay_inputs')).map((s) => s.version)).toEqual([1, 2]);
    expect((await client.featureSets.list()).items.map((s) => s.name)).toEqual(['delay_inputs']);
  });

  it('builds a training set and downloads it with its hash checked', async () => {
    const result = await client.trainingSets.build({
      name: 'late_flights',
      entityTable: { path: path.join(dataDir, 'labels.csv') },
      eventTimeColumn: 'ts',
      featureSet: 'delay_inputs@1',
    });
    expect(result.created).toBe(true);
    expect(result.dataset).toMatchObject({ name: 'late_flights', version: 1, rowCount: 2 });
    expect((await client.datasets.get('late_flights')).contentHash).toBe(result.dataset.contentHash);
    expect((await client.datasets.get('late_flights', 1)).version).toBe(1);
    expect((await client.datasets.versions('late_flights')).map((d) => d.version)).toEqual([1]);
    expect((await client.datasets.list()).items.map((d) => d.name)).toEqual(['late_flights']);

    const target = path.join(dataDir, 'out', '..', 'late.parquet');
    const download = await client.datasets.download('late_flights', 1, target);
    const bytes = fs.readFileSync(download.path);
    expect(download.bytes).toBe(bytes.length);
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    expect(result.dataset.contentHash).toContain(createHash('sha256').update(bytes).digest('hex'));
    const unwritable = await rejection(client.datasets.download('late_flights', 1, path.join(dataDir, 'flights.csv', 'x.parquet')));
    expect(unwritable).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('cannot write') });
    // Nothing but the file itself is left behind.
    expect(fs.readdirSync(dataDir).filter((f) => f.includes('.part'))).toEqual([]);
  });

  it('materializes, waits with progress, and reads online values', async () => {
    const waited = await client.materializations.start({ features: ['delay@2'], end: '2001-02-01T00:00:00Z' }, { wait: true });
    expect(waited).toMatchObject({ status: 'succeeded', doneKeys: 4, totalKeys: 4 });

    const started = await client.materializations.start({ entity: 'airport', end: '2001-02-01T00:00:00Z' });
    expect(['pending', 'running', 'succeeded']).toContain(started.status);
    const seen: MaterializationProgress[] = [];
    const final = await client.materializations.waitFor(started.id, { pollMs: 20, onProgress: (m) => seen.push(m) });
    expect(final.status).toBe('succeeded');
    expect(seen.at(-1)).toEqual(final);
    expect((await client.materializations.get(started.id)).id).toBe(started.id);
    await expect(client.materializations.waitFor(started.id, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect((await client.materializations.list()).items.map((m) => m.id)).toEqual([started.id, waited.id]);

    const conflict = await rejection(client.materializations.resume(started.id));
    expect(conflict.code).toBe('CONFLICT');

    const read = await client.online.read({
      features: ['delay@2', { ref: 'origin_last_delay@1', joinOn: { airport: 'origin' }, as: 'origin_rate' }],
      rows: [{ flight_id: 4, origin: 'SFO' }],
    });
    expect(read.features).toEqual([
      { name: 'delay', ref: 'delay@2' },
      { name: 'origin_rate', ref: 'origin_last_delay@1' },
    ]);
    expect(Object.keys(read.rows[0]!.values).sort()).toEqual(['delay', 'origin_rate']);
  });

  it('creates, lists and revokes tokens', async () => {
    const token = await client.tokens.create({ user: 'ana', role: 'viewer' });
    expect(token.secret).toMatch(/^cairn_/);
    expect((await client.tokens.list()).map((t) => t.id)).toContain(token.id);
    expect((await client.tokens.revoke(token.id)).revokedAt).not.toBeNull();
  });

  it('rebuilds validation errors with every field path', async () => {
    const err = await rejection(client.entities.create({ name: 'Bad Name', joinKeys: ['1x'] }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.httpStatus).toBe(400);
    expect(err.details.errors).toEqual([
      { path: 'name', reason: expect.any(String) },
      { path: 'joinKeys[0]', reason: expect.any(String) },
    ]);
    const schema = await rejection(client.features.create({ name: 'x' } as never));
    expect(schema.code).toBe('VALIDATION_FAILED');
    expect((schema.details.errors as { path: string }[]).map((e) => e.path)).toEqual(
      expect.arrayContaining(['entity', 'source', 'valueType', 'expression']),
    );
  });

  it('rebuilds not-found and conflict errors with their details', async () => {
    const missing = await rejection(client.entities.get('nope'));
    expect(missing).toMatchObject({ code: 'ENTITY_NOT_FOUND', message: 'entity nope not found', details: { name: 'nope' } });
    expect((await rejection(client.features.get('delay', 9))).code).toBe('FEATURE_VERSION_NOT_FOUND');
    expect((await rejection(client.datasets.download('nope', 1, path.join(dataDir, 'x.parquet')))).code).toBe('DATASET_NOT_FOUND');
    expect(fs.existsSync(path.join(dataDir, 'x.parquet'))).toBe(false);
    expect((await rejection(client.entities.create({ name: 'flight', joinKeys: ['id'] }))).code).toBe('ALREADY_EXISTS');
  });
});

describe('CairnClient with auth on', () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    server = await startTestServer({ CAIRN_AUTH: 'on' });
    url = await listen(server);
  });
  afterAll(() => server?.close());

  it('sends its token as a Bearer token', async () => {
    const { secret } = await server.platform.tokens.create({ user: 'ana', role: 'editor' }, { user: 'root', role: 'admin', tokenId: null });
    expect(await new CairnClient({ url, token: secret }).whoami()).toEqual({ user: 'ana', role: 'editor', authEnabled: true });
    expect((await rejection(new CairnClient({ url, token: '' }).whoami())).code).toBe('UNAUTHENTICATED');
    const forbidden = await rejection(new CairnClient({ url, token: secret }).tokens.list());
    expect(forbidden).toMatchObject({ code: 'FORBIDDEN', details: { requiredRole: 'admin' } });
  });
});

describe('CairnClient when the server is not there or not Cairn', () => {
  it('reports a closed port as UNAVAILABLE, naming the URL and `cairn up`', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const err = await rejection(new CairnClient({ url }).entities.list());
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`cannot reach the Cairn server at ${url}: ECONNREFUSED`);
    expect(err.message).toContain('cairn up');
  });

  it('derives the code from the status when the body is not a Cairn error', async () => {
    const proxy = await fakeServer((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>'));
    try {
      const err = await rejection(new CairnClient({ url: proxy.url }).entities.get('x'));
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toContain('HTTP 502');
      expect(err.message).toContain('Bad Gateway');
      expect(err.details).toEqual({ status: 502 });
    } finally {
      await proxy.close();
    }
  });

  it('gives up after timeoutMs with UNAVAILABLE', async () => {
    const silent = await fakeServer(() => {});
    try {
      const err = await rejection(new CairnClient({ url: silent.url, timeoutMs: 100 }).health());
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toContain('did not answer GET /healthz within 0.1s');
    } finally {
      await silent.close();
    }
  });

  it('reads its defaults from CAIRN_URL and CAIRN_TOKEN', () => {
    const saved = { url: process.env.CAIRN_URL, token: process.env.CAIRN_TOKEN };
    try {
      process.env.CAIRN_URL = 'http://example.test:9/';
      process.env.CAIRN_TOKEN = 'cairn_x';
      expect(new CairnClient().url).toBe('http://example.test:9');
      delete process.env.CAIRN_URL;
      expect(new CairnClient().url).toBe('http://127.0.0.1:8080');
      expect(() => new CairnClient({ url: 'localhost:8080' })).toThrow(/is not a server URL/);
    } finally {
      if (saved.url === undefined) delete process.env.CAIRN_URL;
      else process.env.CAIRN_URL = saved.url;
      if (saved.token === undefined) delete process.env.CAIRN_TOKEN;
      else process.env.CAIRN_TOKEN = saved.token;
    }
  });
});

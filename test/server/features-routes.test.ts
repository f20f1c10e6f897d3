/**
 * Every feature-store route through the HTTP layer, in process, including its error cases.
 * The main flow runs on SQLite and on PostgreSQL.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_BACKENDS } from '../support/backends.js';
import { makeFlights, writeCsv, type FlightRow } from '../support/fixtures.js';
import { apiCaller, startTestServerOn, type TestServer } from '../support/platform.js';

const API = '/api/v1';

describe.each(METADATA_BACKENDS)('feature store API on $name', ({ name: backend }) => {
  let s: TestServer;
  let flights: FlightRow[];
  let flightsCsv: string;

  const call = apiCaller(() => s.app);

  beforeAll(async () => {
    s = await startTestServerOn(backend);
    flights = makeFlights();
    flightsCsv = writeCsv(s.home, 'flights.csv', flights);
  });
  afterAll(async () => {
    await s?.close();
  });

  describe('entities', () => {
    it('creates, reads and lists', async () => {
      const created = await call('POST', '/entities', { name: 'airport', joinKeys: ['airport'], description: 'an airport' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'airport', joinKeys: ['airport'], createdBy: 'tester' });
      expect((await call('POST', '/entities', { name: 'flight', joinKeys: ['flight_id'] })).status).toBe(201);
      expect((await call('GET', '/entities/airport')).body).toMatchObject({ description: 'an airport' });
      const page1 = await call('GET', '/entities?limit=1');
      expect(page1.body.items.map((e: { name: string }) => e.name)).toEqual(['airport']);
      const page2 = await call('GET', `/entities?limit=1&cursor=${page1.body.nextCursor}`);
      expect(page2.body).toMatchObject({ items: [{ name: 'flight' }], nextCursor: null });
    });

    it('refuses duplicates, bad input and unknown names', async () => {
      expect(await call('POST', '/entities', { name: 'airport', joinKeys: ['x'] })).toMatchObject({
        status: 409,
        body: { error: { code: 'ALREADY_EXISTS' } },
      });
      const bad = await call('POST', '/entities', { name: 'Bad Name', joinKeys: [], colour: 'red' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.details.errors.map((e: { path: string }) => e.path).sort()).toEqual(['colour', 'joinKeys']);
      const semantic = await call('POST', '/entities', { name: 'Bad Name', joinKeys: ['a', 'a', '1x'] });
      expect(semantic.body.error.details.errors.map((e: { path: string }) => e.path)).toEqual(['name', 'joinKeys[2]', 'joinKeys']);
      expect(await call('GET', '/entities/nope')).toMatchObject({ status: 404, body: { error: { code: 'ENTITY_NOT_FOUND' } } });
      expect(await call('GET', '/entities?limit=0')).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'querystring.limit' }] } } } });
      expect(await call('GET', '/entities?cursor=%25%25')).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'cursor' }] } } } });
    });
  });

  describe('sources', () => {
    it('registers a CSV file with its columns', async () => {
      const res = await call('POST', '/sources', { name: 'flights', path: flightsCsv, timestampColumn: 'date', description: 'test flights' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'flights', format: 'csv', path: flightsCsv });
      expect(res.body.columns.map((c: { name: string }) => c.name)).toEqual(['flight_id', 'date', 'delay', 'distance', 'origin', 'destination']);
      expect((await call('GET', '/sources')).body.items).toHaveLength(1);
      expect((await call('GET', '/sources/flights')).status).toBe(200);
    });

    it('refuses a missing file, a bad timestamp column, an unknown format and duplicates', async () => {
      const missing = await call('POST', '/sources', { name: 'gone', path: path.join(s.home, 'nope.parquet'), timestampColumn: 'date' });
      expect(missing).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'path' }] } } } });
      const noTs = await call('POST', '/sources', { name: 'no_ts', path: flightsCsv, timestampColumn: 'when' });
      expect(noTs).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'timestampColumn' }] } } } });
      const notTime = await call('POST', '/sources', { name: 'not_time', path: flightsCsv, timestampColumn: 'origin' });
      expect(notTime).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'timestampColumn' }] } } } });
      const format = await call('POST', '/sources', { name: 'fmt', path: path.join(s.home, 'data.json'), timestampColumn: 'date' });
      expect(format).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'format' }] } } } });
      expect((await call('POST', '/sources', { name: 'flights', path: flightsCsv, timestampColumn: 'date' })).status).toBe(409);
      expect((await call('GET', '/sources/gone')).status).toBe(404);
    });
  });

  describe('features', () => {
    it('creates version 1 with author, time and description', async () => {
      const res = await call('POST', '/features', {
        name: 'dep_hour',
        entity: 'flight',
        source: 'flights',
        valueType: 'int64',
        expression: 'hour(date)',
        description: 'scheduled departure hour',
        tags: { team: 'ops' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'dep_hour', version: 1, createdBy: 'tester', description: 'scheduled departure hour', changes: [], keyColumns: { flight_id: 'flight_id' } });
      expect(Date.parse(res.body.createdAt)).not.toBeNaN();
      for (const f of [
        { name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' },
        {
          name: 'origin_delay_rate_7d',
          entity: 'airport',
          source: 'flights',
          valueType: 'float64',
          expression: 'avg(CASE WHEN delay > 15 THEN 1.0 ELSE 0.0 END)',
          window: '7d',
          keyColumns: { airport: 'origin' },
        },
      ]) {
        expect((await call('POST', '/features', f)).status).toBe(201);
      }
    });

    it('refuses bad definitions, reporting every problem, and stores nothing', async () => {
      const bad = await call('POST', '/features', { name: 'broken', entity: 'plane', source: 'trains', valueType: 'float64', expression: 'distance +' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.errors.map((e: { path: string }) => e.path)).toEqual(['entity', 'source']);
      const sql = await call('POST', '/features', { name: 'broken', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance +' });
      expect(sql).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'expression' }] } } } });
      const type = await call('POST', '/features', { name: 'broken', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'origin' });
      expect(type).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'valueType' }] } } } });
      const column = await call('POST', '/features', { name: 'broken', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'no_such_column * 2' });
      expect(column).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'expression' }] } } } });
      const injection = await call('POST', '/features', {
        name: 'broken',
        entity: 'flight',
        source: 'flights',
        valueType: 'int64',
        expression: "1) AS value FROM flights; COPY (SELECT 1) TO '/tmp/pwned.csv'; SELECT (1",
      });
      expect(injection.status).toBe(400);
      const enumBad = await call('POST', '/features', { name: 'broken', entity: 'flight', source: 'flights', valueType: 'decimal', expression: 'distance' });
      expect(enumBad).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'valueType' }] } } } });
      expect((await call('GET', '/features/broken')).status).toBe(404);
      const dup = await call('POST', '/features', { name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' });
      expect(dup).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_EXISTS' } } });
    });

    it('mints a new version on change, none on a no-op, and keeps old versions unchanged', async () => {
      const v1 = (await call('GET', '/features/dep_hour')).body;
      const v2 = await call('PATCH', '/features/dep_hour', { expression: 'hour(date) + minute(date) / 60.0', valueType: 'float64', description: 'fractional hour' });
      expect(v2.status).toBe(201);
      expect(v2.body).toMatchObject({ version: 2, created: true, changes: ['valueType', 'expression', 'description'] });
      const same = await call('PATCH', '/features/dep_hour', { expression: 'hour(date) + minute(date) / 60.0' });
      expect(same).toMatchObject({ status: 200, body: { version: 2, created: false } });
      expect((await call('GET', '/features/dep_hour')).body.version).toBe(2);
      expect((await call('GET', '/features/dep_hour?version=1')).body).toEqual(v1);
      expect((await call('GET', '/features/dep_hour/versions/1')).body).toEqual(v1);
      const versions = (await call('GET', '/features/dep_hour/versions')).body.items;
      expect(versions.map((v: { version: number; changes: string[] }) => [v.version, v.changes])).toEqual([
        [1, []],
        [2, ['valueType', 'expression', 'description']],
      ]);
      expect(await call('GET', '/features/dep_hour?version=9')).toMatchObject({ status: 404, body: { error: { code: 'FEATURE_VERSION_NOT_FOUND' } } });
      expect(await call('PATCH', '/features/nope', { expression: '1' })).toMatchObject({ status: 404, body: { error: { code: 'FEATURE_NOT_FOUND' } } });
      const badPatch = await call('PATCH', '/features/dep_hour', { expression: 'avg(distance)' });
      expect(badPatch).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'expression' }] } } } });
      expect((await call('GET', '/features/dep_hour/versions')).body.items).toHaveLength(2);
    });

    it('lists latest versions, by entity', async () => {
      const all = (await call('GET', '/features')).body.items.map((f: { name: string; version: number }) => `${f.name}@${f.version}`);
      expect(all).toEqual(['dep_hour@2', 'distance@1', 'origin_delay_rate_7d@1']);
      const airport = (await call('GET', '/features?entity=airport')).body.items.map((f: { name: string }) => f.name);
      expect(airport).toEqual(['origin_delay_rate_7d']);
    });
  });

  describe('feature sets', () => {
    it('pins references to exact versions and versions the set', async () => {
      const res = await call('POST', '/feature-sets', {
        name: 'delay_model',
        description: 'what the delay model trains on',
        features: ['dep_hour@1', 'distance', { ref: 'origin_delay_rate_7d', joinOn: { airport: 'origin' }, as: 'origin_rate' }],
      });
      expect(res.status).toBe(201);
      expect(res.body.features).toEqual([
        { ref: 'dep_hour@1', joinOn: { flight_id: 'flight_id' }, as: 'dep_hour' },
        { ref: 'distance@1', joinOn: { flight_id: 'flight_id' }, as: 'distance' },
        { ref: 'origin_delay_rate_7d@1', joinOn: { airport: 'origin' }, as: 'origin_rate' },
      ]);
      const v2 = await call('PATCH', '/feature-sets/delay_model', { features: ['dep_hour@2', 'distance@1'] });
      expect(v2).toMatchObject({ status: 201, body: { version: 2, created: true } });
      expect((await call('PATCH', '/feature-sets/delay_model', { features: ['dep_hour@2', 'distance@1'] })).body.created).toBe(false);
      expect((await call('GET', '/feature-sets/delay_model?version=1')).body.features).toHaveLength(3);
      expect((await call('GET', '/feature-sets/delay_model/versions')).body.items).toHaveLength(2);
      expect((await call('GET', '/feature-sets')).body.items.map((x: { version: number }) => x.version)).toEqual([2]);
    });

    it('refuses unknown features, bad references and clashing names', async () => {
      const res = await call('POST', '/feature-sets', {
        name: 'bad_set',
        features: ['nope@1', 'dep_hour@7', 'not a ref', { ref: 'distance', as: 'x' }, { ref: 'dep_hour', as: 'x', joinOn: { plane: 'p' } }],
      });
      expect(res.status).toBe(400);
      expect(res.body.error.details.errors.map((e: { path: string }) => e.path)).toEqual([
        'features[0]',
        'features[1]',
        'features[2]',
        'features[4].joinOn.plane',
        'features[4].as',
      ]);
      expect((await call('GET', '/feature-sets/bad_set')).status).toBe(404);
    });
  });

  describe('training sets and datasets', () => {
    const request = () => ({
      name: 'delays_jan',
      entityTable: { query: `SELECT flight_id, origin, date AS event_time, delay > 15 AS label FROM read_csv('${flightsCsv}') WHERE date >= '2001-01-03'` },
      eventTimeColumn: 'event_time',
      featureSet: 'delay_model@1',
      ttl: '30d',
    });

    it('builds a point-in-time training set and records it as a dataset version', async () => {
      const res = await call('POST', '/training-sets', request());
      expect(res.status).toBe(201);
      const expectedRows = flights.filter((f) => f.date >= '2001-01-03').length;
      expect(res.body).toMatchObject({ created: true, dataset: { name: 'delays_jan', version: 1, rowCount: expectedRows, ttlSeconds: 2_592_000 } });
      expect(res.body.dataset.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(res.body.dataset.features.map((f: { ref: string }) => f.ref)).toEqual(['dep_hour@1', 'distance@1', 'origin_delay_rate_7d@1']);
      expect(res.body.dataset.schema.map((c: { name: string }) => c.name)).toEqual(['flight_id', 'origin', 'event_time', 'label', 'dep_hour', 'distance', 'origin_rate']);
    });

    it('does not mint a version for an identical rebuild', async () => {
      const again = await call('POST', '/training-sets', request());
      expect(again).toMatchObject({ status: 200, body: { created: false, dataset: { version: 1 } } });
      expect((await call('GET', '/datasets/delays_jan/versions')).body.items).toHaveLength(1);
    });

    it('serves the Parquet bytes whose sha256 is the version hash', async () => {
      const res = await s.app.inject({ method: 'GET', url: `${API}/datasets/delays_jan/versions/1/data` });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.subarray(0, 4).toString()).toBe('PAR1');
      const digest = `sha256:${createHash('sha256').update(res.rawPayload).digest('hex')}`;
      expect(digest).toBe((await call('GET', '/datasets/delays_jan')).body.contentHash);
      expect(res.headers['x-content-sha256']).toBe(digest);
    });

    it('lists and reads dataset versions', async () => {
      expect((await call('GET', '/datasets')).body.items.map((d: { name: string }) => d.name)).toEqual(['delays_jan']);
      expect((await call('GET', '/datasets/delays_jan/versions/1')).body.version).toBe(1);
      expect(await call('GET', '/datasets/delays_jan/versions/2')).toMatchObject({ status: 404, body: { error: { code: 'DATASET_NOT_FOUND' } } });
      expect((await call('GET', '/datasets/nope')).status).toBe(404);
    });

    it('refuses bad requests before doing any work', async () => {
      const both = await call('POST', '/training-sets', { name: 'x', entityTable: { path: flightsCsv, query: 'select 1' }, eventTimeColumn: 'date', features: ['distance'] });
      expect(both).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'entityTable' }] } } } });
      const none = await call('POST', '/training-sets', { name: 'x', entityTable: { path: flightsCsv }, eventTimeColumn: 'date' });
      expect(none).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'features' }] } } } });
      const ttl = await call('POST', '/training-sets', { name: 'x', entityTable: { path: flightsCsv }, eventTimeColumn: 'date', features: ['distance'], ttl: 'forever' });
      expect(ttl).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'ttl' }] } } } });
      const unknown = await call('POST', '/training-sets', { name: 'x', entityTable: { path: flightsCsv }, eventTimeColumn: 'date', features: ['ghost@1'] });
      expect(unknown).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'features[0]' }] } } } });
      const badColumn = await call('POST', '/training-sets', { name: 'x', entityTable: { path: flightsCsv }, eventTimeColumn: 'when', features: [{ ref: 'distance', as: 'miles' }] });
      expect(badColumn).toMatchObject({ status: 400, body: { error: { details: { errors: [{ path: 'eventTimeColumn' }] } } } });
      expect((await call('GET', '/datasets/x')).status).toBe(404);
    });
  });

  describe('materialization and online reads', () => {
    it('materializes latest values and reads them back pinned to versions', async () => {
      const run = await call('POST', '/materializations?wait=true', { entity: 'airport' });
      expect(run.status).toBe(201);
      expect(run.body).toMatchObject({ status: 'succeeded', entity: 'airport', features: ['origin_delay_rate_7d@1'], totalKeys: 4, doneKeys: 4 });
      expect((await call('GET', `/materializations/${run.body.id}`)).body.status).toBe('succeeded');
      expect((await call('GET', '/materializations')).body.items[0].id).toBe(run.body.id);

      const read = await call('POST', '/online-features', {
        features: [{ ref: 'origin_delay_rate_7d@1', joinOn: { airport: 'origin' }, as: 'rate' }],
        rows: [{ origin: 'ATL' }, { origin: 'XXX' }],
      });
      expect(read.status).toBe(200);
      expect(read.body.features).toEqual([{ name: 'rate', ref: 'origin_delay_rate_7d@1' }]);
      // The latest 7-day delay rate at ATL, computed here by brute force from the fixture.
      const atl = flights.filter((f) => f.origin === 'ATL');
      const last = atl[atl.length - 1]!;
      const windowStart = Date.parse(last.date + 'Z') - 7 * 86_400_000;
      const inWindow = atl.filter((f) => Date.parse(f.date + 'Z') >= windowStart);
      const expected = inWindow.filter((f) => f.delay > 15).length / inWindow.length;
      expect(read.body.rows[0].values.rate).toBeCloseTo(expected, 10);
      expect(read.body.rows[0].eventTimes.rate).toBe(new Date(last.date + 'Z').toISOString());
      expect(read.body.rows[1]).toEqual({ values: { rate: null }, eventTimes: { rate: null } });
    });

    it('runs incrementally from the last watermark and runs in the background', async () => {
      const first = await call('POST', '/materializations?wait=true', { features: ['distance@1'], end: '2001-01-05T00:00:00Z' });
      expect(first.body).toMatchObject({ status: 'succeeded', windowStart: null });
      const next = await call('POST', '/materializations', { features: ['distance@1'], incremental: true, end: '2001-01-08T00:00:00Z' });
      expect(next.status).toBe(202);
      expect(next.body.windowStart).toBe('2001-01-05T00:00:00.000Z');
      await s.platform.features.materializer.wait(next.body.id);
      const done = (await call('GET', `/materializations/${next.body.id}`)).body;
      const expected = flights.filter((f) => f.date >= '2001-01-05 00:00:01' && f.date <= '2001-01-08 00:00:00').length;
      expect(done).toMatchObject({ status: 'succeeded', totalKeys: expected, doneKeys: expected });
      const read = await call('POST', '/online-features', { features: ['distance@1'], rows: [{ flight_id: 1 }, { flight_id: flights.length }] });
      expect(read.body.rows.map((r: { values: { distance: number | null } }) => r.values.distance)).toEqual([flights[0]!.distance, null]);
    });

    it('refuses bad requests and unknown runs', async () => {
      expect(await call('POST', '/materializations', { features: ['distance@1', 'origin_delay_rate_7d@1'] })).toMatchObject({
        status: 400,
        body: { error: { details: { errors: [{ path: 'features', reason: expect.stringContaining('one entity') }] } } },
      });
      expect((await call('POST', '/materializations', {})).status).toBe(400);
      expect((await call('POST', '/materializations', { entity: 'airport', start: 'yesterday' })).status).toBe(400);
      expect((await call('GET', '/materializations/mat_nope')).status).toBe(404);
      const done = (await call('GET', '/materializations')).body.items[0];
      expect(await call('POST', `/materializations/${done.id}/resume`)).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      const missingKey = await call('POST', '/online-features', {
        features: ['distance@1', { ref: 'origin_delay_rate_7d@1', joinOn: { airport: 'origin' } }],
        rows: [{ flight_id: 1 }, { origin: 'ATL', flight_id: true }],
      });
      expect(missingKey.status).toBe(400);
      expect(missingKey.body.error.details.errors.map((e: { path: string }) => e.path)).toEqual(['rows[1].flight_id']);
      const missingKey2 = await call('POST', '/online-features', {
        features: ['distance@1', { ref: 'origin_delay_rate_7d@1', joinOn: { airport: 'origin' } }],
        rows: [{ flight_id: 1 }],
      });
      expect(missingKey2.body.error.details.errors).toEqual([{ path: 'rows[0].origin', reason: 'missing: needed by origin_delay_rate_7d@1' }]);
      expect((await call('POST', '/online-features', { features: ['ghost@1'], rows: [{ a: 1 }] })).status).toBe(400);
    });
  });
});

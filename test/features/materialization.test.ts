/**
 * Materialization survives failure: a run that dies midway is marked failed (or, after a crash,
 * recovered as failed at the next start) and resumes from the keys it had written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { createLogger } from '../../src/core/logger.js';
import { FeatureDefinitions } from '../../src/features/definitions.js';
import { Materializer } from '../../src/features/materialization.js';
import { OfflineEngine } from '../../src/features/offline-engine.js';
import type { OnlineStore, OnlineWriteRow } from '../../src/features/online-store.js';
import { SqlFeatureStore } from '../../src/features/sql-store.js';
import { SqliteOnlineStore } from '../../src/features/sqlite-online-store.js';
import type { Actor } from '../../src/identity/index.js';
import { METADATA_BACKENDS, tempDir, type TestDatabase } from '../support/backends.js';
import { makeFlights, writeCsv } from '../support/fixtures.js';

const actor: Actor = { user: 'ada', role: 'editor', tokenId: null };

/** An online store that fails on the n-th write, like a store going away mid-run. */
class FailingOnlineStore implements OnlineStore {
  readonly kind = 'sqlite' as const;
  writes = 0;
  failOnWrite: number | null = null;
  constructor(private readonly inner: OnlineStore) {}
  async write(entity: string, rows: OnlineWriteRow[]): Promise<number> {
    this.writes++;
    if (this.failOnWrite !== null && this.writes === this.failOnWrite) throw new Error('online store went away');
    return this.inner.write(entity, rows);
  }
  read: OnlineStore['read'] = (...a) => this.inner.read(...a);
  deleteFeatures: OnlineStore['deleteFeatures'] = (...a) => this.inner.deleteFeatures(...a);
  ping = () => this.inner.ping();
  close = () => this.inner.close();
}

describe('materialization failure and resume', () => {
  let t: TestDatabase;
  let dir: string;
  let engine: OfflineEngine;
  let online: FailingOnlineStore;
  let store: SqlFeatureStore;
  let definitions: FeatureDefinitions;
  const flights = makeFlights({ days: 20, stepMinutes: 30 });

  beforeAll(async () => {
    t = await METADATA_BACKENDS[0]!.open();
    dir = tempDir();
    engine = await OfflineEngine.open();
    online = new FailingOnlineStore(SqliteOnlineStore.open(path.join(dir, 'online.db')));
    store = new SqlFeatureStore(t.database.db);
    definitions = new FeatureDefinitions(store, engine, new EventBus());
    await definitions.createEntity({ name: 'flight', joinKeys: ['flight_id'] }, actor);
    await definitions.createSource({ name: 'flights', path: writeCsv(dir, 'flights.csv', flights), timestampColumn: 'date' }, actor);
    await definitions.createFeature({ name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' }, actor);
  });
  afterAll(async () => {
    await online.close();
    await engine.close();
    await t.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const materializer = () => new Materializer(store, definitions, engine, online, new EventBus(), createLogger('silent'), undefined, 100);

  it('marks a run that fails midway as failed with its progress, then resumes without losing a key', async () => {
    const m = materializer();
    online.writes = 0;
    online.failOnWrite = 4;
    const run = await m.start({ features: ['distance@1'] }, actor);
    const failed = await m.wait(run.id);
    expect(failed).toMatchObject({ status: 'failed', error: 'online store went away', doneKeys: 300, totalKeys: flights.length });

    online.failOnWrite = null;
    const writesBefore = online.writes;
    await m.resume(run.id, actor);
    const done = await m.wait(run.id);
    expect(done).toMatchObject({ status: 'succeeded', doneKeys: flights.length, error: null });
    // The three batches written before the failure are skipped, not rewritten.
    expect(online.writes - writesBefore).toBe(Math.ceil(flights.length / 100) - 3);
    const keys = flights.map((f) => [f.flight_id]);
    const read = await online.read('flight', keys, ['distance@1']);
    expect(read.map((r) => r['distance@1']?.value)).toEqual(flights.map((f) => f.distance));
  });

  it('recovers runs that a killed process left running, so they can be resumed', async () => {
    await store.insertMaterialization({
      id: 'mat_orphan',
      entity: 'flight',
      features: ['distance@1'],
      windowStart: null,
      windowEnd: '2001-02-01T00:00:00.000Z',
      incremental: false,
      status: 'running',
      totalKeys: flights.length,
      doneKeys: 200,
      valuesWritten: 200,
      error: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      createdBy: 'ada',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: null,
    });
    const m = materializer();
    expect(await m.recoverInterrupted()).toBe(1);
    expect(await m.get('mat_orphan')).toMatchObject({ status: 'failed', error: expect.stringContaining('interrupted') });
    await m.resume('mat_orphan', actor);
    expect(await m.wait('mat_orphan')).toMatchObject({ status: 'succeeded', doneKeys: flights.length });
  });
});

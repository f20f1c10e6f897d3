import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/db.js';
import pg from 'pg';
import { METADATA_BACKENDS, POSTGRES_ADMIN_URL, type TestDatabase } from '../support/backends.js';

describe.each(METADATA_BACKENDS)('metadata store on $name', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await backend.open();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('applies every migration and records it', async () => {
    const rows = await t.database.db
      .selectFrom('cairn_migrations' as never)
      .select(['name' as never])
      .execute();
    expect(rows.map((r) => (r as { name: string }).name)).toContain('0001-foundation');
  });

  it('reopening applies nothing twice', async () => {
    const again = await openDatabase(
      backend.name === 'sqlite' ? { kind: 'sqlite', path: t.url.slice('sqlite:'.length) } : { kind: 'postgres', url: t.url },
    );
    await again.ping();
    await again.close();
  });

  it('generates event sequence numbers', async () => {
    const ins = async (type: string) =>
      t.database.db
        .insertInto('events')
        .values({ type, at: new Date().toISOString(), actor: 'test', payload: '{}' })
        .returning('seq')
        .executeTakeFirstOrThrow();
    const a = await ins('a');
    const b = await ins('b');
    expect(b.seq).toBeGreaterThan(a.seq);
  });
});

describe.each(METADATA_BACKENDS.filter((b) => b.name === 'postgres'))('connection pool on $name', (backend) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await backend.open();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  // Regression: an idle pooled connection closed by the server used to surface as an uncaught
  // exception (CI saw it when a suite dropped its database WITH (FORCE)).
  it('survives the server closing idle connections', async () => {
    const { db } = t.database;
    await Promise.all([1, 2, 3].map(() => t.database.ping()));
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      const dbName = new URL(t.url).pathname.slice(1);
      const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
      expect(rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    // the pool reconnects on the next query
    await t.database.ping();
    expect(await db.selectFrom('cairn_migrations' as never).select(['name' as never]).execute()).not.toHaveLength(0);
  });
});

describe('metadata store errors', () => {
  it('reports an unreachable PostgreSQL as UNAVAILABLE with the password masked', async () => {
    await expect(openDatabase({ kind: 'postgres', url: 'postgres://u:secret@127.0.0.1:1/x' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.not.stringContaining('secret'),
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/db.js';
import { METADATA_BACKENDS, type TestDatabase } from '../support/backends.js';

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

describe('metadata store errors', () => {
  it('reports an unreachable PostgreSQL as UNAVAILABLE with the password masked', async () => {
    await expect(openDatabase({ kind: 'postgres', url: 'postgres://u:secret@127.0.0.1:1/x' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.not.stringContaining('secret'),
    });
  });
});

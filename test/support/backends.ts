/**
 * The metadata backends every contract suite runs on. PostgreSQL is required: when it cannot be
 * reached the suite fails (CI must not pass by skipping), unless CAIRN_TEST_SKIP_POSTGRES=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/storage/db.js';

export const POSTGRES_ADMIN_URL = process.env.CAIRN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_TEST_URL = process.env.CAIRN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestDatabase {
  database: Database;
  /** The configuration URL a server process would use for this database. */
  url: string;
  cleanup(): Promise<void>;
}

export interface MetadataBackend {
  name: 'sqlite' | 'postgres';
  open(): Promise<TestDatabase>;
}

export function tempDir(prefix = 'cairn-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

async function openSqlite(): Promise<TestDatabase> {
  const dir = tempDir();
  const file = path.join(dir, 'cairn.db');
  const database = await openDatabase({ kind: 'sqlite', path: file });
  return {
    database,
    url: `sqlite:${file}`,
    cleanup: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a fresh PostgreSQL database for one suite and drops it afterwards. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cairn_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

async function openPostgres(): Promise<TestDatabase> {
  const created = await createPostgresDatabase();
  const database = await openDatabase({ kind: 'postgres', url: created.url });
  return {
    database,
    url: created.url,
    cleanup: async () => {
      await database.close();
      await created.drop();
    },
  };
}

export const METADATA_BACKENDS: MetadataBackend[] = [
  { name: 'sqlite', open: openSqlite },
  ...(process.env.CAIRN_TEST_SKIP_POSTGRES === '1' ? [] : [{ name: 'postgres' as const, open: openPostgres }]),
];

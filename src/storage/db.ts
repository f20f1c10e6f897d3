import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { redactUrl, type DatabaseConfig } from '../core/config.js';
import { CairnError } from '../core/errors.js';
import type { Schema } from './schema.js';
import * as m0001 from './migrations/0001-foundation.js';
import * as m0002 from './migrations/0002-tracking.js';
import * as m0003 from './migrations/0003-registry.js';
import * as m0004 from './migrations/0004-tuning.js';
import * as m0005 from './migrations/0005-serving.js';
import * as m0006 from './migrations/0006-tuning-resume.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * `items` in slices of `size`, for multi-row statements: one statement per slice keeps the bound
 * parameters under SQLite's 32,766 and PostgreSQL's 65,535.
 */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The metadata store: one Kysely instance and the dialect it speaks. */
export interface Database {
  db: Kysely<Schema>;
  dialect: Dialect;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

type MigrationModule = { up(db: Kysely<unknown>, dialect: Dialect): Promise<void> };

/** Numbered, forward-only migrations; applied in order at start. Never edit one that has shipped. */
const MIGRATIONS: Record<string, MigrationModule> = {
  '0001-foundation': m0001,
  '0002-tracking': m0002,
  '0003-registry': m0003,
  '0004-tuning': m0004,
  '0005-serving': m0005,
  '0006-tuning-resume': m0006,
};

class StaticMigrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, mod] of Object.entries(MIGRATIONS)) {
      out[name] = { up: (db) => mod.up(db, this.dialect) };
    }
    return out;
  }
}

// PostgreSQL returns BIGINT (int8) as text to avoid precision loss; our counts fit a double.
const pgTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
};

/**
 * Opens the metadata store and applies pending migrations. SQLite runs in WAL mode so that readers
 * never wait for the writer. Throws UNAVAILABLE when PostgreSQL cannot be reached.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  let db: Kysely<Schema>;
  let close: () => Promise<void>;
  if (config.kind === 'sqlite') {
    fs.mkdirSync(path.dirname(config.path), { recursive: true });
    const sqlite = new SQLite(config.path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
    close = () => db.destroy();
  } else {
    const pool = new pg.Pool({ connectionString: config.url, max: 10, types: pgTypes, connectionTimeoutMillis: 5000 });
    // An idle pooled connection that the server closes (restart, failover, pg_terminate_backend)
    // is reported as a pool 'error' event; unheard, Node turns it into an uncaught exception that
    // kills the process. The pool has already dropped that client and the next query opens a new
    // one, and /readyz's ping reports a server that stays away, so there is nothing else to do.
    pool.on('error', () => {});
    db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    close = () => db.destroy();
  }
  const database: Database = {
    db,
    dialect: config.kind,
    ping: async () => {
      await db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
    },
    close,
  };
  try {
    await migrate(database);
  } catch (err) {
    await close().catch(() => {});
    if (err instanceof CairnError) throw err;
    const where = config.kind === 'sqlite' ? config.path : redactUrl(config.url);
    throw new CairnError('UNAVAILABLE', `cannot open the metadata store at ${where}: ${(err as Error).message}`);
  }
  return database;
}

async function migrate(database: Database): Promise<void> {
  const migrator = new Migrator({
    db: database.db,
    provider: new StaticMigrations(database.dialect),
    migrationTableName: 'cairn_migrations',
    migrationLockTableName: 'cairn_migrations_lock',
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

/** True when a driver error is a unique/primary-key violation, on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

import type { Kysely } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * Hyperparameter tuning: studies and their trials.
 *
 * Workers coordinate only through these tables. A claim locks the study row (`next_number`
 * increments first, so SQLite takes its write lock and PostgreSQL its row lock at once), counts
 * the budget and inserts the trial; the unique key on (study, claim_key) — the canonical JSON of
 * the parameters — makes a second claim of the same point fail. A trial that is retried after its
 * worker died gives up its claim_key (NULL, which unique keys allow many of) to its retry.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('studies')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('stop_reason', 'text')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
    .addColumn('next_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .execute();

  await db.schema
    .createTable('trials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('study', 'text', (c) => c.notNull().references('studies.name'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('claim_key', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('intermediate', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('error', 'text')
    .addColumn('retried_by', 'text')
    .execute();
  await db.schema.createIndex('trials_study_number').on('trials').columns(['study', 'number']).unique().execute();
  await db.schema.createIndex('trials_study_claim').on('trials').columns(['study', 'claim_key']).unique().execute();
  await db.schema.createIndex('trials_study_state').on('trials').columns(['study', 'state']).execute();
}

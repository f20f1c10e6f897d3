import type { Kysely } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * A resumed study's time budget counts from its resume, not its creation: `resumed_at` is when it
 * was last resumed and `elapsed_before_resume` the seconds it had run before (its progress shows
 * the sum, so the pace and estimate ignore the time it sat completed).
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('studies').addColumn('resumed_at', 'text').execute();
  await db.schema.alterTable('studies').addColumn('elapsed_before_resume', 'double precision', (c) => c.notNull().defaultTo(0)).execute();
}

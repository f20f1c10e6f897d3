import type { Kysely } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * The prediction log, feedback and refused-request counts.
 *
 * Rows stay compact: features and entities are JSON text, the output three columns. Writes come
 * in large batches, so `predictions` carries only the indexes its readers need: by model and
 * version over time (listing, performance) and by time alone (listing everything). Feedback is
 * keyed by the prediction's id, one row each (a second feedback replaces the first). Refusals
 * are counted per minute, model and reason; writers add to a row with an upsert.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('predictions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('stage', 'text')
    .addColumn('variant', 'text')
    .addColumn('features', 'text', (c) => c.notNull())
    .addColumn('entities', 'text')
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('probability', 'double precision')
    .addColumn('latency_ms', 'double precision', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('predictions_model_version_at').on('predictions').columns(['model', 'version', 'at']).execute();
  await db.schema.createIndex('predictions_model_at').on('predictions').columns(['model', 'at']).execute();
  await db.schema.createIndex('predictions_at').on('predictions').columns(['at']).execute();

  await db.schema
    .createTable('prediction_feedback')
    .addColumn('prediction_id', 'text', (c) => c.primaryKey())
    .addColumn('actual', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('prediction_refusals')
    .addColumn('minute', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('requests', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('prediction_refusals_pk', ['minute', 'model', 'reason'])
    .execute();
  await db.schema.createIndex('prediction_refusals_model_minute').on('prediction_refusals').columns(['model', 'minute']).execute();
}

import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * The model registry: registered models, immutable versions, stage transitions, aliases, model
 * card revisions and their reviews, and the feature-version link table of forward lineage.
 *
 * `model_versions` keeps its dataset and parent as columns (besides the full lineage JSON) and
 * `model_version_features` has (feature, version) as the head of its primary key, so "which model
 * versions use this feature / dataset version" is an index lookup, never a scan of JSON.
 * Registry events are appended to the existing `events` table, read by type from a sequence number.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const serial = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement();

  await db.schema
    .createTable('registered_models')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('latest_version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('model_versions')
    .addColumn('model', 'text', (c) => c.notNull().references('registered_models.name'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('stage_updated_at', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.references('runs.id'))
    .addColumn('model_digest', 'text', (c) => c.notNull())
    .addColumn('artifacts', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('lineage', 'text', (c) => c.notNull())
    .addColumn('metrics', 'text', (c) => c.notNull())
    .addColumn('dataset_name', 'text')
    .addColumn('dataset_version', 'integer')
    .addColumn('dataset_hash', 'text')
    .addColumn('parent_model', 'text')
    .addColumn('parent_version', 'integer')
    .addColumn('card_revision', 'integer', (c) => c.notNull())
    .addColumn('card_status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_versions_pk', ['model', 'version'])
    .execute();
  await db.schema.createIndex('model_versions_stage').on('model_versions').columns(['stage', 'model']).execute();
  await db.schema.createIndex('model_versions_dataset').on('model_versions').columns(['dataset_name', 'dataset_version']).execute();
  await db.schema.createIndex('model_versions_run').on('model_versions').column('run_id').execute();

  await db.schema
    .createTable('model_version_features')
    .addColumn('feature_name', 'text', (c) => c.notNull())
    .addColumn('feature_version', 'integer', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_version_features_pk', ['feature_name', 'feature_version', 'model', 'version'])
    .addForeignKeyConstraint('model_version_features_version_fk', ['model', 'version'], 'model_versions', ['model', 'version'])
    .execute();

  await db.schema
    .createTable('model_stage_transitions')
    .addColumn('id', 'integer', serial)
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('from_stage', 'text', (c) => c.notNull())
    .addColumn('to_stage', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('automatic', 'integer', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addForeignKeyConstraint('model_stage_transitions_version_fk', ['model', 'version'], 'model_versions', ['model', 'version'])
    .execute();
  await db.schema.createIndex('model_stage_transitions_model').on('model_stage_transitions').columns(['model', 'id']).execute();

  await db.schema
    .createTable('model_aliases')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_aliases_pk', ['model', 'alias'])
    .addForeignKeyConstraint('model_aliases_version_fk', ['model', 'version'], 'model_versions', ['model', 'version'])
    .execute();

  await db.schema
    .createTable('model_card_revisions')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('fields', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_card_revisions_pk', ['model', 'version', 'revision'])
    .addForeignKeyConstraint('model_card_revisions_version_fk', ['model', 'version'], 'model_versions', ['model', 'version'])
    .execute();

  await db.schema
    .createTable('model_card_reviews')
    .addColumn('id', 'integer', serial)
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addForeignKeyConstraint('model_card_reviews_revision_fk', ['model', 'version', 'revision'], 'model_card_revisions', ['model', 'version', 'revision'])
    .execute();
  await db.schema.createIndex('model_card_reviews_version').on('model_card_reviews').columns(['model', 'version', 'id']).execute();

  // The event log is read by type from a sequence number on (GET /api/v1/events?type=&after=).
  await db.schema.createIndex('events_type_seq').on('events').columns(['type', 'seq']).execute();
}

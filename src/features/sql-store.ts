import type { Kysely, Transaction } from 'kysely';
import { CairnError } from '../core/errors.js';
import type { Schema } from '../storage/schema.js';
import type { DataSource, DatasetVersion, Entity, FeatureSetVersion, FeatureVersion, SourceFormat, ValueType } from './model.js';
import type { FeatureStore, ListOptions, Materialization, MaterializationStatus } from './store.js';

type HeadTable = 'features' | 'feature_sets' | 'datasets';
type Row<T extends keyof Schema> = Schema[T];

const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(s: string): T => JSON.parse(s) as T;

/**
 * Moves a versioned object's head to `version` inside `trx`: creates it for version 1, otherwise
 * advances it only from version - 1, so two writers racing for the same number cannot both win.
 */
async function advanceHead(
  trx: Transaction<Schema>,
  table: HeadTable,
  name: string,
  version: number,
  at: string,
  by: string,
): Promise<void> {
  if (version === 1) {
    await trx.insertInto(table).values({ name, latest_version: 1, created_at: at, created_by: by }).execute();
    return;
  }
  const res = await trx
    .updateTable(table)
    .set({ latest_version: version })
    .where('name', '=', name)
    .where('latest_version', '=', version - 1)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) {
    throw new CairnError('CONFLICT', `${name} changed while this version was being written; retry`);
  }
}

function toEntity(r: Row<'entities'>): Entity {
  return {
    name: r.name,
    joinKeys: parse(r.join_keys),
    description: r.description,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function toSource(r: Row<'data_sources'>): DataSource {
  return {
    name: r.name,
    path: r.path,
    format: r.format as SourceFormat,
    timestampColumn: r.timestamp_column,
    description: r.description,
    columns: parse(r.columns),
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function toFeature(r: Row<'feature_versions'>): FeatureVersion {
  return {
    name: r.name,
    version: Number(r.version),
    entity: r.entity,
    source: r.source,
    valueType: r.value_type as ValueType,
    expression: r.expression,
    window: r.agg_window,
    keyColumns: parse(r.key_columns),
    description: r.description,
    tags: parse(r.tags),
    changes: parse(r.changes),
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function toFeatureSet(r: Row<'feature_set_versions'>): FeatureSetVersion {
  return {
    name: r.name,
    version: Number(r.version),
    description: r.description,
    features: parse(r.features),
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function toDataset(r: Row<'dataset_versions'>): DatasetVersion {
  return {
    name: r.name,
    version: Number(r.version),
    contentHash: r.content_hash,
    rowCount: Number(r.row_count),
    schema: parse(r.schema),
    features: parse(r.features),
    entityTable: parse(r.entity_table),
    ttlSeconds: r.ttl_seconds === null ? null : Number(r.ttl_seconds),
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

function toMaterialization(r: Row<'materializations'>): Materialization {
  return {
    id: r.id,
    entity: r.entity,
    features: parse(r.features),
    windowStart: r.window_start,
    windowEnd: r.window_end,
    incremental: Boolean(r.incremental),
    status: r.status as MaterializationStatus,
    totalKeys: r.total_keys === null ? null : Number(r.total_keys),
    doneKeys: Number(r.done_keys),
    valuesWritten: Number(r.values_written),
    error: r.error,
    createdAt: r.created_at,
    createdBy: r.created_by,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** The feature store's metadata on Kysely: one implementation for SQLite and PostgreSQL. */
export class SqlFeatureStore implements FeatureStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insertEntity(e: Entity): Promise<void> {
    await this.db
      .insertInto('entities')
      .values({ name: e.name, join_keys: json(e.joinKeys), description: e.description, created_at: e.createdAt, created_by: e.createdBy })
      .execute();
  }

  async getEntity(name: string): Promise<Entity | null> {
    const r = await this.db.selectFrom('entities').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toEntity(r) : null;
  }

  async listEntities(o: ListOptions): Promise<Entity[]> {
    let q = this.db.selectFrom('entities').selectAll().orderBy('name').limit(o.limit + 1);
    if (o.after !== null) q = q.where('name', '>', o.after);
    return (await q.execute()).map(toEntity);
  }

  async insertSource(s: DataSource): Promise<void> {
    await this.db
      .insertInto('data_sources')
      .values({
        name: s.name,
        path: s.path,
        format: s.format,
        timestamp_column: s.timestampColumn,
        description: s.description,
        columns: json(s.columns),
        created_at: s.createdAt,
        created_by: s.createdBy,
      })
      .execute();
  }

  async getSource(name: string): Promise<DataSource | null> {
    const r = await this.db.selectFrom('data_sources').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toSource(r) : null;
  }

  async listSources(o: ListOptions): Promise<DataSource[]> {
    let q = this.db.selectFrom('data_sources').selectAll().orderBy('name').limit(o.limit + 1);
    if (o.after !== null) q = q.where('name', '>', o.after);
    return (await q.execute()).map(toSource);
  }

  async insertFeatureVersion(v: FeatureVersion): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await advanceHead(trx, 'features', v.name, v.version, v.createdAt, v.createdBy);
      await trx
        .insertInto('feature_versions')
        .values({
          name: v.name,
          version: v.version,
          entity: v.entity,
          source: v.source,
          value_type: v.valueType,
          expression: v.expression,
          agg_window: v.window,
          key_columns: json(v.keyColumns),
          description: v.description,
          tags: json(v.tags),
          changes: json(v.changes),
          created_at: v.createdAt,
          created_by: v.createdBy,
        })
        .execute();
    });
  }

  async getFeatureVersion(name: string, version: number | null): Promise<FeatureVersion | null> {
    let q = this.db.selectFrom('feature_versions').selectAll('feature_versions').where('feature_versions.name', '=', name);
    q =
      version === null
        ? q
            .innerJoin('features', 'features.name', 'feature_versions.name')
            .whereRef('feature_versions.version', '=', 'features.latest_version')
        : q.where('feature_versions.version', '=', version);
    const r = await q.executeTakeFirst();
    return r ? toFeature(r) : null;
  }

  async listFeatureVersions(name: string): Promise<FeatureVersion[]> {
    const rows = await this.db.selectFrom('feature_versions').selectAll().where('name', '=', name).orderBy('version').execute();
    return rows.map(toFeature);
  }

  async listFeatures(o: ListOptions & { entity?: string }): Promise<FeatureVersion[]> {
    let q = this.db
      .selectFrom('feature_versions')
      .innerJoin('features', 'features.name', 'feature_versions.name')
      .whereRef('feature_versions.version', '=', 'features.latest_version')
      .selectAll('feature_versions')
      .orderBy('feature_versions.name')
      .limit(o.limit + 1);
    if (o.after !== null) q = q.where('feature_versions.name', '>', o.after);
    if (o.entity) q = q.where('feature_versions.entity', '=', o.entity);
    return (await q.execute()).map(toFeature);
  }

  async insertFeatureSetVersion(v: FeatureSetVersion): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await advanceHead(trx, 'feature_sets', v.name, v.version, v.createdAt, v.createdBy);
      await trx
        .insertInto('feature_set_versions')
        .values({
          name: v.name,
          version: v.version,
          description: v.description,
          features: json(v.features),
          created_at: v.createdAt,
          created_by: v.createdBy,
        })
        .execute();
    });
  }

  async getFeatureSetVersion(name: string, version: number | null): Promise<FeatureSetVersion | null> {
    let q = this.db.selectFrom('feature_set_versions').selectAll('feature_set_versions').where('feature_set_versions.name', '=', name);
    q =
      version === null
        ? q
            .innerJoin('feature_sets', 'feature_sets.name', 'feature_set_versions.name')
            .whereRef('feature_set_versions.version', '=', 'feature_sets.latest_version')
        : q.where('feature_set_versions.version', '=', version);
    const r = await q.executeTakeFirst();
    return r ? toFeatureSet(r) : null;
  }

  async listFeatureSetVersions(name: string): Promise<FeatureSetVersion[]> {
    const rows = await this.db.selectFrom('feature_set_versions').selectAll().where('name', '=', name).orderBy('version').execute();
    return rows.map(toFeatureSet);
  }

  async listFeatureSets(o: ListOptions): Promise<FeatureSetVersion[]> {
    let q = this.db
      .selectFrom('feature_set_versions')
      .innerJoin('feature_sets', 'feature_sets.name', 'feature_set_versions.name')
      .whereRef('feature_set_versions.version', '=', 'feature_sets.latest_version')
      .selectAll('feature_set_versions')
      .orderBy('feature_set_versions.name')
      .limit(o.limit + 1);
    if (o.after !== null) q = q.where('feature_set_versions.name', '>', o.after);
    return (await q.execute()).map(toFeatureSet);
  }

  async insertDatasetVersion(v: DatasetVersion): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await advanceHead(trx, 'datasets', v.name, v.version, v.createdAt, v.createdBy);
      await trx
        .insertInto('dataset_versions')
        .values({
          name: v.name,
          version: v.version,
          content_hash: v.contentHash,
          row_count: v.rowCount,
          schema: json(v.schema),
          features: json(v.features),
          entity_table: json(v.entityTable),
          ttl_seconds: v.ttlSeconds,
          created_at: v.createdAt,
          created_by: v.createdBy,
        })
        .execute();
    });
  }

  async getDatasetVersion(name: string, version: number | null): Promise<DatasetVersion | null> {
    let q = this.db.selectFrom('dataset_versions').selectAll('dataset_versions').where('dataset_versions.name', '=', name);
    q =
      version === null
        ? q
            .innerJoin('datasets', 'datasets.name', 'dataset_versions.name')
            .whereRef('dataset_versions.version', '=', 'datasets.latest_version')
        : q.where('dataset_versions.version', '=', version);
    const r = await q.executeTakeFirst();
    return r ? toDataset(r) : null;
  }

  async listDatasetVersions(name: string): Promise<DatasetVersion[]> {
    const rows = await this.db.selectFrom('dataset_versions').selectAll().where('name', '=', name).orderBy('version').execute();
    return rows.map(toDataset);
  }

  async listDatasets(o: ListOptions): Promise<DatasetVersion[]> {
    let q = this.db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.name', 'dataset_versions.name')
      .whereRef('dataset_versions.version', '=', 'datasets.latest_version')
      .selectAll('dataset_versions')
      .orderBy('dataset_versions.name')
      .limit(o.limit + 1);
    if (o.after !== null) q = q.where('dataset_versions.name', '>', o.after);
    return (await q.execute()).map(toDataset);
  }

  async insertMaterialization(m: Materialization): Promise<void> {
    await this.db
      .insertInto('materializations')
      .values({
        id: m.id,
        entity: m.entity,
        features: json(m.features),
        window_start: m.windowStart,
        window_end: m.windowEnd,
        incremental: m.incremental ? 1 : 0,
        status: m.status,
        total_keys: m.totalKeys,
        done_keys: m.doneKeys,
        values_written: m.valuesWritten,
        error: m.error,
        created_at: m.createdAt,
        created_by: m.createdBy,
        started_at: m.startedAt,
        finished_at: m.finishedAt,
      })
      .execute();
  }

  async updateMaterialization(id: string, p: Partial<Omit<Materialization, 'id'>>): Promise<void> {
    const set: Partial<Row<'materializations'>> = {};
    if (p.status !== undefined) set.status = p.status;
    if (p.totalKeys !== undefined) set.total_keys = p.totalKeys;
    if (p.doneKeys !== undefined) set.done_keys = p.doneKeys;
    if (p.valuesWritten !== undefined) set.values_written = p.valuesWritten;
    if (p.error !== undefined) set.error = p.error;
    if (p.startedAt !== undefined) set.started_at = p.startedAt;
    if (p.finishedAt !== undefined) set.finished_at = p.finishedAt;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('materializations').set(set).where('id', '=', id).execute();
  }

  async getMaterialization(id: string): Promise<Materialization | null> {
    const r = await this.db.selectFrom('materializations').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toMaterialization(r) : null;
  }

  async listMaterializations(o: ListOptions): Promise<Materialization[]> {
    // Newest first; ids are random, so page on (created_at, id) encoded in the cursor.
    let q = this.db.selectFrom('materializations').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(o.limit + 1);
    if (o.after !== null) {
      const [at, id] = o.after.split('|') as [string, string];
      q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', id ?? '')])]));
    }
    return (await q.execute()).map(toMaterialization);
  }

  async getWatermarks(refs: string[]): Promise<Record<string, string>> {
    if (refs.length === 0) return {};
    const rows = await this.db.selectFrom('online_watermarks').selectAll().where('feature_ref', 'in', refs).execute();
    return Object.fromEntries(rows.map((r) => [r.feature_ref, r.materialized_until]));
  }

  async setWatermarks(refs: string[], until: string, at: string): Promise<void> {
    if (refs.length === 0) return;
    await this.db
      .insertInto('online_watermarks')
      .values(refs.map((feature_ref) => ({ feature_ref, materialized_until: until, updated_at: at })))
      .onConflict((oc) => oc.column('feature_ref').doUpdateSet((eb) => ({
        materialized_until: eb.ref('excluded.materialized_until'),
        updated_at: eb.ref('excluded.updated_at'),
      })))
      .execute();
  }
}

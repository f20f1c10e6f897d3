import type { Kysely, Transaction } from 'kysely';
import { CairnError } from '../core/errors.js';
import type { CairnEvent } from '../core/event-bus.js';
import type { Dialect } from '../storage/db.js';
import { appendEvents, type StoredEvent } from '../storage/event-log.js';
import type { Schema } from '../storage/schema.js';
import { splitRef } from './lineage.js';
import type { CardReview, ModelAlias, ModelVersion, RegisteredModel, Stage, StageTransition } from './model.js';
import { toAlias, toCardRevision, toModel, toReview, toTransition, toVersion, type VersionRow } from './sql-rows.js';
import type { ListOptions, RegistryStore, StoredCardRevision, TransitionWrite, VersionWrite } from './store.js';

const json = (v: unknown): string => JSON.stringify(v);

function conflict(message: string, details: Record<string, unknown>): CairnError {
  return new CairnError('CONFLICT', `${message}; read it again and retry`, details);
}

/** The model registry on Kysely: one implementation for SQLite and PostgreSQL. */
export class SqlRegistryStore implements RegistryStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: Dialect,
  ) {}

  async insertModel(model: RegisteredModel, events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('registered_models')
        .values({
          name: model.name,
          description: model.description,
          tags: json(model.tags),
          owner: model.owner,
          latest_version: model.latestVersion,
          created_at: model.createdAt,
          created_by: model.createdBy,
          updated_at: model.updatedAt,
          updated_by: model.updatedBy,
        })
        .execute();
      return appendEvents(trx, events);
    });
  }

  async updateModel(model: RegisteredModel, events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('registered_models')
        .set({ description: model.description, tags: json(model.tags), owner: model.owner, updated_at: model.updatedAt, updated_by: model.updatedBy })
        .where('name', '=', model.name)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new CairnError('MODEL_NOT_FOUND', `model ${model.name} not found`, { model: model.name });
      return appendEvents(trx, events);
    });
  }

  async getModel(name: string): Promise<RegisteredModel | null> {
    const r = await this.db.selectFrom('registered_models').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toModel(r) : null;
  }

  async listModels(o: ListOptions): Promise<RegisteredModel[]> {
    let q = this.db.selectFrom('registered_models').selectAll().orderBy('name').limit(o.limit + 1);
    if (o.after !== null) q = q.where('name', '>', o.after);
    return (await q.execute()).map(toModel);
  }

  async insertVersion(w: VersionWrite, events: CairnEvent[]): Promise<StoredEvent[]> {
    const v = w.version;
    return this.db.transaction().execute(async (trx) => {
      const latest = await this.lockModel(trx, v.model);
      if (v.version !== latest + 1) {
        throw conflict(`model ${v.model} got version ${latest} while version ${v.version} was being registered`, { model: v.model, latestVersion: latest });
      }
      await trx.updateTable('registered_models').set({ latest_version: v.version }).where('name', '=', v.model).execute();
      const dataset = v.lineage.dataset ? splitRef(v.lineage.dataset.ref) : null;
      await trx
        .insertInto('model_versions')
        .values({
          model: v.model,
          version: v.version,
          stage: v.stage,
          stage_updated_at: v.stageUpdatedAt,
          source: json(v.source),
          run_id: v.lineage.runId,
          model_digest: v.modelDigest,
          artifacts: json(v.artifacts),
          signature: json(v.signature),
          lineage: json(v.lineage),
          metrics: json(v.metrics),
          dataset_name: dataset?.name ?? null,
          dataset_version: dataset?.version ?? null,
          dataset_hash: v.lineage.dataset?.contentHash ?? null,
          parent_model: v.lineage.parent?.model ?? null,
          parent_version: v.lineage.parent?.version ?? null,
          card_revision: w.card.revision,
          card_status: v.card.status,
          created_at: v.createdAt,
          created_by: v.createdBy,
        })
        .execute();
      const links = v.lineage.features.map((ref) => {
        const f = splitRef(ref);
        return { feature_name: f.name, feature_version: f.version, model: v.model, version: v.version };
      });
      if (links.length > 0) await trx.insertInto('model_version_features').values(links).execute();
      await this.writeCardRevision(trx, w.card);
      return appendEvents(trx, events);
    });
  }

  async getVersion(model: string, version: number): Promise<ModelVersion | null> {
    const r = await this.db.selectFrom('model_versions').selectAll().where('model', '=', model).where('version', '=', version).executeTakeFirst();
    return r ? (await this.hydrate([r]))[0]! : null;
  }

  async listVersions(model: string, o: { stage: Stage | null; limit: number; before: number | null }): Promise<ModelVersion[]> {
    let q = this.db.selectFrom('model_versions').selectAll().where('model', '=', model).orderBy('version', 'desc').limit(o.limit + 1);
    if (o.stage !== null) q = q.where('stage', '=', o.stage);
    if (o.before !== null) q = q.where('version', '<', o.before);
    return this.hydrate(await q.execute());
  }

  async versionsInStage(model: string, stage: Stage): Promise<ModelVersion[]> {
    const rows = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('model', '=', model)
      .where('stage', '=', stage)
      .orderBy('stage_updated_at', 'desc')
      .orderBy('version', 'desc')
      .execute();
    return this.hydrate(rows);
  }

  async productionVersions(o: ListOptions): Promise<ModelVersion[]> {
    let models = this.db.selectFrom('model_versions').select('model').distinct().where('stage', '=', 'Production').orderBy('model').limit(o.limit + 1);
    if (o.after !== null) models = models.where('model', '>', o.after);
    const names = (await models.execute()).map((r) => r.model);
    if (names.length === 0) return [];
    const rows = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('stage', '=', 'Production')
      .where('model', 'in', names)
      .orderBy('model')
      .orderBy('stage_updated_at', 'desc')
      .orderBy('version', 'desc')
      .execute();
    // Rows come grouped by model, newest promotion first: keep each model's first.
    const first = rows.filter((r, i) => i === 0 || rows[i - 1]!.model !== r.model);
    return this.hydrate(first);
  }

  async versionsUsingFeature(name: string, version: number): Promise<ModelVersion[]> {
    const rows = await this.db
      .selectFrom('model_version_features as f')
      .innerJoin('model_versions as v', (j) => j.onRef('v.model', '=', 'f.model').onRef('v.version', '=', 'f.version'))
      .selectAll('v')
      .where('f.feature_name', '=', name)
      .where('f.feature_version', '=', version)
      .orderBy('v.model')
      .orderBy('v.version')
      .execute();
    return this.hydrate(rows);
  }

  async versionsUsingDataset(name: string, version: number): Promise<ModelVersion[]> {
    const rows = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('dataset_name', '=', name)
      .where('dataset_version', '=', version)
      .orderBy('model')
      .orderBy('version')
      .execute();
    return this.hydrate(rows);
  }

  async transition(t: TransitionWrite, events: CairnEvent[]): Promise<{ transitions: StageTransition[]; events: StoredEvent[] }> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockModel(trx, t.model);
      const row = await trx
        .selectFrom('model_versions')
        .select(['stage', 'card_revision', 'card_status'])
        .where('model', '=', t.model)
        .where('version', '=', t.version)
        .executeTakeFirst();
      if (!row) throw new CairnError('MODEL_VERSION_NOT_FOUND', `model ${t.model} has no version ${t.version}`, { model: t.model, version: t.version });
      if (row.stage !== t.from) throw conflict(`version ${t.version} of ${t.model} moved to ${row.stage} meanwhile`, { stage: row.stage });
      if (t.approvedRevision !== null && (Number(row.card_revision) !== t.approvedRevision || row.card_status !== 'approved')) {
        throw conflict(`the card of ${t.model} version ${t.version} changed meanwhile (revision ${row.card_revision}, ${row.card_status})`, {
          revision: Number(row.card_revision),
          status: row.card_status,
        });
      }
      if (t.archive !== null) {
        const production = await trx
          .selectFrom('model_versions')
          .select('version')
          .where('model', '=', t.model)
          .where('stage', '=', 'Production')
          .where('version', '!=', t.version)
          .execute();
        const now = production.map((r) => Number(r.version)).sort((a, b) => a - b);
        if (now.join(',') !== [...t.archive].sort((a, b) => a - b).join(',')) {
          throw conflict(`the Production versions of ${t.model} changed meanwhile (now ${now.join(', ') || 'none'})`, { production: now });
        }
      }
      const moves = [
        { version: t.version, from: t.from, automatic: 0 },
        ...(t.archive ?? []).map((version) => ({ version, from: 'Production' as Stage, automatic: 1 })),
      ];
      const transitions: StageTransition[] = [];
      for (const m of moves) {
        const to = m.automatic ? 'Archived' : t.to;
        await trx.updateTable('model_versions').set({ stage: to, stage_updated_at: t.at }).where('model', '=', t.model).where('version', '=', m.version).execute();
        const comment = m.automatic ? `archived: version ${t.version} moved to Production` : t.comment;
        const values = { model: t.model, version: m.version, from_stage: m.from, to_stage: to, comment, automatic: m.automatic, at: t.at, actor: t.actor };
        const { id } = await trx.insertInto('model_stage_transitions').values(values).returning('id').executeTakeFirstOrThrow();
        transitions.push(toTransition({ ...values, id: Number(id) }));
      }
      return { transitions, events: await appendEvents(trx, events) };
    });
  }

  async listTransitions(model: string, o: { version: number | null; limit: number; after: number | null }): Promise<StageTransition[]> {
    let q = this.db.selectFrom('model_stage_transitions').selectAll().where('model', '=', model).orderBy('id').limit(o.limit + 1);
    if (o.version !== null) q = q.where('version', '=', o.version);
    if (o.after !== null) q = q.where('id', '>', o.after);
    return (await q.execute()).map((r) => toTransition({ ...r, id: Number(r.id) }));
  }

  async setAlias(alias: ModelAlias, expected: number | null, events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockModel(trx, alias.model);
      const now = await trx.selectFrom('model_aliases').select('version').where('model', '=', alias.model).where('alias', '=', alias.alias).executeTakeFirst();
      const current = now ? Number(now.version) : null;
      if (current !== expected) {
        throw conflict(`alias ${alias.alias} of ${alias.model} moved meanwhile (to ${current ?? 'nothing'})`, { alias: alias.alias, version: current });
      }
      const values = { model: alias.model, alias: alias.alias, version: alias.version, updated_at: alias.updatedAt, updated_by: alias.updatedBy };
      if (current === null) await trx.insertInto('model_aliases').values(values).execute();
      else await trx.updateTable('model_aliases').set(values).where('model', '=', alias.model).where('alias', '=', alias.alias).execute();
      return appendEvents(trx, events);
    });
  }

  async deleteAlias(model: string, alias: string, events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('model_aliases').where('model', '=', model).where('alias', '=', alias).executeTakeFirst();
      if (Number(res.numDeletedRows) !== 1) throw new CairnError('ALIAS_NOT_FOUND', `model ${model} has no alias ${alias}`, { model, alias });
      return appendEvents(trx, events);
    });
  }

  async getAlias(model: string, alias: string): Promise<ModelAlias | null> {
    const r = await this.db.selectFrom('model_aliases').selectAll().where('model', '=', model).where('alias', '=', alias).executeTakeFirst();
    return r ? toAlias(r) : null;
  }

  async listAliases(model: string): Promise<ModelAlias[]> {
    return (await this.db.selectFrom('model_aliases').selectAll().where('model', '=', model).orderBy('alias').execute()).map(toAlias);
  }

  async insertCardRevision(r: StoredCardRevision, events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute(async (trx) => {
      const current = await this.lockVersion(trx, r.model, r.version);
      if (r.revision !== current.revision + 1) {
        throw conflict(`the card of ${r.model} version ${r.version} got revision ${current.revision} meanwhile`, { revision: current.revision });
      }
      await this.writeCardRevision(trx, r);
      await trx
        .updateTable('model_versions')
        .set({ card_revision: r.revision, card_status: 'pending' })
        .where('model', '=', r.model)
        .where('version', '=', r.version)
        .execute();
      return appendEvents(trx, events);
    });
  }

  async getCardRevision(model: string, version: number, revision: number | null): Promise<StoredCardRevision | null> {
    let q = this.db.selectFrom('model_card_revisions').selectAll('model_card_revisions').where('model_card_revisions.model', '=', model).where('model_card_revisions.version', '=', version);
    q =
      revision === null
        ? q
            .innerJoin('model_versions as v', (j) => j.onRef('v.model', '=', 'model_card_revisions.model').onRef('v.version', '=', 'model_card_revisions.version'))
            .whereRef('model_card_revisions.revision', '=', 'v.card_revision')
        : q.where('model_card_revisions.revision', '=', revision);
    const r = await q.executeTakeFirst();
    return r ? toCardRevision(r) : null;
  }

  async listCardRevisions(model: string, version: number): Promise<StoredCardRevision[]> {
    const rows = await this.db.selectFrom('model_card_revisions').selectAll().where('model', '=', model).where('version', '=', version).orderBy('revision').execute();
    return rows.map(toCardRevision);
  }

  async insertReview(review: Omit<CardReview, 'id'>, events: CairnEvent[]): Promise<{ review: CardReview; events: StoredEvent[] }> {
    return this.db.transaction().execute(async (trx) => {
      const current = await this.lockVersion(trx, review.model, review.version);
      if (review.revision !== current.revision) {
        throw conflict(`revision ${review.revision} of the card of ${review.model} version ${review.version} is no longer current (${current.revision} is)`, {
          revision: current.revision,
        });
      }
      const values = { ...review };
      const { id } = await trx.insertInto('model_card_reviews').values(values).returning('id').executeTakeFirstOrThrow();
      await trx.updateTable('model_versions').set({ card_status: review.decision }).where('model', '=', review.model).where('version', '=', review.version).execute();
      return { review: { ...review, id: Number(id) }, events: await appendEvents(trx, events) };
    });
  }

  async listReviews(model: string, version: number, revision: number | null): Promise<CardReview[]> {
    let q = this.db.selectFrom('model_card_reviews').selectAll().where('model', '=', model).where('version', '=', version).orderBy('id');
    if (revision !== null) q = q.where('revision', '=', revision);
    return (await q.execute()).map((r) => toReview({ ...r, id: Number(r.id) }));
  }

  private async writeCardRevision(trx: Transaction<Schema>, r: StoredCardRevision): Promise<void> {
    await trx
      .insertInto('model_card_revisions')
      .values({ model: r.model, version: r.version, revision: r.revision, fields: json(r.fields), created_at: r.createdAt, created_by: r.createdBy })
      .execute();
  }

  /**
   * Reads a model's latest version number, locking its row on PostgreSQL so that writes to one
   * model's versions, stages and aliases queue (SQLite transactions already run one at a time).
   */
  private async lockModel(trx: Transaction<Schema>, model: string): Promise<number> {
    let q = trx.selectFrom('registered_models').select('latest_version').where('name', '=', model);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new CairnError('MODEL_NOT_FOUND', `model ${model} not found`, { model });
    return Number(row.latest_version);
  }

  /** Reads a version's card pointers, locking the version's row on PostgreSQL. */
  private async lockVersion(trx: Transaction<Schema>, model: string, version: number): Promise<{ revision: number; status: string }> {
    let q = trx.selectFrom('model_versions').select(['card_revision', 'card_status']).where('model', '=', model).where('version', '=', version);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw new CairnError('MODEL_VERSION_NOT_FOUND', `model ${model} has no version ${version}`, { model, version });
    return { revision: Number(row.card_revision), status: row.card_status };
  }

  /** Attaches each version's aliases: one query for the whole list. */
  private async hydrate(rows: VersionRow[]): Promise<ModelVersion[]> {
    if (rows.length === 0) return [];
    const models = [...new Set(rows.map((r) => r.model))];
    const aliases = await this.db.selectFrom('model_aliases').select(['model', 'alias', 'version']).where('model', 'in', models).orderBy('alias').execute();
    const byVersion = new Map<string, string[]>();
    for (const a of aliases) {
      const key = `${a.model}@${a.version}`;
      byVersion.set(key, [...(byVersion.get(key) ?? []), a.alias]);
    }
    return rows.map((r) => toVersion(r, byVersion.get(`${r.model}@${r.version}`) ?? []));
  }
}

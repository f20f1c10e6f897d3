/** Rows of the registry's tables as the registry's types; structured columns are JSON text. */
import type { Schema } from '../storage/schema.js';
import type { CardReview, ModelAlias, ModelVersion, RegisteredModel, ReviewDecision, ReviewStatus, Stage, StageTransition } from './model.js';
import type { StoredCardRevision } from './store.js';

const parse = <T>(s: string): T => JSON.parse(s) as T;

export type VersionRow = Schema['model_versions'];

export function toModel(r: Schema['registered_models']): RegisteredModel {
  return {
    name: r.name,
    description: r.description,
    tags: parse(r.tags),
    owner: r.owner,
    latestVersion: Number(r.latest_version),
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}

export function toVersion(r: VersionRow, aliases: string[]): ModelVersion {
  return {
    model: r.model,
    version: Number(r.version),
    stage: r.stage as Stage,
    stageUpdatedAt: r.stage_updated_at,
    aliases,
    source: parse(r.source),
    modelDigest: r.model_digest,
    artifacts: parse(r.artifacts),
    signature: parse(r.signature),
    lineage: parse(r.lineage),
    metrics: parse(r.metrics),
    card: { revision: Number(r.card_revision), status: r.card_status as ReviewStatus },
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

export function toTransition(r: Omit<Schema['model_stage_transitions'], 'id'> & { id: number }): StageTransition {
  return {
    id: Number(r.id),
    model: r.model,
    version: Number(r.version),
    from: r.from_stage as Stage,
    to: r.to_stage as Stage,
    comment: r.comment,
    automatic: Number(r.automatic) === 1,
    at: r.at,
    actor: r.actor,
  };
}

export function toAlias(r: Schema['model_aliases']): ModelAlias {
  return { model: r.model, alias: r.alias, version: Number(r.version), updatedAt: r.updated_at, updatedBy: r.updated_by };
}

export function toCardRevision(r: Schema['model_card_revisions']): StoredCardRevision {
  return { model: r.model, version: Number(r.version), revision: Number(r.revision), fields: parse(r.fields), createdAt: r.created_at, createdBy: r.created_by };
}

export function toReview(r: Omit<Schema['model_card_reviews'], 'id'> & { id: number }): CardReview {
  return {
    id: Number(r.id),
    model: r.model,
    version: Number(r.version),
    revision: Number(r.revision),
    decision: r.decision as ReviewDecision,
    comment: r.comment,
    at: r.at,
    actor: r.actor,
  };
}

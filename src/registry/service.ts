import { CairnError, ValidationErrors } from '../core/errors.js';
import { decodeCursor, encodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import { requireRole, type Actor } from '../identity/index.js';
import { isUniqueViolation } from '../storage/db.js';
import { ModelCards } from './card-service.js';
import { checkCard, type CardInput } from './cards.js';
import { RegistryContext, type RegistryDeps } from './context.js';
import { inspectOnnx } from './onnx-inspect.js';
import type { LineageDetail, ModelAlias, ModelSignature, ModelVersion, ModelVersionDetail, RegisteredModel, Stage, StageTransition } from './model.js';
import { resolveSource, type SourceInput } from './registration.js';
import { MAX_TEXT, checkAlias, checkModelName, checkModelVersionRef, checkStage, checkTags, parseStage } from './validation.js';

export interface CreateModelInput {
  name: string;
  description?: string;
  tags?: Record<string, string>;
  /** Default: the creator. */
  owner?: string;
}

export interface UpdateModelInput {
  description?: string;
  tags?: Record<string, string>;
  owner?: string;
}

/**
 * A new version: from a run (`runId`, `artifactPath` default model/model.onnx) or from a file
 * uploaded with `uploadFile` (`file`, its digest, and optionally its `lineage`). Always with a card.
 */
export interface RegisterVersionInput extends SourceInput {
  /** The version this one derives from, `model@3`. */
  parent?: string;
  card: CardInput;
}

export interface TransitionInput {
  /** None, Staging, Production or Archived, in any letter case. */
  stage: string;
  comment?: string;
  /** Moving to Production archives the current Production version(s) unless this is false. */
  archiveExisting?: boolean;
}

export interface UploadedModelFile {
  digest: string;
  size: number;
  signature: ModelSignature;
}

/** A cursor that stands for a version number or a transition id. */
function numericCursor(cursor: string | undefined): number | null {
  const key = decodeCursor(cursor);
  if (key === null) return null;
  if (!/^\d{1,15}$/.test(key)) throw CairnError.validation([{ path: 'cursor', reason: 'not a cursor returned by this API' }]);
  return Number(key);
}

/** The largest version number: the columns are 32-bit integers on PostgreSQL. */
export const MAX_VERSION = 2_147_483_647;

/** Attempts at the next version number when another registration takes it first. */
const REGISTER_ATTEMPTS = 3;

/**
 * The model registry's rules: registered models, immutable numbered versions made from a run or
 * an uploaded ONNX file with their lineage, stages with transition history and auto-archiving,
 * aliases, and (through `cards`) model cards with revisions and approvals. A version enters
 * Production only with a complete, approved card. Writes need the editor role; approving cards
 * and moving versions into or out of Production need the approver role. Every change is stored
 * in the event log in its own transaction and then published on the bus.
 */
export class RegistryService {
  readonly cards: ModelCards;
  private readonly ctx: RegistryContext;

  constructor(deps: RegistryDeps) {
    this.ctx = new RegistryContext(deps);
    this.cards = new ModelCards(this.ctx);
  }

  // ---- registered models -------------------------------------------------------------------

  /** @throws VALIDATION_FAILED, ALREADY_EXISTS, FORBIDDEN */
  async createModel(input: CreateModelInput, actor: Actor): Promise<RegisteredModel> {
    requireRole(actor, 'editor', 'registering a model');
    const v = new ValidationErrors();
    checkModelName(v, 'name', input.name);
    const description = input.description === undefined ? '' : (v.text('description', input.description, MAX_TEXT) ?? '');
    const tags = checkTags(v, 'tags', input.tags);
    const owner = input.owner === undefined ? actor.user : v.text('owner', input.owner, 200);
    if (owner === '') v.add('owner', 'must not be empty');
    v.throwIfAny();
    const at = this.ctx.now();
    const model: RegisteredModel = { name: input.name, description, tags, owner: owner!, latestVersion: 0, createdAt: at, createdBy: actor.user, updatedAt: at, updatedBy: actor.user };
    try {
      this.ctx.publish(await this.ctx.store.insertModel(model, [this.ctx.event('model.created', actor, at, { model: model.name, owner: model.owner })]));
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `model ${input.name} already exists`, { model: input.name });
      throw err;
    }
    return model;
  }

  /** Changes a model's description, tags (replaced whole) or owner. @throws VALIDATION_FAILED, MODEL_NOT_FOUND, FORBIDDEN */
  async updateModel(name: string, input: UpdateModelInput, actor: Actor): Promise<RegisteredModel> {
    requireRole(actor, 'editor', 'editing a model');
    const v = new ValidationErrors();
    const model = { ...(await this.ctx.requireModel(name)) };
    if (input.description !== undefined) model.description = v.text('description', input.description, MAX_TEXT) ?? '';
    if (input.tags !== undefined) model.tags = checkTags(v, 'tags', input.tags);
    if (input.owner !== undefined) model.owner = v.text('owner', input.owner, 200) ?? '';
    if (input.owner !== undefined && model.owner === '') v.add('owner', 'must not be empty');
    v.throwIfAny();
    model.updatedAt = this.ctx.now();
    model.updatedBy = actor.user;
    const changed = Object.keys(input).filter((k) => ['description', 'tags', 'owner'].includes(k));
    this.ctx.publish(await this.ctx.store.updateModel(model, [this.ctx.event('model.updated', actor, model.updatedAt, { model: name, changed })]));
    return model;
  }

  /** @throws MODEL_NOT_FOUND */
  getModel(name: string): Promise<RegisteredModel> {
    return this.ctx.requireModel(name);
  }

  async listModels(o: { limit?: number; cursor?: string }): Promise<Page<RegisteredModel>> {
    const limit = pageSize(o.limit);
    return toPage(await this.ctx.store.listModels({ limit, after: decodeCursor(o.cursor) }), limit, (m) => m.name);
  }

  // ---- versions ----------------------------------------------------------------------------

  /**
   * Stores an ONNX file for a later `registerVersion({file})`, after checking that onnxruntime
   * loads it; answers its digest and signature. Storing the same bytes twice is one object.
   * @throws MODEL_NOT_FOUND, VALIDATION_FAILED naming `file` (not ONNX, or refused by onnxruntime), FORBIDDEN
   */
  async uploadFile(model: string, bytes: Uint8Array, actor: Actor): Promise<UploadedModelFile> {
    requireRole(actor, 'editor', 'uploading a model file');
    await this.ctx.requireModel(model);
    const signature = await inspectOnnx(bytes, 'file');
    const info = await this.ctx.deps.artifacts.put(bytes);
    return { ...info, signature };
  }

  /**
   * Registers the next version (1, 2, 3…) of a model from a run's ONNX artifact or an uploaded
   * file, with its artifacts, signature, lineage, the run's final metrics and card revision 1.
   * @throws VALIDATION_FAILED naming every problem at once (missing `card.description`,
   *   `card.intendedUse`, `card.trainingData`; unknown run, artifact or parent; non-ONNX bytes…),
   *   MODEL_NOT_FOUND, FORBIDDEN
   */
  async registerVersion(model: string, input: RegisterVersionInput, actor: Actor): Promise<ModelVersionDetail> {
    requireRole(actor, 'editor', 'registering a model version');
    await this.ctx.requireModel(model);
    const v = new ValidationErrors();
    const fields = checkCard(v, input.card, null);
    const parent = await this.checkParent(v, input.parent);
    const resolved = await resolveSource(v, this.ctx.deps, input, parent);
    v.throwIfAny();

    for (let attempt = 1; ; attempt++) {
      const number = (await this.ctx.requireModel(model)).latestVersion + 1;
      const at = this.ctx.now();
      const r = resolved!;
      const version: Omit<ModelVersion, 'aliases'> = {
        model,
        version: number,
        stage: 'None',
        stageUpdatedAt: at,
        source: r.source,
        modelDigest: r.modelDigest,
        artifacts: r.artifacts,
        signature: r.signature,
        lineage: r.lineage,
        metrics: r.metrics,
        card: { revision: 1, status: 'pending' },
        createdAt: at,
        createdBy: actor.user,
      };
      const payload = { model, version: number, source: r.source, modelDigest: r.modelDigest, dataset: r.lineage.dataset, features: r.lineage.features, parent: r.lineage.parent };
      try {
        const events = await this.ctx.store.insertVersion(
          { version, card: { model, version: number, revision: 1, fields, createdAt: at, createdBy: actor.user } },
          [this.ctx.event('model_version.created', actor, at, payload)],
        );
        this.ctx.publish(events);
        return this.getVersion(model, number);
      } catch (err) {
        // Another registration took this number: take the next one.
        if (!(err instanceof CairnError && err.code === 'CONFLICT') || attempt >= REGISTER_ATTEMPTS) throw err;
      }
    }
  }

  private async checkParent(v: ValidationErrors, parent: string | undefined): Promise<{ model: string; version: number } | null> {
    if (parent === undefined) return null;
    const ref = checkModelVersionRef(v, 'parent', parent);
    if (ref && !(await this.ctx.store.getVersion(ref.model, ref.version))) v.add('parent', `model version ${parent} not found`);
    return ref;
  }

  /** A version with its current card. @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND */
  async getVersion(model: string, version: number): Promise<ModelVersionDetail> {
    return this.withCard(await this.ctx.requireVersion(model, version));
  }

  /** A model's versions, newest first, of one stage when asked. @throws VALIDATION_FAILED, MODEL_NOT_FOUND */
  async listVersions(model: string, o: { stage?: string; limit?: number; cursor?: string }): Promise<Page<ModelVersion>> {
    const limit = pageSize(o.limit);
    const stage = o.stage === undefined ? null : this.stageOrThrow(o.stage);
    const before = numericCursor(o.cursor);
    await this.ctx.requireModel(model);
    return toPage(await this.ctx.store.listVersions(model, { stage, limit, before }), limit, (x) => String(x.version));
  }

  /**
   * The version in a stage (the one that entered it last, should several share it).
   * @throws VALIDATION_FAILED (unknown stage), MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND when none is in it
   */
  async getByStage(model: string, stage: string): Promise<ModelVersionDetail> {
    const s = this.stageOrThrow(stage);
    await this.ctx.requireModel(model);
    const found = (await this.ctx.store.versionsInStage(model, s))[0];
    if (!found) throw new CairnError('MODEL_VERSION_NOT_FOUND', `model ${model} has no version in ${s}`, { model, stage: s });
    return this.withCard(found);
  }

  /** The version an alias points at. @throws MODEL_NOT_FOUND, ALIAS_NOT_FOUND */
  async getByAlias(model: string, alias: string): Promise<ModelVersionDetail> {
    const a = await this.requireAlias(model, alias);
    return this.getVersion(model, a.version);
  }

  /** Every model's Production version (the one promoted last), by model name, a page at a time. */
  async productionVersions(o: { limit?: number; cursor?: string }): Promise<Page<ModelVersion>> {
    const limit = pageSize(o.limit);
    return toPage(await this.ctx.store.productionVersions({ limit, after: decodeCursor(o.cursor) }), limit, (x) => x.model);
  }

  /** A version's file and a stream of its bytes (checked against the digest). @throws MODEL_VERSION_NOT_FOUND, NOT_FOUND */
  async openArtifact(model: string, version: number, path: string): Promise<{ artifact: { path: string; digest: string; size: number }; stream: NodeJS.ReadableStream }> {
    const v = await this.ctx.requireVersion(model, version);
    const artifact = v.artifacts.find((a) => a.path === path);
    if (!artifact) {
      throw new CairnError('NOT_FOUND', `${model} version ${version} has no file ${path} (it has ${v.artifacts.map((a) => a.path).join(', ')})`, { model, version, path });
    }
    return { artifact, stream: await this.ctx.deps.artifacts.getStream(artifact.digest) };
  }

  // ---- stages ------------------------------------------------------------------------------

  /**
   * Moves a version to another stage, recording who, when, from, to and the comment. Only the
   * stage changes. Into Production: the approver role, a complete card whose current revision is
   * approved, and the previous Production version(s) are archived unless `archiveExisting` is
   * false. Out of Production: the approver role too.
   * @throws VALIDATION_FAILED, FORBIDDEN, MODEL_VERSION_NOT_FOUND, CONFLICT (already in that stage,
   *   or changed meanwhile), CARD_INCOMPLETE, CARD_NOT_APPROVED
   */
  async transition(model: string, version: number, input: TransitionInput, actor: Actor): Promise<{ version: ModelVersion; transitions: StageTransition[] }> {
    const v = new ValidationErrors();
    const to = checkStage(v, 'stage', input.stage);
    const comment = input.comment === undefined ? '' : (v.text('comment', input.comment, MAX_TEXT) ?? '');
    if (input.archiveExisting !== undefined && typeof input.archiveExisting !== 'boolean') v.add('archiveExisting', 'expected true or false');
    v.throwIfAny();
    requireRole(actor, 'editor', 'moving a model version between stages');
    const current = await this.ctx.requireVersion(model, version);
    if (to === 'Production') requireRole(actor, 'approver', 'moving a model version to Production');
    else if (current.stage === 'Production') requireRole(actor, 'approver', 'moving a model version out of Production');
    if (current.stage === to) throw new CairnError('CONFLICT', `version ${version} of ${model} is already in ${to}`, { model, version, stage: to });

    let approvedRevision: number | null = null;
    let archive: number[] | null = null;
    if (to === 'Production') {
      approvedRevision = await this.checkProductionGate(current);
      if (input.archiveExisting !== false) archive = (await this.ctx.store.versionsInStage(model, 'Production')).map((x) => x.version).sort((a, b) => a - b);
    }
    const at = this.ctx.now();
    const moved = (n: number, from: Stage, target: Stage, note: string, automatic: boolean) =>
      this.ctx.event('model_version.transitioned', actor, at, { model, version: n, from, to: target, comment: note, automatic });
    const events = [
      moved(version, current.stage, to!, comment, false),
      ...(archive ?? []).map((n) => moved(n, 'Production', 'Archived', `archived: version ${version} moved to Production`, true)),
    ];
    const result = await this.ctx.store.transition({ model, version, from: current.stage, to: to!, comment, at, actor: actor.user, archive, approvedRevision }, events);
    this.ctx.publish(result.events);
    return { version: (await this.ctx.store.getVersion(model, version))!, transitions: result.transitions };
  }

  /** The card revision that lets a version into Production, or the reason it cannot. */
  private async checkProductionGate(v: ModelVersion): Promise<number> {
    const card = await this.cards.current(v);
    const what = `version ${v.version} of ${v.model} cannot move to Production`;
    if (!card.complete) {
      throw new CairnError('CARD_INCOMPLETE', `${what}: its card (revision ${card.revision}) is incomplete, missing ${card.missing.join(', ')}`, {
        revision: card.revision,
        missing: card.missing,
      });
    }
    if (card.status !== 'approved') {
      const last = card.reviews.at(-1);
      const why = card.status === 'rejected' && last ? `was rejected by ${last.actor}${last.comment ? `: ${last.comment}` : ''}` : 'has not been approved';
      throw new CairnError('CARD_NOT_APPROVED', `${what}: revision ${card.revision} of its card ${why}; an approver must approve it`, {
        revision: card.revision,
        status: card.status,
      });
    }
    return card.revision;
  }

  /** Stage transitions of a model (or one version), oldest first, a page at a time. @throws MODEL_NOT_FOUND */
  async history(model: string, o: { version?: number; limit?: number; cursor?: string }): Promise<Page<StageTransition>> {
    const limit = pageSize(o.limit);
    const after = numericCursor(o.cursor);
    await this.ctx.requireModel(model);
    const rows = await this.ctx.store.listTransitions(model, { version: o.version ?? null, limit, after });
    return { items: rows.slice(0, limit), nextCursor: rows.length > limit ? encodeCursor(String(rows[limit - 1]!.id)) : null };
  }

  // ---- aliases -----------------------------------------------------------------------------

  /**
   * Points an alias (`champion`) at a version, creating or moving it; one alias names one version.
   * @throws VALIDATION_FAILED, MODEL_VERSION_NOT_FOUND, CONFLICT (moved meanwhile), FORBIDDEN
   */
  async setAlias(model: string, alias: string, version: number, actor: Actor): Promise<ModelAlias> {
    requireRole(actor, 'editor', 'setting a model alias');
    const v = new ValidationErrors();
    checkAlias(v, 'alias', alias);
    if (!Number.isSafeInteger(version) || version < 1 || version > MAX_VERSION) v.add('version', 'expected a version number ≥ 1');
    v.throwIfAny();
    await this.ctx.requireVersion(model, version);
    const previous = await this.ctx.store.getAlias(model, alias);
    if (previous?.version === version) return previous;
    const at = this.ctx.now();
    const set: ModelAlias = { model, alias, version, updatedAt: at, updatedBy: actor.user };
    const event = this.ctx.event('model_version.alias_set', actor, at, { model, alias, version, previousVersion: previous?.version ?? null });
    this.ctx.publish(await this.ctx.store.setAlias(set, previous?.version ?? null, [event]));
    return set;
  }

  /** Removes an alias. @throws ALIAS_NOT_FOUND, FORBIDDEN */
  async deleteAlias(model: string, alias: string, actor: Actor): Promise<ModelAlias> {
    requireRole(actor, 'editor', 'deleting a model alias');
    const a = await this.requireAlias(model, alias);
    const event = this.ctx.event('model_version.alias_deleted', actor, this.ctx.now(), { model, alias, version: a.version });
    this.ctx.publish(await this.ctx.store.deleteAlias(model, alias, [event]));
    return a;
  }

  /** @throws MODEL_NOT_FOUND */
  async listAliases(model: string): Promise<ModelAlias[]> {
    await this.ctx.requireModel(model);
    return this.ctx.store.listAliases(model);
  }

  private async requireAlias(model: string, alias: string): Promise<ModelAlias> {
    const a = await this.ctx.store.getAlias(model, alias);
    if (a) return a;
    await this.ctx.requireModel(model);
    throw new CairnError('ALIAS_NOT_FOUND', `model ${model} has no alias ${alias}`, { model, alias });
  }

  // ---- lineage -----------------------------------------------------------------------------

  /** A version traced back to its run, dataset version (with hash), feature definitions, trainer and params. */
  async lineage(model: string, version: number): Promise<LineageDetail> {
    return this.ctx.trace(await this.ctx.requireVersion(model, version));
  }

  /** Every model version trained on a feature version. @throws FEATURE_VERSION_NOT_FOUND */
  async versionsUsingFeature(name: string, version: number): Promise<ModelVersion[]> {
    if (!(await this.ctx.deps.catalog.feature(name, version))) {
      throw new CairnError('FEATURE_VERSION_NOT_FOUND', `feature version ${name}@${version} not found`, { feature: name, version });
    }
    return this.ctx.store.versionsUsingFeature(name, version);
  }

  /** Every model version trained on a dataset version. @throws DATASET_NOT_FOUND */
  async versionsUsingDataset(name: string, version: number): Promise<ModelVersion[]> {
    if (!(await this.ctx.deps.catalog.dataset(name, version))) {
      throw new CairnError('DATASET_NOT_FOUND', `dataset version ${name}@${version} not found`, { dataset: name, version });
    }
    return this.ctx.store.versionsUsingDataset(name, version);
  }

  private async withCard(v: ModelVersion): Promise<ModelVersionDetail> {
    return { ...v, card: await this.cards.current(v) };
  }

  private stageOrThrow(text: string): Stage {
    const stage = parseStage(text);
    if (stage === null) {
      const v = new ValidationErrors();
      checkStage(v, 'stage', text);
      v.throwIfAny();
    }
    return stage!;
  }
}

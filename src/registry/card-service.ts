/**
 * Model cards over time: every edit is a new revision (earlier ones stay readable), approvers
 * approve or reject one specific revision, and an edit after an approval needs a new approval.
 */
import { isDeepStrictEqual } from 'node:util';
import { CairnError, ValidationErrors } from '../core/errors.js';
import { requireRole, type Actor } from '../identity/index.js';
import { cardHtml, cardMarkdown } from './card-render.js';
import { buildCard, checkCard, checkReviewComment, missingForCompleteness, type CardPatch } from './cards.js';
import type { RegistryContext } from './context.js';
import type { CardReview, CardRevision, ModelVersion, ReviewDecision, ReviewStatus } from './model.js';
import type { StoredCardRevision } from './store.js';

export interface ReviewInput {
  /** The revision reviewed (default the current one); anything but the current one is refused. */
  revision?: number;
  /** Optional for an approval, required for a rejection. */
  comment?: string;
}


export class ModelCards {
  constructor(private readonly ctx: RegistryContext) {}

  /**
   * A revision of a version's card (the current one by default), as a Model Card Toolkit
   * document with its review state, completeness and reviews.
   * @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND, NOT_FOUND for a revision that does not exist
   */
  async get(model: string, version: number, revision: number | null = null): Promise<CardRevision> {
    const v = await this.ctx.requireVersion(model, version);
    return this.revisionOf(v, revision);
  }

  /** Every revision of a version's card, oldest first. @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND */
  async revisions(model: string, version: number): Promise<CardRevision[]> {
    const v = await this.ctx.requireVersion(model, version);
    const [stored, reviews] = await Promise.all([this.ctx.store.listCardRevisions(model, version), this.ctx.store.listReviews(model, version, null)]);
    return stored.map((r) => this.toRevision(v, r, reviews.filter((x) => x.revision === r.revision)));
  }

  /** The current revision of a version already read, for the version's own answer and the Production gate. */
  async current(version: ModelVersion): Promise<CardRevision> {
    return this.revisionOf(version, null);
  }

  /**
   * Edits the card: the fields given replace the current ones (`null` empties an optional
   * field) and the result becomes a new revision, pending review. An edit that changes nothing
   * answers the current revision with `created` false.
   * @throws VALIDATION_FAILED naming every bad field, MODEL_VERSION_NOT_FOUND, CONFLICT on a racing edit, FORBIDDEN
   */
  async edit(model: string, version: number, patch: CardPatch, actor: Actor): Promise<CardRevision & { created: boolean }> {
    requireRole(actor, 'editor', 'editing a model card');
    const v = await this.ctx.requireVersion(model, version);
    const current = await this.stored(v, null);
    const errors = new ValidationErrors();
    const fields = checkCard(errors, patch, current.fields);
    errors.throwIfAny();
    if (isDeepStrictEqual(fields, current.fields)) return { ...(await this.current(v)), created: false };

    const at = this.ctx.now();
    const next: StoredCardRevision = { model, version, revision: current.revision + 1, fields, createdAt: at, createdBy: actor.user };
    const events = await this.ctx.store.insertCardRevision(next, [
      this.ctx.event('model_card.revised', actor, at, { model, version, revision: next.revision, previousStatus: v.card.status }),
    ]);
    this.ctx.publish(events);
    const updated: ModelVersion = { ...v, card: { revision: next.revision, status: 'pending' } };
    return { ...this.toRevision(updated, next, []), created: true };
  }

  /**
   * Approves or rejects the current revision of a version's card (approver role). An approval
   * needs a complete card; a rejection needs a comment. Naming a revision that is no longer
   * current is refused, so a reviewer never approves text they have not read.
   * With auth on, nobody approves a revision they wrote.
   * @throws VALIDATION_FAILED, FORBIDDEN (role, or own revision), CONFLICT (not the current revision), CARD_INCOMPLETE (approval)
   */
  async review(model: string, version: number, decision: ReviewDecision, input: ReviewInput, actor: Actor): Promise<{ review: CardReview; card: CardRevision }> {
    requireRole(actor, 'approver', decision === 'approved' ? 'approving a model card' : 'rejecting a model card');
    const comment = checkReviewComment(input.comment, decision === 'rejected');
    if (input.revision !== undefined && (!Number.isSafeInteger(input.revision) || input.revision < 1)) {
      throw CairnError.validation([{ path: 'revision', reason: 'expected a revision number ≥ 1' }]);
    }
    const v = await this.ctx.requireVersion(model, version);
    const revision = input.revision ?? v.card.revision;
    if (revision !== v.card.revision) {
      throw new CairnError('CONFLICT', `revision ${revision} is not the current revision of the card of ${model} version ${version} (${v.card.revision} is): review the current one`, {
        revision,
        currentRevision: v.card.revision,
      });
    }
    const card = await this.current(v);
    // Four eyes: with real identities (an API token), an approval by the revision's own author
    // would make the review meaningless. Without auth every write is the one local user's.
    if (decision === 'approved' && actor.tokenId !== null && card.createdBy === actor.user) {
      throw new CairnError('FORBIDDEN', `${actor.user} wrote revision ${revision} of the card of ${model} version ${version}: another approver must approve it`, { revision, author: card.createdBy });
    }
    if (decision === 'approved' && !card.complete) {
      throw new CairnError('CARD_INCOMPLETE', `cannot approve revision ${revision} of the card of ${model} version ${version}: it is incomplete, missing ${card.missing.join(', ')}`, {
        revision,
        missing: card.missing,
      });
    }
    const at = this.ctx.now();
    const type = decision === 'approved' ? 'model_card.approved' : 'model_card.rejected';
    const { review, events } = await this.ctx.store.insertReview({ model, version, revision, decision, comment, at, actor: actor.user }, [
      this.ctx.event(type, actor, at, { model, version, revision, comment }),
    ]);
    this.ctx.publish(events);
    return { review, card: { ...card, status: decision, reviews: [...card.reviews, review] } };
  }

  /** Every approval and rejection of a version's card, oldest first. */
  async reviews(model: string, version: number): Promise<CardReview[]> {
    await this.ctx.requireVersion(model, version);
    return this.ctx.store.listReviews(model, version, null);
  }

  /** A card revision rendered as Markdown or a standalone HTML page, with lineage and metrics. */
  async render(model: string, version: number, format: 'md' | 'html', revision: number | null = null): Promise<string> {
    const v = await this.ctx.requireVersion(model, version);
    const [card, lineage] = await Promise.all([this.revisionOf(v, revision), this.ctx.trace(v)]);
    return format === 'md' ? cardMarkdown(card, v, lineage) : cardHtml(card, v, lineage);
  }

  private async revisionOf(v: ModelVersion, revision: number | null): Promise<CardRevision> {
    const stored = await this.stored(v, revision);
    return this.toRevision(v, stored, await this.ctx.store.listReviews(v.model, v.version, stored.revision));
  }

  private async stored(v: ModelVersion, revision: number | null): Promise<StoredCardRevision> {
    const stored = await this.ctx.store.getCardRevision(v.model, v.version, revision ?? v.card.revision);
    if (!stored) {
      throw new CairnError('NOT_FOUND', `the card of ${v.model} version ${v.version} has no revision ${revision} (revisions 1 to ${v.card.revision})`, {
        model: v.model,
        version: v.version,
        revision,
      });
    }
    return stored;
  }

  private toRevision(v: ModelVersion, r: StoredCardRevision, reviews: CardReview[]): CardRevision {
    const current = r.revision === v.card.revision;
    // An older revision's state is its last review; the current one's is kept on the version.
    const status: ReviewStatus = current ? v.card.status : (reviews.at(-1)?.decision ?? 'pending');
    const missing = missingForCompleteness(r.fields);
    return {
      model: v.model,
      version: v.version,
      revision: r.revision,
      status,
      current,
      complete: missing.length === 0,
      missing,
      card: buildCard(r.fields, { model: v.model, version: v.version, createdAt: v.createdAt, signature: v.signature, lineage: v.lineage, metrics: v.metrics }),
      reviews,
      createdAt: r.createdAt,
      createdBy: r.createdBy,
    };
  }
}

import type { CairnEvent } from '../core/event-bus.js';
import type { StoredEvent } from '../storage/event-log.js';
import type { CardFields, CardReview, ModelAlias, ModelVersion, RegisteredModel, Stage, StageTransition } from './model.js';

export interface ListOptions {
  limit: number;
  /** Exclusive lower bound of the sort key (a decoded cursor). */
  after: string | null;
}

/** A card revision as stored: the author's fields. */
export interface StoredCardRevision {
  model: string;
  version: number;
  revision: number;
  fields: CardFields;
  createdAt: string;
  createdBy: string;
}

/**
 * A stage change as the service decided it. The store applies it only if the version and its
 * model are still as the service saw them, so two racing requests cannot both win.
 */
export interface TransitionWrite {
  model: string;
  version: number;
  from: Stage;
  to: Stage;
  comment: string;
  at: string;
  actor: string;
  /**
   * For a move to Production: the other Production versions the service saw, to archive in the
   * same transaction (they must still be exactly these); null keeps every Production version.
   */
  archive: number[] | null;
  /** Set for a move to Production: the card revision that was checked, and must still be current and approved. */
  approvedRevision: number | null;
}

/** A new version with its first card revision; `version` must be the model's latest + 1. */
export interface VersionWrite {
  version: Omit<ModelVersion, 'aliases'>;
  card: StoredCardRevision;
}

/**
 * Persistence of the registry. Stores trust their input (the service validates). Every write is
 * one transaction that also appends the given events to the event log, and returns them stored
 * (with their sequence numbers) for the service to publish once committed. Rules that can only be
 * checked inside that transaction — a version number is the next one, a stage or a card revision
 * is still what the service saw — are checked there and fail with CONFLICT, changing nothing.
 */
export interface RegistryStore {
  /** A unique violation when the name is taken. */
  insertModel(model: RegisteredModel, events: CairnEvent[]): Promise<StoredEvent[]>;
  updateModel(model: RegisteredModel, events: CairnEvent[]): Promise<StoredEvent[]>;
  getModel(name: string): Promise<RegisteredModel | null>;
  listModels(o: ListOptions): Promise<RegisteredModel[]>;

  /**
   * Writes a version, its feature links, its card revision 1 and its events.
   * @throws MODEL_NOT_FOUND; CONFLICT when the version number is not the next one
   */
  insertVersion(w: VersionWrite, events: CairnEvent[]): Promise<StoredEvent[]>;
  getVersion(model: string, version: number): Promise<ModelVersion | null>;
  /** `limit + 1` versions, newest first, below `before` (all when null), of one stage when given. */
  listVersions(model: string, o: { stage: Stage | null; limit: number; before: number | null }): Promise<ModelVersion[]>;
  /** The versions in a stage, the one that entered it last first. */
  versionsInStage(model: string, stage: Stage): Promise<ModelVersion[]>;
  /** Per model (by name, after the cursor), the Production version that entered Production last; `limit + 1` models. */
  productionVersions(o: ListOptions): Promise<ModelVersion[]>;
  /** Every version trained on this feature version (an index lookup), by model and version. */
  versionsUsingFeature(name: string, version: number): Promise<ModelVersion[]>;
  /** Every version trained on this dataset version, by model and version. */
  versionsUsingDataset(name: string, version: number): Promise<ModelVersion[]>;

  /**
   * Moves a version (and auto-archives `archive`), recording each move as a transition.
   * @throws CONFLICT when the version is no longer in `from`, the other Production versions are no
   *   longer exactly `archive`, or `approvedRevision` is no longer the approved current revision
   */
  transition(t: TransitionWrite, events: CairnEvent[]): Promise<{ transitions: StageTransition[]; events: StoredEvent[] }>;
  /** Transitions of a model (or one version), oldest first, with id greater than `after`; `limit + 1` rows. */
  listTransitions(model: string, o: { version: number | null; limit: number; after: number | null }): Promise<StageTransition[]>;

  /**
   * Points an alias at a version (creating or moving it).
   * @throws CONFLICT when the alias no longer points where the service saw it (`expected`, null for absent)
   */
  setAlias(alias: ModelAlias, expected: number | null, events: CairnEvent[]): Promise<StoredEvent[]>;
  /** @throws ALIAS_NOT_FOUND */
  deleteAlias(model: string, alias: string, events: CairnEvent[]): Promise<StoredEvent[]>;
  getAlias(model: string, alias: string): Promise<ModelAlias | null>;
  listAliases(model: string): Promise<ModelAlias[]>;

  /**
   * Stores the next card revision and makes it current, pending review.
   * @throws CONFLICT when `revision` is not the current revision + 1
   */
  insertCardRevision(r: StoredCardRevision, events: CairnEvent[]): Promise<StoredEvent[]>;
  /** One revision, or the current one when `revision` is null. */
  getCardRevision(model: string, version: number, revision: number | null): Promise<StoredCardRevision | null>;
  listCardRevisions(model: string, version: number): Promise<StoredCardRevision[]>;

  /**
   * Records an approval or rejection of the current revision and sets the version's card status.
   * @throws CONFLICT when `review.revision` is no longer the current revision
   */
  insertReview(review: Omit<CardReview, 'id'>, events: CairnEvent[]): Promise<{ review: CardReview; events: StoredEvent[] }>;
  /** Reviews of a version (of one revision when given), oldest first. */
  listReviews(model: string, version: number, revision: number | null): Promise<CardReview[]>;
}

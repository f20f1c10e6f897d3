/**
 * Where the prediction log, feedback and refusal counts are stored. One Kysely implementation
 * (SqlPredictionLogStore) serves SQLite and PostgreSQL; test/contract/prediction-log-store.contract.ts
 * is the contract. Stores trust their input: the log and the feedback service validate it.
 */
import type { Actual, Feedback, LoggedPrediction, RefusalCount } from './log-model.js';
import type { PredictionRow } from './prediction-rows.js';

/** A time window over prediction times: `since` inclusive, `until` exclusive (ISO-8601 UTC). */
export interface TimeRange {
  since?: string;
  until?: string;
}

export interface PredictionQuery extends TimeRange {
  model?: string;
  version?: number;
  limit: number;
  /** Continue after this prediction (newest first: older ones, or the same time with a smaller id). */
  after: { at: string; id: string } | null;
}

/** A prediction that has feedback, reduced to what performance metrics need. */
export interface FeedbackPair {
  version: number;
  value: number;
  label: number | string | null;
  probability: number | null;
  actual: Actual;
}

export interface VersionCount {
  version: number;
  predictions: number;
  withFeedback: number;
}

export interface PredictionLogStore {
  /**
   * Writes predictions and adds refusal counts in one transaction. A prediction whose id is
   * already stored is skipped, so writing a batch twice stores it once.
   */
  writeBatch(rows: PredictionRow[], refusals: RefusalCount[]): Promise<void>;
  /** A cheap round trip: resolves when the store answers. */
  ping(): Promise<void>;
  getPrediction(id: string): Promise<LoggedPrediction | null>;
  /** Predictions newest first (time, then id, descending), at most `limit`. */
  listPredictions(q: PredictionQuery): Promise<LoggedPrediction[]>;
  /** Which of these ids are stored predictions. */
  knownPredictionIds(ids: string[]): Promise<Set<string>>;
  /** Stores feedback in one transaction, replacing earlier feedback; answers the ids that had some. */
  putFeedback(items: Feedback[]): Promise<string[]>;
  /** Per version of a model: predictions in the range and how many of them have feedback. */
  versionCounts(model: string, range: TimeRange): Promise<VersionCount[]>;
  /** Every prediction of a model in the range that has feedback. */
  feedbackPairs(model: string, range: TimeRange): Promise<FeedbackPair[]>;
  /** Refusal counts per minute (by `minute` in the range), oldest first. */
  refusals(q: TimeRange & { model?: string }): Promise<RefusalCount[]>;
}

/**
 * Types of the prediction log and of feedback: what serving records for each prediction, what the
 * API returns when the log is read, and the per-version performance that joins the two.
 */

export type FeatureValue = number | string | boolean | null;

/** The outcome that really happened, as feedback reports it: a class (0/1, true/false, a label) or a number. */
export type Actual = number | string | boolean;

/** One served prediction, as the serving core hands it to the log. */
export interface PredictionRecord {
  id: string;
  /** ISO-8601 UTC time the prediction was made. */
  at: string;
  model: string;
  version: number;
  stage: string | null;
  variant: string | null;
  /** The features as the model saw them, after the online lookup. */
  features: Record<string, FeatureValue>;
  entities: Record<string, string> | null;
  output: { value: number; label?: number | string | null; probability?: number | null };
  latencyMs: number;
}

/** The feedback stored for one prediction. A second feedback for the same id replaces the first. */
export interface Feedback {
  predictionId: string;
  actual: Actual;
  /** When the feedback was received. */
  at: string;
  /** Who sent it (the token's user, or the local user). */
  by: string;
}

/** A prediction read back from the log, with its feedback when there is one. */
export interface LoggedPrediction {
  id: string;
  at: string;
  model: string;
  version: number;
  stage: string | null;
  variant: string | null;
  features: Record<string, FeatureValue>;
  entities: Record<string, string> | null;
  output: { value: number; label: number | string | null; probability: number | null };
  latencyMs: number;
  feedback: Omit<Feedback, 'predictionId'> | null;
}

/** Refused requests of one model for one reason within one minute. */
export interface RefusalCount {
  /** Start of the minute, ISO-8601 UTC (`2026-01-01T10:42:00.000Z`). */
  minute: string;
  model: string;
  reason: string;
  count: number;
}

/** The answer to a feedback request: how many were stored, which replaced earlier feedback, which ids are unknown. */
export interface FeedbackResult {
  recorded: number;
  /** Ids whose earlier feedback this one replaced. */
  replaced: string[];
  /** Ids with no logged prediction; nothing was stored for them. */
  unknown: string[];
}

export interface ClassifierPerformance {
  task: 'classification';
  /** Share of predictions whose label equals the actual class. */
  accuracy: number | null;
  /** ROC AUC of the probability against actual 0/1 outcomes; null with one class only. */
  auc: number | null;
  logLoss: number | null;
}

export interface RegressorPerformance {
  task: 'regression';
  rmse: number | null;
  mae: number | null;
}

/** How one model version did on the predictions that got feedback. */
export interface VersionPerformance {
  version: number;
  predictions: number;
  withFeedback: number;
  /** Null until some prediction of the version has feedback. */
  metrics: ClassifierPerformance | RegressorPerformance | null;
}

export interface ModelPerformance {
  model: string;
  since: string | null;
  until: string | null;
  versions: VersionPerformance[];
}

/** What the prediction log has done since this process opened it; for metrics and health. */
export interface PredictionLogStats {
  /** Records handed to `record()` and accepted. */
  recorded: number;
  /** Records written to the store by the in-memory path. */
  flushed: number;
  /** Records read back from spool files and written to the store (duplicates ignored). */
  replayed: number;
  /** Records kept only on disk because the store failed or the memory queue was full. */
  spooled: number;
  /** Records left in spool files for the writing process to store (spool-only mode). */
  handedOff: number;
  /** Records that could be neither queued nor spooled; the only way the log loses a record. */
  dropped: number;
  /** Records refused by record() because they were malformed (a bug in the caller). */
  invalid: number;
  /** Spooled records the store refused one by one; kept in `rejected/` for a person to look at. */
  rejected: number;
  queueDepth: number;
  /** Spool files waiting to be replayed. */
  spoolFiles: number;
  /** True after a flush failed, until one succeeds. */
  storeFailing: boolean;
  /** Refused requests since start, by model and reason. */
  refusals: { model: string; reason: string; count: number }[];
}

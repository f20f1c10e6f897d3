import type { Params, Study, StudyStatus, Trial, TrialState } from './model.js';

export interface ClaimRequest {
  study: string;
  trialId: string;
  params: Params;
  /** canonicalKey(params): unique per study among live claims. */
  claimKey: string;
  worker: string;
  now: string;
  /** Most trials the study may have (retried ones not counted); null for no limit. */
  maxTrials: number | null;
}

export type ClaimResult =
  | { kind: 'claimed'; trial: Trial }
  /** Another trial holds these parameters already. */
  | { kind: 'collision' }
  | { kind: 'budget' }
  /** The study is not running (completed or cancelled). */
  | { kind: 'stopped' };

/**
 * Persistence of studies and trials. Every claim is one transaction that first locks the study
 * (so claims of one study are serialized on both dialects), then checks status and budget, then
 * inserts the trial; the unique (study, claim_key) index refuses a duplicate point.
 */
export interface TuningStore {
  /** A unique violation when the name is taken. */
  insertStudy(study: Study): Promise<void>;
  getStudy(name: string): Promise<Study | null>;
  listStudies(o: { limit: number; after: string | null }): Promise<Study[]>;
  /** Moves a running study to `status`; false when it was not running. */
  endStudy(name: string, status: Exclude<StudyStatus, 'running'>, reason: string, endedAt: string): Promise<boolean>;
  /**
   * Running again with a new budget (after it completed on one): the time it ran so far is added
   * to elapsedBeforeResume and resumedAt restarts the clock of the time budget.
   */
  reopenStudy(name: string, patch: { budget: Study['budget']; resumedAt: string }): Promise<void>;

  claimTrial(req: ClaimRequest): Promise<ClaimResult>;
  /**
   * Fails one running trial whose heartbeat is older than `staleBefore` and inserts its retry
   * (same params, new number, claimed by `worker`) in the same transaction; null when none is stale.
   */
  retryStaleTrial(study: string, staleBefore: string, retryId: string, worker: string, now: string): Promise<{ failed: Trial; retry: Trial } | null>;

  getTrial(id: string): Promise<Trial | null>;
  /** Trials of a study by number. */
  listTrials(study: string): Promise<Trial[]>;
  /** Updates a running trial's run, intermediate values and heartbeat; false when it is not running. */
  updateTrial(id: string, patch: { runId?: string; intermediate?: Record<string, number>; heartbeatAt: string }): Promise<boolean>;
  /** Ends a running trial; false when it was not running (already ended, or failed by another worker). */
  finishTrial(id: string, end: { state: Exclude<TrialState, 'running'>; value: number | null; error: string | null; endedAt: string }): Promise<boolean>;
}

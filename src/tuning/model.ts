/** Types of hyperparameter tuning: search spaces, samplers, pruners, studies and trials. */

/** A float in [low, high]; `log` samples its logarithm uniformly (low must then be > 0). */
export interface FloatParam {
  type: 'float';
  low: number;
  high: number;
  log?: boolean;
}

/** An integer in [low, high] on the grid low, low + step, …; `log` needs step 1. */
export interface IntParam {
  type: 'int';
  low: number;
  high: number;
  step?: number;
  log?: boolean;
}

export type Choice = string | number | boolean;

export interface CategoricalParam {
  type: 'categorical';
  choices: Choice[];
}

export type ParamSpec = FloatParam | IntParam | CategoricalParam;
export type SearchSpace = Record<string, ParamSpec>;
export type Params = Record<string, Choice>;

export const DIRECTIONS = ['minimize', 'maximize'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface RandomSamplerConfig {
  type: 'random';
}
export interface GridSamplerConfig {
  type: 'grid';
  /** Points per float parameter (evenly spaced, on the log scale for log floats); default 5. */
  floatPoints?: number;
}
/** TPE; defaults follow Optuna: 10 startup trials, 24 EI candidates, prior weight 1, constant liar on. */
export interface TpeSamplerConfig {
  type: 'tpe';
  nStartupTrials?: number;
  nEiCandidates?: number;
  priorWeight?: number;
  /** Running trials count as the worst value, so parallel workers spread out. */
  constantLiar?: boolean;
}
export type SamplerConfig = RandomSamplerConfig | GridSamplerConfig | TpeSamplerConfig;
export const SAMPLERS = ['random', 'grid', 'tpe'] as const;

export interface NoPrunerConfig {
  type: 'none';
}
/** Prunes a trial whose best intermediate value so far is worse than the median of finished trials at that step. */
export interface MedianPrunerConfig {
  type: 'median';
  /** Finished trials needed before any pruning; default 5. */
  nStartupTrials?: number;
  /** Steps of each trial never pruned; default 0. */
  nWarmupSteps?: number;
}
/** Asynchronous successive halving: rungs at minResource·η^k steps keep the top 1/η. */
export interface SuccessiveHalvingPrunerConfig {
  type: 'successive-halving';
  minResource?: number;
  reductionFactor?: number;
}
export type PrunerConfig = NoPrunerConfig | MedianPrunerConfig | SuccessiveHalvingPrunerConfig;
export const PRUNERS = ['none', 'median', 'successive-halving'] as const;

/** What a trial evaluates. */
export type StudyTarget =
  | {
      /** A built-in trainer on a training set, through TrainingService; trial params become trainer params. */
      type: 'trainer';
      trainer: 'gbdt' | 'linear';
      dataset: string;
      validation?: { dataset: string } | { fraction: number };
      label: string;
      features?: string[];
      categorical?: string[];
      /**
       * The per-iteration metric that feeds the pruner: `valid_loss`, `valid_metric` or
       * `train_loss`; by default the one matching the study metric (see trainer-metrics.ts).
       */
      intermediateMetric?: string;
    }
  | {
      /** A shell command; it sees CAIRN_PARAMS (JSON), CAIRN_PARAM_<NAME>, CAIRN_RUN_ID, CAIRN_TRIAL_ID and prints its value as its last line (or logs the metric to its run). */
      type: 'command';
      command: string;
    }
  | {
      /** An objective function given to runStudy in a TypeScript process. */
      type: 'function';
    };

export interface Budget {
  /** Most trials (failed ones that were retried do not count). */
  trials?: number;
  /** Most wall time in seconds, from the study's creation or, once resumed, from its latest resume. */
  seconds?: number;
}

/** Stops when the best value has not improved by more than `minDelta` in `patience` finished trials. */
export interface Convergence {
  patience: number;
  minDelta: number;
}

export const STUDY_STATUSES = ['running', 'completed', 'cancelled'] as const;
export type StudyStatus = (typeof STUDY_STATUSES)[number];

export interface StudySpec {
  /** Unique; letters, digits, `_`, `.`, `-`. */
  name: string;
  /** The experiment of the study's run and its trials' runs (created when missing). */
  experiment: string;
  metric: string;
  direction: Direction;
  space: SearchSpace;
  fixedParams: Record<string, Choice>;
  target: StudyTarget;
  sampler: SamplerConfig;
  pruner: PrunerConfig;
  budget: Budget;
  convergence: Convergence | null;
  seed: number;
  /** A worker whose heartbeat is older than this is presumed dead; default 60. */
  heartbeatTimeoutSeconds: number;
}

export interface Study extends StudySpec {
  status: StudyStatus;
  /** Why it stopped: budget, time, converged, grid exhausted, cancelled. */
  stopReason: string | null;
  /** The study's tracking run, parent of every trial's run. */
  runId: string;
  createdAt: string;
  createdBy: string;
  endedAt: string | null;
  /** When it was last resumed (null: never); the time budget counts from then. */
  resumedAt: string | null;
  /** Seconds it had run before its latest resume. */
  elapsedBeforeResume: number;
}

export const TRIAL_STATES = ['running', 'complete', 'pruned', 'failed'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

export interface Trial {
  id: string;
  study: string;
  /** 0, 1, 2, … in claim order. */
  number: number;
  params: Params;
  state: TrialState;
  value: number | null;
  /** Intermediate values by step (for the pruner). */
  intermediate: Record<string, number>;
  /** The trial's tracking run (null until it is created). */
  runId: string | null;
  worker: string;
  startedAt: string;
  heartbeatAt: string;
  endedAt: string | null;
  error: string | null;
  /** The trial that retried this one after its worker died. */
  retriedBy: string | null;
}

export interface StudyProgress {
  study: Study;
  /** Trials by state (retried failures excluded from `done`). */
  counts: Record<TrialState, number>;
  done: number;
  budget: number | null;
  best: { trial: number; value: number; params: Params; runId: string | null } | null;
  /** Seconds it has run: before its latest resume plus since then (time spent completed not counted). */
  elapsedSeconds: number;
  /** Seconds left at the mean pace so far (null when unknown). */
  etaSeconds: number | null;
}

/** Types of experiment tracking. Times are ISO-8601 UTC strings. */

export const RUN_STATUSES = ['running', 'finished', 'failed', 'killed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The statuses a run can end with; once ended, a run takes no more logging. */
export const END_STATUSES = ['finished', 'failed', 'killed'] as const;
export type EndStatus = (typeof END_STATUSES)[number];

export interface Experiment {
  /** Unique; letters, digits, `_`, `.`, `-`. */
  name: string;
  description: string;
  tags: Record<string, string>;
  createdAt: string;
  createdBy: string;
}

/** A metric's value at one step; `timestamp` is when it was logged. */
export interface MetricPoint {
  value: number;
  step: number;
  timestamp: string;
}

/** A metric point with its key, as batches carry it. */
export interface MetricEntry extends MetricPoint {
  key: string;
}

/** What a run was trained on: the lineage from a model back to its data and feature versions. */
export interface RunInputs {
  /** The training dataset version (`name@version`) and the sha256 of its content. */
  dataset: { ref: string; contentHash: string | null } | null;
  /** The feature set version (`name@version`) the run used, if any. */
  featureSet: string | null;
  /** Pinned feature versions (`name@version`). */
  features: string[];
}

/** Where a run came from. */
export interface RunSource {
  /** The command line that started it. */
  command: string | null;
  /** A commit or other code version, when known. */
  codeVersion: string | null;
}

export interface Run {
  /** `run_<hex>`. */
  id: string;
  experiment: string;
  name: string;
  status: RunStatus;
  startTime: string;
  endTime: string | null;
  author: string;
  /** Who ended the run (null while it runs). */
  endedBy: string | null;
  /** The run this one is a step or trial of. */
  parentRunId: string | null;
  /** Logged once each; values are text. */
  params: Record<string, string>;
  /** The latest point of every metric (greatest step; among equal steps the newest). */
  metrics: Record<string, MetricPoint>;
  tags: Record<string, string>;
  inputs: RunInputs;
  source: RunSource;
}

/** A file of a run: a path inside the run mapped to a content-addressed object. */
export interface RunArtifact {
  runId: string;
  /** Relative, `/`-separated; folders are path prefixes. */
  path: string;
  /** `sha256:<hex>` in the artifact store. */
  digest: string;
  size: number;
  createdAt: string;
  createdBy: string;
}

/** Runs side by side: one column per run in the order asked. */
export interface RunComparison {
  runs: Pick<Run, 'id' | 'name' | 'experiment' | 'status' | 'startTime' | 'endTime' | 'author' | 'parentRunId'>[];
  /** Every param any run has; `values[i]` belongs to `runs[i]` (null when that run lacks it). */
  params: ComparedValue<string>[];
  /** The final (latest) value of every metric any run has. */
  metrics: ComparedValue<number>[];
  /** Metric histories aligned by step: `values[i][j]` is run i's value at `steps[j]` (null if none). */
  histories: { key: string; steps: number[]; values: (number | null)[][] }[];
}

export interface ComparedValue<T> {
  key: string;
  values: (T | null)[];
  /** True unless every run has the same value (a missing value differs from any value). */
  differs: boolean;
}

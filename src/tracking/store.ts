import type { EndStatus, Experiment, MetricEntry, MetricPoint, Run, RunArtifact } from './model.js';
import type { FilterExpr, OrderKey } from './search-parser.js';

export interface ListOptions {
  limit: number;
  /** Exclusive lower bound of the sort key (a decoded cursor). */
  after: string | null;
}

/** What one logging call writes; the service has validated and normalized every entry. */
export interface LogBatch {
  params: { key: string; value: string }[];
  metrics: MetricEntry[];
  tags: { key: string; value: string }[];
}

/** A run as written at once by an import (or the benchmark): attributes plus full histories. */
export interface RunImport {
  run: Omit<Run, 'metrics'>;
  metrics: MetricEntry[];
}

/** Where a search page continues: the sort values and id of the last run seen. */
export interface SearchPosition {
  values: (string | number | null)[];
  id: string;
}

export interface RunSearch {
  /** Only runs of these experiments (all when empty). */
  experiments: string[];
  filter: FilterExpr | null;
  /** Sort keys; the run id is always the last tie-breaker. Missing values sort last. */
  orderBy: OrderKey[];
  limit: number;
  after: SearchPosition | null;
}

/** A page row of a search: the run and its values of the sort keys (for the next cursor). */
export interface RunSearchRow {
  run: Run;
  sortValues: (string | number | null)[];
}

/**
 * Persistence of experiments, runs, their logs and artifacts. Stores trust their input (the
 * service validates); each method that writes several rows does so in one transaction, and the
 * rules that can only be checked inside that transaction (the run is still running, a param keeps
 * its first value) are checked there, so a refused write changes nothing.
 */
export interface TrackingStore {
  /** A unique violation when the name is taken. */
  insertExperiment(e: Experiment): Promise<void>;
  getExperiment(name: string): Promise<Experiment | null>;
  listExperiments(o: ListOptions): Promise<Experiment[]>;

  /** Inserts a new run with its initial params and tags. */
  insertRun(run: Run): Promise<void>;
  /** Inserts complete runs (attributes, params, tags, metric histories) in one transaction. */
  importRuns(runs: RunImport[]): Promise<void>;
  getRun(id: string): Promise<Run | null>;
  /** The runs that exist among `ids`, in no particular order. */
  getRuns(ids: string[]): Promise<Run[]>;

  /**
   * Writes params, metrics and tags atomically. Params are written once: the same value again is
   * a no-op, another value is refused. Tags are overwritten. Metric points append to the history
   * and move `latest_metrics` forward when their step (then timestamp) is not older.
   * @throws RUN_NOT_FOUND; CONFLICT when the run has ended or a param would change (details.conflicts).
   */
  logBatch(runId: string, batch: LogBatch): Promise<void>;

  /**
   * Ends a running run.
   * @throws RUN_NOT_FOUND; CONFLICT when it has already ended.
   */
  endRun(runId: string, status: EndStatus, endTime: string, endedBy: string): Promise<void>;

  /** `limit + 1` rows after `after`, so the caller knows whether a next page exists. */
  searchRuns(q: RunSearch): Promise<RunSearchRow[]>;

  /** Every point of the run's metrics (of `keys`, or all), ordered by step then timestamp. */
  getMetricHistory(runId: string, keys?: string[]): Promise<Record<string, MetricPoint[]>>;

  /**
   * Records a run's file. The same content at the same path again is a no-op (`created` false).
   * @throws RUN_NOT_FOUND; CONFLICT when the run has ended, the path holds other content, or the
   *   path would be both a file and a folder.
   */
  putArtifact(a: RunArtifact): Promise<{ artifact: RunArtifact; created: boolean }>;
  getArtifact(runId: string, path: string): Promise<RunArtifact | null>;
  /** Files at `folder` or under `folder/` (every file when folder is ''), ordered by path. */
  listArtifacts(runId: string, folder: string): Promise<RunArtifact[]>;
}

/**
 * Row types of the metadata store, shared by both dialects. Times are ISO-8601 UTC text and
 * structured values are JSON text, so one query path serves SQLite and PostgreSQL alike.
 */
import type { Generated } from 'kysely';

export interface ApiTokenTable {
  id: string;
  name: string;
  user_name: string;
  role: string;
  token_hash: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface EntityTable {
  name: string;
  join_keys: string;
  description: string;
  created_at: string;
  created_by: string;
}

export interface DataSourceTable {
  name: string;
  path: string;
  format: string;
  timestamp_column: string;
  description: string;
  columns: string;
  created_at: string;
  created_by: string;
}

export interface FeatureTable {
  name: string;
  latest_version: number;
  created_at: string;
  created_by: string;
}

export interface FeatureVersionTable {
  name: string;
  version: number;
  entity: string;
  source: string;
  value_type: string;
  expression: string;
  agg_window: string | null;
  key_columns: string;
  description: string;
  tags: string;
  changes: string;
  created_at: string;
  created_by: string;
}

export interface FeatureSetTable {
  name: string;
  latest_version: number;
  created_at: string;
  created_by: string;
}

export interface FeatureSetVersionTable {
  name: string;
  version: number;
  description: string;
  features: string;
  created_at: string;
  created_by: string;
}

export interface DatasetTable {
  name: string;
  latest_version: number;
  created_at: string;
  created_by: string;
}

export interface DatasetVersionTable {
  name: string;
  version: number;
  content_hash: string;
  row_count: number;
  schema: string;
  features: string;
  entity_table: string;
  ttl_seconds: number | null;
  created_at: string;
  created_by: string;
}

export interface MaterializationTable {
  id: string;
  entity: string;
  features: string;
  window_start: string | null;
  window_end: string;
  incremental: number;
  status: string;
  total_keys: number | null;
  done_keys: number;
  values_written: number;
  error: string | null;
  created_at: string;
  created_by: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface OnlineWatermarkTable {
  feature_ref: string;
  materialized_until: string;
  updated_at: string;
}

export interface EventTable {
  seq: Generated<number>;
  type: string;
  at: string;
  actor: string;
  payload: string;
}

export interface ExperimentTable {
  name: string;
  description: string;
  tags: string;
  created_at: string;
  created_by: string;
}

export interface RunTable {
  id: string;
  experiment: string;
  name: string;
  status: string;
  start_time: string;
  end_time: string | null;
  author: string;
  ended_by: string | null;
  parent_run_id: string | null;
  inputs: string;
  source: string;
}

/** A run's param or tag; `num_value` is the value as a number when it is one, else null. */
export interface RunKeyValueTable {
  run_id: string;
  key: string;
  value: string;
  num_value: number | null;
}

/** One metric point; `latest_metrics` holds the newest per (run, key), `metric_history` all. */
export interface MetricPointTable {
  run_id: string;
  key: string;
  value: number;
  step: number;
  timestamp: string;
}

export interface RunArtifactTable {
  run_id: string;
  path: string;
  digest: string;
  size: number;
  created_at: string;
  created_by: string;
}

/** A registered model: the named home of numbered versions. */
export interface RegisteredModelTable {
  name: string;
  description: string;
  tags: string;
  owner: string;
  latest_version: number;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

/**
 * One immutable model version. Only `stage`, `stage_updated_at` and the card pointers
 * (`card_revision`, `card_status`) ever change; the dataset and parent columns duplicate parts
 * of `lineage` so that lineage queries are indexed lookups.
 */
export interface ModelVersionTable {
  model: string;
  version: number;
  stage: string;
  stage_updated_at: string;
  source: string;
  run_id: string | null;
  model_digest: string;
  artifacts: string;
  signature: string;
  lineage: string;
  metrics: string;
  dataset_name: string | null;
  dataset_version: number | null;
  dataset_hash: string | null;
  parent_model: string | null;
  parent_version: number | null;
  card_revision: number;
  card_status: string;
  created_at: string;
  created_by: string;
}

/** Which feature versions a model version was trained on (forward lineage by feature). */
export interface ModelVersionFeatureTable {
  feature_name: string;
  feature_version: number;
  model: string;
  version: number;
}

export interface ModelStageTransitionTable {
  id: Generated<number>;
  model: string;
  version: number;
  from_stage: string;
  to_stage: string;
  comment: string;
  /** 1 when the move was a consequence of another (the old Production version archived). */
  automatic: number;
  at: string;
  actor: string;
}

export interface ModelAliasTable {
  model: string;
  alias: string;
  version: number;
  updated_at: string;
  updated_by: string;
}

export interface ModelCardRevisionTable {
  model: string;
  version: number;
  revision: number;
  fields: string;
  created_at: string;
  created_by: string;
}

export interface ModelCardReviewTable {
  id: Generated<number>;
  model: string;
  version: number;
  revision: number;
  decision: string;
  comment: string;
  at: string;
  actor: string;
}

export interface StudyTable {
  name: string;
  spec: string;
  status: string;
  stop_reason: string | null;
  run_id: string;
  next_number: number;
  created_at: string;
  created_by: string;
  ended_at: string | null;
  resumed_at: string | null;
  elapsed_before_resume: number;
}

export interface TrialTable {
  id: string;
  study: string;
  number: number;
  params: string;
  claim_key: string | null;
  state: string;
  value: number | null;
  intermediate: string;
  run_id: string | null;
  worker: string;
  started_at: string;
  heartbeat_at: string;
  ended_at: string | null;
  error: string | null;
  retried_by: string | null;
}

/** One served prediction; features and entities as JSON text, the label as JSON (a number or a string). */
export interface PredictionTable {
  id: string;
  at: string;
  model: string;
  version: number;
  stage: string | null;
  variant: string | null;
  features: string;
  entities: string | null;
  value: number;
  label: string | null;
  probability: number | null;
  latency_ms: number;
}

/** The actual outcome of one prediction (JSON text: a number, boolean or string). */
export interface PredictionFeedbackTable {
  prediction_id: string;
  actual: string;
  at: string;
  created_by: string;
}

/** Refused prediction requests per minute, model and reason. */
export interface PredictionRefusalTable {
  minute: string;
  model: string;
  reason: string;
  requests: number;
}

export interface Schema {
  api_tokens: ApiTokenTable;
  entities: EntityTable;
  data_sources: DataSourceTable;
  features: FeatureTable;
  feature_versions: FeatureVersionTable;
  feature_sets: FeatureSetTable;
  feature_set_versions: FeatureSetVersionTable;
  datasets: DatasetTable;
  dataset_versions: DatasetVersionTable;
  materializations: MaterializationTable;
  online_watermarks: OnlineWatermarkTable;
  events: EventTable;
  experiments: ExperimentTable;
  runs: RunTable;
  run_params: RunKeyValueTable;
  run_tags: RunKeyValueTable;
  latest_metrics: MetricPointTable;
  metric_history: MetricPointTable;
  run_artifacts: RunArtifactTable;
  registered_models: RegisteredModelTable;
  model_versions: ModelVersionTable;
  model_version_features: ModelVersionFeatureTable;
  model_stage_transitions: ModelStageTransitionTable;
  model_aliases: ModelAliasTable;
  model_card_revisions: ModelCardRevisionTable;
  model_card_reviews: ModelCardReviewTable;
  studies: StudyTable;
  trials: TrialTable;
  predictions: PredictionTable;
  prediction_feedback: PredictionFeedbackTable;
  prediction_refusals: PredictionRefusalTable;
}

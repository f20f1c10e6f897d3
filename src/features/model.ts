/** Types of the feature store domain. Times are ISO-8601 UTC strings. */

export const VALUE_TYPES = ['int64', 'float64', 'string', 'bool', 'timestamp'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** A scalar feature value as stored and served. Timestamps travel as ISO strings. */
export type FeatureValue = number | string | boolean | null;

export interface Entity {
  name: string;
  joinKeys: string[];
  description: string;
  createdAt: string;
  createdBy: string;
}

export type SourceFormat = 'parquet' | 'csv';

export interface SourceColumn {
  name: string;
  /** DuckDB's type name, e.g. BIGINT, DOUBLE, VARCHAR, TIMESTAMP. */
  type: string;
}

export interface DataSource {
  name: string;
  /** A file path or a glob of files, absolute. */
  path: string;
  format: SourceFormat;
  timestampColumn: string;
  description: string;
  /** Columns seen when the source was registered. */
  columns: SourceColumn[];
  createdAt: string;
  createdBy: string;
}

/** The part of a feature definition that a user writes; every version stores one of these. */
export interface FeatureSpec {
  entity: string;
  source: string;
  valueType: ValueType;
  /** A DuckDB SQL expression over the source's columns: row-level, or an aggregate when `window` is set. */
  expression: string;
  /**
   * For windowed aggregates: how far back the entity's history reaches (`7d`, `24h`). The value at
   * time T aggregates source rows with timestamp in [t - window, t] where t is the entity's last
   * event strictly before T — so a row never sees its own outcome.
   */
  window: string | null;
  /** Which source column holds each of the entity's join keys; defaults to the join key's own name. */
  keyColumns: Record<string, string>;
  description: string;
  tags: Record<string, string>;
}

export interface FeatureVersion extends FeatureSpec {
  name: string;
  version: number;
  createdAt: string;
  createdBy: string;
  /** Names of the spec fields that differ from the previous version (empty for version 1). */
  changes: string[];
}

/** `name@version`; a reference without a version means the latest when resolved. */
export interface FeatureRef {
  name: string;
  version: number | null;
}

/** A feature as a training set or a feature set uses it. */
export interface FeatureUse {
  /** `name@version` after resolution. */
  ref: string;
  /** Entity join key → column of the entity table; defaults to the join key's own name. */
  joinOn: Record<string, string>;
  /** Output column name; defaults to the feature name. */
  as: string;
}

export interface FeatureSetVersion {
  name: string;
  version: number;
  description: string;
  features: FeatureUse[];
  createdAt: string;
  createdBy: string;
}

export interface DatasetVersion {
  name: string;
  version: number;
  /** sha256 of the Parquet file, also its artifact address. */
  contentHash: string;
  rowCount: number;
  schema: SourceColumn[];
  features: FeatureUse[];
  /** How the entity table was given: a file path or a query. */
  entityTable: { path?: string; query?: string; eventTimeColumn: string };
  ttlSeconds: number | null;
  createdAt: string;
  createdBy: string;
}

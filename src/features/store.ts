import type {
  DataSource,
  DatasetVersion,
  Entity,
  FeatureSetVersion,
  FeatureVersion,
} from './model.js';

export type MaterializationStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface Materialization {
  id: string;
  entity: string;
  /** `name@version` of every feature written. */
  features: string[];
  windowStart: string | null;
  windowEnd: string;
  incremental: boolean;
  status: MaterializationStatus;
  totalKeys: number | null;
  doneKeys: number;
  valuesWritten: number;
  error: string | null;
  createdAt: string;
  createdBy: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ListOptions {
  limit: number;
  /** Exclusive lower bound of the sort key (a decoded cursor). */
  after: string | null;
}

/**
 * Persistence of the feature store's metadata. Stores trust their input (the service validates);
 * every method that writes several rows does so in one transaction. Version inserts fail with a
 * unique violation when another writer took the same version number first.
 */
export interface FeatureStore {
  insertEntity(e: Entity): Promise<void>;
  getEntity(name: string): Promise<Entity | null>;
  listEntities(o: ListOptions): Promise<Entity[]>;

  insertSource(s: DataSource): Promise<void>;
  getSource(name: string): Promise<DataSource | null>;
  listSources(o: ListOptions): Promise<DataSource[]>;

  /**
   * Inserts a version. Version 1 also creates the head row (a unique violation when the name is
   * taken); a later version must be the head's latest + 1, else it throws CONFLICT.
   */
  insertFeatureVersion(v: FeatureVersion): Promise<void>;
  getFeatureVersion(name: string, version: number | null): Promise<FeatureVersion | null>;
  listFeatureVersions(name: string): Promise<FeatureVersion[]>;
  /** Latest version of every feature, by name. */
  listFeatures(o: ListOptions & { entity?: string }): Promise<FeatureVersion[]>;

  /** Same rules as insertFeatureVersion. */
  insertFeatureSetVersion(v: FeatureSetVersion): Promise<void>;
  getFeatureSetVersion(name: string, version: number | null): Promise<FeatureSetVersion | null>;
  listFeatureSetVersions(name: string): Promise<FeatureSetVersion[]>;
  listFeatureSets(o: ListOptions): Promise<FeatureSetVersion[]>;

  /** Same rules as insertFeatureVersion. */
  insertDatasetVersion(v: DatasetVersion): Promise<void>;
  getDatasetVersion(name: string, version: number | null): Promise<DatasetVersion | null>;
  listDatasetVersions(name: string): Promise<DatasetVersion[]>;
  listDatasets(o: ListOptions): Promise<DatasetVersion[]>;

  insertMaterialization(m: Materialization): Promise<void>;
  updateMaterialization(id: string, patch: Partial<Omit<Materialization, 'id'>>): Promise<void>;
  getMaterialization(id: string): Promise<Materialization | null>;
  /** Newest first; the cursor is the id of the last one seen. */
  listMaterializations(o: ListOptions): Promise<Materialization[]>;

  /** Online watermark per `name@version`: values are materialized up to this time. */
  getWatermarks(refs: string[]): Promise<Record<string, string>>;
  setWatermarks(refs: string[], until: string, at: string): Promise<void>;
}
